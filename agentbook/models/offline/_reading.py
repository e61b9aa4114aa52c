"""The offline model's tool calls, and what their results say.

Turn one surveys (`Glob` and a line count with `Grep` per place the prompt names, and a `Grep` per
word it searches for); turn two reads the entry points, build files, README and largest sources
whole (in pages of `PAGE_LINES`), and the spots where the words occur; later turns continue reads
the `Read` tool cut short and read the modules of console scripts.  Everything is a function of
the conversation (`Seen`), so a resumed agent asks for exactly what it would have asked for.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from agentbook.messages import Block, Message, Text, ToolResult, ToolUse
from agentbook.models.offline._prompt import DOC_SUFFIXES, SOURCE_SUFFIXES, SearchTerm, search_terms, targets
from agentbook.models.offline._source import BUILD_FILES, console_scripts, numbered_lines

__all__ = [
    "MAX_LINES_PER_FILE",
    "MAX_READS",
    "NOISE_PARTS",
    "PAGE_LINES",
    "Hit",
    "Seen",
    "chosen_files",
    "entry_points",
    "follow_ups",
    "hits",
    "is_test",
    "match_counts",
    "missing",
    "ranked_hits",
    "reads",
    "script_targets",
    "survey",
]

# Generated or vendored folders say nothing about a project; they are left out of summaries.
NOISE_PARTS = {
    "__pycache__",
    "node_modules",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
}
MAX_READS = 12
MAX_ENTRY_POINTS = 6
PAGE_LINES = 2000  # the Read tool's default window (models and tools are independent layers)
MAX_LINES_PER_FILE = 10_000
HITS_PER_SEARCH = 200
MAX_SEARCHES = 4  # words x places; past it, each word is searched for once, in the whole folder
MAX_SPOTS = 3
SPOT_BEFORE, SPOT_LINES = 3, 12
ENTRY_NAMES = ("__main__.py", "cli.py", "api.py", "main.go", "main.rs", "lib.rs", "index.js", "index.ts")
_DEFINES = (
    r"^\s*(?:(?:export|pub|async)\s+)*(?:def|class|function|fn|func|interface|struct|trait|type)\s+\w*(?:{})"
)
_HIT = re.compile(r"^(.+?):(\d+):(.*)$")
_CONTINUES = re.compile(r"the file continues: read with offset=(\d+)\]\s*$")


@dataclass(frozen=True)
class Seen:
    """The conversation as the offline model uses it: every tool call, the results, the last turn's calls."""

    calls: list[ToolUse]
    results: dict[str, ToolResult]
    last: list[ToolUse]

    @classmethod
    def of(cls, messages: Sequence[Message]) -> Seen:
        assistant = [m for m in messages if m.role == "assistant"]
        results = {b.tool_use_id: b for m in messages for b in m.content if isinstance(b, ToolResult)}
        last = list(assistant[-1].tool_uses) if assistant else []
        return cls([c for m in assistant for c in m.tool_uses], results, last)

    def ok(self, call: ToolUse) -> str | None:
        """The call's result, or `None` if it has none or failed."""
        result = self.results.get(call.id)
        return None if result is None or result.is_error else result.content

    def read_lines(self, path: str) -> dict[int, str]:
        """Every line of `path` that some `Read` showed."""
        lines: dict[int, str] = {}
        for call in self.calls:
            if call.name == "Read" and call.input.get("file_path") == path and (text := self.ok(call)):
                lines.update(numbered_lines(text))
        return lines


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    text: str


@functools.lru_cache(maxsize=8192)
def _path(path: str) -> PurePosixPath:
    """`PurePosixPath(path)`, cached: the offline model looks at the same few hundred paths
    tens of thousands of times a run (every agent, every turn, from the conversation), and a
    path object takes microseconds to build."""
    return PurePosixPath(path)


def _tool_id(turn: int, index: int) -> str:
    return f"toolu_offline_{turn:03d}_{index:03d}"


