"""One API call of a Claude Code transcript: the record every other module here builds or reads.

`lines.py` makes `ClaudeCodeCall`s, `pricing.py` prices them, `frame.py` and `summary.py` turn
them into a DataFrame and the `agentbook costs` tables.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAIN_AGENT", "SPLIT_FIELDS", "SYNTHETIC_MODELS", "TOKEN_FIELDS", "ClaudeCodeCall"]


MAIN_AGENT = "main"
"""`agent_id` of a session's main thread (subagents have Claude Code's own agent ids)."""

SYNTHETIC_MODELS = frozenset({"<synthetic>", "offline", "scripted"})
"""Models of messages no API billed (Claude Code's `<synthetic>`, agentbook's local models):
never priced from the table (agentbook's own are $0, `<synthetic>` unknown)."""

TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
SPLIT_FIELDS = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")


@dataclass(slots=True)
class ClaudeCodeCall:
    """One API call of a Claude Code transcript (the line with its largest usage snapshot).

    Token counts are `None` when the transcript holds something other than a whole number there;
    a missing or null count is 0 (older responses omit the cache fields).  The two `ephemeral_*`
    counts are `None` when the response gives no 5-minute/1-hour split of the cache writes.

    `snapshot_only` says every line of the call looked like an early streaming snapshot, and
    `content_output_estimate` sums what those lines' content needs (see `snapshots.py`):
    `usage_snapshot` flags the calls whose recorded output is such a snapshot, and the
    `*_corrected` figures replace their output by the estimate (all others keep theirs).
    """

    session_id: str
    agent_id: str
    is_sidechain: bool
    project: str
    file: str
    model: str | None
    message_id: str | None
    request_id: str | None
    timestamp: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_creation_input_tokens: int | None
    cache_read_input_tokens: int | None
    ephemeral_5m_input_tokens: int | None
    ephemeral_1h_input_tokens: int | None
    speed: str | None
    skipped_by_ccusage: bool
    cost_usd: float | None = None
    snapshot_only: bool = False
    content_output_estimate: int = 0
    cost_usd_corrected: float | None = None

    @property
    def usage_snapshot(self) -> bool:
        """The recorded usage is a streaming snapshot: its output is below what the content needs."""
        output = self.output_tokens
        return self.snapshot_only and output is not None and self.content_output_estimate > output

    @property
    def output_tokens_corrected(self) -> int | None:
        """`output_tokens`, or for a `usage_snapshot` call the estimate from its content."""
        return self.content_output_estimate if self.usage_snapshot else self.output_tokens

    @property
    def size(self) -> int:
        """All tokens of the call: what picks the largest of a call's streaming snapshots."""
        return sum(getattr(self, name) or 0 for name in TOKEN_FIELDS)
