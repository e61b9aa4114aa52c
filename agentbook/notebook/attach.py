"""The notebook edge attaching itself to runs made in a Jupyter kernel.

The package root registers `created` and `waited` with `agentbook.scheduler.observers`, so the
scheduler never names this module.  In a kernel, the first run made installs an IPython
formatter that shows a `Run` as its live board (with static HTML and text beside it), one that
shows a started `Team` as its team board (`agentbook.notebook.team_display`; `Team._repr_html_`
is only the fallback outside a kernel) and the kernel interrupt hook that cancels running agents;
each run made there lowers the interpreter's switch interval while its agents work
(`agentbook.notebook.switching`);
after `wait()` the final state of a displayed board is published from the waiting cell (a
displayed team's board, if the run is a team's).  Outside a kernel both do nothing and import nothing.
"""

from __future__ import annotations

from typing import Any

from agentbook.notebook import kernel, render, switching, team_display
from agentbook.scheduler.observers import kernel_shell
from agentbook.scheduler.run import Run
from agentbook.teams.team import Team

__all__ = ["created", "waited"]

_formatted: set[int] = set()


def created(handle: Any) -> None:
    """A run was made: in a kernel, make runs display as boards and interrupts cancel them."""
    shell = kernel_shell()
    if shell is None or not isinstance(handle, Run):
        return
    kernel.install(shell)
    switching.track(handle)  # a shorter switch interval while its agents work: a responsive kernel
    if id(shell) not in _formatted:
        _formatted.add(id(shell))
        formatter = shell.display_formatter.mimebundle_formatter
        formatter.for_type(Run, lambda run: render.run_bundle(run, include_widget=True))
        formatter.for_type(Team, lambda team: team_display.team_bundle(team, include_widget=True))


def waited(handle: Any) -> None:
    """`wait()` returned: publish the run's final state from the waiting cell (in a kernel)."""
    if isinstance(handle, Run):
        team = team_display.team_of(handle)
        if team is not None:
            team_display.publish_team_final(team)
        elif render.was_shown(handle):  # a board the user looked at: its end, from this cell
            render.publish_final(handle)
