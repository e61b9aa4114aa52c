"""Claude Code's `Grep` tool: file contents by regular expression, on ripgrep.

ripgrep does the walking and the matching (`agentbook.tools._ripgrep` runs it): patterns are
its Rust regex syntax, matched in linear time outside this process; `.gitignore` is honoured
inside a git repository; hidden files are searched but VCS directories (`.git` and friends) are
not, as Claude Code passes `--hidden` and excludes them; binary files are skipped; symbolic links
are never followed, so a walk cannot leave the root (a `path` argument goes through
`ToolContext.resolve`).  `glob` and `type` are rg's `--glob` and `--type`, matched relative to the
search directory.

This module turns the input into rg arguments and rg's output into Claude Code's formats.  rg
prints with `--null`, so any file name reads back unambiguously, and the output is read as it
arrives, keeping only about what will be shown: a search matching every line of a big tree costs
rg's time, not this process's memory.  Paths are shown relative to the root, like Glob's.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentbook.tools._beneath import open_beneath
from agentbook.tools._globs import glob_escape
from agentbook.tools._grep_output import OutputWindow, finish, hard_link_note
from agentbook.tools._ripgrep import RgExit, run_rg
from agentbook.tools.base import ToolContext, ToolError, validate_input
from agentbook.tools.files import BINARY_SNIFF_BYTES, MAX_LINE_CHARS, looks_binary
from agentbook.tools.sandbox import secret_paths
from agentbook.tools.search import SKIP_DIRS, search_dir

__all__ = ["Grep"]

_GREP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "pattern": {"type": "string", "description": "The regular expression to search for"},
        "path": {"type": "string", "description": "File or directory to search in (default: the root)"},
        "glob": {
            "type": "string",
            "description": 'Glob to filter files (e.g. "*.js", "*.{ts,tsx}"); a leading ! excludes; '
            "several may be separated by spaces",
        },
        "type": {
            "type": "string",
            "description": 'File type to search, by ripgrep\'s --type names (e.g. "py", "js", "ts", '
            '"rust", "go", "java", "md")',
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
    """Search file contents with a regular expression, on ripgrep."""

    name: str = "Grep"
    description: str = (
        "A content search tool built on ripgrep.\n\n"
        "Usage:\n"
        "- Use Grep for search tasks instead of running grep or rg through Bash.\n"
        '- pattern is a ripgrep (Rust) regular expression (e.g. "log.*Error", "def\\s+\\w+"): no '
        "look-around or backreferences; literal braces and other metacharacters need escaping "
        "(interface\\{\\} finds interface{}).\n"
        '- Filter files with glob (e.g. "*.js", "**/*.{ts,tsx}", "!*.md") or type (e.g. "py", "js", '
        '"rust").\n'
        '- output_mode: "files_with_matches" (default) lists matching files, newest first; "content" '
        'shows matching lines as path:line:text (context lines as path-line-text); "count" shows '
        "path:count.\n"
        "- By default a pattern matches within one line; set multiline to true for patterns that "
        "span lines (then . matches newlines too).\n"
        "- head_limit keeps only the first N lines/entries of output; offset skips the first N.\n"
        f"- Lines longer than {MAX_LINE_CHARS} bytes are cut.\n"
        "- Hidden files are searched; files ignored by .gitignore (in a git repository), binary "
        "files, VCS directories like .git and symbolic links are skipped."
    )
    input_schema: dict[str, Any] = _GREP_SCHEMA

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        """The search result in the chosen output mode; a "No ... found" line when nothing matches.

        Raises `ToolError` for a pattern, glob or type rg rejects (with rg's message) and when
        the search outlasts `ctx.grep_timeout_s` (rg is killed).
        """
        args = validate_input(self.input_schema, input)
        target = search_dir(ctx, args.get("path"))
        mode: str = args.get("output_mode", "files_with_matches")
        window = OutputWindow(
            int(args.get("offset", 0)), int(args.get("head_limit", 0)), ctx.max_output_chars
        )
        if target.is_dir():
            cwd, where = target, "."
        else:
            cwd, where = target.parent, target.name
            if _is_binary_file(target):
                return "No files found" if mode == "files_with_matches" else "No matches found"
        reader = _Reader(cwd, mode, args, window, ctx.display)
        rg_args = _rg_args(args, mode, where, _secret_globs(cwd, ctx))
        try:  # rg starts in the folder checked, held open: a link swapped in since is not followed
            folder = open_beneath(ctx.root, cwd, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as err:
            raise ToolError(f"cannot search {ctx.display(cwd)}: {err.strerror or err}") from None
        try:
            done = await run_rg(rg_args, Path(f"/proc/self/fd/{folder}"), ctx.grep_timeout_s, reader.feed)
        finally:
            os.close(folder)
        _check_exit(done, args)
        if not reader.paths:
            return "No files found" if mode == "files_with_matches" else "No matches found"
        body = await finish(mode, reader.paths, reader.counts, window, ctx.display)
        return body + await hard_link_note(reader.paths, ctx.display)


def _is_binary_file(path: Path) -> bool:
    """Whether the regular file `path` looks binary.  rg skips binary files it walks to but prints
    a notice for one named on its command line, so a named file is sniffed here, as before."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False  # a FIFO and the like: never read here (it could block); rg copes
        with open(path, "rb") as fh:
            return looks_binary(fh.read(BINARY_SNIFF_BYTES))
    except OSError:
        return False  # rg reports what it cannot read (it skips it)


def _secret_globs(cwd: Path, ctx: ToolContext) -> list[str]:
    """Globs excluding the secrets below `cwd` (`~/.ssh` in a root that is a home folder, say),
    which `ctx.resolve` refuses by name and the Bash sandbox hides."""
    hidden = ctx.sandbox.hidden if ctx.sandbox else ()
    below = f"{cwd}/"
    return [f"!/{glob_escape(s[len(below) :])}" for s in secret_paths(hidden) if s.startswith(below)]


def _rg_args(args: dict[str, Any], mode: str, where: str, excluded: list[str]) -> list[str]:
    """rg's command line for the input `args`, searching `where` (relative to rg's cwd), never
    in the `excluded` globs."""
    out = ["--no-config", "--no-messages", "--color=never", "--hidden", "--no-follow", "--null"]
    multiline = bool(args.get("multiline"))
    if mode == "files_with_matches":
        out.append("--files-with-matches")
    elif mode == "count" and not multiline:
        # Sorted (rg then searches on one thread): the same order every call, so offset pages.
        out += ["--count", "--with-filename", "--sort=path"]
    else:
        # Multiline counts are counted here from content: rg's --count would count a match
        # spanning three lines once, and Grep counts lines.
        out += ["--line-number", "--with-filename", "--no-heading", "--sort=path"]
        out += ["--no-context-separator", f"--max-columns={MAX_LINE_CHARS}", "--max-columns-preview"]
        if mode == "content":
            before, after = _context(args)
            out += [f"--before-context={before}", f"--after-context={after}"]
    if args.get("-i"):
        out.append("--ignore-case")
    if multiline:
        out += ["--multiline", "--multiline-dotall"]
    # Values joined to their option and the path after `--`: none can be read as an option.
    if "type" in args:
        out.append(f"--type={args['type']}")
    out += [f"--glob={glob}" for glob in str(args.get("glob", "")).split()]
    # Last, as a later glob wins: no filter can bring .git back.
    out += [f"--glob=!{vcs}" for vcs in sorted(SKIP_DIRS)]
    out += [f"--glob={glob}" for glob in excluded]
    return [*out, f"--regexp={args['pattern']}", "--", where]


def _context(args: dict[str, Any]) -> tuple[int, int]:
    context = int(args.get("-C", 0))
    return int(args.get("-B", context)), int(args.get("-A", context))


def _check_exit(done: RgExit, args: dict[str, Any]) -> None:
    """Raise rg's complaint as a `ToolError`.  Exit 2 with nothing said means only that some
    files could not be read (`--no-messages` silences those), which Grep skips, as rg does."""
    if done.returncode in (0, 1) or (done.returncode == 2 and not done.stderr):
        return
    message = done.stderr.removeprefix("rg: ") or f"ripgrep failed (exit status {done.returncode})"
    if "regex" in message:  # "regex parse error", "... not allowed in a regex", size limits
        raise ToolError(f"Invalid regular expression {args['pattern']!r} (ripgrep's Rust syntax): {message}")
    if message.startswith("unrecognized file type"):
        raise ToolError(
            f"unknown file type {args.get('type')!r}: ripgrep knows py, js, ts, rust, go, java, c, "
            "cpp, md, json, yaml, toml, sh and many more (or filter with glob)"
        )
    raise ToolError(f"ripgrep refused the search: {message}")


_LINE_PREFIX = re.compile(rb"(\d+)([:-])")  # rg's `N:` (a match) or `N-` (context) after a path


@dataclass
class _Reader:
    """Reads rg's `--null` output as it arrives: what Grep will show, and which files matched.

    Records are a path ended by NUL, then (in count and content modes) the rest of its line.
    What is left without a NUL at the end is a notice, not a record, and is dropped.
    """

    cwd: Path
    mode: str
    args: dict[str, Any]
    window: OutputWindow
    display: Callable[[str], str]
    paths: list[str] = field(default_factory=list)  # absolute, in rg's order, each once
    counts: dict[str, int] = field(default_factory=dict)  # count mode: matching lines per path
    _pending: bytes = b""
    _path: bytes | None = None
    _last: tuple[str, int] | None = None  # the last content line shown: path and line number

    def feed(self, data: bytes) -> None:
        buf, pos = self._pending + data, 0
        with_rest = self.mode != "files_with_matches"
        while True:
            if self._path is None:
                end = buf.find(b"\0", pos)
                if end < 0:
                    break
                self._path, pos = buf[pos:end], end + 1
                if with_rest:
                    continue
                self._record(self._path, b"")
            else:
                end = buf.find(b"\n", pos)
                if end < 0:
                    break
                self._record(self._path, buf[pos:end])
                pos = end + 1
            self._path = None
        self._pending = buf[pos:]

    def _record(self, raw_path: bytes, rest: bytes) -> None:
        path = os.path.normpath(os.path.join(self.cwd, os.fsdecode(raw_path)))
        if not self.paths or self.paths[-1] != path:
            self.paths.append(path)  # rg prints one file's records together
        if self.mode == "files_with_matches":
            return
        if self.mode == "count" and not self.args.get("multiline"):
            self.counts[path] = int(rest or b"0")
            return
        prefix = _LINE_PREFIX.match(rest)
        if prefix is None:
            return  # not a line record (rg prints none such with these flags)
        number, sep = int(prefix.group(1)), prefix.group(2).decode()
        if self.mode == "count":
            self.counts[path] = self.counts.get(path, 0) + (sep == ":")
            return
        self._content_line(path, number, sep, rest[prefix.end() :].decode("utf-8", errors="replace"))

    def _content_line(self, path: str, number: int, sep: str, text: str) -> None:
        """ripgrep's content lines: `path:n:text` matches, `path-n-text` context, and with
        context a `--` between groups that do not touch (within a file and between files)."""
        if any(_context(self.args)) and self._last is not None and self._last != (path, number - 1):
            self.window.add("--")
        self._last = (path, number)
        shown = self.display(path)
        text = text.removesuffix("\r")
        line_number = f"{number}{sep}" if self.args.get("-n", True) else ""
        self.window.add(f"{shown}{sep}{line_number}{text}")
