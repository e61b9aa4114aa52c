"""DataFrames from runs: one row per agent, per API call, per failure.

The analysis edge: the only place (with plots) that imports pandas.  Token columns carry the
API's own names; `cost_usd` is missing (not 0) when a model has no price.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from agentbook.costs import cost_usd
from agentbook.messages import Usage

if TYPE_CHECKING:
    from agentbook.runs import Run

TOKEN_COLUMNS = list(Usage.TOKEN_FIELDS)
STATES = ["pending", "running", "waiting", "done", "partial", "failed", "cancelled"]


def agents_frame(run: Run) -> pd.DataFrame:
    """One row per agent: name, state, turns, tokens by kind, cost, start, end, duration, error,
    retries and the tokens its result adds to whoever reads it (estimated)."""
    from agentbook.models.base import estimate_tokens

    rows = []
    for record in list(run.records.values()):
        usage = record.usage
        rows.append(
            {
                "name": record.name,
                "state": record.state,
                "agent_id": record.agent_id,
                "parent": record.parent,
                "depth": record.depth,
                "model": record.model,
                "turns": record.turns,
                **{k: getattr(usage, k) for k in TOKEN_COLUMNS},
                "tokens_estimated": usage.estimated,
                "cost_usd": cost_usd(usage, record.model),
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
    columns = ["name", "state", "agent_id", "parent", "depth", "model", "turns", *TOKEN_COLUMNS,
               "tokens_estimated", "cost_usd", "start", "end", "duration_s", "retries", "tool_calls",
               "last_tool", "error", "branch", "files_changed", "insertions", "deletions",
               "result_tokens"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=[c for c in columns if c != "duration_s"])
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    frame["duration_s"] = (frame["end"] - frame["start"]).dt.total_seconds()
    frame["state"] = pd.Categorical(frame["state"], categories=STATES)
    integers = ["turns", "depth", "retries", "tool_calls", "files_changed", "insertions", "deletions"]
    for column in [*integers, "result_tokens", *TOKEN_COLUMNS]:
        frame[column] = frame[column].astype("Int64")
    frame["cost_usd"] = frame["cost_usd"].astype("Float64")
    return frame[columns].set_index("name")


def calls_frame(run: Run) -> pd.DataFrame:
    """One row per API call: agent, turn, time, latency, model, ids, stop reason, tokens, cost."""
    rows = []
    for record in list(run.records.values()):
        for call in list(record.calls):
            rows.append(
                {
                    "agent": record.name,
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
                }
            )
    columns = ["agent", "agent_id", "turn", "at", "elapsed_s", "model", "message_id", "request_id",
               "stop_reason", *TOKEN_COLUMNS, "cost_usd"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    for column in ["turn", *TOKEN_COLUMNS]:
        frame[column] = frame[column].astype("Int64")
    frame["cost_usd"] = frame["cost_usd"].astype("Float64")
    return frame


def failures_frame(run: Run) -> pd.DataFrame:
    """One row per failed agent: name, error, API attempts, last output, transcript."""
    from agentbook.records import api_attempts

    rows = [
        {"name": r.name, "error": r.error, "attempts": api_attempts(r), "last_output": r.text[-500:],
         "transcript": str(r.transcript)}
        for r in list(run.records.values())
        if r.state == "failed"
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["name", "error", "attempts", "last_output", "transcript"])