def _calls(turn: int, text: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Block]:
    blocks: list[Block] = [Text(text)]
    blocks += [ToolUse(_tool_id(turn, i + 1), name, args) for i, (name, args) in enumerate(calls)]
    return blocks


def survey(prompt: str, turn: int) -> list[Block]:
    """The first turn: list and count each place the prompt names, and search for its words."""
    places, terms = targets(prompt), search_terms(prompt)
    calls: list[tuple[str, dict[str, Any]]] = []
    for target in places:
        calls += _place(target)
    searched = places if len(places) * len(terms) <= MAX_SEARCHES else ["."]
    for term in terms:
        case = {"-i": True} if term.ignore_case else {}
        for target in searched:
            calls.append(("Grep", {"pattern": term.pattern, "path": target, "output_mode": "count"} | case))
            grep = {"pattern": term.pattern, "path": target, "output_mode": "content", "-n": True}
            calls.append(("Grep", grep | {"head_limit": HITS_PER_SEARCH} | case))
    text = f"Surveying {', '.join(f'`{t}`' for t in places)}"
    text += f"; searching for {', '.join(f'`{t.word}`' for t in terms)}." if terms else "."
    return _calls(turn, text, calls)


def _place(target: str) -> list[tuple[str, dict[str, Any]]]:
    """List and count one place: a folder, a file path, or a bare file name (found anywhere)."""
    count = {"pattern": "^", "output_mode": "count"}
    if _path(target).suffix not in SOURCE_SUFFIXES | DOC_SUFFIXES:
        return [("Glob", {"pattern": "**/*", "path": target}), ("Grep", count | {"path": target})]
    if "/" not in target:
        return [("Glob", {"pattern": f"**/{target}"}), ("Grep", count | {"path": ".", "glob": target})]
    return [("Glob", {"pattern": target}), ("Grep", count | {"path": target})]


def missing(seen: Seen) -> str | None:
    """Why the survey failed (a place that does not exist or cannot be read, a file name found
    nowhere), or `None`."""
    for call in seen.calls:
        result = seen.results.get(call.id)
        by_name = (
            call.name == "Glob" and str(call.input["pattern"]).startswith("**/") and "path" not in call.input
        )
        if by_name and result is not None and result.content.startswith("No files"):
            return f"offline model: no file named `{call.input['pattern'][3:]}` in the agent's folder."
        survey_call = call.name == "Glob" or call.input.get("output_mode") == "count"
        if survey_call and result is not None and result.is_error:
            where = call.input.get("path") or call.input.get("pattern")
            return (
                f"offline model: cannot survey `{where}`: {result.content}. "
                "Check the path (it is taken relative to the agent's folder)."
            )
    return None


@functools.lru_cache(maxsize=8192)
def is_noise(path: str) -> bool:
    return not NOISE_PARTS.isdisjoint(_path(path).parts)


def line_counts(seen: Seen) -> dict[str, int]:
    """Text file -> line count, from the survey's Grep `^` counts."""
    return match_counts(seen, "^")


def match_counts(seen: Seen, pattern: str) -> dict[str, int]:
    """File -> matching lines of `pattern`, from the Grep count results (`path:count` lines)."""
    counts: dict[str, int] = {}
    for call in seen.calls:
        if (
            call.name != "Grep"
            or call.input.get("output_mode") != "count"
            or call.input.get("pattern") != pattern
        ):
            continue
        if (text := seen.ok(call)) is None:
            continue
        for line in text.splitlines():
            path, sep, number = line.rpartition(":")
            if sep and number.strip().isdigit() and not is_noise(path):
                counts[path] = int(number)
    return counts


def listed_files(seen: Seen) -> list[str]:
    """Every file the survey found (Glob and Grep), noise left out."""
    files = set(line_counts(seen))
    for call in seen.calls:
        if call.name == "Glob" and (text := seen.ok(call)) is not None:
            files |= {
                ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("No files", "("))
            }
    return sorted(f for f in files if not is_noise(f))


