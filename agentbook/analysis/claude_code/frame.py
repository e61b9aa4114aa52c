"""`load_claude_code`: the scan as a pandas DataFrame, one row per API call, for notebooks.

pandas is imported inside `load_claude_code` only, so the `agentbook costs` command, which
imports this package, starts without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbook.analysis.claude_code.calls import SPLIT_FIELDS, TOKEN_FIELDS
from agentbook.analysis.claude_code.scan import scan_claude_code
from agentbook.analysis.claude_code.snapshots import CORRECTION_RULE

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CALL_COLUMNS", "load_claude_code"]


CALL_COLUMNS = (
    "session_id",
    "agent_id",
    "is_sidechain",
    "project",
    "file",
    "model",
    "message_id",
    "request_id",
    "timestamp",
    *TOKEN_FIELDS,
    *SPLIT_FIELDS,
    "speed",
    "cost_usd",
    "skipped_by_ccusage",
    "usage_snapshot",
    "output_tokens_corrected",
    "cost_usd_corrected",
)


def load_claude_code(path: str | Path, *, check_every_line: bool = False) -> pd.DataFrame:
    """Claude Code transcripts -> a DataFrame with one row per API call (see `scan_claude_code`).

    Columns: `CALL_COLUMNS`.  `timestamp` is UTC (`NaT` if unreadable); token counts are nullable
    `Int64`; `cost_usd` is `Float64`, missing (never 0) when the call cannot be priced;
    `agent_id` is `"main"` on the main thread.  `usage_snapshot` flags the calls whose usage is
    an early streaming snapshot Claude Code never replaced by the final one (claude-code#84223:
    their `output_tokens` undercounts); `output_tokens_corrected` and `cost_usd_corrected` give
    them the output their content needs, by `CORRECTION_RULE` (`frame.attrs["correction_rule"]`),
    and equal `output_tokens` and `cost_usd` on every other call.  `frame.attrs` holds `path`,
    `files`, `lines`, `bad_lines` (not JSON objects; see `check_every_line` in
    `scan_claude_code`), `no_usage_lines`, `duplicate_lines` and `correction_rule`.
    """
    import pandas as pd

    scan = scan_claude_code(path, check_every_line=check_every_line)
    calls = scan.calls
    data: dict[str, Any] = {name: [getattr(c, name) for c in calls] for name in CALL_COLUMNS}
    for name in (*TOKEN_FIELDS, *SPLIT_FIELDS, "output_tokens_corrected"):
        data[name] = pd.array(data[name], dtype="Int64")
    for name in ("cost_usd", "cost_usd_corrected"):
        data[name] = pd.array(data[name], dtype="Float64")
    data["is_sidechain"] = pd.array(data["is_sidechain"], dtype=bool)
    for name in ("skipped_by_ccusage", "usage_snapshot"):
        data[name] = pd.array(data[name], dtype=bool)
    data["timestamp"] = pd.to_datetime(
        pd.Series(data["timestamp"], dtype=object), utc=True, format="ISO8601", errors="coerce"
    )
    frame = pd.DataFrame(data, columns=list(CALL_COLUMNS))
    frame.attrs.update(
        path=str(scan.path),
        files=scan.files,
        lines=scan.lines,
        bad_lines=scan.bad_lines,
        no_usage_lines=scan.no_usage_lines,
        duplicate_lines=scan.duplicate_lines,
        correction_rule=CORRECTION_RULE,
    )
    return frame
