"""Claude Code's `Grep` tool: file contents by regular expression, with ripgrep's options and output.

File filters (`glob`, `type`) are read by the one glob engine (`agentbook.tools._globs`); the
walk is shared with Glob (`agentbook.tools.search`).  The regex dialect is Python's `re`.
"""

from __future__ import annotations

import asyncio
import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbook.tools._globs import glob_to_regex
from agentbook.tools.base import ToolContext, ToolError, validate_input
from agentbook.tools.files import looks_binary, truncate_line
from agentbook.tools.search import newest_first, search_dir, walk_files

__all__ = ["FILE_TYPES", "Grep", "cap_output"]

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
        target = search_dir(ctx, args.get("path"))
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
        return [ctx.display(p) for p in newest_first(str(r.path) for r in results)]
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
