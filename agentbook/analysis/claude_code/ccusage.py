"""What ccusage 20.0.24 silently skips, so agentbook's totals and ccusage's can be reconciled.

`lines.py` marks each call `skipped_by_ccusage` with `ccusage_skip_reason`; `summary.py` reports
the totals ccusage would show beside agentbook's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

__all__ = ["ccusage_skip_reason"]


# Fields ccusage's schema declares non-nullable; it looks for `"field":null` in the raw text,
# anywhere in the line (a tool input's `"id":null` too), before parsing.  `model` is apart because
# `usage.iterations[].model` is the one field allowed to be null (Claude Code writes it so).
_NULL_FIELDS = frozenset(
    {
        *("id", "cwd", "speed", "costUSD", "version", "sessionId", "requestId", "isApiErrorMessage"),
        *("cache_read_input_tokens", "cache_creation_input_tokens"),
    }
)
# Its timestamp parser takes exactly these shapes: no fraction or exactly 3 digits, `Z` or `+HH:MM`.
_CCUSAGE_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d{3})?(?:Z|[+-]\d\d:\d\d)", re.ASCII
)
_SEMVER_PREFIX = re.compile(r"\d+\.\d+\.\d", re.ASCII)


def ccusage_skip_reason(
    raw: str, record: dict[str, Any], message: dict[str, Any], usage: dict[str, Any]
) -> str | None:
    """Why ccusage 20.0.24 would silently skip this usage line, or `None` if it counts it.

    Measured against the binary: it reads only lines holding the bytes `"usage":{` (so JSON
    written with a space after `:` or `,` is skipped), rejects `"<field>":null` for the fields of
    `_NULL_FIELDS`, timestamps other than `YYYY-MM-DDTHH:MM:SS[.mmm](Z|+HH:MM)`, a `version` that
    does not start like semver, empty or non-string ids and models, and token counts that are
    missing (input, output), negative or not whole numbers.
    """
    if '"usage":{' not in raw:
        return "not compact JSON"
    if ":null" in raw and _has_rejected_null(raw, usage):
        return "null field"
    if not _ccusage_timestamp_ok(record.get("timestamp")):
        return "timestamp"
    version = record.get("version")
    if version is not None and not (isinstance(version, str) and _SEMVER_PREFIX.match(version)):
        return "version"
    if not _ccusage_schema_ok(record, message, usage):
        return "schema"
    return None


def _has_rejected_null(raw: str, usage: dict[str, Any]) -> bool:
    null_models = 0
    for name in _null_keys(raw):
        if name in _NULL_FIELDS:
            return True
        null_models += name == "model"
    return null_models > _null_iteration_models(usage)


def _null_keys(raw: str) -> Iterator[str]:
    """The keys written as `"key":null` in the raw line, as ccusage finds them (by bytes)."""
    # A line holds a handful of nulls at most: find them, then read back to the key's quote.
    at = raw.find('":null')
    while at >= 0:
        yield raw[raw.rfind('"', 0, at) + 1 : at]
        at = raw.find('":null', at + 6)


def _null_iteration_models(usage: dict[str, Any]) -> int:
    iterations = usage.get("iterations")
    if not isinstance(iterations, list):
        return 0
    return sum(1 for it in iterations if isinstance(it, dict) and "model" in it and it["model"] is None)


def _ccusage_timestamp_ok(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    match = _CCUSAGE_TIMESTAMP.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        date(year, month, day)
    except ValueError:
        return False
    return hour <= 23 and minute <= 59 and second <= 59


def _ccusage_schema_ok(record: dict[str, Any], message: dict[str, Any], usage: dict[str, Any]) -> bool:
    for key in ("input_tokens", "output_tokens"):
        if not _whole(usage.get(key)):
            return False
    for key in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        if key in usage and not _whole(usage[key]):
            return False
    for owner, key in ((record, "sessionId"), (record, "requestId"), (message, "id"), (message, "model")):
        if key in owner and not (isinstance(owner[key], str) and owner[key]):
            return False
    cost = record.get("costUSD")
    return cost is None or (isinstance(cost, int | float) and not isinstance(cost, bool))


def _whole(value: Any) -> bool:
    return type(value) is int and value >= 0
