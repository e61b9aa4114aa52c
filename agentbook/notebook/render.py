"""How a run looks: a plain-text table, a static HTML table, transcripts as HTML, MIME bundles.

Widget state is not saved with a notebook, and headless executors drop late widget updates, so
every display of a run carries these static renderings beside the live board
(`agentbook.notebook.widgets`).  This module only formats: it never imports ipywidgets (the board is
imported lazily, inside a kernel only), and every function reads the run's records as they are
at the moment it is called.  The board reuses the cell formatting here, so a saved notebook's
static table and the live board show the same figures.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbook.events import utcnow
from agentbook.messages import Block, Text, Thinking, ToolResult, ToolUse
from agentbook.scheduler.records import AgentRecord

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
COLUMNS: tuple[str, ...] = ("agent", "state", "turns", "last tool", "tokens", "cost", "elapsed")
"""Column titles, in the order of `row_cells` and `totals_cells`."""
_RIGHT_ALIGNED = frozenset({"turns", "tokens", "cost", "elapsed"})
_WIDTHS_EM = (16, 11, 4, 9, 8, 7, 6)  # the state column holds the totals' summary ("2 done, 1 running")
"""Column widths of the live board's rows (the static table sizes itself)."""
STATE_COLOURS: dict[str, str] = {
    "pending": "#616161",
    "running": "#00838f",
    "waiting": "#1565c0",
    "done": "#2e7d32",
    "partial": "#b26a00",
    "failed": "#c62828",
    "cancelled": "#9e9e9e",
}
"""Text colour per agent state: running teal, done green, failed red, cancelled grey, partial amber,
waiting blue."""

TEXT_LIMIT = 2000
INPUT_LIMIT = 600
RESULT_LIMIT = 1000
ERROR_LIMIT = 300
MESSAGES_SHOWN = 40


# ---- cells (shared by the text table, the HTML table and the live board)


def format_tokens(record_or_total: AgentRecord | int) -> str:
    """Tokens as `12,345`: for a record, input + cache writes + cache reads + output."""
    if isinstance(record_or_total, int):
        return f"{record_or_total:,}"
    usage = record_or_total.usage
    return f"{usage.total_input_tokens + usage.output_tokens:,}"


def format_dollars(cost: float | None) -> str:
    """`$0.0123`; `?` when the model has no price (a missing price is never shown as 0)."""
    return "?" if cost is None else f"${cost:.4f}"


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


def row_cells(record: AgentRecord, now: datetime) -> tuple[str, ...]:
    """One agent's cells, in `COLUMNS` order, unescaped."""
    return (
        record.name,
        record.state,
        str(record.turns),
        record.last_tool or "",
        format_tokens(record),
        format_dollars(record.cost_usd),
        format_elapsed(record.started, record.ended, now),
    )