def hits(seen: Seen) -> dict[str, list[Hit]]:
    """Grep pattern -> the lines it matched (`path:line:text`), noise left out."""
    found: dict[str, list[Hit]] = {}
    for call in seen.calls:
        if (
            call.name != "Grep"
            or call.input.get("output_mode") != "content"
            or (text := seen.ok(call)) is None
        ):
            continue
        matched = found.setdefault(call.input["pattern"], [])
        for line in text.splitlines():
            if (m := _HIT.match(line)) and not is_noise(m.group(1)):
                matched.append(Hit(m.group(1), int(m.group(2)), m.group(3)))
    return found


def ranked_hits(seen: Seen, term: SearchTerm) -> list[Hit]:
    """The lines `term` matched, likeliest first: definitions of a name containing it, then lines
    of files named after it, then the rest by how often their file mentions it; tests last in each."""
    totals = match_counts(seen, term.pattern)
    defines = re.compile(_DEFINES.format(term.pattern), re.IGNORECASE if term.ignore_case else 0)
    word = term.word.lower()

    def rank(h: Hit) -> tuple[int, bool, int, str, int]:
        kind = 0 if defines.match(h.text) else 1 if word in _path(h.path).stem.lower() else 2
        return (kind, is_test(h.path), -totals.get(h.path, 0), h.path, h.line)

    return sorted(set(hits(seen).get(term.pattern, [])), key=rank)


def _spot(hit: Hit) -> tuple[str, dict[str, Any]]:
    return ("Read", {"file_path": hit.path, "offset": max(1, hit.line - SPOT_BEFORE), "limit": SPOT_LINES})


def _depth(path: str) -> int:
    return len(_path(path).parts)


def entry_points(files: Sequence[str]) -> list[str]:
    """Package `__init__.py`s (top-level packages), then `__main__`, `cli`, `api` (and the like in
    other languages), shallowest first, outside tests; at most `MAX_ENTRY_POINTS`."""
    present = set(files)
    usable = [f for f in files if not {"tests", "test", "examples", "docs"} & set(_path(f).parts)]
    inits = [
        f
        for f in usable
        if _path(f).name == "__init__.py"
        and (_path(f).parent == _path(".") or _parent_init(f) not in present)
    ]
    named = [f for f in usable if _path(f).name in ENTRY_NAMES]
    ranked = sorted(inits, key=lambda f: (_depth(f), f)) + sorted(named, key=lambda f: (_depth(f), f))
    return ranked[:MAX_ENTRY_POINTS]


def _parent_init(path: str) -> str:
    return str(_path(path).parent.parent / "__init__.py")


def _shallowest(paths: Sequence[str]) -> list[str]:
    least = min((_depth(p) for p in paths), default=0)
    return sorted(p for p in paths if _depth(p) == least)


def chosen_files(seen: Seen) -> list[str]:
    """The files read whole, in the order they are described: entry points, build files, the
    README, then the largest other sources."""
    counts = line_counts(seen)
    entries = [f for f in entry_points(listed_files(seen)) if f in counts]
    builds = _shallowest([p for p in counts if _path(p).name in BUILD_FILES])
    readmes = sorted(_shallowest([p for p in counts if _path(p).stem.lower() == "readme"]), key=len)[:1]
    others = [p for p in counts if _path(p).suffix in SOURCE_SUFFIXES and p not in entries + builds]
    largest = sorted(others, key=lambda p: (-counts[p], p))[: max(0, MAX_READS - len(entries))]
    return entries + builds + readmes + sorted(largest)


def _pages(path: str, lines: int) -> list[tuple[str, dict[str, Any]]]:
    """Read calls covering the file's first `MAX_LINES_PER_FILE` lines, a page at a time."""
    if lines <= PAGE_LINES:
        return [("Read", {"file_path": path})]
    end = min(lines, MAX_LINES_PER_FILE)
    return [
        ("Read", {"file_path": path, "offset": o, "limit": PAGE_LINES}) for o in range(1, end + 1, PAGE_LINES)
    ]


