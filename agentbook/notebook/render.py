"""How a run looks without widgets: a plain-text table, a static HTML table, and its MIME bundles.

Widget state is not saved with a notebook, and headless executors drop late widget updates, so
every display of a run carries these static renderings beside the live board
(`agentbook.notebook.widgets`).  `Run._repr_mimebundle_` and `Run.wait()` call `run_bundle` and
`publish_final`.  This module only lays out the cells of `agentbook.notebook.cells` (which the
board shows too): it never imports ipywidgets (the board is imported lazily, inside a kernel only),
and every function reads the run's records as they are at the moment it is called.
"""

from __future__ import annotations

import html
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentbook.events import utcnow
from agentbook.notebook.cells import (
    COLUMNS,
    RIGHT_ALIGNED,
    STATE_COLOURS,
    row_cells,
    shorten,
    totals_cells,
    tree_order,
)
from agentbook.scheduler.observers import in_kernel
from agentbook.scheduler.records import AgentRecord
from agentbook.scheduler.sandboxing import notice

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["WIDGET_VIEW_MIME", "publish_final", "render_html", "render_text", "run_bundle"]

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
ERROR_LIMIT = 300  # an agent's error, in the line under its row


def _records(run: Run) -> list[AgentRecord]:
    # `list()` copies at once: the background thread may add sub-agents while we format.
    return tree_order(list(run.records.values()))


# ---- plain text


def render_text(run: Run, now: datetime | None = None) -> str:
    """A plain-text table of `run`: one row per agent (sub-agents indented), a totals row, and
    the error of every agent that has one."""
    now = now or utcnow()
    records = _records(run)
    rows = [COLUMNS]
    for record in records:
        cells = row_cells(record, now)
        rows.append(("  " * record.depth + cells[0], *cells[1:]))
    totals = totals_cells(records, now, run.config.budget)
    widths = [max(len(row[i]) for row in (*rows, totals)) for i in range(len(COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if title in RIGHT_ALIGNED else cell.ljust(width)
            for cell, width, title in zip(cells, widths, COLUMNS, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    title = f"run {run.name}" + (f" ({warning})" if (warning := notice(run.config.sandbox)) else "")
    out = [title, line(rows[0]), rule, *(line(r) for r in rows[1:]), rule, line(totals)]
    errors = [(r.name, r.error) for r in records if r.error]
    if errors:
        out += ["", "errors:", *(f"  {name}: {shorten(error, ERROR_LIMIT)}" for name, error in errors)]
    return "\n".join(out)


# ---- static HTML


def _td(value: str, title: str, *, style: str = "") -> str:
    align = "right" if title in RIGHT_ALIGNED else "left"
    css = f"text-align:{align};padding:2px 8px;{style}"
    return f'<td class="agentbook-{title.replace(" ", "-")}" style="{css}">{html.escape(value)}</td>'


def _html_row(record: AgentRecord, now: datetime) -> str:
    cells = row_cells(record, now)
    colour = STATE_COLOURS.get(record.state, "inherit")
    tds = [
        _td(value, title, style=f"color:{colour};font-weight:600" if title == "state" else "")
        for value, title in zip(cells, COLUMNS, strict=True)
    ]
    tds[0] = tds[0].replace("padding:2px 8px;", f"padding:2px 8px 2px {8 + 16 * record.depth}px;", 1)
    row = f'<tr class="agentbook-row agentbook-state-{html.escape(record.state)}">{"".join(tds)}</tr>'
    if record.error:
        error = html.escape(shorten(record.error, ERROR_LIMIT))
        row += (
            f'<tr class="agentbook-error"><td></td><td colspan="{len(COLUMNS) - 1}" '
            f'style="color:{colour};padding:0 8px 4px 8px;text-align:left">{error}</td></tr>'
        )
    return row


def render_html(run: Run, now: datetime | None = None) -> str:
    """A static HTML table of `run` (class `agentbook-static`): the rows of `render_text`,
    state colours (`STATE_COLOURS`) and every value HTML-escaped."""
    now = now or utcnow()
    records = _records(run)
    head = "".join(
        f'<th style="text-align:{"right" if t in RIGHT_ALIGNED else "left"};padding:2px 8px">{t}</th>'
        for t in COLUMNS
    )
    body = "".join(_html_row(r, now) for r in records)
    caption = f" ({warning})" if (warning := notice(run.config.sandbox)) else ""
    totals = "".join(
        _td(v, t, style="font-weight:600;border-top:1px solid #999")
        for v, t in zip(totals_cells(records, now, run.config.budget), COLUMNS, strict=True)
    )
    return (
        '<table class="agentbook-static" style="border-collapse:collapse;font-family:monospace">'
        f'<caption style="text-align:left">run {html.escape(run.name)}{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        f'<tfoot><tr class="agentbook-totals">{totals}</tr></tfoot></table>'
    )


# ---- MIME bundles


def _kernel_present() -> bool:
    return in_kernel()


_shown: weakref.WeakSet[Run] = weakref.WeakSet()
"""Runs displayed as boards: `wait()` publishes the final state of these only (a run nobody
looked at gets no board it did not ask for)."""


def was_shown(run: Run) -> bool:
    return run in _shown


def publish_final(run: Run) -> None:
    """In a kernel, display `run`'s static text and HTML (no widget) in the current cell; else
    nothing.

    For `Run.wait()`: the saved notebook then shows the end of the run even where widget state
    was not saved (JupyterLab shows a widget view whose state is missing as an error, not as
    its HTML fallback).
    """
    if _kernel_present():
        from IPython.display import display as ipython_display  # the notebook edge only

        show: Any = ipython_display  # IPython leaves `display` unannotated
        show(run_bundle(run, include_widget=False), raw=True)


def run_bundle(run: Run, include_widget: bool) -> dict[str, Any]:
    """The MIME bundle a run displays as: `text/plain` and `text/html` (static, as of now), and,
    when `include_widget` and we run in a Jupyter kernel, the live board's widget view.

    Front ends that can render the widget show it; saved notebooks and headless executors fall
    back to the static HTML or text.
    """
    bundle: dict[str, Any] = {"text/plain": render_text(run), "text/html": render_html(run)}
    if include_widget:
        _shown.add(run)
    if include_widget and _kernel_present():
        from agentbook.notebook.widgets import board_for  # the notebook edge: ipywidgets only in a kernel

        view = board_for(run).widget._repr_mimebundle_() or {}
        if WIDGET_VIEW_MIME in view:
            bundle[WIDGET_VIEW_MIME] = view[WIDGET_VIEW_MIME]
    return bundle
