"""One usage line -> one call, and the folding of a call's many lines into one.

Claude Code writes one API response as several lines sharing `message.id` and `requestId`, each
with a streaming snapshot of `usage`: `Calls` keeps one call per pair, the largest snapshot.
`scan.py` feeds it the lines that carry `message.usage`.
"""

from __future__ import annotations

from typing import Any

from agentbook.analysis.claude_code.calls import MAIN_AGENT, SPLIT_FIELDS, TOKEN_FIELDS, ClaudeCodeCall
from agentbook.analysis.claude_code.ccusage import ccusage_skip_reason
from agentbook.analysis.claude_code.files import FileContext
from agentbook.analysis.claude_code.snapshots import content_output_estimate, looks_like_snapshot

__all__ = ["Calls"]


class Calls:
    """The calls seen so far: one per (`message.id`, `requestId`), each its largest snapshot."""

    def __init__(self) -> None:
        self.by_key: dict[object, ClaudeCodeCall] = {}
        self.duplicates = 0

    def add(
        self,
        text: str,
        record: dict[str, Any],
        message: dict[str, Any],
        usage: dict[str, Any],
        where: FileContext,
        number: int,
    ) -> ClaudeCodeCall | None:
        """Fold one usage line in; the call it made or replaced, or `None` if it was smaller."""
        message_id = _text(message.get("id"))
        # A line without a message id cannot be matched to its siblings: it stands for its own call.
        key = (message_id, _text(record.get("requestId"))) if message_id else (where.file, number)
        # Each line holds one content block: a snapshot-only call's estimate sums its lines'.
        snapshot = looks_like_snapshot(message, usage)
        estimate = content_output_estimate(message) if snapshot else 0
        seen = self.by_key.get(key)
        if seen is not None:
            self.duplicates += 1
            # A call counts for ccusage if any of its lines does: once one does, look no further.
            skipped = seen.skipped_by_ccusage and _skipped(text, record, message, usage)
            seen.skipped_by_ccusage = skipped
            snapshot = seen.snapshot_only and snapshot
            estimate += seen.content_output_estimate
            seen.snapshot_only, seen.content_output_estimate = snapshot, estimate
            if _size(usage) <= seen.size:
                return None  # most duplicates end here, before a call is built
        else:
            skipped = _skipped(text, record, message, usage)
        call = self.by_key[key] = _call_from_line(record, message, usage, where, skipped)
        call.snapshot_only, call.content_output_estimate = snapshot, estimate
        return call


def _skipped(text: str, record: dict[str, Any], message: dict[str, Any], usage: dict[str, Any]) -> bool:
    return ccusage_skip_reason(text, record, message, usage) is not None


def _size(usage: dict[str, Any]) -> int:
    """`ClaudeCodeCall.size` of the call this usage would make, without making it."""
    return sum(_count(usage.get(name)) or 0 for name in TOKEN_FIELDS)


def _count(value: Any) -> int | None:
    if value is None:
        return 0
    # `type(...) is int` keeps JSON booleans out: they are ints to Python, not token counts.
    return value if type(value) is int else None


def _split(usage: dict[str, Any]) -> tuple[int | None, int | None]:
    split = usage.get("cache_creation")
    if not isinstance(split, dict):
        return None, None
    return _count(split.get(SPLIT_FIELDS[0])), _count(split.get(SPLIT_FIELDS[1]))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _call_from_line(
    record: dict[str, Any],
    message: dict[str, Any],
    usage: dict[str, Any],
    where: FileContext,
    skipped_by_ccusage: bool,
) -> ClaudeCodeCall:
    session = record.get("sessionId")
    is_sidechain = where.agent_id is not None or record.get("isSidechain") is True
    # An inline sidechain line without `agentId` gets "" here and its chain's name after the file.
    agent = (_text(record.get("agentId")) or where.agent_id or "") if is_sidechain else MAIN_AGENT
    eph_5m, eph_1h = _split(usage)
    return ClaudeCodeCall(
        session_id=session if isinstance(session, str) and session else where.session_id,
        agent_id=agent,
        is_sidechain=is_sidechain,
        project=where.project,
        file=where.file,
        model=_text(message.get("model")),
        message_id=_text(message.get("id")),
        request_id=_text(record.get("requestId")),
        timestamp=_text(record.get("timestamp")),
        input_tokens=_count(usage.get("input_tokens")),
        output_tokens=_count(usage.get("output_tokens")),
        cache_creation_input_tokens=_count(usage.get("cache_creation_input_tokens")),
        cache_read_input_tokens=_count(usage.get("cache_read_input_tokens")),
        ephemeral_5m_input_tokens=eph_5m,
        ephemeral_1h_input_tokens=eph_1h,
        speed=_text(usage.get("speed")),
        skipped_by_ccusage=skipped_by_ccusage,
    )
