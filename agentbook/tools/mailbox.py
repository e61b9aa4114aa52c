"""Messages between the members of an agent team, and Claude Code's `SendMessage` tool.

Teammates (a lead and teammates, long-running agents of one run, `agentbook.teams`) cannot see
each other's text: what one wants another to know goes through the team's `Mailbox`.  The tool
`SendMessage`, made for one sender, posts a message; the team takes each member's undelivered
messages (`take`) and hands them to that agent as a new user turn, waking it if it was idle
(`subscribe` tells the team when something was sent); the live board shows `messages()`.

The mailbox is one JSON Lines file in the run folder, appended to and fsynced before a call
returns, one line a call: a `sent` record with the messages of one send (a broadcast is one
message to each member, as in Claude Code, and all of them or none are recorded), a `delivered`
record with the ids a `take` returned.  Delivery is recorded before the messages are handed out,
so a message is delivered exactly once, also across a crash or a new `Mailbox` on the same file (a
crash between the record and the agent's turn loses that turn's messages rather than repeating
them).  A torn last line (a crash mid-append: its call never returned) is skipped on load and cut
off before the next append; any other bad line is a `ValueError` naming the file and the line.
The mailbox is the file's only writer (one `Mailbox` per file per process); others may read it.

`SendMessage` follows the shape of Claude Code 2.1.235-2.1.240 (its tool description, collected
by Piebald-AI/claude-code-system-prompts: `{"to": "researcher", "summary": "assign task 1",
"message": "start on task #1"}`, `to` a teammate's name or `"*"` for everyone else).  Earlier
versions (2.1.20-2.1.32) used `type`/`recipient`/`content`; Claude Code's structured protocol
messages (`message` as a `shutdown_response` or `plan_approval_response` object) are not
supported: agentbook's teams end their members themselves.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from agentbook.redact import redact
from agentbook.tools._subscribers import Subscribers
from agentbook.tools.base import ToolContext, ToolError, validate_input

__all__ = ["BROADCAST", "MailChange", "MailError", "MailMessage", "Mailbox", "SendMessageTool"]


BROADCAST = "*"


class MailError(ValueError):
    """A message the mailbox refuses (an unknown name, a message to oneself): the caller's mistake."""


@dataclass(frozen=True)
class MailMessage:
    """One message to one member; `sent_at` is seconds since the epoch."""

    id: int
    sender: str
    recipient: str
    text: str
    summary: str | None
    sent_at: float


@dataclass(frozen=True)
class MailChange:
    """What a subscriber is told: messages were sent, or taken by their recipient."""

    kind: Literal["sent", "delivered"]
    messages: tuple[MailMessage, ...]


