"""Claude Code's own transcripts (`~/.claude/projects`) -> one record per API call, and cost summaries.

Two users: `load_claude_code` gives notebooks a DataFrame, and `agentbook costs` prints totals.  The
command must start fast, so this module imports no pandas at import time: the scan and the summary
are plain Python (the CLI's path), and pandas is imported inside `load_claude_code` only.

Rules the data forces (see data/claude-code-transcripts/README.md for the real cases):

- Claude Code writes one API response as several lines (one per content block) sharing
  `message.id` and `requestId`, and those lines carry streaming snapshots of `usage`: calls are
  de-duplicated on that pair, keeping the line with the largest usage.
- Only a line's own `message.usage` counts.  `progress` lines embed subagents' messages, usage
  included, and `toolUseResult` repeats a subagent's last usage: both would count calls twice.
- A subagent's calls live in `<session>/subagents/agent-<id>.jsonl` (2.x; `agent-<id>.jsonl` beside
  the sessions in 2.0) whose `sessionId` is the parent's, or inline in the main file as
  `isSidechain: true` lines (1.x), one `parentUuid` chain per subagent.
- ccusage 20.0.24 silently skips some valid lines; `skipped_by_ccusage` marks calls it never
  counts, so both tools' totals can be reconciled (see `ccusage_skip_reason`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbook.costs import Price, cost_usd, price_for
from agentbook.messages import Usage

if TYPE_CHECKING:
    import pandas as pd

MAIN_AGENT = "main"
"""`agent_id` of a session's main thread (subagents have Claude Code's own agent ids)."""

SYNTHETIC_MODELS = frozenset({"<synthetic>", "offline", "scripted"})
"""Models of messages no API billed (Claude Code's `<synthetic>`, agentbook's local models): no cost."""

TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
SPLIT_FIELDS = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")

# The decoder json.loads uses, without its per-call checks: it runs once per line.
_decode = json.JSONDecoder().decode


@dataclass(slots=True)
class ClaudeCodeCall:
    """One API call of a Claude Code transcript (the line with its largest usage snapshot).

    Token counts are `None` when the transcript holds something other than a whole number there;
    a missing or null count is 0 (older responses omit the cache fields).  The two `ephemeral_*`
    counts are `None` when the response gives no 5-minute/1-hour split of the cache writes.
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

    @property
    def size(self) -> int:
        """All tokens of the call: what picks the largest of a call's streaming snapshots."""
        return sum(getattr(self, name) or 0 for name in TOKEN_FIELDS)


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


# ---- files -------------------------------------------------------------------------------------


def transcript_files(path: str | Path) -> list[tuple[Path, str]]:
    """The `.jsonl` files under `path`, each with its project name, in a stable order.

    `path` is a `~/.claude` folder, a `projects` tree (one folder per project), one project folder
    (session files, maybe `<session>/subagents/`), or one `.jsonl` file.  Raises
    `FileNotFoundError` if it does not exist and `ValueError` if it holds no `.jsonl` file.
    """
    root = Path(path).expanduser()
    if root.is_file():
        return [(root, _project_of_file(root))]
    if not root.is_dir():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if (root / "projects").is_dir():
        root = root / "projects"
    files = sorted(root.rglob("*.jsonl"))
    if not files:
        raise ValueError(f"no .jsonl transcripts under {path}")
    if _is_project_folder(root):
        return [(file, root.name) for file in files]
    return [(file, file.relative_to(root).parts[0]) for file in files]


def _is_project_folder(folder: Path) -> bool:
    # A project folder holds session files, or (when only subagent files survive) session folders
    # with a `subagents` folder; a projects tree holds only project folders.
    if any(folder.glob("*.jsonl")):
        return True
    return any(folder.glob("*/subagents"))


def _project_of_file(file: Path) -> str:
    if file.parent.name == "subagents":
        return file.parents[2].name
    return file.parent.name


def _file_defaults(file: Path) -> tuple[str, str | None]:
    """The session id and subagent id a file's name implies (a line's own fields win)."""
    agent = file.stem.removeprefix("agent-") if file.stem.startswith("agent-") else None
    session = file.parents[1].name if file.parent.name == "subagents" else file.stem
    return session, agent


# ---- one line ----------------------------------------------------------------------------------


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
    where: _FileContext,
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


# ---- what ccusage 20.0.24 skips ----------------------------------------------------------------

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


# ---- inline sidechains -------------------------------------------------------------------------


