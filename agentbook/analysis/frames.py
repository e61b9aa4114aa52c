"""DataFrames from runs: one row per agent, per API call, per tool call, per tool, per failure.

The analysis edge: the only place (with plots) that imports pandas.  Token columns carry the
API's own names; `cost_usd` is missing (not 0) when a model has no price, and so are
`cache_savings_usd` and the dollar columns of `cost_breakdown_frame`.  Dtypes are pandas'
nullable ones (`Int64`, `Float64`), UTC datetimes, and categoricals for `state`, `model`, `tool`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from agentbook.costs import Price, cost_usd, price_for
from agentbook.messages import ToolResult, ToolUse, Usage
from agentbook.scheduler.transcripts import read_transcript

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

TOKEN_COLUMNS = list(Usage.TOKEN_FIELDS)
STATES = ["pending", "running", "waiting", "done", "partial", "failed", "cancelled"]
COST_KINDS = ["input", "output", "cache_write_5m", "cache_write_1h", "cache_read"]
"""The dollar columns of `cost_breakdown_frame`, in the order a stacked bar draws them."""


def cache_hit_rate(usage: Usage) -> float | None:
    """The share of the input read from the cache: cache reads / (input + cache writes + cache
    reads); `None` when there was no input."""
    total = usage.total_input_tokens
    return usage.cache_read_input_tokens / total if total else None


def cache_savings_usd(usage: Usage, model: str) -> float | None:
    """Dollars the prompt cache saved on `usage`, net of what its writes cost over plain input:

    reads x (input - cache read price) - 5m writes x (5m write - input) - 1h writes x (1h write -
    input), per million tokens.  Negative when writes were never read back enough to pay off.
    `None` when `model` has no price (no warning: `cost_usd` already gives one for the same row).
    """
    price = price_for(model)
    if price is None:
        return None
    writes_1h = usage.ephemeral_1h_input_tokens
    # As in `Price.cost`: a usage without the 5m/1h split had 5-minute writes (the default TTL).
    writes_5m = usage.cache_creation_input_tokens - writes_1h
    saved = usage.cache_read_input_tokens * (price.input - price.cache_read)
    extra = writes_5m * (price.cache_write_5m - price.input) + writes_1h * (
        price.cache_write_1h - price.input
    )
    return (saved - extra) / 1_000_000


def _cache_columns(usage: Usage, model: str) -> dict[str, float | None]:
    return {"cache_hit_rate": cache_hit_rate(usage), "cache_savings_usd": cache_savings_usd(usage, model)}


def agents_frame(run: Run) -> pd.DataFrame:
    """One row per agent: name, state, turns, tokens by kind, cost, cache hit rate and savings
    (see `cache_hit_rate`, `cache_savings_usd`), start, end, duration, error, retries and the
    tokens its result adds to whoever reads it (estimated)."""
    from agentbook.models.base import estimate_tokens

    rows = []
    for record in list(run.records.values()):
        usage = record.usage
        rows.append(
            {
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
                "cost_usd": cost_usd(usage, record.model),
                **_cache_columns(usage, record.model),
                "start": record.started,
                "end": record.ended,
                "retries": record.retries,
                "tool_calls": record.tools_run,
                "last_tool": record.last_tool,
                "error": record.error,
                "branch": record.branch,
                "files_changed": record.files_changed,
                "insertions": record.insertions,
                "deletions": record.deletions,
                "result_tokens": record.result_tokens
                if record.result_tokens is not None
                else estimate_tokens(record.text),
            }
        )
    columns = ["name", "state", "session_id", "agent_id", "parent", "depth", "model", "turns", *TOKEN_COLUMNS,
               "tokens_estimated", "cost_usd", "cache_hit_rate", "cache_savings_usd", "start", "end",
               "duration_s", "retries", "tool_calls", "last_tool", "error", "branch", "files_changed",
               "insertions", "deletions", "result_tokens"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=[c for c in columns if c != "duration_s"])
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    frame["duration_s"] = (frame["end"] - frame["start"]).dt.total_seconds()
    frame["state"] = pd.Categorical(frame["state"], categories=STATES)
    frame["model"] = frame["model"].astype("category")
    integers = ["turns", "depth", "retries", "tool_calls", "files_changed", "insertions", "deletions"]
    for column in [*integers, "result_tokens", *TOKEN_COLUMNS]:
        frame[column] = frame[column].astype("Int64")
    for column in ["cost_usd", "cache_hit_rate", "cache_savings_usd"]:
        frame[column] = frame[column].astype("Float64")
    return frame[columns].set_index("name")


def calls_frame(run: Run) -> pd.DataFrame:
    """One row per API call: agent, turn, time, latency, model, ids, stop reason, tokens, cost,
    cache hit rate and cache savings."""
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
                    "cost_usd": cost_usd(call.usage, call.model),
                    **_cache_columns(call.usage, call.model),
                }
            )
    columns = ["agent", "session_id", "agent_id", "turn", "at", "elapsed_s", "model", "message_id",
               "request_id", "stop_reason", *TOKEN_COLUMNS, "cost_usd", "cache_hit_rate",
               "cache_savings_usd"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["model"] = frame["model"].astype("category")
    for column in ["turn", *TOKEN_COLUMNS]:
        frame[column] = frame[column].astype("Int64")
    for column in ["cost_usd", "cache_hit_rate", "cache_savings_usd"]:
        frame[column] = frame[column].astype("Float64")
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
        dollars = _dollars_by_kind(record.usage, price) if price else dict.fromkeys(COST_KINDS)
        total = price.cost(record.usage) if price else None
        rows.append({"name": record.name, "model": record.model, **dollars, "cost_usd": total})
    frame = pd.DataFrame(rows, columns=["name", "model", *COST_KINDS, "cost_usd"])
    frame["model"] = frame["model"].astype("category")
    for column in [*COST_KINDS, "cost_usd"]:
        frame[column] = frame[column].astype("Float64")
    return frame.set_index("name")


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


TOOL_CALL_COLUMNS = ["agent", "tool", "tool_use_id", "start", "end", "duration_s", "is_error", "answered"]


def tool_calls_frame(run: Run) -> pd.DataFrame:
    """One row per tool call, read from the agents' transcripts: agent, tool, tool_use_id, start
    (the assistant line that asked for it), end (the user line with its result), duration_s,
    is_error, answered.

    A call with no result (the agent crashed or was cancelled mid-turn) has `answered` False and
    missing `end`, `duration_s` and `is_error`.  Agents with no transcript yet have no rows.
    Durations include any wait for a permission answer, and sibling calls of one turn share a
    start, so they overlap: they are wall-clock spans, not CPU time.
    """
    rows: list[dict[str, Any]] = []
    for record in list(run.records.values()):
        if record.transcript.is_file():
            rows.extend(_tool_call_rows(record.name, record.transcript))
    frame = pd.DataFrame(rows, columns=TOOL_CALL_COLUMNS)
    frame["tool"] = frame["tool"].astype("category")
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    frame["duration_s"] = (frame["end"] - frame["start"]).dt.total_seconds().astype("Float64")
    frame["is_error"] = frame["is_error"].astype("boolean")
    frame["answered"] = frame["answered"].astype("bool")
    return frame


def tools_frame(run: Run) -> pd.DataFrame:
    """One row per tool used in the run: tool (categorical), calls, total_time_s, errors
    (results with `is_error`); most total time first, ties by name.  Built from
    `tool_calls_frame`, so `total_time_s` sums wall-clock spans of answered calls only."""
    calls = tool_calls_frame(run)
    rows = []
    for tool in sorted(set(calls["tool"].dropna().astype(str))):
        mine = calls[calls["tool"] == tool]
        rows.append(
            {
                "tool": tool,
                "calls": len(mine),
                "total_time_s": float(mine["duration_s"].sum(skipna=True)),
                "errors": int(mine["is_error"].fillna(False).sum()),
            }
        )
    frame = pd.DataFrame(rows, columns=["tool", "calls", "total_time_s", "errors"])
    frame = frame.sort_values(["total_time_s", "tool"], ascending=[False, True], kind="stable")
    frame["tool"] = frame["tool"].astype("category")
    frame["calls"] = frame["calls"].astype("Int64")
    frame["errors"] = frame["errors"].astype("Int64")
    frame["total_time_s"] = frame["total_time_s"].astype("Float64")
    return frame.reset_index(drop=True)


def _tool_call_rows(agent: str, path: Path) -> list[dict[str, Any]]:
    """Pair each ToolUse of the transcript's conversation with its ToolResult, timed by the lines
    that carried them."""
    transcript = read_transcript(path)
    asked_at, answered_at = _block_times(path)
    results = {
        block.tool_use_id: block
        for message in transcript.messages
        for block in message.content
        if isinstance(block, ToolResult)
    }
    rows = []
    for message in transcript.messages:
        for call in message.content:
            if not isinstance(call, ToolUse):
                continue
            result = results.get(call.id)
            rows.append(
                {
                    "agent": agent,
                    "tool": call.name,
                    "tool_use_id": call.id,
                    "start": asked_at.get(call.id),
                    "end": answered_at.get(call.id) if result is not None else None,
                    "is_error": result.is_error if result is not None else None,
                    "answered": result is not None,
                }
            )
    return rows


def _block_times(path: Path) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """When each tool_use was asked for and each result arrived: the `timestamp` of the first
    transcript line carrying the block.  `read_transcript` keeps the conversation but not the
    line times, hence this second, shallow pass."""
    asked: dict[str, datetime] = {}
    answered: dict[str, datetime] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
                at = datetime.fromisoformat(record["timestamp"])
                content = record["message"]["content"]
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line, a system line, or a string prompt: no tool blocks
            if not isinstance(content, list):
                continue
            for block in content:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "tool_use" and "id" in block:
                    asked.setdefault(str(block["id"]), at)
                elif block.get("type") == "tool_result" and "tool_use_id" in block:
                    answered.setdefault(str(block["tool_use_id"]), at)
    return asked, answered
