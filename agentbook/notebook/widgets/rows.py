"""The rows of the live board: one per agent, the header, and the totals.

Used by `agentbook.notebook.widgets.board`, which decides *when* rows change; this module decides
*what* they show, and only from what it is handed: an `AgentRecord` (kept by
`agentbook.scheduler.records.apply`), the permission request waiting for that agent, and whether
its transcript is open.  A row's cells are one `HTML` widget whose value comes from
`agentbook.notebook.cells`, as the static table's do, so both show the same figures, and
each update is applied inside the widgets' `hold_sync()`: one message per changed widget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import ipywidgets as widgets  # type: ignore[import-untyped]
from ipywidgets.widgets.widget_string import HTMLStyle  # type: ignore[import-untyped]

from agentbook.budgets import Budget
from agentbook.notebook import cells
from agentbook.notebook.widgets.base import Widget, close_all
from agentbook.notebook.widgets.permission import Answer, permission_box
from agentbook.notebook.widgets.transcript import TranscriptView
from agentbook.scheduler.records import AgentRecord

if TYPE_CHECKING:
    from agentbook.scheduler.asking import PermissionRequest

__all__ = ["AgentRow", "RowStyle", "TotalsRow", "header_row"]

_EXPANDER = "28px"  # the Transcript expander: an icon, the one width not relative to the cell
_INDENT = f"calc({_EXPANDER} + 6px)"  # where a row's cells start: the expander and three 2px margins


class RowStyle:
    """Layouts and styles shared by every row of one board: one model each instead of one per row.

    No width is fixed but the expander's: a row's cells take the room the cell leaves
    (`flex: 1 1 0%`, `min-width: 0`) and lay their columns out as `agentbook.notebook.cells.FLEX`
    says, so a row stays one line in any cell wide enough for the columns' bases.  The expander
    never shrinks, so it stays on its row's line; header and totals start where the cells do and
    end where they end (the same margins), so their flex columns land under the rows' own.
    """

    def __init__(self) -> None:
        self.cells: Widget = widgets.Layout(flex="1 1 0%", min_width="0", width="auto")
        self.button: Widget = widgets.Layout(
            flex=f"0 0 {_EXPANDER}", width=_EXPANDER, min_width=_EXPANDER, padding="0", margin="2px"
        )
        # `row wrap` only for a permission prompt, which takes a line of its own under the cells
        # (`agentbook.notebook.widgets.permission`).
        self.row: Widget = widgets.Layout(align_items="center", flex_flow="row wrap", width="auto")
        self.html: Widget = HTMLStyle()
        self.aligned: Widget = widgets.Layout(width="auto", min_width="0", margin=f"2px 2px 2px {_INDENT}")


class AgentRow:
    """One agent's widgets: `box` (an `HBox` of class `agentbook-row`) holds the transcript
    expander, the cells and, while a request waits, its permission prompt."""

    def __init__(
        self,
        name: str,
        style: RowStyle,
        on_toggle: Callable[[str], None],
        answer: Callable[[PermissionRequest, Answer], None],
    ) -> None:
        self.name = name
        self.state = ""  # the state whose `agentbook-state-*` class the box carries
        self.cells: Widget = widgets.HTML(layout=style.cells, style=style.html)
        self.cells.add_class("agentbook-cells")
        self.transcript = TranscriptView(name, style.button, on_toggle)
        self.box: Widget = widgets.HBox([self.transcript.button, self.cells], layout=style.row)
        self.box.add_class("agentbook-row")
        self.permission: Widget = None  # made for each request, closed when it is answered
        self.request: PermissionRequest | None = None
        self._answer = answer

    def update(
        self, record: AgentRecord, now: datetime, request: PermissionRequest | None, want_open: bool
    ) -> bool:
        """Show `record` as of `now`, `request`'s prompt (or none) and the transcript if
        `want_open`; `True` if the board's children must change (a transcript opened or closed)."""
        with self.box.hold_sync(), self.cells.hold_sync():
            self._set_state(record.state)
            values = cells.row_cells(record, now)
            self.cells.value = cells.cells_html(values, depth=record.depth, state=record.state)
            if request is not self.request:
                self._show_request(request)
        return self.transcript.update(record, want_open)

    def close_detached(self) -> None:
        """Close the widgets that may be out of the board's tree (a closed transcript, a prompt)."""
        for widget in (self.transcript.view, self.permission):
            if widget is not None:
                close_all(widget)

    def _set_state(self, state: str) -> None:
        # Swap the `agentbook-state-*` class (inside `self.box.hold_sync()`).
        if state != self.state:
            if self.state:
                self.box.remove_class(f"agentbook-state-{self.state}")
            self.box.add_class(f"agentbook-state-{state}")
            self.state = state

    def _show_request(self, request: PermissionRequest | None) -> None:
        old = self.permission
        self.request = request
        self.permission = (
            permission_box(request, self._answer, indent=_INDENT) if request is not None else None
        )
        children = (self.transcript.button, self.cells, self.permission)
        self.box.children = tuple(w for w in children if w is not None)
        if old is not None:
            close_all(old)


def header_row(style: RowStyle) -> Widget:
    """The column titles, aligned with the rows' cells."""
    header: Widget = widgets.HTML(cells.header_html(), layout=style.aligned)
    header.add_class("agentbook-header")
    return header


class TotalsRow:
    """The totals under the rows: `widget` is an `HTML` of class `agentbook-totals`."""

    def __init__(self, style: RowStyle) -> None:
        self.widget: Widget = widgets.HTML(layout=style.aligned)
        self.widget.add_class("agentbook-totals")

    def update(self, records: Sequence[AgentRecord], now: datetime, budget: Budget | None = None) -> None:
        with self.widget.hold_sync():
            self.widget.value = cells.totals_html(records, now, budget)
