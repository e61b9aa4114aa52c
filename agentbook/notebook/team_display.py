"""How a team shows itself in a notebook: its display bundle (the static board, and in a kernel
the live one, `agentbook.notebook.widgets.team`) and the static board `wait()` publishes.

Apart from `team_render` (what the board says) so that the renderer imports no widget module.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from agentbook.notebook.team_render import render_team_html, render_team_text
from agentbook.scheduler.observers import in_kernel

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run
    from agentbook.teams.team import Team

__all__ = ["publish_team_final", "team_bundle", "team_of"]

_teams: weakref.WeakKeyDictionary[Run, weakref.ref[Team]] = weakref.WeakKeyDictionary()


def team_of(run: Run) -> Team | None:
    """The displayed team whose run `run` is (so `wait()` publishes the team's board), or `None`."""
    ref = _teams.get(run)
    return ref() if ref is not None else None


def team_bundle(team: Team, include_widget: bool) -> dict[str, Any]:
    """`text/plain` and `text/html` (static, as of now), and in a kernel, when
    `include_widget` and the team has started, the live team board's widget view."""
    from agentbook.notebook.render import WIDGET_VIEW_MIME

    if team.run is not None:
        _teams[team.run] = weakref.ref(team)
    bundle: dict[str, Any] = {"text/plain": render_team_text(team), "text/html": render_team_html(team)}
    if include_widget and team.run is not None and in_kernel():
        from agentbook.notebook.widgets.team import team_board_for  # ipywidgets only in a kernel

        view = team_board_for(team).widget._repr_mimebundle_() or {}
        if WIDGET_VIEW_MIME in view:
            bundle[WIDGET_VIEW_MIME] = view[WIDGET_VIEW_MIME]
    return bundle


def publish_team_final(team: Team) -> None:
    """In a kernel, display `team`'s static board (no widget) in the current cell."""
    if in_kernel():
        from IPython.display import display as ipython_display

        show: Any = ipython_display
        show(team_bundle(team, include_widget=False), raw=True)