def reads(prompt: str, seen: Seen, turn: int) -> list[Block]:
    """The second turn: the chosen files whole, and the first spots where the prompt's words occur
    in files not read whole."""
    counts, chosen = line_counts(seen), chosen_files(seen)
    calls = [call for path in chosen for call in _pages(path, counts[path])]
    spots: list[Hit] = []
    for term in search_terms(prompt):
        first = next(iter(ranked_hits(seen, term)), None)
        if (
            first
            and first.path not in chosen
            and len(spots) < MAX_SPOTS
            and first.path not in {s.path for s in spots}
        ):
            spots.append(first)
    calls += _named_searches(prompt, seen) + [_spot(s) for s in spots]
    if not calls:
        return []
    return _calls(turn, f"Reading {len(chosen)} file(s) whole and {len(spots)} spot(s).", calls)


def _named_searches(prompt: str, seen: Seen) -> list[tuple[str, dict[str, Any]]]:
    """Greps of the files named after a word (`retry.py` for `retry`) that have matches the
    survey's capped search did not show: the likeliest place of what the prompt asks about."""
    found = hits(seen)
    calls: list[tuple[str, dict[str, Any]]] = []
    for term in search_terms(prompt):
        shown = {h.path for h in found.get(term.pattern, [])}
        for path in match_counts(seen, term.pattern):
            if term.word.lower() in _path(path).stem.lower() and path not in shown:
                grep = {"pattern": term.pattern, "path": path, "output_mode": "content", "-n": True}
                calls.append(
                    (
                        "Grep",
                        grep | {"head_limit": MAX_SPOTS * 10} | ({"-i": True} if term.ignore_case else {}),
                    )
                )
    return calls[:MAX_SPOTS]


def is_test(path: str) -> bool:
    parts = _path(path)
    return (
        bool({"tests", "test"} & set(parts.parts))
        or parts.name.startswith("test_")
        or parts.stem.endswith("_test")
    )


def script_targets(seen: Seen) -> list[tuple[str, str, str | None]]:
    """`(command, "module:function", file or None)` for each console script of the build files read."""
    files = set(listed_files(seen))
    found = []
    for call in seen.calls:
        path = str(call.input.get("file_path", ""))
        if call.name != "Read" or _path(path).name not in BUILD_FILES:
            continue
        text = "\n".join(seen.read_lines(path).values())
        base = _path(path).parent
        for command, target in console_scripts(path, text):
            module = target.partition(":")[0].replace(".", "/")
            candidates = [
                base / p / f for p in ("", "src") for f in (f"{module}.py", f"{module}/__init__.py")
            ]
            where = next((str(c) for c in candidates if str(c) in files), None)
            if (command, target, where) not in found:
                found.append((command, target, where))
    return found


def follow_ups(prompt: str, seen: Seen, turn: int) -> list[Block]:
    """Later turns: the rest of reads the Read tool cut short, and console scripts' modules."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for call in seen.last:
        match = _CONTINUES.search(seen.ok(call) or "") if call.name == "Read" else None
        if match:
            end = int(call.input.get("offset", 1)) + int(call.input.get("limit", PAGE_LINES)) - 1
            start = int(match.group(1))
            if start <= min(end, MAX_LINES_PER_FILE):
                calls.append(("Read", {**call.input, "offset": start, "limit": end - start + 1}))
    read = {c.input.get("file_path") for c in seen.calls if c.name == "Read"}
    for term in search_terms(prompt):
        first = next(iter(ranked_hits(seen, term)), None)
        if first is not None and first.path not in read:  # found by a search of the last turn
            read.add(first.path)
            calls.append(_spot(first))
    counts = line_counts(seen)
    for _, _, where in script_targets(seen):
        if where is not None and where not in read and where in counts:
            read.add(where)
            calls += _pages(where, counts[where])
    if not calls:
        return []
    return _calls(turn, f"Reading on ({len(calls)} more read(s)).", calls)
