"""What a team's members are told about the team (their first message), as data."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["lead_prompt", "teammate_prompt"]

TOOLS = (
    "The team shares a task list: TaskList shows it, TaskGet one task, TaskCreate adds one, "
    "TaskUpdate changes one (status pending / in_progress / completed, owner, blockers). A task "
    "blocked by others cannot start until they are completed; a task has one owner. SendMessage "
    'sends a message to one member by name, or to everyone with to="*"; messages to you arrive '
    "before your next turn."
)


def lead_prompt(instructions: str, me: str, teammates: Mapping[str, str]) -> str:
    """The lead's first message: its instructions, its team, and how the team works."""
    team = "\n".join(f"- {name}: {role}" for name, role in teammates.items())
    return (
        f"You are {me}, the lead of a team of independent agents.\n\nYour teammates:\n{team}\n\n"
        f"{TOOLS}\n\nBreak the work into tasks (with blockers where one needs another), assign "
        "them with TaskUpdate's owner or let teammates claim them, and answer their messages. When "
        "you end your turn you wait for messages; the team ends when every task is completed and "
        f"you have given the final answer.\n\nYour instructions:\n{instructions}"
    )


def teammate_prompt(me: str, role: str, lead: str) -> str:
    """A teammate's first message: its role and how the team works."""
    return (
        f"You are {me}, a teammate in a team led by {lead}. Your role: {role}\n\n{TOOLS}\n\n"
        "Find work with TaskList: take a pending task that is yours or unowned and unblocked by "
        "setting it in_progress with TaskUpdate, do it, mark it completed, and tell the lead what "
        "you did with SendMessage. When you end your turn with nothing to do, you wait for a "
        "message or a new task."
    )
