"""Claude Code's own transcripts (`~/.claude/projects`) -> one record per API call, and cost summaries.

Two users: `load_claude_code` gives notebooks a DataFrame, and `agentbook costs` prints totals.  The
command must start fast, so this package imports no pandas at import time: the scan and the summary
are plain Python (the CLI's path), and pandas is imported inside `load_claude_code` only.

The package is split by job: `files` (which transcripts), `lines` (a usage line -> a call, a call's
lines folded into one), `sidechains` (1.x inline subagents), `ccusage` (what ccusage skips),
`snapshots` (usage left as a streaming snapshot), `pricing`, `scan` (the whole read), `frame`
(the DataFrame) and `summary` (the command's output).
Import the names from here.

Rules the data forces (see data/claude-code-transcripts/README.md for the real cases):

- Claude Code writes one API response as several lines (one per content block) sharing
  `message.id` and `requestId`, and those lines carry streaming snapshots of `usage`: calls are
  de-duplicated on that pair, keeping the line with the largest usage.
- Only a line's own `message.usage` counts.  `progress` lines embed subagents' messages, usage
  included, and `toolUseResult` repeats a subagent's last usage: both would count calls twice.
- A subagent's calls live in `<session>/subagents/agent-<id>.jsonl` (2.x; `agent-<id>.jsonl` beside
  the sessions in 2.0) whose `sessionId` is the parent's, or inline in the main file as
  `isSidechain: true` lines (1.x), one `parentUuid` chain per subagent.
- Claude Code often never writes a subagent call's final usage (claude-code#84223): the call
  keeps a streaming snapshot (no `stop_reason`, 1-10 output tokens).  `usage_snapshot` flags it,
  and the `*_corrected` figures estimate its output from its content (`CORRECTION_RULE`).
- ccusage 20.0.24 silently skips some valid lines; `skipped_by_ccusage` marks calls it never
  counts, so both tools' totals can be reconciled (see `ccusage_skip_reason`).
"""

from __future__ import annotations

from agentbook.analysis.claude_code.calls import (
    MAIN_AGENT,
    SPLIT_FIELDS,
    SYNTHETIC_MODELS,
    TOKEN_FIELDS,
    ClaudeCodeCall,
)
from agentbook.analysis.claude_code.ccusage import ccusage_skip_reason
from agentbook.analysis.claude_code.files import transcript_files
from agentbook.analysis.claude_code.frame import CALL_COLUMNS, load_claude_code
from agentbook.analysis.claude_code.scan import Scan, scan_claude_code
from agentbook.analysis.claude_code.summary import (
    CostSummary,
    Totals,
    format_summary,
    summarize,
    summary_json,
)

__all__ = [
    "CALL_COLUMNS",
    "MAIN_AGENT",
    "SPLIT_FIELDS",
    "SYNTHETIC_MODELS",
    "TOKEN_FIELDS",
    "ClaudeCodeCall",
    "CostSummary",
    "Scan",
    "Totals",
    "ccusage_skip_reason",
    "format_summary",
    "load_claude_code",
    "scan_claude_code",
    "summarize",
    "summary_json",
    "transcript_files",
]
