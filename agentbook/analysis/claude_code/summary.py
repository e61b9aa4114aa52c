"""Cost summaries of a scan: the totals, tables and JSON of the `agentbook costs` command.

Plain Python over `ClaudeCodeCall`s, so the command prints without importing pandas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agentbook.analysis.claude_code.calls import MAIN_AGENT, ClaudeCodeCall
from agentbook.analysis.claude_code.pricing import price_key
from agentbook.analysis.claude_code.scan import Scan
from agentbook.analysis.claude_code.snapshots import CORRECTION_RULE

__all__ = ["CostSummary", "Totals", "format_summary", "summarize", "summary_json"]


@dataclass
class Totals:
    """Sums over calls.  `cost_usd` sums the priced calls only; `unpriced_calls` counts the rest.

    The recorded figures are what ccusage adds up; `snapshot_calls` counts the calls whose usage
    is a streaming snapshot, and `output_tokens_corrected` / `cost_usd_corrected` are the totals
    with their output estimated by `CORRECTION_RULE` (equal to the recorded ones when none is).
    """

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    snapshot_calls: int = 0
    output_tokens_corrected: int = 0
    cost_usd_corrected: float = 0.0

    def add(self, call: ClaudeCodeCall) -> None:
        self.calls += 1
        self.input_tokens += call.input_tokens or 0
        self.output_tokens += call.output_tokens or 0
        self.cache_creation_input_tokens += call.cache_creation_input_tokens or 0
        self.cache_read_input_tokens += call.cache_read_input_tokens or 0
        self.snapshot_calls += call.usage_snapshot
        self.output_tokens_corrected += call.output_tokens_corrected or 0
        if call.cost_usd is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += call.cost_usd
            self.cost_usd_corrected += call.cost_usd_corrected or 0.0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "unpriced_calls": self.unpriced_calls,
            "usage_snapshot_calls": self.snapshot_calls,
            "output_tokens_corrected": self.output_tokens_corrected,
            "cost_usd_corrected": round(self.cost_usd_corrected, 6),
        }

    def corrected(self) -> Totals:
        """These totals with the corrected output and cost in place of the recorded ones."""
        return replace(self, output_tokens=self.output_tokens_corrected, cost_usd=self.cost_usd_corrected)


@dataclass
class CostSummary:
    """Totals of a scan: overall, per (project, session), per (session, agent), for subagents.

    `seen_by_ccusage` sums the calls not `skipped_by_ccusage`: what ccusage 20.0.24 reports.
    """

    scan: Scan
    totals: Totals = field(default_factory=Totals)
    seen_by_ccusage: Totals = field(default_factory=Totals)
    subagents: Totals = field(default_factory=Totals)
    sessions: dict[tuple[str, str], Totals] = field(default_factory=dict)
    agents: dict[tuple[str, str], Totals] = field(default_factory=dict)
    unpriced_models: list[str] = field(default_factory=list)

    @property
    def subagent_count(self) -> int:
        return sum(1 for _, agent in self.agents if agent != MAIN_AGENT)


def summarize(scan: Scan) -> CostSummary:
    """Add up `scan`'s calls.  Sessions keep the order of their first call; within a session the
    main thread comes first, then the subagents in the order of their first call."""
    summary = CostSummary(scan)
    unpriced: set[str] = set()
    agents: dict[tuple[str, str], Totals] = {}
    for call in scan.calls:
        summary.totals.add(call)
        if not call.skipped_by_ccusage:
            summary.seen_by_ccusage.add(call)
        if call.agent_id != MAIN_AGENT:
            summary.subagents.add(call)
        summary.sessions.setdefault((call.project, call.session_id), Totals()).add(call)
        agents.setdefault((call.session_id, call.agent_id), Totals()).add(call)
        if call.cost_usd is None:
            unpriced.add(price_key(call) or "(no model)")
    session_order = {session: i for i, (_, session) in enumerate(summary.sessions)}
    # sorted() is stable: subagents of a session stay in first-call order behind its main thread.
    for key in sorted(agents, key=lambda k: (session_order[k[0]], k[1] != MAIN_AGENT)):
        summary.agents[key] = agents[key]
    summary.unpriced_models = sorted(unpriced)
    return summary


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def summary_json(summary: CostSummary, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`summary` as JSON-ready data (the output of `agentbook costs --json`); `names` as in
    `format_summary`."""
    names = names or {}
    scan, totals, subs = summary.scan, summary.totals, summary.subagents
    return {
        "path": str(scan.path),
        "files": scan.files,
        "lines": scan.lines,
        "bad_lines": scan.bad_lines,
        "no_usage_lines": scan.no_usage_lines,
        "duplicate_lines": scan.duplicate_lines,
        "totals": totals.to_json(),
        "seen_by_ccusage": summary.seen_by_ccusage.to_json(),
        "subagents": {
            **subs.to_json(),
            "agents": summary.subagent_count,
            "token_share": _share(subs.total_tokens, totals.total_tokens),
            "cost_share": _share(subs.cost_usd, totals.cost_usd),
        },
        "sessions": [
            {"project": project, "session_id": session, **t.to_json()}
            for (project, session), t in summary.sessions.items()
        ],
        "agents": [
            {"session_id": session, "agent_id": agent, "name": names.get(agent), **t.to_json()}
            for (session, agent), t in summary.agents.items()
        ],
        "unpriced_models": summary.unpriced_models,
        "correction_rule": CORRECTION_RULE,
    }


