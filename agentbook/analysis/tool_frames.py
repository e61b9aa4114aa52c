"""DataFrames of the tools a run used, read back from its agents' transcripts.

The analysis edge (pandas).  Unlike `agentbook.analysis.frames`, which reads the records the
scheduler keeps in memory, these re-read each agent's transcript file: only the transcript has
every tool call paired with its result and the times of the lines that carried them.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from agentbook.messages import ToolResult, ToolUse
from agentbook.scheduler.transcripts import read_transcript

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["TOOL_CALL_COLUMNS", "tool_calls_frame", "tools_frame"]

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
