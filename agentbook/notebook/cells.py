"""The cells of a run's table, shared by the static text and HTML tables and the live board.

`agentbook.notebook.render` lays these out as a plain-text or HTML table; the board
(`agentbook.notebook.widgets.rows`) sets `cells_html` as the value of one `HTML` widget per row.
One module for both is what keeps a saved notebook's static table and the live board showing the
same figures.  Every cell is read from an `AgentRecord` (kept by `agentbook.scheduler.records`) as
it is when called; nothing here imports ipywidgets or IPython.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime

from agentbook.budgets import Budget
from agentbook.scheduler.records import AgentRecord, state_counts

__all__ = [
    "COLUMNS",
    "FLEX",
    "GAP_EM",
    "RIGHT_ALIGNED",
    "STATE_COLOURS",
    "cells_html",
    "format_dollars",
    "format_elapsed",
    "format_tokens",
    "header_html",
    "record_tokens",
    "row_cells",
    "shorten",
    "totals_cells",
    "totals_html",
    "tree_order",
]

COLUMNS: tuple[str, ...] = ("agent", "state", "turns", "last tool", "tokens", "cost", "elapsed")
"""Column titles, in the order of `row_cells` and `totals_cells`."""
RIGHT_ALIGNED = frozenset({"turns", "tokens", "cost", "elapsed"})
FLEX: dict[str, tuple[float, float, float | None]] = {
    # column: (basis = narrowest width in em, share of the room left, widest in em or None).
    # A monospace character is 0.6em: each basis holds its title, and the figures' bases hold
    # `99,999,999` tokens, `$12.3456` and `59m59s`.
    "agent": (6.0, 4.0, 30.0),
    "state": (5.5, 1.0, 18.0),
    "turns": (3.4, 0.0, None),
    "last tool": (6.2, 1.0, 16.0),  # with a 0.6em padding: its title is not read as "turns last tool"
    "tokens": (6.1, 0.0, None),
    "cost": (4.9, 0.5, 12.0),
    "elapsed": (4.4, 0.0, None),
}
"""The live board's columns as flex items (the static table sizes itself): each starts at its
basis, text columns share what room is left (the figures keep their width) up to their widest,
and a cell too narrow for its value ends in an ellipsis, the whole value in its tooltip.  The
basis is also the narrowest: a row wraps its cells only when the bases no longer fit (about 40em
with the gaps, some 540 px), never before shrinking.  Relative units only: the board fits its cell."""
GAP_EM = 0.5
"""Space between two cells of a board row."""
STATE_COLOURS: dict[str, str] = {
    "pending": "#616161",
    "running": "#00838f",
    "waiting": "#1565c0",
    "done": "#2e7d32",
    "partial": "#b26a00",
    "budget": "#8d6e00",
    "failed": "#c62828",
    "cancelled": "#9e9e9e",
}
"""Text colour per agent state: running teal, done green, failed red, cancelled grey, partial amber,
budget dark amber, waiting blue."""


def format_tokens(record_or_total: AgentRecord | int) -> str:
    """Tokens as `12,345`: for a record, input + cache writes + cache reads + output."""
    tokens = record_or_total if isinstance(record_or_total, int) else record_tokens(record_or_total)
    return f"{tokens:,}"


def record_tokens(record: AgentRecord) -> int:
    """An agent's tokens: input + cache writes + cache reads + output (the board's and the
    static table's `tokens` column, and what their totals add up)."""
    return record.usage.total_input_tokens + record.usage.output_tokens


def format_dollars(cost: float | None, budget: Budget | None = None) -> str:
    """`$0.0123`; `?` when the model has no price (a missing price is never shown as 0); with a
    `budget` in dollars, `$0.0123 of $0.50`."""
    shown = "?" if cost is None else f"${cost:.4f}"
    return f"{shown} of ${budget.usd:g}" if budget is not None and budget.usd is not None else shown


