"""DataFrames from a run's records: one row per agent, per API call, per failure, cost by kind.

The analysis edge: with `tool_frames` and `plots`, the only place that imports pandas; `Run.df`,
`Run.calls_df` and `Run.failures` come from here.  Everything is read from the `AgentRecord`s the
scheduler keeps (`run.records`), never from events or files (the tool frames of
`agentbook.analysis.tool_frames` read the transcripts).  Token columns carry the API's own names;
`cost_usd` is missing (not 0) when a model has no price, and so are `cache_savings_usd` and the
dollar columns of `cost_breakdown_frame`.  Dtypes are pandas' nullable ones (`Int64`, `Float64`),
UTC datetimes, and categoricals for `state` and `model`.

`cache_savings_usd` is the saving against *no prompt caching* (cached tokens priced as plain
input; `frame.attrs["cache_savings_usd"]` says so), not against a cold fan-out: what warming
saved is `run.cache_report()["saved_usd"]`, and the column sums to its `saved_vs_uncached_usd`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from agentbook.analysis.cache import SAVINGS_BASIS, cache_hit_rate, cache_savings_usd
from agentbook.costs import Price, cost_usd, price_for
from agentbook.messages import Usage
from agentbook.scheduler.records import state_counts

if TYPE_CHECKING:
    from agentbook.scheduler.records import AgentRecord
    from agentbook.scheduler.run import Run

__all__ = [
    "COST_KINDS",
    "STATES",
    "TOKEN_COLUMNS",
    "agents_frame",
    "all_agents_frame",
    "calls_frame",
    "cost_breakdown_frame",
    "failures_frame",
    "runs_frame",
    "table",
]

TOKEN_COLUMNS = list(Usage.TOKEN_FIELDS)
STATES = ["pending", "running", "waiting", "done", "partial", "budget", "failed", "cancelled"]
COST_KINDS = ["input", "output", "cache_write_5m", "cache_write_1h", "cache_read"]
"""The dollar columns of `cost_breakdown_frame`, in the order a stacked bar draws them."""


def _cache_columns(usage: Usage, model: str) -> dict[str, float | None]:
    return {"cache_hit_rate": cache_hit_rate(usage), "cache_savings_usd": cache_savings_usd(usage, model)}


_AGENT_COLUMNS = ["name", "state", "session_id", "agent_id", "parent", "depth", "model", "turns",
                  *TOKEN_COLUMNS, "tokens_estimated", "cost_usd", "budget_usd", "budget_tokens",
                  "cache_hit_rate", "cache_savings_usd", "start", "end", "duration_s", "retries",
                  "tool_calls", "denials", "last_tool", "error",
                  "branch", "files_changed", "insertions", "deletions", "result_tokens"]  # fmt: skip


def agents_frame(run: Run) -> pd.DataFrame:
    """One row per agent: name, state, turns, tokens by kind, cost and its own budget (dollars,
    tokens; the run's is `run.config.budget`), cache hit rate and savings
    (see `cache_hit_rate`, `cache_savings_usd`), start, end, duration, error, retries, tool calls
    and how many of them were denied, and the tokens its result adds to whoever reads it
    (estimated)."""
    rows = [_agent_row(run, record) for record in list(run.records.values())]
    frame = pd.DataFrame(rows, columns=[c for c in _AGENT_COLUMNS if c != "duration_s"])
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    frame["duration_s"] = (frame["end"] - frame["start"]).dt.total_seconds()
    frame["state"] = pd.Categorical(frame["state"], categories=STATES)
    frame["model"] = frame["model"].astype("category")
    integers = [
        "turns",
        "depth",
        "retries",
        "tool_calls",
        "denials",
        "files_changed",
        "insertions",
        "deletions",
    ]
    for column in [*integers, "result_tokens", "budget_tokens", *TOKEN_COLUMNS]:
        frame[column] = frame[column].astype("Int64")
    for column in ["cost_usd", "budget_usd", "cache_hit_rate", "cache_savings_usd"]:
        frame[column] = frame[column].astype("Float64")
    frame = frame[_AGENT_COLUMNS].set_index("name")
    frame.attrs["cache_savings_usd"] = SAVINGS_BASIS
    return frame


def _agent_row(run: Run, record: AgentRecord) -> dict[str, Any]:
    """One agent's row of `agents_frame`, before the columns get their dtypes."""
    from agentbook.models.base import estimate_tokens

    usage, budget = record.usage, record.budget or record.task.budget
    result_tokens = record.result_tokens if record.result_tokens is not None else estimate_tokens(record.text)
    return {
        "name": record.name,
        "state": record.state,
        "session_id": run.session_id,
        "agent_id": record.agent_id,
        "parent": record.parent,
        "depth": record.depth,
        "model": record.model,
        "turns": record.turns,
        **{k: getattr(usage, k) for k in TOKEN_COLUMNS},
        "tokens_estimated": usage.estimated,
        "cost_usd": record.cost_usd if _batched(record) else cost_usd(usage, record.model),
        "budget_usd": budget.usd if budget is not None else None,
        "budget_tokens": budget.tokens if budget is not None else None,
        **_cache_columns(usage, record.model),
        "start": record.started,
        "end": record.ended,
        "retries": record.retries,
        "tool_calls": record.tools_run,
        "denials": record.denials,
        "last_tool": record.last_tool,
        "error": record.error,
        "branch": record.branch,
        "files_changed": record.files_changed,
        "insertions": record.insertions,
        "deletions": record.deletions,
        "result_tokens": result_tokens,
    }


def calls_frame(run: Run) -> pd.DataFrame:
    """One row per API call: agent, turn, time, latency, model, ids, stop reason, tokens, cost,
    cache hit rate and cache savings; a compaction's call (turn 0) also has the conversation's
    input tokens before it and after (`context_before`, `context_after`: a coordinator's
    context, compacted)."""
    rows = []
    for record in list(run.records.values()):
        for call in list(record.calls):
            rows.append(
                {
                    "agent": record.name,
                    "session_id": run.session_id,
                    "agent_id": record.agent_id,
                    "turn": call.turn,
                    "at": call.at,
                    "elapsed_s": call.elapsed_s,
                    "model": call.model,
                    "message_id": call.message_id,
                    "request_id": call.request_id,
                    "stop_reason": call.stop_reason,
                    **{k: getattr(call.usage, k) for k in TOKEN_COLUMNS},
                    "cost_usd": cost_usd(call.usage, call.model, service_tier=call.service_tier),
                    **_cache_columns(call.usage, call.model),
                    "context_before": call.compacted[0] if call.compacted else None,
                    "context_after": call.compacted[1] if call.compacted else None,
                }
            )
    columns = ["agent", "session_id", "agent_id", "turn", "at", "elapsed_s", "model", "message_id",
               "request_id", "stop_reason", *TOKEN_COLUMNS, "cost_usd", "cache_hit_rate",
               "cache_savings_usd", "context_before", "context_after"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["model"] = frame["model"].astype("category")
    for column in ["turn", *TOKEN_COLUMNS, "context_before", "context_after"]:
        frame[column] = frame[column].astype("Int64")
    for column in ["cost_usd", "cache_hit_rate", "cache_savings_usd"]:
        frame[column] = frame[column].astype("Float64")
    frame.attrs["cache_savings_usd"] = SAVINGS_BASIS
    return frame


def failures_frame(run: Run) -> pd.DataFrame:
    """One row per failed agent: name, error, API attempts, last output, transcript."""
    from agentbook.scheduler.records import api_attempts

    rows = [
        {"name": r.name, "error": r.error, "attempts": api_attempts(r), "last_output": r.text[-500:],
         "transcript": str(r.transcript)}
        for r in list(run.records.values())
        if r.state == "failed"
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["name", "error", "attempts", "last_output", "transcript"])


def cost_breakdown_frame(run: Run) -> pd.DataFrame:
    """One row per agent (index `name`, in the run's order): its dollars by token kind, columns
    `COST_KINDS` (Float64), plus `model` and `cost_usd`.  The kinds sum to `cost_usd`.  Every
    dollar column is missing for an agent whose model has no price."""
    rows = []
    for record in list(run.records.values()):
        price = price_for(record.model)
        dollars: dict[str, float | None] = dict.fromkeys(COST_KINDS)
        total = None
        if price is not None:  # each lane's calls at its own prices (the batch lane's are half)
            parts = [_dollars_by_kind(usage, p) for usage, p in _by_lane(record, price)]
            dollars = {k: sum(part[k] or 0.0 for part in parts) for k in COST_KINDS}
            total = sum(p.cost(usage) for usage, p in _by_lane(record, price))
        rows.append({"name": record.name, "model": record.model, **dollars, "cost_usd": total})
    frame = pd.DataFrame(rows, columns=["name", "model", *COST_KINDS, "cost_usd"])
    frame["model"] = frame["model"].astype("category")
    for column in [*COST_KINDS, "cost_usd"]:
        frame[column] = frame[column].astype("Float64")
    return frame.set_index("name")


def _batched(record: AgentRecord) -> bool:
    return any(call.service_tier == "batch" for call in record.calls)


def _by_lane(record: AgentRecord, price: Price) -> list[tuple[Usage, Price]]:
    """`record`'s usage at standard prices and at batch prices (only the first when no call was
    batched)."""
    if not _batched(record):
        return [(record.usage, price)]
    batched = sum((c.usage for c in record.calls if c.service_tier == "batch"), Usage())
    standard = sum((c.usage for c in record.calls if c.service_tier != "batch"), Usage())
    return [(standard, price), (batched, price.batch())]


def _dollars_by_kind(usage: Usage, price: Price) -> dict[str, float | None]:
    writes_1h = usage.ephemeral_1h_input_tokens
    writes_5m = usage.cache_creation_input_tokens - writes_1h  # no split: 5-minute writes, as in Price.cost
    per_million = {
        "input": usage.input_tokens * price.input,
        "output": usage.output_tokens * price.output,
        "cache_write_5m": writes_5m * price.cache_write_5m,
        "cache_write_1h": writes_1h * price.cache_write_1h,
        "cache_read": usage.cache_read_input_tokens * price.cache_read,
    }
    return {kind: value / 1_000_000 for kind, value in per_million.items()}


def table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    index: str | None = None,
    dtypes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """A frame of `rows` with `columns` (in that order), `dtypes` applied, indexed by `index`:
    how plans and batches, which import no pandas, hand their tables to the user."""
    frame = pd.DataFrame(list(rows), columns=list(columns))
    for column, dtype in (dtypes or {}).items():
        frame[column] = frame[column].astype(dtype)  # type: ignore[call-overload]
    return frame.set_index(index) if index is not None else frame


def runs_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run: its name, agents, their states, tokens and folder (`%agents`)."""
    rows = []
    for run in runs:
        usage, records = run.usage, list(run.records.values())
        tokens = usage.total_input_tokens + usage.output_tokens
        rows.append({"run": run.name, "agents": len(records), "states": state_counts(records),
                     "tokens": tokens, "run_dir": str(run.run_dir)})  # fmt: skip
    return pd.DataFrame(rows, columns=["run", "agents", "states", "tokens", "run_dir"])


def all_agents_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """`agents_frame` of every run, with a `run` column (`%agents df`)."""
    frames = [agents_frame(run).assign(run=run.name) for run in runs]
    return pd.concat(frames) if frames else pd.DataFrame()
