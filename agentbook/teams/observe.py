"""Read-only looks at a running team for its observers (the notebook's team board).

`Team` keeps its coordination private; a board needs one fact from it that the run's records
do not hold: which members are waiting (idle between turns, their record still `running`).
Nothing here changes the team.
"""

from __future__ import annotations

from agentbook.teams.team import Team

__all__ = ["idle_members"]


def idle_members(team: Team) -> frozenset[str]:
    """The members waiting for a message or a task now (none before `start()` or `load()`)."""
    coordination = team._coordination
    return frozenset(coordination.idle) if coordination is not None else frozenset()
