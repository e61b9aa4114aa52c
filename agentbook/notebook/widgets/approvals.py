"""The approval widgets: a plan's Approve button and a batch's editable unit table.

`%%phase_plan` and `%batch` (`agentbook.notebook.magics`) display these by name (`plan_view`,
`batch_view`).  Unlike the live board, they change only in answer to a click, which runs on the
kernel's thread in the cell that shows them, so printing into their own `Output` is safe here.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from agentbook.batches import Batch
    from agentbook.plans import Plan

__all__ = ["batch_view", "plan_view"]


def plan_view(plan: Plan) -> Any:
    """A plan's table and phase graph with an Approve button that calls `plan.approve()`.

    The button is disabled once the plan is approved (from here or from code), so a notebook
    shows whether the gate is open.
    """
    table = widgets.HTML(plan._repr_html_())
    forecast = widgets.HTML(_forecast(lambda: plan.forecast() if plan.forecasts is None else None, plan))
    button = widgets.Button(description="Approve", button_style="success", icon="check")
    button.add_class("agentbook-plan-approve")

    def show_state() -> None:
        if plan.approved:
            button.description, button.disabled, button.button_style = "Approved", True, ""

    def approve(_: Any) -> None:
        plan.approve()
        show_state()

    def redraw(changed: Plan) -> None:  # approved from code, a phase started or an agent ended
        table.value = changed._repr_html_()
        show_state()

    button.on_click(approve)
    plan.on_change(redraw)
    show_state()
    box = widgets.VBox([table, forecast, button])
    box.add_class("agentbook-plan")
    return box


def batch_view(batch: Batch) -> Any:
    """A batch's units as an editable table (include, name, files, instructions, test command)
    with an Approve button: approving takes the edited units, starts the run and shows its board."""
    from agentbook.batches import BatchError, Unit

    rows = [_unit_row(unit) for unit in batch.units]
    button = widgets.Button(description="Approve and run", button_style="success", icon="check")
    button.add_class("agentbook-batch-approve")
    out = widgets.Output()

    def approve(_: Any) -> None:
        chosen = [
            Unit(name.value.strip(), text.value, [f.strip() for f in files.value.split(",") if f.strip()],
                 test.value.strip() or None)
            for keep, name, files, text, test in rows
            if keep.value
        ]  # fmt: skip
        with out:  # a click runs on the kernel's thread, in this cell's output: safe to display here
            try:
                if not batch.approved:  # approved from code already: its units stand
                    batch.edit(chosen)
                    batch.approve()
                run = batch.start()
            except BatchError as exc:
                print(f"cannot run the batch: {exc}")
                return
            button.disabled, button.description = True, "Running"
            from IPython.display import display

            display(run)  # type: ignore[no-untyped-call]

    button.on_click(approve)
    batch.on_change(lambda changed: _follow(changed, button, rows))
    table = widgets.VBox([widgets.HBox(list(row)) for row in rows])
    forecast = widgets.HTML(_forecast(lambda: batch.forecast() if batch.forecasts is None else None, batch))
    box = widgets.VBox(
        [widgets.HTML(f"<b>{len(rows)} units</b> for: {batch.instruction}"), table, forecast, button, out]
    )
    box.add_class("agentbook-batch")
    return box


def _unit_row(unit: Any) -> tuple[Any, ...]:
    """One unit's editable cells: include, name, files, instructions, test command."""
    return (
        widgets.Checkbox(value=True, indent=False, layout=widgets.Layout(width="2em")),
        widgets.Text(unit.name, layout=widgets.Layout(width="14em")),
        widgets.Text(", ".join(unit.files), layout=widgets.Layout(width="16em")),
        widgets.Textarea(unit.instructions, layout=widgets.Layout(width="32em")),
        widgets.Text(unit.test_command or "", layout=widgets.Layout(width="16em")),
    )


def _follow(batch: Batch, button: Any, rows: list[tuple[Any, ...]]) -> None:
    """The view after an approval or a start made in code: locked units, a Run button."""
    if batch.run is not None:
        button.disabled, button.description = True, "Running"
    elif batch.approved:
        button.description = "Run (approved)"
        for row in rows:
            for field in row:
                field.disabled = True  # approved units can no longer change


def _forecast(make: Any, owner: Any) -> str:
    """The forecast table under an approval (made now unless `owner` has one): a forecast that
    cannot be made says why instead of hiding the button."""
    from agentbook.analysis.forecasts import forecast_frame, forecast_html

    try:
        make()
        return forecast_html(forecast_frame(owner.forecasts))
    except Exception as exc:  # a forecast is advice: its failure must not block an approval
        return f"<p>No forecast: {html.escape(str(exc))}</p>"
