"""What a run says about itself when agents end: its failure log and its end summary.

`failures.md` (and a batch's `batch-failures.md`) are written through `append_failure`, redacted
like transcripts, so an API key in an error message never lands there in clear.  `summary` is the
line a run logs when it ends: what ended how, and how many tool calls were denied.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbook.costs import Price, price_for
from agentbook.messages import Usage
from agentbook.redact import redact
from agentbook.scheduler.records import AgentRecord, api_attempts

__all__ = [
    "RunFailed",
    "RunSummary",
    "append_failure",
    "cache_report",
    "failure_entry",
    "log_summary",
    "summarize",
]

log = logging.getLogger("agentbook")


def failure_entry(record: AgentRecord, *, details: Iterable[str] = (), output: str | None = None) -> str:
    """One failed agent as a markdown section: error, attempts, transcript, `details` lines and
    the last of its output."""
    lines = [
        f"## {record.name}",
        "",
        f"- state: {record.state}",
        f"- error: {record.error}",
        f"- API attempts: {api_attempts(record)}",
        *details,
        f"- transcript: {record.transcript}",
        "",
        "Last output:",
        "",
        "```",
        (output if output is not None else record.text)[-2000:],
        "```",
        "",
        "",
    ]
    return "\n".join(lines)


def append_failure(path: Path, text: str, secrets: tuple[str, ...] | None = None) -> None:
    """Append `text` to the failure log at `path`, with secret values redacted."""
    with path.open("a", encoding="utf-8") as f:
        f.write(redact(text, secrets))


class RunFailed(RuntimeError):
    """Some agents of a run failed: `failures` maps each to its error (redacted)."""

    def __init__(self, name: str, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        each = "; ".join(f"{agent}: {error}" for agent, error in failures.items())
        super().__init__(
            f"run {name}: {len(failures)} agent{'s' if len(failures) != 1 else ''} failed: {each}"
        )


@dataclass(frozen=True, repr=False)
class RunSummary:
    """What a run's agents came to (`Run.wait()` returns it; its text is what a cell ending in
    `run.wait()` shows)."""

    name: str
    states: dict[str, int]
    failures: dict[str, str]
    """Each failed agent's error, redacted."""
    denials: int
    """Tool calls denied, in all (`denied` has them per agent)."""
    retries: int
    cost_usd: float | None
    """Dollars for the agents whose model has a price; `None` when none has."""
    denied: dict[str, int] = field(default_factory=dict)

    def raise_for_failures(self) -> None:
        """Raise `RunFailed` naming every failed agent, if one failed."""
        if self.failures:
            raise RunFailed(self.name, self.failures)

    def __str__(self) -> str:
        states = ", ".join(f"{n} {s}" for s, n in sorted(self.states.items())) or "no agents"
        each = ", ".join(f"{a}: {n}" for a, n in self.denied.items())
        extra = [f"{self.denials} denied" + (f" ({each})" if each else ""), f"{self.retries} API retries"]
        extra += [] if self.cost_usd is None else [f"${self.cost_usd:.4f}"]
        lines = [f"run {self.name}: {states}; {', '.join(extra)}"]
        return "\n".join([*lines, *(f"  {a} failed: {e}" for a, e in self.failures.items())])

    __repr__ = __str__


def summarize(name: str, records: Iterable[AgentRecord]) -> RunSummary:
    """The `RunSummary` of `records`."""
    records = list(records)
    states: dict[str, int] = {}
    for record in records:
        states[record.state] = states.get(record.state, 0) + 1
    costs = [c for r in records if price_for(r.model) is not None and (c := r.cost_usd) is not None]
    return RunSummary(
        name, states, {r.name: r.error or "(no error recorded)" for r in records if r.state == "failed"},
        sum(r.denials for r in records), sum(r.retries for r in records), sum(costs) if costs else None,
        {r.name: r.denials for r in records if r.denials},
    )  # fmt: skip


def log_summary(name: str, records: Iterable[AgentRecord]) -> None:
    """Log the run's `RunSummary` once, when its agents have all ended: a warning when any
    failed, was cancelled or had a tool call denied (so a headless caller sees it on stderr even
    where logging is not set up), else at INFO."""
    records = list(records)
    worrying = any(r.state in ("failed", "cancelled") or r.denials for r in records)
    log.log(logging.WARNING if worrying else logging.INFO, "%s", summarize(name, records))


def cache_report(records: Iterable[AgentRecord]) -> dict[str, Any]:
    """What prompt caching did for these agents, and against what.

    - `cache_writes`, `cache_reads`: tokens written to and read from the cache; `cost_usd` the
      dollars paid (agents whose model has a price).
    - `cold_cost_usd` and `saved_usd`: against a *cold fan-out of the same tasks*, the run that
      warming replaces: every agent's first request finds nothing cached, so what it read is
      written instead (at its writes' TTL, 5 minutes unless they were all 1-hour); its later
      turns read its own prefix exactly as they did here.  `saved_usd` is what warming saved.
    - `uncached_cost_usd` and `saved_vs_uncached_usd`: against no prompt caching at all, every
      cached token (read or written) paid as plain input; the sum of the frames'
      `cache_savings_usd` column.
    """
    paid = cold = uncached = 0.0
    usage = Usage()
    for record in records:
        usage += record.usage
        price = price_for(record.model)
        if price is None:
            continue
        # Each call at its own rates (a batch's answers at the batch rates).
        calls = [(price.batch() if c.service_tier == "batch" else price, c.usage) for c in record.calls]
        calls = calls or [(price, record.usage)]  # no per-call record: the whole usage stands in
        cost = sum(rates.cost(u) for rates, u in calls)
        paid += cost
        cold += cost + _first_read_as_write(record, calls[0][0])
        uncached += sum(rates.cost(_uncached(u)) for rates, u in calls)
    return {
        "cache_writes": usage.cache_creation_input_tokens,
        "cache_reads": usage.cache_read_input_tokens,
        "cost_usd": paid,
        "cold_cost_usd": cold,
        "saved_usd": cold - paid,
        "uncached_cost_usd": uncached,
        "saved_vs_uncached_usd": uncached - paid,
    }


def _first_read_as_write(record: AgentRecord, price: Price) -> float:
    """What the agent's first request would pay more, cold: its cache reads paid as writes."""
    first = next((call.usage for call in record.calls if call.turn >= 1), None)
    if first is None:
        # No per-call record (an agent still on its first request): its whole usage stands in.
        first = record.usage
    one_hour = first.cache_creation_input_tokens > 0 and (
        first.ephemeral_1h_input_tokens == first.cache_creation_input_tokens
    )
    write = price.cache_write_1h if one_hour else price.cache_write_5m
    return first.cache_read_input_tokens * (write - price.cache_read) / 1_000_000


def _uncached(usage: Usage) -> Usage:
    """`usage` with no prompt caching: every cached token read or written is plain input."""
    return Usage(
        input_tokens=usage.total_input_tokens,
        output_tokens=usage.output_tokens,
    )
