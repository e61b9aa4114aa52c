"""The prompt a board row shows while its agent waits for a permission: the call and three buttons.

Used by `agentbook.notebook.widgets.rows`.  Each prompt is bound to one `PermissionRequest`, so a
click can never answer a later request of the same agent; the board replaces the prompt when the
request changes and closes the old one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeAlias

import ipywidgets as widgets  # type: ignore[import-untyped]

from agentbook.notebook import conversation
from agentbook.notebook.widgets.base import Widget

if TYPE_CHECKING:
    from agentbook.scheduler.asking import PermissionRequest

__all__ = ["Answer", "permission_box"]

Answer: TypeAlias = Literal["approve", "approve_always", "deny"]
"""The `PermissionRequest` method a button calls."""

_BUTTONS: tuple[tuple[str, Answer, str, str], ...] = (
    ("Approve", "approve", "success", "agentbook-approve"),
    ("Always", "approve_always", "info", "agentbook-always"),
    ("Deny", "deny", "danger", "agentbook-deny"),
)


def permission_box(
    request: PermissionRequest, answer: Callable[[PermissionRequest, Answer], None], *, indent: str = "0"
) -> Widget:
    """The tool call, why it asks, and one button per answer, bound to this very request.

    The box takes a line of its own in its row (`flex: 1 0 100%`), starting `indent` from the
    row's left edge, and wraps its buttons under the call in a narrow cell rather than overflow.
    Its layouts are its own: `close_all` closes them with it."""
    text = conversation.permission_html(request.call.name, request.call.input, request.reason)
    label: Widget = widgets.HTML(text, layout=widgets.Layout(flex="0 1 auto", min_width="0"))
    label.add_class("agentbook-permission-call")
    buttons: list[Widget] = []
    for description, method, style, css in _BUTTONS:
        button: Widget = widgets.Button(description=description, button_style=style, layout={"width": "auto"})
        button.add_class(css)
        button.on_click(lambda _, method=method: answer(request, method))
        buttons.append(button)
    # The indent is padding, not margin: inside the 100% basis (border-box), not beyond it.
    layout = widgets.Layout(
        align_items="center", flex_flow="row wrap", flex="1 0 100%", min_width="0", margin="0",
        padding=f"0 2px 2px {indent}",
    )  # fmt: skip
    box: Widget = widgets.HBox([label, *buttons], layout=layout)
    box.add_class("agentbook-permission")
    return box
