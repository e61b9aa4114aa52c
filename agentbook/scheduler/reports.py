"""What a run says about itself when agents end: its failure log and its end summary.

`failures.md` (and a batch's `batch-failures.md`) are written through `append_failure`, redacted
like transcripts, so an API key in an error message never lands there in clear.  `summary` is the
line a run logs when it ends: what ended how, and how many tool calls were denied.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentbook.costs import price_for
from agentbook.messages import Usage
from agentbook.redact import redact
from agentbook.scheduler.records import AgentRecord, api_attempts, state_counts

__all__ = ["append_failure", "cache_report", "failure_entry", "log_summary", "summary"]

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


def summary(name: str, records: Iterable[AgentRecord]) -> str:
    """`run NAME: 2 done, 1 failed; 3 tool calls denied (a: 2, b: 1)`."""
    records = list(records)
    denied = {r.name: r.denials for r in records if r.denials}
    text = f"run {name}: " + (state_counts(records) or "no agents")
    if denied:
        total = sum(denied.values())
        each = ", ".join(f"{a}: {n}" for a, n in denied.items())
        text += f"; {total} tool call{'s' if total != 1 else ''} denied ({each})"
    return text


def log_summary(name: str, records: Iterable[AgentRecord]) -> None:
    """Log `summary` when a run's agents have all ended: a warning when any failed, was cancelled
    or had a tool call denied (Python shows warnings even where logging is not set up)."""
    records = list(records)
    worrying = any(r.state in ("failed", "cancelled") or r.denials for r in records)
    log.log(logging.WARNING if worrying else logging.INFO, "%s", summary(name, records))


def cache_report(records: Iterable[AgentRecord]) -> dict[str, Any]:
    """What prompt caching did for these agents: tokens written to and read from the cache, the
    dollars paid, and what a cold fan-out (each read paid as a write) would have paid."""
    paid = cold = 0.0
    usage = Usage()
    for record in records:
        usage += record.usage
        price = price_for(record.model)
        if price is None:
            continue
        paid += price.cost(record.usage)
        cold += price.cost(record.usage)
        cold += record.usage.cache_read_input_tokens * (price.cache_write_5m - price.cache_read) / 1e6
    return {
        "cache_writes": usage.cache_creation_input_tokens,
        "cache_reads": usage.cache_read_input_tokens,
        "cost_usd": paid,
        "cold_cost_usd": cold,
        "saved_usd": cold - paid,
    }
