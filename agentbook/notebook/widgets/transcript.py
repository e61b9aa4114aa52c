"""A board row's transcript view: the expander at the start of the row and the conversation it opens.

Used by `agentbook.notebook.widgets.rows`.  The view is made when first opened and kept (closed
views are not in the board's children, so the board closes them itself at the end); while open
it is refreshed with each update of its row, which is how it grows live.  The HTML comes from
`agentbook.notebook.conversation.transcript_html`, read from the agent's transcript file.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets  # type: ignore[import-untyped]

from agentbook.notebook import conversation
from agentbook.notebook.widgets.base import Widget
from agentbook.scheduler.records import AgentRecord

__all__ = ["TranscriptView"]


class TranscriptView:
    """One agent's expander `button` and, once opened, its `view` (an `HTML` widget)."""

    def __init__(self, name: str, layout: Widget, on_toggle: Callable[[str], None]) -> None:
        # Icon only: a labelled button after ~60em of cells wrapped onto a line of its own in a
        # usual notebook width, doubling every row's height.
        self.button: Widget = widgets.Button(
            icon="chevron-right", tooltip=f"Transcript: {name}'s conversation", layout=layout
        )
        self.button.add_class("agentbook-transcript-button")
        self.button.on_click(lambda _: on_toggle(name))
        self.view: Widget = None
        self.shown_open = False

    def update(self, record: AgentRecord, want_open: bool) -> bool:
        """Refresh the view if it should be open; `True` if it opened or closed (the board's
        children must change)."""
        if want_open:
            if self.view is None:
                self.view = widgets.HTML(
                    # `auto`, not 100%: the board stretches it, and 100% plus margins overflowed.
                    layout=widgets.Layout(width="auto", min_width="0", max_height="24em", overflow="auto")
                )
                self.view.add_class("agentbook-transcript")
            with self.view.hold_sync():
                self.view.value = conversation.transcript_html(record.transcript, error=record.error)
        if want_open == self.shown_open:
            return False
        self.shown_open = want_open
        with self.button.hold_sync():
            self.button.icon = "chevron-down" if want_open else "chevron-right"
        return True