class _Sidechains:
    """The inline sidechains of one main file, to name the agent each sidechain call belongs to.

    Each subagent's lines form a `parentUuid` chain from a root whose parent is not a sidechain
    line.  A chain is named by an `agentId` any of its lines carries, else `sidechain-<root uuid>`.
    """

    def __init__(self) -> None:
        self._parent: dict[str, Any] = {}
        self._agent_id: dict[str, str] = {}
        self._root: dict[str, str] = {}
        self._group_agent: dict[str, str] | None = None

    def add(self, record: dict[str, Any]) -> None:
        uuid = record.get("uuid")
        if isinstance(uuid, str):
            self._parent[uuid] = record.get("parentUuid")
            agent = record.get("agentId")
            if isinstance(agent, str) and agent:
                self._agent_id[uuid] = agent

    def agent_of(self, uuid: Any) -> str:
        """The agent of the sidechain line `uuid`; call once every line of the file is added."""
        if not isinstance(uuid, str) or uuid not in self._parent:
            return "sidechain"
        if self._group_agent is None:
            self._group_agent = {}
            for member, agent in self._agent_id.items():
                self._group_agent.setdefault(self._root_of(member), agent)
        root = self._root_of(uuid)
        return self._group_agent.get(root) or f"sidechain-{root[:8]}"

    def _root_of(self, uuid: str) -> str:
        path = []
        node = uuid
        while node not in self._root:
            parent = self._parent.get(node)
            if not isinstance(parent, str) or parent not in self._parent or parent in path:
                self._root[node] = node
                break
            path.append(node)
            node = parent
        root = self._root[node]
        for member in path:  # path compression: chains of hundreds of lines are walked once
            self._root[member] = root
        return root


# ---- the scan ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FileContext:
    file: str
    project: str
    session_id: str
    agent_id: str | None  # set for a subagent file: every line of it belongs to that agent


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
    calls = _Calls()
    for file, project in transcript_files(path):
        scan.files += 1
        _scan_file(file, project, scan, calls, check_every_line)
    scan.calls = list(calls.by_key.values())
    scan.duplicate_lines = calls.duplicates
    price = _Pricer()
    for call in scan.calls:
        call.cost_usd = price(call)
    return scan


_USAGE_MARK = b'"usage"'
_SIDECHAIN_KEY = b'"isSidechain":'


def _scan_file(file: Path, project: str, scan: Scan, calls: _Calls, check_every_line: bool) -> None:
    session_id, agent_id = _file_defaults(file)
    where = _FileContext(str(file), project, session_id, agent_id)
    # Only a main file needs its sidechain lines' links: a subagent file names its agent itself.
    sidechains = _Sidechains() if agent_id is None else None
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


class _Calls:
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
        where: _FileContext,
        number: int,
    ) -> ClaudeCodeCall | None:
        """Fold one usage line in; the call it made or replaced, or `None` if it was smaller."""
        message_id = _text(message.get("id"))
        # A line without a message id cannot be matched to its siblings: it stands for its own call.
        key = (message_id, _text(record.get("requestId"))) if message_id else (where.file, number)
        seen = self.by_key.get(key)
        if seen is not None:
            self.duplicates += 1
            # A call counts for ccusage if any of its lines does: once one does, look no further.
            skipped = seen.skipped_by_ccusage and _skipped(text, record, message, usage)
            seen.skipped_by_ccusage = skipped
            if _size(usage) <= seen.size:
                return None  # most duplicates end here, before a call is built
        else:
            skipped = _skipped(text, record, message, usage)
        call = self.by_key[key] = _call_from_line(record, message, usage, where, skipped)
        return call


def _skipped(text: str, record: dict[str, Any], message: dict[str, Any], usage: dict[str, Any]) -> bool:
    return ccusage_skip_reason(text, record, message, usage) is not None


def _size(usage: dict[str, Any]) -> int:
    """`ClaudeCodeCall.size` of the call this usage would make, without making it."""
    return sum(_count(usage.get(name)) or 0 for name in TOKEN_FIELDS)


class _Pricer:
    """Dollars per call, with the price of each model looked up once."""

    def __init__(self) -> None:
        self._prices: dict[str, Price | None] = {}

    def __call__(self, call: ClaudeCodeCall) -> float | None:
        model = _price_key(call)
        counts = (
            call.input_tokens,
            call.output_tokens,
            call.cache_creation_input_tokens,
            call.cache_read_input_tokens,
        )
        if model is None or call.model in SYNTHETIC_MODELS or None in counts:
            return None
        usage = Usage(
            input_tokens=call.input_tokens or 0,
            output_tokens=call.output_tokens or 0,
            cache_creation_input_tokens=call.cache_creation_input_tokens or 0,
            cache_read_input_tokens=call.cache_read_input_tokens or 0,
            ephemeral_1h_input_tokens=call.ephemeral_1h_input_tokens or 0,
        )
        if model not in self._prices:
            self._prices[model] = price_for(model)
        price = self._prices[model]
        return cost_usd(usage, model) if price is None else price.cost(usage)


