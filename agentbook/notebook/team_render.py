"""How a team looks without widgets, and the HTML fragments its live board shows too.

A team's board has three parts: the task list as three columns by status (each task a card:
`#id`, subject, owner, "blocked by #n" while a blocker is open), a row per member (the lead
first: state, the task it is working on, tokens, dollars) and the latest messages.  Each part is
one HTML fragment made here from a `TeamView` (a snapshot of the team taken at one moment), so
the live board (`agentbook.notebook.widgets.team`, one `HTML` widget per part) and the static
HTML of a saved notebook show the same thing.  Layout is flex with relative widths only: the
board fits whatever width the cell has.  Nothing here imports ipywidgets.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentbook.notebook.cells import STATE_COLOURS, format_dollars, format_tokens, shorten
from agentbook.teams.observe import idle_members
from agentbook.tools.mailbox import MailMessage
from agentbook.tools.team_tasks import STATUSES, TeamTask

if TYPE_CHECKING:
    from agentbook.teams.team import Team

__all__ = [
    "MESSAGES_SHOWN",
    "STATUS_TITLES",
    "MemberLine",
    "TeamView",
    "column_html",
    "members_html",
    "messages_html",
    "render_team_html",
    "render_team_text",
    "team_view",
]

MESSAGES_SHOWN = 8  # the latest messages the board lists
STATUS_TITLES = {"pending": "pending", "in_progress": "in progress", "completed": "completed"}
_LINE = 120  # a message's summary or first line, at most
_CARD = "border:1px solid #ccc;border-radius:4px;padding:3px 6px;margin:3px 0;overflow-wrap:anywhere"
_COLUMN = "flex:1 1 0;min-width:10em;padding:0 4px"
_TIGHT = "line-height:1.4"  # JupyterLab's HTML widgets set a tall line height for one-line labels


@dataclass(frozen=True)
class MemberLine:
    """One member's row: `state` is the record's, or `idle` while it waits between turns."""

    name: str
    lead: bool
    state: str
    task: TeamTask | None
    tokens: int
    cost: float | None


@dataclass(frozen=True)
class TeamView:
    """What the board shows of a team at one moment."""

    title: str
    tasks: tuple[TeamTask, ...]
    members: tuple[MemberLine, ...]
    messages: tuple[MailMessage, ...]


def team_view(team: Team) -> TeamView:
    """A snapshot of `team` now (its run's records, task list and mailbox)."""
    tasks = tuple(team.tasks)
    records = dict(team.run.records) if team.run is not None else {}
    idle = idle_members(team)
    members = []
    for name in team.members:
        record = records.get(name)
        state: str = record.state if record is not None else "not started"
        if state == "running" and name in idle:
            state = "idle"
        doing = next((t for t in tasks if t.status == "in_progress" and t.owner == name), None)
        tokens = record.usage.total_input_tokens + record.usage.output_tokens if record else 0
        cost = record.cost_usd if record is not None else 0.0
        members.append(MemberLine(name, name == team.lead_name, state, doing, tokens, cost))
    messages = tuple(team.mailbox.messages()) if team.mailbox is not None else ()
    title = f"team run {team.run.name}" if team.run is not None else "team (not started)"
    return TeamView(title, tasks, tuple(members), messages)


def open_blockers(task: TeamTask, tasks: Sequence[TeamTask]) -> list[str]:
    """The ids of `task`'s blockers that are not completed."""
    done = {t.id for t in tasks if t.status == "completed"}
    return [b for b in task.blocked_by if b not in done]


def message_lines(messages: Sequence[MailMessage]) -> list[tuple[str, str, str]]:
    """Every message as (sender, recipient, line), oldest first; a broadcast (one message to
    each member, sent at once) is one line to `all`."""
    lines: list[tuple[str, str, str, float]] = []
    for m in messages:
        line = shorten((m.summary or m.text.strip().split("\n", 1)[0]).strip(), _LINE)
        last = lines[-1] if lines else None
        if last is not None and (last[0], last[2], last[3]) == (m.sender, line, m.sent_at):
            lines[-1] = (m.sender, "all", line, m.sent_at)
        else:
            lines.append((m.sender, m.recipient, line, m.sent_at))
    return [(s, r, line) for s, r, line, _ in lines]


# ---- HTML fragments (the live board sets these as its widgets' values)


def _card(task: TeamTask, tasks: Sequence[TeamTask]) -> str:
    blockers = open_blockers(task, tasks)
    extra = (
        f'<div class="agentbook-owner" style="opacity:0.8">{html.escape(task.owner)}</div>'
        if task.owner
        else ""
    )
    if blockers:
        ids = ", ".join(f"#{b}" for b in blockers)
        extra += f'<div class="agentbook-blocked" style="color:#b26a00">blocked by {html.escape(ids)}</div>'
    return (
        f'<div class="agentbook-task" data-task="{html.escape(task.id)}" style="{_CARD}">'
        f"<b>#{html.escape(task.id)}</b> {html.escape(task.subject)}{extra}</div>"
    )


def column_html(status: str, tasks: Sequence[TeamTask]) -> str:
    """The column of `status`: its title with a count, and a card per task."""
    mine = [t for t in tasks if t.status == status]
    cards = "".join(_card(t, tasks) for t in mine) or '<div style="opacity:0.6">none</div>'
    return (
        f'<div class="agentbook-column agentbook-column-{status}" style="{_TIGHT}">'
        f'<div style="font-weight:600">{STATUS_TITLES[status]} ({len(mine)})</div>{cards}</div>'
    )


_MEMBER_CELLS = (  # (class, style) of each cell of a member row, and its header
    ("name", "flex:2 1 8em;font-weight:600"),
    ("state", "flex:1 1 6em;font-weight:600"),
    ("task", "flex:3 1 10em"),
    ("tokens", "flex:1 1 6em;text-align:right"),
    ("cost", "flex:1 1 5em;text-align:right"),
)
_MEMBER_HEADS = ("member", "state", "working on", "tokens", "cost")


def _member_row(values: Sequence[str], attributes: str, colour: str = "inherit") -> str:
    spans = "".join(
        f'<span class="agentbook-member-{cls}" style="{style}{";color:" + colour if cls == "state" else ""};'
        f'min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap" '
        f'title="{html.escape(v)}">{html.escape(v)}</span>'
        for v, (cls, style) in zip(values, _MEMBER_CELLS, strict=True)
    )
    return f'<div {attributes} style="display:flex;flex-wrap:wrap;gap:0 8px">{spans}</div>'


def members_html(members: Sequence[MemberLine]) -> str:
    """A header and a row per member (lead first), as flex rows that wrap on a narrow cell."""
    rows = [_member_row(_MEMBER_HEADS, 'class="agentbook-members-head"', "#777").replace(
        "font-weight:600", "font-weight:400;color:#777")]  # fmt: skip
    for m in members:
        name = f"{m.name}{' (lead)' if m.lead and m.name != 'lead' else ''}"
        task = f"#{m.task.id} {m.task.subject}" if m.task is not None else ""
        values = (name, m.state, task, format_tokens(m.tokens), format_dollars(m.cost))
        attributes = (f'class="agentbook-member agentbook-state-{html.escape(m.state)}" '
                      f'data-member="{html.escape(m.name)}"')  # fmt: skip
        rows.append(_member_row(values, attributes, STATE_COLOURS.get(m.state, "inherit")))
    return f'<div class="agentbook-members" style="{_TIGHT}">{"".join(rows)}</div>'


def messages_html(messages: Sequence[MailMessage]) -> str:
    """The latest messages, `sender -> recipient: summary or first line`, newest last."""
    every = message_lines(messages)
    lines = every[-MESSAGES_SHOWN:]
    items = "".join(
        f'<div class="agentbook-message" style="overflow-wrap:anywhere"><b>{html.escape(s)}</b> → '
        f"<b>{html.escape(r)}</b>: {html.escape(text)}</div>"
        for s, r, text in lines
    )
    shown = f"latest {len(lines)} of {len(every)}" if len(every) > len(lines) else str(len(every))
    body = items or '<div style="opacity:0.6">none yet</div>'
    title = f'<div style="font-weight:600">messages ({shown})</div>'
    return f'<div class="agentbook-messages" style="{_TIGHT}">{title}{body}</div>'


def title_html(view: TeamView) -> str:
    return f'<div class="agentbook-team-title" style="font-weight:600">{html.escape(view.title)}</div>'


def render_team_html(team: Team) -> str:
    """The static board of `team` (class `agentbook-team-static`), as of now."""
    view = team_view(team)
    columns = "".join(f'<div style="{_COLUMN}">{column_html(s, view.tasks)}</div>' for s in STATUSES)
    return (
        '<div class="agentbook-team-static" style="font-family:sans-serif;font-size:13px;max-width:100%">'
        f"{title_html(view)}"
        f'<div class="agentbook-columns" style="display:flex;flex-wrap:wrap;gap:4px">{columns}</div>'
        f'<div style="margin-top:6px">{members_html(view.members)}</div>'
        f'<div style="margin-top:6px">{messages_html(view.messages)}</div></div>'
    )


def render_team_text(team: Team) -> str:
    """A plain-text board of `team`: tasks by status, members, latest messages."""
    view = team_view(team)
    out = [view.title]
    for status in STATUSES:
        out.append(f"{STATUS_TITLES[status]}:")
        for t in (t for t in view.tasks if t.status == status):
            blocked = open_blockers(t, view.tasks)
            note = (f" ({t.owner})" if t.owner else "") + (
                f" blocked by {', '.join('#' + b for b in blocked)}" if blocked else ""
            )
            out.append(f"  #{t.id} {t.subject}{note}")
    out.append("members:")
    for m in view.members:
        task = f"  #{m.task.id} {m.task.subject}" if m.task is not None else ""
        out.append(f"  {m.name}: {m.state}{task}  {format_tokens(m.tokens)} tokens  {format_dollars(m.cost)}")
    lines = message_lines(view.messages)[-MESSAGES_SHOWN:]
    out += ["messages:", *(f"  {s} -> {r}: {text}" for s, r, text in lines)] if lines else []
    return "\n".join(out)


# ---- MIME bundles
