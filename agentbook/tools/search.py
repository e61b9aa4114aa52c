"""Claude Code's search tools: `Glob` (files by name) and `Grep` (files by content).

Both are pure Python so they behave the same on every machine (Claude Code shells out to ripgrep).
They walk the tree below the search path, never descend into VCS metadata (`.git` and friends) or
through directory symlinks (which avoids loops and escapes), and skip file symlinks whose target
leaves the root.  Paths are printed relative to the root (`ToolContext.display`): shorter than
Claude Code's absolute paths and accepted by every other tool just the same.

Deviations from ripgrep worth knowing: `.gitignore` files are not honoured and hidden files are
searched (Claude Code passes `--hidden` too); the regex dialect is Python's `re`.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbook.tools.base import ToolContext, ToolError, validate_input
from agentbook.tools.files import looks_binary, truncate_line

SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".bzr", ".jj"})
GLOB_MAX_RESULTS = 100
# A Glob that sees at most this many directory entries runs on the event loop: a thread hop costs
# more CPU than walking a small tree (about 150 us against 20 us for a few files) and a round of
# the loop's latency while it is busy.  Past the budget the walk starts again in a thread, so the
# loop never walks a big tree (the metadata calls every tool makes on the loop, such as resolving
# a path, are of the same kind as a small walk's).
INLINE_WALK_ENTRIES = 256
GLOB_TRUNCATED_NOTE = "(Results are truncated. Consider using a more specific path or pattern.)"
_GLOB_META = re.compile(r"[*?\[{]")

# A small version of ripgrep's --type table: name -> file-name globs.
FILE_TYPES: dict[str, tuple[str, ...]] = {
    "c": ("*.c", "*.h"),
    "cpp": ("*.cpp", "*.cc", "*.cxx", "*.hpp", "*.hh", "*.hxx", "*.h"),
    "cs": ("*.cs",),
    "css": ("*.css", "*.scss", "*.sass", "*.less"),
    "go": ("*.go",),
    "html": ("*.html", "*.htm"),
    "java": ("*.java",),
    "js": ("*.js", "*.mjs", "*.cjs", "*.jsx"),
    "json": ("*.json", "*.jsonl"),
    "kotlin": ("*.kt", "*.kts"),
    "md": ("*.md", "*.markdown"),
    "php": ("*.php",),
    "py": ("*.py", "*.pyi"),
    "rb": ("*.rb",),
    "ruby": ("*.rb",),
    "rust": ("*.rs",),
    "sh": ("*.sh", "*.bash", "*.zsh"),
    "sql": ("*.sql",),
    "swift": ("*.swift",),
    "toml": ("*.toml",),
    "ts": ("*.ts", "*.tsx", "*.mts", "*.cts"),
    "txt": ("*.txt",),
    "xml": ("*.xml",),
    "yaml": ("*.yaml", "*.yml"),
}


# ---------------------------------------------------------------------------------------------
# Globs


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A regex that fully matches the `/`-separated relative paths `pattern` matches.

    Supports `*` and `?` (not crossing `/`), `**` as a whole segment (any number of directories,
    including none), `[...]` classes (`[!...]` negates), `{a,b}` alternatives and `\\` escapes.
    Unlike shell globs, `*` also matches names starting with a dot.
    """
    return re.compile(_translate(pattern) + r"\Z", re.DOTALL)


