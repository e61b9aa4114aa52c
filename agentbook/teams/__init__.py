"""Agent teams: a lead and teammates that share a task list and a mailbox (`Team`)."""

from agentbook.teams.team import Team, TeamError

__all__ = ["Team", "TeamError"]