class Mailbox:
    """The mailbox of a team of `members`, persisted in `path` (loaded from it when it exists).

    Message ids are 1, 2, ... in sending order.  Subscribers are called after every send and
    take, on the thread that made it (`SendMessage` sends from a worker thread), outside the
    lock; one that raises is logged and does not stop the others.  `clock` gives `sent_at`.
    """

    def __init__(self, path: Path, members: Sequence[str], *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.members = _check_members(members)
        self._clock = clock
        self._lock = threading.Lock()
        self._messages: list[MailMessage] = []
        self._delivered: set[int] = set()
        self._size = 0  # bytes of whole lines: what the next append keeps
        self._subscribers: Subscribers[MailChange] = Subscribers(f"the mailbox {self.path}")
        self._load()

    def send(self, sender: str, to: str, text: str, summary: str | None = None) -> list[MailMessage]:
        """Post `text` from `sender` to member `to`, or to every member but `sender` when `to` is
        "*"; the messages posted (none for a broadcast in a team of one).  `MailError` for an
        unknown name or a message to oneself."""
        self._check_member(sender, "sender")
        if to == BROADCAST:
            recipients = [m for m in self.members if m != sender]
        elif to == sender:
            raise MailError(f"cannot send a message to yourself ({sender})")
        else:
            recipients = [self._check_member(to, "recipient")]
        text, summary = redact(text), None if summary is None else redact(summary)  # kept in the run folder
        with self._lock:
            first, now = len(self._messages) + 1, self._clock()
            sent = [
                MailMessage(first + n, sender, name, text, summary, now) for n, name in enumerate(recipients)
            ]
            if sent:
                self._append({"kind": "sent", "messages": [asdict(m) for m in sent]})
                self._messages.extend(sent)
        if sent:
            self._notify(MailChange("sent", tuple(sent)))
        return sent

    def take(self, recipient: str) -> list[MailMessage]:
        """The messages to `recipient` not delivered yet, in order; they are marked delivered
        (durably) before this returns, so no later `take`, on this mailbox or a new one on the
        same file, returns them again."""
        self._check_member(recipient, "recipient")
        with self._lock:
            due = [m for m in self._messages if m.recipient == recipient and m.id not in self._delivered]
            if due:
                self._append({"kind": "delivered", "ids": [m.id for m in due], "at": self._clock()})
                self._delivered.update(m.id for m in due)
        if due:
            self._notify(MailChange("delivered", tuple(due)))
        return due

    def pending(self, recipient: str) -> int:
        """How many messages to `recipient` are not delivered yet."""
        with self._lock:
            return sum(1 for m in self._messages if m.recipient == recipient and m.id not in self._delivered)

    def messages(self) -> list[MailMessage]:
        """Every message, delivered or not, in sending order (for a board)."""
        with self._lock:
            return list(self._messages)

    def is_delivered(self, message_id: int) -> bool:
        """Whether message `message_id` was taken by its recipient."""
        with self._lock:
            return message_id in self._delivered

    def subscribe(self, callback: Callable[[MailChange], None]) -> Callable[[], None]:
        """Call `callback(change)` after every send and take; returns a function that stops it."""
        return self._subscribers.add(callback)

    def _check_member(self, name: str, role: str) -> str:
        if name not in self.members:
            raise MailError(
                f"unknown {role} {name!r}; the team's members are: {', '.join(self.members)}"
                + (f" (or {BROADCAST!r} for everyone)" if role == "recipient" else "")
            )
        return name

    def _append(self, record: dict[str, Any]) -> None:
        """Append `record` as one line and fsync, first cutting off a torn last line."""
        data = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size < self._size:
                raise RuntimeError(f"mailbox {self.path} shrank from {self._size} to {size} bytes under us")
            if size > self._size:  # a torn last line, from a crash mid-append
                os.ftruncate(fd, self._size)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_folder(self.path.parent)
        self._size += len(data)

    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        lines = raw.split(b"\n")
        *whole, tail = lines
        for number, line in enumerate(whole, 1):
            try:
                self._read(json.loads(line))
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError included
                raise ValueError(f"{self.path}, line {number}: not a mailbox record ({exc})") from None
        self._size = len(raw) - len(tail)  # a last line without its newline is torn: dropped

    def _read(self, record: object) -> None:
        if isinstance(record, dict) and record.get("kind") == "sent":
            entries = record.get("messages")
            if not isinstance(entries, list) or not entries:
                raise ValueError(f"'messages' must be a non-empty list, not {entries!r}")
            for entry in entries:
                message = _message(entry)
                if message.id != len(self._messages) + 1:
                    raise ValueError(f"message id {message.id} out of sequence")
                self._messages.append(message)
        elif isinstance(record, dict) and record.get("kind") == "delivered":
            ids = record.get("ids")
            if not isinstance(ids, list) or not all(
                type(i) is int and 0 < i <= len(self._messages) for i in ids
            ):
                raise ValueError(f"'ids' must list ids of earlier messages, not {ids!r}")
            self._delivered.update(ids)
        else:
            raise ValueError("expected an object whose 'kind' is 'sent' or 'delivered'")

    def _notify(self, change: MailChange) -> None:
        self._subscribers.notify(change)


def _check_members(members: Sequence[str]) -> tuple[str, ...]:
    names = tuple(members)
    bad = [n for n in names if not isinstance(n, str) or not n.strip() or n == BROADCAST]
    if bad or len(set(names)) != len(names) or not names:
        raise ValueError(f"members must be distinct non-empty names other than {BROADCAST!r}, not {names!r}")
    return names


def _message(record: object) -> MailMessage:
    if not isinstance(record, dict):
        raise ValueError(f"a message must be an object, not {record!r}")
    fields = {"sender": str, "recipient": str, "text": str}
    for key, kind in fields.items():
        if not isinstance(record.get(key), kind):
            raise ValueError(f"{key!r} must be a string, not {record.get(key)!r}")
    summary, sent_at, id = record.get("summary"), record.get("sent_at"), record.get("id")
    if summary is not None and not isinstance(summary, str):
        raise ValueError(f"'summary' must be a string or null, not {summary!r}")
    if type(id) is not int or isinstance(sent_at, bool) or not isinstance(sent_at, int | float):
        raise ValueError(f"'id' must be an integer and 'sent_at' a number, not {id!r} and {sent_at!r}")
    return MailMessage(id, record["sender"], record["recipient"], record["text"], summary, float(sent_at))


def _fsync_folder(folder: Path) -> None:
    """Make a new file's name durable (its folder entry), not only its contents."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_SEND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "to": {
            "type": "string",
            "description": f'The recipient: a teammate\'s name, or "{BROADCAST}" for every teammate but you',
        },
        "message": {"type": "string", "description": "The message"},
        "summary": {"type": "string", "description": "A 5-10 word preview of the message"},
    },
    "required": ["to", "message"],
    "additionalProperties": False,
}


class SendMessageTool:
    """Send a message to one teammate, or to all of them, as `me`."""

    name = "SendMessage"
    description = (
        "Sends a message to another member of your team. Your plain text output is NOT visible to "
        "the others: to tell a teammate or the lead anything, you must use this tool. Messages "
        "sent to you are delivered automatically as your next turn; you never check an inbox. "
        f'Address one teammate by name; "{BROADCAST}" sends the same message to everyone else, and '
        "is expensive: use it only for what truly concerns the whole team."
    )
    input_schema: dict[str, Any] = _SEND_SCHEMA

    def __init__(self, mailbox: Mailbox, me: str) -> None:
        self._mailbox, self._me = mailbox, me

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        args = validate_input(self.input_schema, input)
        to, text = args["to"].strip(), args["message"]
        if not text.strip():
            raise ToolError("the message is empty")
        try:
            sent = await asyncio.to_thread(self._mailbox.send, self._me, to, text, args.get("summary"))
        except MailError as exc:
            raise ToolError(str(exc)) from None
        if not sent:
            raise ToolError("you have no teammates to message")
        names = ", ".join(m.recipient for m in sent)
        return (
            f"Message sent to {names}"
            if to != BROADCAST
            else f"Message sent to {len(sent)} teammates: {names}"
        )