def totals_cells(records: Sequence[AgentRecord], now: datetime) -> tuple[str, ...]:
    """The totals row: agent count, states, summed turns, tokens and dollars, and wall time.

    Dollars: `?` when no agent has a price, `$x+?` when only some do.  Wall time runs from the
    first start to the last end (or `now` while any agent has not ended).
    """
    costs = [r.cost_usd for r in records]
    known = [c for c in costs if c is not None]
    if not known and costs:
        dollars = "?"
    else:
        dollars = format_dollars(sum(known)) + ("+?" if len(known) < len(costs) else "")
    starts = [r.started for r in records if r.started is not None]
    ends = [r.ended for r in records if r.started is not None]
    last = now if any(e is None for e in ends) else max((e for e in ends if e), default=now)
    counts: dict[str, int] = {}
    for record in records:
        counts[record.state] = counts.get(record.state, 0) + 1
    return (
        f"total ({len(records)} agents)",
        ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
        str(sum(r.turns for r in records)),
        "",
        format_tokens(sum(r.usage.total_input_tokens + r.usage.output_tokens for r in records)),
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


def _records(run: Run) -> list[AgentRecord]:
    # `list()` copies at once: the agent loop may add sub-agents while we format.
    return tree_order(list(run.records.values()))


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- plain text


def render_text(run: Run, now: datetime | None = None) -> str:
    """A plain-text table of `run`: one row per agent (sub-agents indented), a totals row, and
    the error of every agent that has one."""
    now = now or utcnow()
    records = _records(run)
    rows = [COLUMNS]
    for record in records:
        cells = row_cells(record, now)
        rows.append(("  " * record.depth + cells[0], *cells[1:]))
    totals = totals_cells(records, now)
    widths = [max(len(row[i]) for row in (*rows, totals)) for i in range(len(COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if title in _RIGHT_ALIGNED else cell.ljust(width)
            for cell, width, title in zip(cells, widths, COLUMNS, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [f"run {run.name}", line(rows[0]), rule, *(line(r) for r in rows[1:]), rule, line(totals)]
    errors = [(r.name, r.error) for r in records if r.error]
    if errors:
        out += ["", "errors:", *(f"  {name}: {_short(error, ERROR_LIMIT)}" for name, error in errors)]
    return "\n".join(out)


# ---- static HTML


def _td(value: str, title: str, *, style: str = "") -> str:
    align = "right" if title in _RIGHT_ALIGNED else "left"
    css = f"text-align:{align};padding:2px 8px;{style}"
    return f'<td class="agentbook-{title.replace(" ", "-")}" style="{css}">{html.escape(value)}</td>'


def _html_row(record: AgentRecord, now: datetime) -> str:
    cells = row_cells(record, now)
    colour = STATE_COLOURS.get(record.state, "inherit")
    tds = [
        _td(value, title, style=f"color:{colour};font-weight:600" if title == "state" else "")
        for value, title in zip(cells, COLUMNS, strict=True)
    ]
    tds[0] = tds[0].replace("padding:2px 8px;", f"padding:2px 8px 2px {8 + 16 * record.depth}px;", 1)
    row = f'<tr class="agentbook-row agentbook-state-{html.escape(record.state)}">{"".join(tds)}</tr>'
    if record.error:
        error = html.escape(_short(record.error, ERROR_LIMIT))
        row += (
            f'<tr class="agentbook-error"><td></td><td colspan="{len(COLUMNS) - 1}" '
            f'style="color:{colour};padding:0 8px 4px 8px;text-align:left">{error}</td></tr>'
        )
    return row


def render_html(run: Run, now: datetime | None = None) -> str:
    """A static HTML table of `run` (class `agentbook-static`): the rows of `render_text`,
    state colours (`STATE_COLOURS`) and every value HTML-escaped."""
    now = now or utcnow()
    records = _records(run)
    head = "".join(
        f'<th style="text-align:{"right" if t in _RIGHT_ALIGNED else "left"};padding:2px 8px">{t}</th>'
        for t in COLUMNS
    )
    body = "".join(_html_row(r, now) for r in records)
    totals = "".join(
        _td(v, t, style="font-weight:600;border-top:1px solid #999")
        for v, t in zip(totals_cells(records, now), COLUMNS, strict=True)
    )
    return (
        '<table class="agentbook-static" style="border-collapse:collapse;font-family:monospace">'
        f'<caption style="text-align:left">run {html.escape(run.name)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        f'<tfoot><tr class="agentbook-totals">{totals}</tr></tfoot></table>'
    )


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
        style += "text-align:right;padding-right:1em;" if title in _RIGHT_ALIGNED else "padding-right:0.5em;"
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


def permission_html(tool: str, tool_input: Mapping[str, Any], reason: str) -> str:
    """A tool call waiting for permission, and why it must ask (escaped)."""
    call = _short(json.dumps(dict(tool_input), ensure_ascii=False), INPUT_LIMIT)
    return f"<b>{html.escape(tool)}</b> <code>{html.escape(call)}</code><br><i>{html.escape(reason)}</i>"


# ---- transcripts


def _block_html(block: Block) -> str:
    if isinstance(block, Text):
        return (
            f"<pre style='white-space:pre-wrap;margin:0'>{html.escape(_short(block.text, TEXT_LIMIT))}</pre>"
        )
    if isinstance(block, ToolUse):
        args = _short(json.dumps(block.input, ensure_ascii=False), INPUT_LIMIT)
        return (
            f"<div class='agentbook-tool-call'><b>→ {html.escape(block.name)}</b> "
            f"<code>{html.escape(args)}</code></div>"
        )
    if isinstance(block, ToolResult):
        colour = "#c62828" if block.is_error else "#555"
        return (
            f"<pre class='agentbook-tool-result' style='white-space:pre-wrap;margin:0;color:{colour}'>"
            f"{html.escape(_short(block.content, RESULT_LIMIT))}</pre>"
        )
    if isinstance(block, Thinking):
        return f"<i style='color:#777'>(thinking, {len(block.thinking):,} characters)</i>"
    return ""


def transcript_html(path: Path, *, error: str | None = None, limit: int = MESSAGES_SHOWN) -> str:
    """An agent's transcript as HTML: the last `limit` messages (text, tool calls with their
    input, tool results, each truncated), then `error` if any.  A missing file (an agent that
    has not started) gives a short note."""
    from agentbook.scheduler.transcripts import read_transcript  # only the transcript view needs it

    if not path.is_file():
        body = "<i>no transcript yet</i>"
    else:
        messages = read_transcript(path).messages
        skipped = max(0, len(messages) - limit)
        parts = [f"<i>… {skipped} earlier messages</i>"] if skipped else []
        for message in messages[skipped:]:
            blocks = "".join(_block_html(b) for b in message.content)
            parts.append(
                f"<div class='agentbook-message agentbook-{message.role}' "
                f"style='border-left:3px solid {'#1565c0' if message.role == 'assistant' else '#999'};"
                f"padding-left:6px;margin:4px 0'><b>{message.role}</b>{blocks}</div>"
            )
        body = "".join(parts) or "<i>no messages yet</i>"
    if error:
        body += (
            f"<div style='color:#c62828'><b>error:</b> {html.escape(_short(error, ERROR_LIMIT * 4))}</div>"
        )
    # No height limit here: the widget's own layout scrolls, so replacing the value keeps the
    # reader's scroll position instead of jumping back to the top.
    return f"<div style='font-size:90%;padding:4px 8px'>{body}</div>"


# ---- MIME bundles


def _kernel_present() -> bool:
    from agentbook.scheduler.observers import in_kernel

    return in_kernel()


def publish_final(run: Run) -> None:
    """In a kernel, display `run`'s static text and HTML (no widget) in the current cell; else
    nothing.

    For `Run.wait()`: the saved notebook then shows the end of the run even where widget state
    was not saved (JupyterLab shows a widget view whose state is missing as an error, not as
    its HTML fallback).
    """
    if _kernel_present():
        from IPython.display import display as ipython_display  # the notebook edge only

        show: Any = ipython_display  # IPython leaves `display` unannotated
        show(run_bundle(run, include_widget=False), raw=True)


def run_bundle(run: Run, include_widget: bool) -> dict[str, Any]:
    """The MIME bundle a run displays as: `text/plain` and `text/html` (static, as of now), and,
    when `include_widget` and we run in a Jupyter kernel, the live board's widget view.

    Front ends that can render the widget show it; saved notebooks and headless executors fall
    back to the static HTML or text.
    """
    bundle: dict[str, Any] = {"text/plain": render_text(run), "text/html": render_html(run)}
    if include_widget and _kernel_present():
        from agentbook.notebook.widgets import board_for  # the notebook edge: ipywidgets only in a kernel

        view = board_for(run).widget._repr_mimebundle_() or {}
        if WIDGET_VIEW_MIME in view:
            bundle[WIDGET_VIEW_MIME] = view[WIDGET_VIEW_MIME]
    return bundle