_HEADER = ("calls", "input", "output", "cache write", "cache read", "cost")


def _cells(t: Totals) -> list[str]:
    if t.unpriced_calls == t.calls and t.calls:  # no calls cost nothing; unpriced ones are unknown
        cost = "unknown"
    else:
        cost = f"${t.cost_usd:,.4f}" + ("*" if t.unpriced_calls else "")
    counts = (
        t.calls,
        t.input_tokens,
        t.output_tokens,
        t.cache_creation_input_tokens,
        t.cache_read_input_tokens,
    )
    return [*(f"{n:,}" for n in counts), cost]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int) -> list[str]:
    """Aligned text columns: the first `left` to the left, numbers to the right."""
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]


def format_summary(summary: CostSummary, names: Mapping[str, str] | None = None) -> str:
    """`summary` as the text `agentbook costs` prints; `names` give agents' task names (agentbook's
    runs) in place of their ids."""
    scan, totals, subs = summary.scan, summary.totals, summary.subagents
    names = names or {}
    sessions = [(project, session, *_cells(t)) for (project, session), t in summary.sessions.items()]
    agents = [
        (session, names.get(agent, agent), *_cells(t)) for (session, agent), t in summary.agents.items()
    ]
    lines = [
        f"{totals.calls:,} API calls in {scan.files:,} files under {scan.path} "
        f"({scan.lines:,} lines: {scan.duplicate_lines:,} duplicates merged, "
        f"{scan.no_usage_lines:,} without usage, {scan.bad_lines:,} not JSON)",
        "",
        f"per session ({len(sessions)})",
        *_table(("project", "session", *_HEADER), sessions, left=2),
        "",
        f"per agent ({len(agents)}; '{MAIN_AGENT}' is a session's main thread)",
        *_table(("session", "agent", *_HEADER), agents, left=2),
        "",
        f"subagents: {summary.subagent_count:,} agents, {subs.calls:,} calls; "
        f"{_share(subs.total_tokens, totals.total_tokens):.1%} of tokens "
        f"({subs.total_tokens:,} of {totals.total_tokens:,}), "
        f"{_share(subs.cost_usd, totals.cost_usd):.1%} of cost "
        f"(${subs.cost_usd:,.4f} of ${totals.cost_usd:,.4f})",
        *_table(
            ("", *_HEADER),
            [("total as recorded (ccusage's)", *_cells(totals)), ("corrected", *_cells(totals.corrected()))],
            left=1,
        ),
        f"corrected: {totals.snapshot_calls:,} call(s) kept only a streaming snapshot of their usage "
        f"(claude-code#84223), {totals.output_tokens_corrected - totals.output_tokens:,} output tokens "
        f"and ${totals.cost_usd_corrected - totals.cost_usd:,.4f} added",
        f"rule: {CORRECTION_RULE}",
    ]
    if summary.unpriced_models:
        lines.append(
            f"* not in the costs: {totals.unpriced_calls:,} call(s) with no price "
            f"(models: {', '.join(summary.unpriced_models)})"
        )
    seen = summary.seen_by_ccusage
    if seen.calls != totals.calls:
        lines.append(
            f"ccusage 20.0.24 would skip {totals.calls - seen.calls:,} of these calls "
            "(lines not written as compact JSON, or with fields it rejects)"
        )
    return "\n".join(lines)