def _translate(pat: str) -> str:
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            i = _translate_star(pat, i, out)
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[":
            end = _class_end(pat, i)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pat[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif c == "{":
            end = _brace_end(pat, i)
            if end < 0:
                out.append(re.escape(c))
            else:
                alternatives = _split_top_level(pat[i + 1 : end])
                out.append("(?:" + "|".join(_translate(a) for a in alternatives) + ")")
                i = end
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pat[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _translate_star(pat: str, i: int, out: list[str]) -> int:
    """Translate the `*` or `**` at `i`; return the index after it."""
    if pat.startswith("**", i):
        whole_segment_start = i == 0 or pat[i - 1] == "/"
        after = i + 2
        if whole_segment_start and pat.startswith("/", after):
            out.append("(?:.*/)?")
            return after + 1
        if whole_segment_start and after == len(pat):
            out.append(".*")
            return after
        out.append("[^/]*")
        return after
    out.append("[^/]*")
    return i + 1


def _class_end(pat: str, start: int) -> int:
    """Index of the `]` closing the class opened at `start`, or -1."""
    j = start + 1
    if j < len(pat) and pat[j] in "!^":
        j += 1
    if j < len(pat) and pat[j] == "]":
        j += 1  # a leading ] is a literal member
    end = pat.find("]", j)
    return end


def _brace_end(pat: str, start: int) -> int:
    """Index of the `}` closing the brace opened at `start` (nesting allowed), or -1."""
    depth = 0
    for j in range(start, len(pat)):
        if pat[j] == "{":
            depth += 1
        elif pat[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _split_top_level(body: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in body:
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += ch == "{"
        depth -= ch == "}"
        current.append(ch)
    parts.append("".join(current))
    return parts


class _TooBig(Exception):
    """A walk met more directory entries than its budget allowed."""


def walk_files(
    base: Path, ctx: ToolContext, max_depth: int | None = None, budget: int | None = None
) -> Iterator[tuple[str, str]]:
    """Regular files below `base` as (path relative to `base` with `/`, absolute path), depth first
    in name order, skipping VCS dirs, directory symlinks and file links whose target leaves the root.

    `max_depth` (1 = only `base`'s own entries) prunes the walk when the pattern cannot go deeper.
    `budget` bounds the directory entries looked at: past it the walk raises `_TooBig`.  Strings
    and `os.scandir`'s cached file types, not `Path` objects and a stat per name: a walk is most
    of a Glob's cost.  Unreadable directories are skipped, as `os.walk` does.
    """
    seen = 0
    stack: list[tuple[str, str, int]] = [(os.fspath(base), "", 1)]
    while stack:
        top, prefix, depth = stack.pop()
        entries: list[os.DirEntry[str]] = []
        try:
            with os.scandir(top) as listing:
                for entry in listing:  # counted as read: one huge directory stops the walk early
                    seen += 1
                    if budget is not None and seen > budget:
                        raise _TooBig
                    entries.append(entry)
        except OSError:
            continue
        entries.sort(key=_name)
        subdirs: list[os.DirEntry[str]] = []
        for entry in entries:
            if _is_dir(entry):
                subdirs.append(entry)
            elif _is_inside_regular_file(entry, ctx):
                yield prefix + entry.name, entry.path
        if max_depth is None or depth < max_depth:
            for entry in reversed(subdirs):  # reversed onto the stack: visited in name order
                if entry.name not in SKIP_DIRS and not entry.is_symlink():
                    stack.append((entry.path, f"{prefix}{entry.name}/", depth + 1))


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows a symlink, as os.walk sorts names
    except OSError:
        return False


def _is_inside_regular_file(entry: os.DirEntry[str], ctx: ToolContext) -> bool:
    try:
        if not entry.is_symlink():
            return entry.is_file()
        ctx.resolve(entry.path)
        return entry.is_file()
    except (OSError, ToolError):
        return False


def _newest_first(paths: Iterable[str]) -> list[str]:
    """Absolute paths, most recently modified first (then by name)."""
    return [p for _, p in sorted((-_mtime(p), p) for p in paths)]


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _search_dir(ctx: ToolContext, path: str | None) -> Path:
    """The resolved file or directory to search: `path` if given, else the root."""
    if path is None:
        return ctx.root
    resolved = ctx.resolve(path)
    if not resolved.exists():
        raise ToolError(f"Path does not exist: {path}")
    return resolved


_GLOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "pattern": {"type": "string", "description": "The glob pattern to match files against"},
        "path": {
            "type": "string",
            "description": "The directory to search in (default: the root). Omit it for the default; "
            "do not pass 'undefined' or 'null'.",
        },
    },
    "required": ["pattern"],
    "additionalProperties": False,
}


class Glob:
    """Find files by name pattern."""

    name: str = "Glob"
    description: str = (
        "Fast file pattern matching inside the agent's root.\n\n"
        '- Supports glob patterns like "**/*.js", "src/**/*.ts" or "*.{py,md}"; "*.py" matches only '
        'the top level of the search directory, "**/*.py" matches at any depth.\n'
        "- Returns matching file paths (relative to the root), most recently modified first, at most "
        f"{GLOB_MAX_RESULTS}.\n"
        "- path is the directory to search in (default: the root). VCS directories like .git are "
        "skipped.\n"
        "- Use it to find files by name; use Grep to search file contents."
    )
    input_schema: dict[str, Any] = _GLOB_SCHEMA

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        """Matching files, newest first, capped; "No files found" when none match."""
        args = validate_input(self.input_schema, input)
        pattern: str = args["pattern"]
        base = _search_dir(ctx, args.get("path"))
        if not base.is_dir():
            raise ToolError(f"{args.get('path')} is not a directory")
        base, rest = _split_literal_prefix(ctx, base, pattern)
        try:
            matches = _glob(base, rest, ctx, INLINE_WALK_ENTRIES)
        except _TooBig:
            matches = await asyncio.to_thread(_glob, base, rest, ctx)
        if not matches:
            return "No files found"
        shown = [ctx.display(p) for p in matches[:GLOB_MAX_RESULTS]]
        if len(matches) > GLOB_MAX_RESULTS:
            shown.append(GLOB_TRUNCATED_NOTE)
        return "\n".join(shown)


def _split_literal_prefix(ctx: ToolContext, base: Path, pattern: str) -> tuple[Path, str]:
    """Move the pattern's leading wildcard-free directories into the base, through `resolve`.

    This is what lets "src/**/*.py", "/abs/root/**" and "../x/*" work (or be refused) exactly as a
    path argument would.  Returns the new base and the remaining pattern.
    """
    if not pattern:
        raise ToolError("pattern is empty")
    if "\x00" in pattern:
        raise ToolError("pattern contains a NUL byte")
    parts = pattern.split("/")
    literal: list[str] = []
    while len(parts) > 1 and not _GLOB_META.search(parts[0]):
        literal.append(parts.pop(0))
    if ".." in parts:
        raise ToolError("'..' may only appear before the first wildcard of a pattern")
    if literal:
        prefix = "/".join(literal) or "/"
        base = ctx.resolve(prefix if prefix.startswith("/") else base / prefix)
    return base, "/".join(parts)


def _glob(base: Path, rest: str, ctx: ToolContext, budget: int | None = None) -> list[str]:
    """Absolute paths of the files below `base` matching `rest`, newest first (`_TooBig` past
    `budget` directory entries)."""
    if not base.is_dir():
        return []
    regex = glob_to_regex(rest)
    # Without ** or braces the pattern fixes the depth, so the walk need not go deeper.
    max_depth = None if "**" in rest or "{" in rest else rest.count("/") + 1
    return _newest_first(path for rel, path in walk_files(base, ctx, max_depth, budget) if regex.match(rel))


# ---------------------------------------------------------------------------------------------
# Grep


@dataclass(frozen=True)
class _GrepOptions:
    regex: re.Pattern[str]
    multiline: bool
    line_numbers: bool
    before: int
    after: int


_GREP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "pattern": {"type": "string", "description": "The regular expression to search for"},
        "path": {"type": "string", "description": "File or directory to search in (default: the root)"},
        "glob": {
            "type": "string",
            "description": 'Glob to filter files (e.g. "*.js", "*.{ts,tsx}"); a leading ! excludes',
        },
        "type": {
            "type": "string",
            "description": "File type to search: " + ", ".join(sorted(FILE_TYPES)),
        },
        "output_mode": {
            "type": "string",
            "enum": ["content", "files_with_matches", "count"],
            "description": 'Output mode (default "files_with_matches")',
        },
        "-i": {"type": "boolean", "description": "Case insensitive search"},
        "-n": {
            "type": "boolean",
            "description": "Show line numbers (content mode only; default true)",
        },
        "-A": {"type": "integer", "minimum": 0, "description": "Lines to show after each match"},
        "-B": {"type": "integer", "minimum": 0, "description": "Lines to show before each match"},
        "-C": {
            "type": "integer",
            "minimum": 0,
            "description": "Lines to show before and after each match",
        },
        "head_limit": {
            "type": "integer",
            "minimum": 0,
            "description": "Show only the first N lines/entries of output (0: all)",
        },
        "offset": {
            "type": "integer",
            "minimum": 0,
            "description": "Skip the first N lines/entries of output before applying head_limit",
        },
        "multiline": {
            "type": "boolean",
            "description": "Let the pattern span lines, and . match newlines (default false)",
        },
    },
    "required": ["pattern"],
    "additionalProperties": False,
}


class Grep:
    """Search file contents with a regular expression, ripgrep style."""

    name: str = "Grep"
    description: str = (
        "A content search tool with ripgrep's options and output (pure Python underneath).\n\n"
        "Usage:\n"
        "- Use Grep for search tasks instead of running grep or rg through Bash.\n"
        '- pattern is a Python regular expression (e.g. "log.*Error", "def\\s+\\w+"); literal '
        "braces and other metacharacters need escaping.\n"
        '- Filter files with glob (e.g. "*.js", "**/*.{ts,tsx}") or type (e.g. "py", "js", '
        '"rust").\n'
        '- output_mode: "files_with_matches" (default) lists matching files, newest first; "content" '
        'shows matching lines as path:line:text (context lines as path-line-text); "count" shows '
        "path:count.\n"
        "- By default a pattern matches within one line; set multiline to true for patterns that "
        "span lines (then . matches newlines too).\n"
        "- head_limit keeps only the first N lines/entries of output; offset skips the first N.\n"
        "- .git and binary files are skipped."
    )
    input_schema: dict[str, Any] = _GREP_SCHEMA

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        """The search result in the chosen output mode; a "No ... found" line when nothing matches."""
        args = validate_input(self.input_schema, input)
        options = _grep_options(args)
        target = _search_dir(ctx, args.get("path"))
        accept = _file_filter(args.get("glob"), args.get("type"))
        mode: str = args.get("output_mode", "files_with_matches")
        results = await asyncio.to_thread(_grep_files, target, ctx, accept, options)
        lines = _format(results, mode, options, ctx)
        if not lines:
            return "No files found" if mode == "files_with_matches" else "No matches found"
        return _finish(lines, args, mode, results, ctx)


def _grep_options(args: dict[str, Any]) -> _GrepOptions:
    flags = re.IGNORECASE if args.get("-i") else 0
    multiline = bool(args.get("multiline"))
    if multiline:
        flags |= re.MULTILINE | re.DOTALL
    try:
        regex = re.compile(args["pattern"], flags)
    except re.error as err:
        raise ToolError(f"Invalid regular expression {args['pattern']!r}: {err}") from err
    context = int(args.get("-C", 0))
    return _GrepOptions(
        regex=regex,
        multiline=multiline,
        line_numbers=bool(args.get("-n", True)),
        before=int(args.get("-B", context)),
        after=int(args.get("-A", context)),
    )


def _file_filter(glob: str | None, file_type: str | None) -> Callable[[str], bool]:
    """A predicate on paths relative to the search directory (posix form), from glob and type.

    Like ripgrep, a glob without `/` is matched against the file name, one with `/` against the
    whole relative path; a leading `!` excludes; several globs may be separated by whitespace.
    """
    includes: list[_NameGlob] = []
    excludes: list[_NameGlob] = []
    for g in (glob or "").split():
        target = excludes if g.startswith("!") else includes
        target.append(_NameGlob.of(g.lstrip("!")))
    type_globs: list[_NameGlob] = []
    if file_type is not None:
        if file_type not in FILE_TYPES:
            known = ", ".join(sorted(FILE_TYPES))
            raise ToolError(f"unknown file type {file_type!r}; known types: {known}")
        type_globs = [_NameGlob.of(g) for g in FILE_TYPES[file_type]]

    def accept(rel: str) -> bool:
        if type_globs and not any(g.matches(rel) for g in type_globs):
            return False
        if includes and not any(g.matches(rel) for g in includes):
            return False
        return not any(g.matches(rel) for g in excludes)

    return accept


@dataclass(frozen=True)
class _NameGlob:
    regex: re.Pattern[str]
    whole_path: bool  # the glob had a "/": match the relative path, not just the file name

    @classmethod
    def of(cls, glob: str) -> _NameGlob:
        return cls(glob_to_regex(glob), "/" in glob)

    def matches(self, rel: str) -> bool:
        return bool(self.regex.match(rel if self.whole_path else rel.rsplit("/", 1)[-1]))


@dataclass
class _FileResult:
    path: Path
    lines: list[str]
    matched: list[int]  # 0-based indices of matching lines, ascending


def _grep_files(
    target: Path, ctx: ToolContext, accept: Callable[[str], bool], options: _GrepOptions
) -> list[_FileResult]:
    # An explicitly named file is always searched (as ripgrep does); filters apply to walked files.
    if target.is_file():
        candidates = [target]
    else:
        candidates = [Path(path) for rel, path in walk_files(target, ctx) if accept(rel)]
    results = []
    for path in candidates:
        found = _grep_file(path, options)
        if found is not None:
            results.append(found)
    return results


def _grep_file(path: Path, options: _GrepOptions) -> _FileResult | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None  # unreadable files are skipped, as ripgrep does (it only warns)
    if looks_binary(raw):
        return None
    text = raw.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if options.multiline:
        matched = _multiline_matches(text, options.regex)
    else:
        matched = [i for i, line in enumerate(lines) if options.regex.search(line.rstrip("\r"))]
    if not matched:
        return None
    return _FileResult(path, [line.rstrip("\r") for line in lines], matched)


def _multiline_matches(text: str, regex: re.Pattern[str]) -> list[int]:
    """Indices of every line that some match of `regex` over the whole `text` touches."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    hit: set[int] = set()
    for m in regex.finditer(text):
        first = bisect.bisect_right(starts, m.start()) - 1
        last = bisect.bisect_right(starts, max(m.start(), m.end() - 1)) - 1
        hit.update(range(first, last + 1))
    return sorted(hit)


def _format(results: list[_FileResult], mode: str, options: _GrepOptions, ctx: ToolContext) -> list[str]:
    if mode == "files_with_matches":
        return [ctx.display(p) for p in _newest_first(str(r.path) for r in results)]
    if mode == "count":
        return [f"{ctx.display(r.path)}:{len(r.matched)}" for r in results]
    out: list[str] = []
    for r in results:
        if out and (options.before or options.after):
            out.append("--")  # ripgrep separates files' context groups too
        out.extend(_content_lines(r, options, ctx.display(r.path)))
    return out


def _content_lines(r: _FileResult, options: _GrepOptions, shown: str) -> Iterator[str]:
    """ripgrep's content lines for one file: `path:n:text` matches, `path-n-text` context, `--`."""
    matched = set(r.matched)
    wanted: set[int] = set()
    for i in r.matched:
        wanted.update(range(max(0, i - options.before), min(len(r.lines), i + options.after + 1)))
    previous = None
    for i in sorted(wanted):
        if previous is not None and i != previous + 1:
            yield "--"
        sep = ":" if i in matched else "-"
        number = f"{i + 1}{sep}" if options.line_numbers else ""
        yield f"{shown}{sep}{number}{truncate_line(r.lines[i])}"
        previous = i


def _finish(
    lines: list[str], args: dict[str, Any], mode: str, results: list[_FileResult], ctx: ToolContext
) -> str:
    """Apply offset/head_limit, add Claude Code's summary line, and cap the size."""
    total = len(lines)
    offset = int(args.get("offset", 0))
    head_limit = int(args.get("head_limit", 0))
    window = lines[offset : offset + head_limit] if head_limit else lines[offset:]
    limited = len(window) < total
    note = f"\n\n[Showing {len(window)} of {total} entries (offset={offset}, head_limit={head_limit})]"
    if mode == "files_with_matches":
        body = f"Found {total} file{'s' if total != 1 else ''}\n" + "\n".join(window)
    elif mode == "count":
        occurrences = sum(len(r.matched) for r in results)
        body = "\n".join(window) + (
            f"\n\nFound {occurrences} total matching line{'s' if occurrences != 1 else ''} "
            f"across {len(results)} file{'s' if len(results) != 1 else ''}."
        )
    else:
        body = "\n".join(window)
    if limited:
        body += note
    return cap_output(body, ctx.max_output_chars)


def cap_output(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a line boundary if possible, with a note of what was cut."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut_at = head.rfind("\n")
    if cut_at > limit // 2:
        head = head[:cut_at]
    return head + f"\n\n[Output truncated: {len(text) - len(head)} more characters not shown]"
