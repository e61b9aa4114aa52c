"""How a team's members wait, wake and end (the Stop hook of every member, `Hooks.before_stop`).

A member that ends its turn does not end (Claude Code's teammates go idle, not away):

* a **teammate** waits until a message comes for it or the tasks available (pending, unowned,
  unblocked) change, and goes on with them: offered once, so a teammate that takes none of them
  is not woken again for the same ones; it ends when the team does;
* the **lead** waits until a message comes for it, every task is completed, or the team is
  quiet (every teammate idle and offered what is available); it is woken once for each of the
  last two, and if it then ends its turn again with nothing new, the team ends (it has said so).

Messages are taken from the mailbox only here and before each request (`incoming`), so each
reaches its recipient's conversation once.  The task list and the mailbox call back from the
tools' worker threads; wake-ups go through the run's loop (`call_soon_threadsafe`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agentbook.tools.mailbox import Mailbox, MailMessage
from agentbook.tools.team_tasks import TaskBoard, TeamTask

__all__ = ["Coordination", "message_note"]


def message_note(message: MailMessage) -> str:
    """A message as its recipient's conversation shows it (Claude Code's `<teammate-message>`)."""
    summary = f' summary="{message.summary}"' if message.summary else ""
    return f'<teammate-message teammate_id="{message.sender}"{summary}>\n{message.text}\n</teammate-message>'


class Coordination:
    """The waiting of one team's members; see the module docstring."""

    def __init__(self, lead: str, teammates: Sequence[str], board: TaskBoard, mailbox: Mailbox) -> None:
        self.lead, self.teammates, self.board, self.mailbox = lead, tuple(teammates), board, mailbox
        self.ended = False
        self.idle: set[str] = set()
        self.gone: set[str] = set()  # members that ended (failed, partial, cancelled): never idle again
        self._offered: dict[str, frozenset[str]] = {}  # the available tasks each was last told of
        self._told: str | None = None  # what the lead was last woken for ("completed", "quiet")
        self._waiters: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        board.subscribe(lambda change: self.poke())
        mailbox.subscribe(lambda change: self.poke())

    def poke(self) -> None:
        """Something changed: wake every waiting member to look again (from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def left(self, agent: str) -> None:
        """`agent` ended: the lead no longer waits for it to go idle."""
        self.gone.add(agent)
        self.poke()

    def end(self) -> None:
        """End the team: every waiting member ends at its next look."""
        self.ended = True
        self.poke()

    def incoming(self, agent: str) -> list[str]:
        """`agent`'s undelivered messages as notes (taken: delivered once)."""
        if agent != self.lead and agent not in self.teammates:
            return []
        return [message_note(m) for m in self.mailbox.take(agent)]

    async def before_stop(self, agent: str, text: str, active: bool) -> str | None:
        """What `agent` goes on with after ending its turn, or `None`: it ends."""
        if agent != self.lead and agent not in self.teammates:
            return None
        self._loop = loop = asyncio.get_running_loop()
        self.idle.add(agent)
        self.poke()  # the lead may be waiting for the team to go quiet
        try:
            while not self.ended:
                reason = self._lead_wakes() if agent == self.lead else self._teammate_wakes(agent)
                if reason is not None:
                    return reason or None  # "": the lead ended the team
                # No await between the look and this: a change after it resolves the future.
                waiter = loop.create_future()
                self._waiters.add(waiter)
                await waiter
            return None
        finally:
            self.idle.discard(agent)

    def _teammate_wakes(self, agent: str) -> str | None:
        notes = self.incoming(agent)
        if notes:
            return "\n\n".join(notes)
        free = self.board.available()
        ids = frozenset(t.id for t in free)
        if not free or self._offered.get(agent) == ids:
            return None
        self._offered[agent] = ids
        return f"A task is available: {_brief(free[0])}. Claim it with TaskUpdate (status in_progress)."

    def _lead_wakes(self) -> str | None:
        notes = self.incoming(self.lead)
        if notes:
            self._told = None  # news: the next quiet or completion is worth telling again
            return "\n\n".join(notes)
        if self.board.all_completed() or self._quiet():
            told = "completed" if self.board.all_completed() else "quiet"
            if self._told == told:  # woken for this already and ended again: the team ends
                self.end()
                return ""
            self._told = told
            if told == "completed":
                return "Every task is completed. Give the team's final answer."
            return (
                "Every teammate is idle and no task is available. Open tasks:\n"
                + "\n".join(_brief(t) for t in self.board.list() if t.status != "completed")
                + "\nAssign, create or message; or end your turn again to end the team."
            )
        return None

    def _quiet(self) -> bool:
        """Every teammate idle, and none would take what is available (offered it already)."""
        free = frozenset(t.id for t in self.board.available())
        here = [t for t in self.teammates if t not in self.gone]
        return set(here) <= self.idle and all(free <= self._offered.get(t, frozenset()) for t in here)


def _brief(task: TeamTask) -> str:
    owner = f", owner {task.owner}" if task.owner else ""
    return f"#{task.id} {task.subject} ({task.status}{owner})"
