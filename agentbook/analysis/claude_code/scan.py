"""The scan: every transcript under a path -> de-duplicated, priced calls, and line counts.

The `agentbook costs` command and `load_claude_code` both start here.  It streams each file
line by line and parses only the lines that can matter, because sessions run to many megabytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbook.analysis.claude_code.calls import ClaudeCodeCall
from agentbook.analysis.claude_code.files import FileContext, file_defaults, transcript_files
from agentbook.analysis.claude_code.lines import Calls
from agentbook.analysis.claude_code.pricing import Pricer
from agentbook.analysis.claude_code.sidechains import Sidechains

__all__ = ["Scan", "scan_claude_code"]

# The decoder json.loads uses, without its per-call checks: it runs once per line.
_decode = json.JSONDecoder().decode


@dataclass
class Scan:
    """What `scan_claude_code` found: the calls, and what the lines that are not calls were.

    `lines` counts non-blank lines; `bad_lines` those that are not a JSON object (a torn last
    line, say; see `check_every_line` in `scan_claude_code`); `no_usage_lines` the others without
    `message.usage` (user turns, progress, snapshots); `duplicate_lines` usage lines folded into a
    call already seen.
    """

    path: Path
    calls: list[ClaudeCodeCall] = field(default_factory=list)
    files: int = 0
    lines: int = 0
    bad_lines: int = 0
    no_usage_lines: int = 0
    duplicate_lines: int = 0


def scan_claude_code(path: str | Path, *, check_every_line: bool = False) -> Scan:
    """Read every transcript under `path` (see `transcript_files`): de-duplicated, priced calls.

    Files are streamed line by line.  Calls keep the order in which they first appear; a call's
    row is its line with the largest usage, and it counts as `skipped_by_ccusage` only if
    ccusage would skip every one of its lines.  Costs come from `agentbook.costs`: `None` for a
    model with no price (with the warning `cost_usd` gives), for synthetic and local models, for
    a `speed` (`fast`) the price table does not list as `<model>-<speed>`, and for calls whose
    token counts are not whole numbers.

    For speed, a line that cannot hold usage (no `"usage"` in it; no sidechain mark in a main
    file) is not parsed: it counts as a bad line only if it is torn (does not end with `}`).
    `check_every_line=True` parses every line, so `bad_lines` counts exactly the lines that are
    not JSON objects; the calls are the same either way.
    """
    scan = Scan(Path(path))
    calls = Calls()
    for file, project in transcript_files(path):
        scan.files += 1
        _scan_file(file, project, scan, calls, check_every_line)
    scan.calls = list(calls.by_key.values())
    scan.duplicate_lines = calls.duplicates
    price = Pricer()
    for call in scan.calls:
        call.cost_usd = price(call)
        call.cost_usd_corrected = price(call, corrected=True) if call.usage_snapshot else call.cost_usd
    return scan


_USAGE_MARK = b'"usage"'
_SIDECHAIN_KEY = b'"isSidechain":'


def _scan_file(file: Path, project: str, scan: Scan, calls: Calls, check_every_line: bool) -> None:
    session_id, agent_id = file_defaults(file)
    where = FileContext(str(file), project, session_id, agent_id)
    # Only a main file needs its sidechain lines' links: a subagent file names its agent itself.
    sidechains = Sidechains() if agent_id is None else None
    unnamed: list[tuple[ClaudeCodeCall, Any]] = []
    # A 1 MiB buffer: fewer reads, and a fifth less time on Claude Code's many-megabyte sessions.
    with file.open("rb", buffering=1 << 20) as lines:
        for number, raw in enumerate(lines):
            if not (check_every_line or _may_matter(raw, sidechains is not None)):
                _count_unparsed(raw, scan)
                continue
            parsed = _record(raw, scan)
            if parsed is None:
                continue
            record, text = parsed
            if sidechains is not None and record.get("isSidechain") is True:
                sidechains.add(record)
            message = record.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if not isinstance(usage, dict):
                scan.no_usage_lines += 1
                continue
            assert isinstance(message, dict)
            call = calls.add(text, record, message, usage, where, number)
            if call is not None and not call.agent_id:
                unnamed.append((call, record.get("uuid")))
    for call, uuid in unnamed:
        call.agent_id = sidechains.agent_of(uuid) if sidechains is not None else "sidechain"


def _may_matter(raw: bytes, want_sidechains: bool) -> bool:
    # Byte tests on the undecoded line: most lines (progress, tool results) are dropped here,
    # which saves decoding and parsing three quarters of the bytes.
    return _USAGE_MARK in raw or (want_sidechains and _has_sidechain_mark(raw))


def _has_sidechain_mark(raw: bytes) -> bool:
    # `isSidechain` is among the first keys Claude Code writes, so this find stops early.
    at = raw.find(_SIDECHAIN_KEY)
    if at < 0:
        return False
    value = raw[at + len(_SIDECHAIN_KEY) : at + len(_SIDECHAIN_KEY) + 6]
    return value.lstrip().startswith(b"true")


def _count_unparsed(raw: bytes, scan: Scan) -> None:
    if raw.isspace() or not raw:
        return
    scan.lines += 1
    # A line cut short by a crash mid-write is the bad line to expect: it does not end with `}`.
    if raw.endswith(b"}\n") or raw.rstrip().endswith(b"}"):
        scan.no_usage_lines += 1
    else:
        scan.bad_lines += 1


def _record(raw: bytes, scan: Scan) -> tuple[dict[str, Any], str] | None:
    """The line's JSON object and its text, or `None` (counted) for a blank or bad line."""
    if raw.isspace() or not raw:
        return None
    scan.lines += 1
    # A byte that is not UTF-8 becomes U+FFFD rather than costing a call its line.
    text = raw.decode("utf-8", "replace")
    try:
        record = _decode(text)
    except ValueError:  # json.JSONDecodeError
        record = None
    if not isinstance(record, dict):
        scan.bad_lines += 1
        return None
    return record, text
