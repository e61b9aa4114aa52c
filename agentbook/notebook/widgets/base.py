"""What every widget module of the notebook edge shares: the `Widget` alias and `close_all`.

ipywidgets ships no type hints, so widgets are typed `Widget` (`Any`).  A widget that is taken off
the screen still holds its comm and its layout and style models in the kernel until closed:
`close_all` closes a whole tree, which the board does for replaced permission prompts, closed
transcripts and the board itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeAlias

__all__ = ["Widget", "close_all"]

Widget: TypeAlias = Any
"""An ipywidgets widget (ipywidgets ships no type hints)."""


def close_all(widget: Widget) -> None:
    """Close a widget and its children, so their models do not linger in the kernel."""
    for child in _walk(widget):
        with contextlib.suppress(Exception):
            child.close()


def _walk(widget: Widget) -> Iterator[Widget]:
    for child in getattr(widget, "children", ()):
        yield from _walk(child)
    # Each widget made its own layout and style models: close those too.
    yield from (w for w in (getattr(widget, "layout", None), getattr(widget, "style", None)) if w is not None)
    yield widget