def format_elapsed(started: datetime | None, ended: datetime | None, now: datetime) -> str:
    """Seconds from `started` to `ended` (or `now` while it runs); empty before it starts."""
    if started is None:
        return ""
    seconds = max(0.0, ((ended or now) - started).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def state_cell(record: AgentRecord) -> str:
    """Its state (`queued in batch (n processing, m succeeded)` while its request waits in a
    Message Batch), and how many of its tool calls were denied, if any."""
    state = record.batch if record.batch and record.state == "running" else record.state
    return f"{state}, {record.denials} denied" if record.denials else state


def row_cells(record: AgentRecord, now: datetime) -> tuple[str, ...]:
    """One agent's cells, in `COLUMNS` order, unescaped; the state says how many of its tool
    calls were denied, if any."""
    return (
        record.name,
        state_cell(record),
        str(record.turns),
        record.last_tool or "",
        format_tokens(record),
        format_dollars(record.cost_usd, record.budget),
        format_elapsed(record.started, record.ended, now),
    )


def totals_cells(
    records: Sequence[AgentRecord], now: datetime, budget: Budget | None = None
) -> tuple[str, ...]:
    """The totals row: agent count, states, summed turns, tokens and dollars (of the run's
    `budget`, if it has one in dollars), and wall time.

    Dollars: `?` when no agent has a price, `$x+?` when only some do.  Wall time runs from the
    first start to the last end (or `now` while any agent has not ended).
    """
    costs = [r.cost_usd for r in records]
    known = [c for c in costs if c is not None]
    if not known and costs:
        dollars = "?"
    else:
        dollars = format_dollars(sum(known)) + ("+?" if len(known) < len(costs) else "")
    if budget is not None and budget.usd is not None:
        dollars += f" of ${budget.usd:g}"
    starts = [r.started for r in records if r.started is not None]
    ends = [r.ended for r in records if r.started is not None]
    last = now if any(e is None for e in ends) else max((e for e in ends if e), default=now)
    return (
        f"total ({len(records)} agents)",
        state_counts(records),
        str(sum(r.turns for r in records)),
        "",
        format_tokens(sum(record_tokens(r) for r in records)),
        dollars,
        format_elapsed(min(starts), last, now) if starts else "",
    )


def tree_order(records: Iterable[AgentRecord]) -> list[AgentRecord]:
    """Records with each sub-agent right after its parent (and its parent's earlier children)."""
    records = list(records)
    children: dict[str | None, list[AgentRecord]] = {}
    names = {r.name for r in records}
    for record in records:
        parent = record.parent if record.parent in names else None
        children.setdefault(parent, []).append(record)
    ordered: list[AgentRecord] = []

    def visit(parent: str | None) -> None:
        for child in children.get(parent, []):
            ordered.append(child)
            visit(child.name)

    visit(None)
    return ordered


def shorten(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis if longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- live board rows (the board sets these as the values of its HTML widgets)


def _cell_style(title: str, *, depth: int = 0, state: str = "", bold: bool = False) -> str:
    basis, grow, widest = FLEX[title]
    style = f"flex:{grow:g} 0 {basis:g}em;min-width:{basis:g}em;"
    style += f"max-width:{widest:g}em;" if widest is not None else ""
    style += "box-sizing:border-box;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;"
    style += "text-align:right;" if title in RIGHT_ALIGNED else ""
    if title == "last tool":
        style += "padding-left:0.6em;"
    if title == "agent" and depth:
        style += f"padding-left:{1.2 * depth:g}em;"
    if title == "state" and state:
        style += f"color:{STATE_COLOURS.get(state, 'inherit')};font-weight:600;"
    return style + ("font-weight:600;" if bold else "")


def _line(spans: str) -> str:
    # Wraps only once the bases no longer fit (see `FLEX`); `min-width:0` lets the row shrink
    # inside the widget instead of pushing the board wider than its cell.
    return (
        f'<div class="agentbook-line" style="display:flex;flex-wrap:wrap;gap:0 {GAP_EM:g}em;'
        f'min-width:0;font-family:monospace;line-height:1.6">{spans}</div>'
    )


def _spans(cells: Sequence[str], *, depth: int = 0, state: str = "", bold: bool = False) -> str:
    spans = []
    for value, title in zip(cells, COLUMNS, strict=True):
        style = _cell_style(title, depth=depth, state=state, bold=bold)
        text = html.escape(value)
        cls = f"agentbook-{title.replace(' ', '-')}"
        spans.append(f'<span class="{cls}" style="{style}" title="{text}">{text}</span>')
    return "".join(spans)


def cells_html(cells: Sequence[str], *, depth: int = 0, state: str = "", bold: bool = False) -> str:
    """One board row's cells as flex items (escaped; see `FLEX`), so rows line up like a table
    at any width of the cell.

    One HTML value per row, instead of a widget per cell, is what keeps a board update to one
    comm message per changed row.
    """
    return _line(_spans(cells, depth=depth, state=state, bold=bold))


def header_html() -> str:
    """The board's header row."""
    return cells_html(COLUMNS, bold=True)


def totals_html(records: Sequence[AgentRecord], now: datetime, budget: Budget | None = None) -> str:
    """The board's totals row: `totals_cells`' figures under their columns, and the agent count
    and states (each in its colour) on a line of their own under them: `4 agents: 2 done,
    1 running, 1 waiting` is wider than any column, so it wraps rather than cut a state."""
    totals = totals_cells(records, now, budget)
    counts: dict[str, int] = {}
    for record in records:
        counts[record.state] = counts.get(record.state, 0) + 1
    states = ", ".join(
        f'<span style="color:{STATE_COLOURS.get(state, "inherit")}">{n} {html.escape(state)}</span>'
        for state, n in sorted(counts.items())
    )
    title = html.escape(f"{len(records)} agents: {totals[1]}")
    line = (
        '<span class="agentbook-totals-states" style="flex:1 0 100%;min-width:0;font-weight:600;'
        f'white-space:normal;overflow-wrap:anywhere" title="{title}">{len(records)} agents: {states}</span>'
    )
    return _line(_spans(("total", "", *totals[2:]), bold=True) + line)