def _price_key(call: ClaudeCodeCall) -> str | None:
    """The price-table name of the call's model: `<model>-<speed>` for a speed other than standard."""
    if call.model is None or call.speed in (None, "standard"):
        return call.model
    # Fast mode is billed at a premium the standard price would hide: it needs its own row.
    return f"{call.model}-{call.speed}"


# ---- the DataFrame -----------------------------------------------------------------------------

COLUMNS = (
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
)


def load_claude_code(path: str | Path, *, check_every_line: bool = False) -> pd.DataFrame:
    """Claude Code transcripts -> a DataFrame with one row per API call (see `scan_claude_code`).

    Columns: `COLUMNS`.  `timestamp` is UTC (`NaT` if unreadable); token counts are nullable
    `Int64`; `cost_usd` is `Float64`, missing (never 0) when the call cannot be priced;
    `agent_id` is `"main"` on the main thread.  `frame.attrs` holds `path`, `files`, `lines`,
    `bad_lines` (not JSON objects; see `check_every_line` in `scan_claude_code`), `no_usage_lines`
    and `duplicate_lines`.
    """
    import pandas as pd

    scan = scan_claude_code(path, check_every_line=check_every_line)
    calls = scan.calls
    data: dict[str, Any] = {name: [getattr(c, name) for c in calls] for name in COLUMNS}
    for name in (*TOKEN_FIELDS, *SPLIT_FIELDS):
        data[name] = pd.array(data[name], dtype="Int64")
    data["cost_usd"] = pd.array(data["cost_usd"], dtype="Float64")
    data["is_sidechain"] = pd.array(data["is_sidechain"], dtype=bool)
    data["skipped_by_ccusage"] = pd.array(data["skipped_by_ccusage"], dtype=bool)
    data["timestamp"] = pd.to_datetime(
        pd.Series(data["timestamp"], dtype=object), utc=True, format="ISO8601", errors="coerce"
    )
    frame = pd.DataFrame(data, columns=list(COLUMNS))
    frame.attrs.update(
        path=str(scan.path),
        files=scan.files,
        lines=scan.lines,
        bad_lines=scan.bad_lines,
        no_usage_lines=scan.no_usage_lines,
        duplicate_lines=scan.duplicate_lines,
    )
    return frame


# ---- summaries (the `agentbook costs` command) -------------------------------------------------


