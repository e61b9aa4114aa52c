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
    "tree_order",
]

COLUMNS: tuple[str, ...] = ("agent", "state", "turns", "last tool", "tokens", "cost", "elapsed")
"""Column titles, in the order of `row_cells` and `totals_cells`."""
RIGHT_ALIGNED = frozenset({"turns", "tokens", "cost", "elapsed"})
_WIDTHS_EM = (14, 13, 4, 9, 8, 7, 6)  # the state column holds the totals' summary ("2 done, 1 running")
"""Column widths of the live board's rows (the static table sizes itself)."""
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


def cells_html(cells: Sequence[str], *, depth: int = 0, state: str = "", bold: bool = False) -> str:
    """One board row's cells as fixed-width spans (escaped), so rows line up like a table.

    One HTML value per row, instead of a widget per cell, is what keeps a board update to one
    comm message per changed row.
    """
    spans = []
    for value, title, width in zip(cells, COLUMNS, _WIDTHS_EM, strict=True):
        style = (
            f"display:inline-block;width:{width}em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;"
        )
        style += "text-align:right;padding-right:1em;" if title in RIGHT_ALIGNED else "padding-right:0.5em;"
        if title == "agent" and depth:
            style += f"padding-left:{1.2 * depth}em;box-sizing:border-box;"
        if title == "state" and state:
            style += f"color:{STATE_COLOURS.get(state, 'inherit')};font-weight:600;"
        if bold:
            style += "font-weight:600;"
        cls = f"agentbook-{title.replace(' ', '-')}"
        text = html.escape(value)
        spans.append(f'<span class="{cls}" style="{style}" title="{text}">{text}</span>')
    return f'<div style="font-family:monospace;white-space:nowrap">{"".join(spans)}</div>'


def header_html() -> str:
    """The board's header row."""
    return cells_html(COLUMNS, bold=True)