@dataclass
class Totals:
    """Sums over calls.  `cost_usd` sums the priced calls only; `unpriced_calls` counts the rest."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0

    def add(self, call: ClaudeCodeCall) -> None:
        self.calls += 1
        self.input_tokens += call.input_tokens or 0
        self.output_tokens += call.output_tokens or 0
        self.cache_creation_input_tokens += call.cache_creation_input_tokens or 0
        self.cache_read_input_tokens += call.cache_read_input_tokens or 0
        if call.cost_usd is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += call.cost_usd

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "unpriced_calls": self.unpriced_calls,
        }


@dataclass
class CostSummary:
    """Totals of a scan: overall, per (project, session), per (session, agent), for subagents.

    `seen_by_ccusage` sums the calls not `skipped_by_ccusage`: what ccusage 20.0.24 reports.
    """

    scan: Scan
    totals: Totals = field(default_factory=Totals)
    seen_by_ccusage: Totals = field(default_factory=Totals)
    subagents: Totals = field(default_factory=Totals)
    sessions: dict[tuple[str, str], Totals] = field(default_factory=dict)
    agents: dict[tuple[str, str], Totals] = field(default_factory=dict)
    unpriced_models: list[str] = field(default_factory=list)

    @property
    def subagent_count(self) -> int:
        return sum(1 for _, agent in self.agents if agent != MAIN_AGENT)


def summarize(scan: Scan) -> CostSummary:
    """Add up `scan`'s calls.  Sessions keep the order of their first call; within a session the
    main thread comes first, then the subagents in the order of their first call."""
    summary = CostSummary(scan)
    unpriced: set[str] = set()
    agents: dict[tuple[str, str], Totals] = {}
    for call in scan.calls:
        summary.totals.add(call)
        if not call.skipped_by_ccusage:
            summary.seen_by_ccusage.add(call)
        if call.agent_id != MAIN_AGENT:
            summary.subagents.add(call)
        summary.sessions.setdefault((call.project, call.session_id), Totals()).add(call)
        agents.setdefault((call.session_id, call.agent_id), Totals()).add(call)
        if call.cost_usd is None:
            unpriced.add(_price_key(call) or "(no model)")
    session_order = {session: i for i, (_, session) in enumerate(summary.sessions)}
    # sorted() is stable: subagents of a session stay in first-call order behind its main thread.
    for key in sorted(agents, key=lambda k: (session_order[k[0]], k[1] != MAIN_AGENT)):
        summary.agents[key] = agents[key]
    summary.unpriced_models = sorted(unpriced)
    return summary


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def summary_json(summary: CostSummary) -> dict[str, Any]:
    """`summary` as JSON-ready data (the output of `agentbook costs --json`)."""
    scan, totals, subs = summary.scan, summary.totals, summary.subagents
    return {
        "path": str(scan.path),
        "files": scan.files,
        "lines": scan.lines,
        "bad_lines": scan.bad_lines,
        "no_usage_lines": scan.no_usage_lines,
        "duplicate_lines": scan.duplicate_lines,
        "totals": totals.to_json(),
        "seen_by_ccusage": summary.seen_by_ccusage.to_json(),
        "subagents": {
            **subs.to_json(),
            "agents": summary.subagent_count,
            "token_share": _share(subs.total_tokens, totals.total_tokens),
            "cost_share": _share(subs.cost_usd, totals.cost_usd),
        },
        "sessions": [
            {"project": project, "session_id": session, **t.to_json()}
            for (project, session), t in summary.sessions.items()
        ],
        "agents": [
            {"session_id": session, "agent_id": agent, **t.to_json()}
            for (session, agent), t in summary.agents.items()
        ],
        "unpriced_models": summary.unpriced_models,
    }


_HEADER = ("calls", "input", "output", "cache write", "cache read", "cost")


def _cells(t: Totals) -> list[str]:
    if t.unpriced_calls == t.calls:
        cost = "unknown"
    else:
        cost = f"${t.cost_usd:,.4f}" + ("*" if t.unpriced_calls else "")
    counts = (
        t.calls,
        t.input_tokens,
        t.output_tokens,
        t.cache_creation_input_tokens,
        t.cache_read_input_tokens,
    )
    return [*(f"{n:,}" for n in counts), cost]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int) -> list[str]:
    """Aligned text columns: the first `left` to the left, numbers to the right."""
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]


def format_summary(summary: CostSummary) -> str:
    """`summary` as the text `agentbook costs` prints."""
    scan, totals, subs = summary.scan, summary.totals, summary.subagents
    sessions = [(project, session, *_cells(t)) for (project, session), t in summary.sessions.items()]
    agents = [(session, agent, *_cells(t)) for (session, agent), t in summary.agents.items()]
    lines = [
        f"{totals.calls:,} API calls in {scan.files:,} files under {scan.path} "
        f"({scan.lines:,} lines: {scan.duplicate_lines:,} duplicates merged, "
        f"{scan.no_usage_lines:,} without usage, {scan.bad_lines:,} not JSON)",
        "",
        f"per session ({len(sessions)})",
        *_table(("project", "session", *_HEADER), sessions, left=2),
        "",
        f"per agent ({len(agents)}; '{MAIN_AGENT}' is a session's main thread)",
        *_table(("session", "agent", *_HEADER), agents, left=2),
        "",
        f"subagents: {summary.subagent_count:,} agents, {subs.calls:,} calls; "
        f"{_share(subs.total_tokens, totals.total_tokens):.1%} of tokens "
        f"({subs.total_tokens:,} of {totals.total_tokens:,}), "
        f"{_share(subs.cost_usd, totals.cost_usd):.1%} of cost "
        f"(${subs.cost_usd:,.4f} of ${totals.cost_usd:,.4f})",
        *_table(("", *_HEADER), [("total", *_cells(totals))], left=1),
    ]
    if summary.unpriced_models:
        lines.append(
            f"* not in the costs: {totals.unpriced_calls:,} call(s) with no price "
            f"(models: {', '.join(summary.unpriced_models)})"
        )
    seen = summary.seen_by_ccusage
    if seen.calls != totals.calls:
        lines.append(
            f"ccusage 20.0.24 would skip {totals.calls - seen.calls:,} of these calls "
            "(lines not written as compact JSON, or with fields it rejects)"
        )
    return "\n".join(lines)
