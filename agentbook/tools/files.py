"""Claude Code's file tools: `Read`, `Write` and `Edit`.

Names, input schemas and behaviour follow Claude Code's built-in tools so that prompts written for
Claude Code work unchanged.  Every path goes through `ToolContext.resolve`, which refuses anything
that leaves the agent's root (`..`, absolute paths elsewhere, symlinks pointing out).  Paths may be
absolute (inside the root) or relative to the root; Claude Code insists on absolute paths, we accept
both because relative ones cannot be misread.  OS errors (permission denied and the like) become
`ToolError`s: the model can react to them, they are not harness failures.

Hard links are the one way out that `resolve` cannot see: a second name of a file may lie outside
the root, and both names are the same file.  So Write and Edit refuse a file with more than one
link (checked on the descriptor they write through, so the check and the write meet one file),
and Read says so in a note before the content.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from agentbook.tools._beneath import open_beneath
from agentbook.tools._hardlinks import shared_inode
from agentbook.tools.base import ToolContext, ToolError, validate_input

__all__ = [
    "BINARY_SNIFF_BYTES",
    "DEFAULT_READ_LIMIT",
    "EMPTY_FILE_NOTE",
    "MAX_LINE_CHARS",
    "MAX_READ_CHARS",
    "Edit",
    "Read",
    "Write",
    "looks_binary",
    "truncate_line",
]

DEFAULT_READ_LIMIT = 2000
MAX_LINE_CHARS = 2000
# Claude Code refuses a read above ~25k tokens; we stop at a whole line past this many characters
# instead and say where to continue, which gets the model further than an error.
MAX_READ_CHARS = 100_000
# A NUL byte in the first block is how git and ripgrep decide a file is binary; so do we.
BINARY_SNIFF_BYTES = 8192

EMPTY_FILE_NOTE = "<system-reminder>Warning: the file exists but the contents are empty.</system-reminder>"


def looks_binary(head: bytes) -> bool:
    """Whether a file whose first bytes are `head` should be treated as binary."""
    return b"\x00" in head[:BINARY_SNIFF_BYTES]


def truncate_line(line: str, limit: int = MAX_LINE_CHARS) -> str:
    """`line` cut to `limit` characters, with a marker when something was cut."""
    if len(line) <= limit:
        return line
    return line[:limit] + f"… [line truncated: {len(line) - limit} more characters]"


def _existing_file(ctx: ToolContext, file_path: str) -> Path:
    """The resolved path of an existing regular file, or the `ToolError` Claude Code would give."""
    path = ctx.resolve(file_path)
    if not path.exists():
        raise ToolError(f"File does not exist: {file_path}")
    if path.is_dir():
        raise ToolError(f"{file_path} is a directory, not a file; use Glob or Bash `ls` to list it")
    if not path.is_file():  # a FIFO or device: reading it could block forever
        raise ToolError(f"{file_path} is not a regular file")
    return path


def _refuse_hard_links(st: os.stat_result, file_path: str) -> None:
    """`ToolError` unless `st` is a regular file with a single name: writing any other file
    would change what its other names show, possibly outside the root, or could block."""
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{file_path} is not a regular file; refused")
    if shared_inode(st):
        raise ToolError(
            f"{file_path} has {st.st_nlink} hard links: a change would also land in the other "
            "name(s), possibly outside the agent's root; refused"
        )


def _os_error(action: str, file_path: str, err: OSError) -> ToolError:
    return ToolError(f"cannot {action} {file_path}: {err.strerror or err}")


_READ_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "file_path": {"type": "string", "description": "The path of the file to read"},
        "offset": {
            "type": "integer",
            "minimum": 0,
            "description": "The 1-based line number to start reading from (0 is taken as 1)",
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "description": f"The number of lines to read (default {DEFAULT_READ_LIMIT})",
        },
    },
    "required": ["file_path"],
    "additionalProperties": False,
}


class Read:
    """Read a text file, `cat -n` style, a window of lines at a time."""

    name: str = "Read"
    description: str = (
        "Reads a file from the local filesystem (inside the agent's root).\n\n"
        "Usage:\n"
        "- file_path may be absolute (inside the root) or relative to the root.\n"
        f"- By default reads up to {DEFAULT_READ_LIMIT} lines from the start. For long files, pass "
        "offset (1-based line number to start from) and limit (number of lines).\n"
        f"- Lines longer than {MAX_LINE_CHARS} characters are truncated.\n"
        "- Output is in `cat -n` format: the line number right-aligned in 6 columns, a tab, then the "
        "line. The numbers are not part of the file: never include them in an Edit's old_string.\n"
        "- Text files only: binary files are refused. Directories are refused: use Glob or Bash `ls`."
    )
    input_schema: dict[str, Any] = _READ_SCHEMA

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        """The numbered lines `offset .. offset+limit-1`, or a note if the file is empty/shorter."""
        args = validate_input(self.input_schema, input)
        file_path: str = args["file_path"]
        path = _existing_file(ctx, file_path)
        offset = max(1, int(args.get("offset", 1)))
        limit = int(args.get("limit", DEFAULT_READ_LIMIT))
        try:
            return await asyncio.to_thread(_read_numbered, ctx.root, path, file_path, offset, limit)
        except OSError as err:
            raise _os_error("read", file_path, err) from err


def _read_numbered(root: Path, path: Path, file_path: str, offset: int, limit: int) -> str:
    """The `cat -n` window, after a note line when the file has more than one hard link."""
    with os.fdopen(open_beneath(root, path, os.O_RDONLY), "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):  # swapped since the check for a FIFO or a folder
            raise ToolError(f"{file_path} is not a regular file")
        note = (
            f"[note: this file has {info.st_nlink} hard links; it may also be reachable outside the root]\n"
            if shared_inode(info)
            else ""
        )
        return note + _numbered_lines(fh, file_path, offset, limit)


def _numbered_lines(fh: BinaryIO, file_path: str, offset: int, limit: int) -> str:
    # Streams the file so that reading 50 lines of a huge log does not load all of it.
    if looks_binary(fh.read(BINARY_SNIFF_BYTES)):
        raise ToolError(f"{file_path} appears to be a binary file and cannot be read as text")
    fh.seek(0)
    out: list[str] = []
    size = 0
    line_no = 0
    for line_no, raw in enumerate(fh, start=1):
        if line_no < offset:
            continue
        if len(out) >= limit or size >= MAX_READ_CHARS:
            out.append(
                f"\n[Showed lines {offset}-{line_no - 1}; the file continues: read with offset={line_no}]"
            )
            return "\n".join(out)
        text = raw.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r")
        entry = f"{line_no:>6}\t{truncate_line(text)}"
        out.append(entry)
        size += len(entry) + 1
    if line_no == 0:
        return EMPTY_FILE_NOTE
    if not out:
        return (
            f"<system-reminder>Warning: the file exists but is shorter than the provided offset ({offset}). "
            f"The file has {line_no} lines.</system-reminder>"
        )
    return "\n".join(out)


_WRITE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "file_path": {"type": "string", "description": "The path of the file to write"},
        "content": {"type": "string", "description": "The content to write to the file"},
    },
    "required": ["file_path", "content"],
    "additionalProperties": False,
}


class Write:
    """Create or overwrite a file with the given content."""

    name: str = "Write"
    description: str = (
        "Writes a file to the local filesystem (inside the agent's root).\n\n"
        "Usage:\n"
        "- Overwrites the file if it exists; creates it, and any missing parent directories, if not.\n"
        "- file_path may be absolute (inside the root) or relative to the root.\n"
        "- Prefer Edit for changing part of an existing file; Read a file before overwriting it.\n"
        "- Do not create documentation files unless asked to."
    )
    input_schema: dict[str, Any] = _WRITE_SCHEMA

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        """Write `content` verbatim (UTF-8, no newline translation); say whether it was new."""
        args = validate_input(self.input_schema, input)
        file_path: str = args["file_path"]
        content: str = args["content"]
        path = ctx.resolve(file_path)
        if path.is_dir():
            raise ToolError(f"{file_path} is a directory, not a file")
        existed = path.exists()
        try:
            await asyncio.to_thread(_write_text, ctx.root, path, file_path, content)
        except OSError as err:
            raise _os_error("write", file_path, err) from err
        if existed:
            return f"The file {ctx.display(path)} has been overwritten ({_count_lines(content)} lines)."
        return f"File created successfully at: {ctx.display(path)} ({_count_lines(content)} lines)."


def _write_text(root: Path, path: Path, file_path: str, content: str) -> None:
    """Create or overwrite `path` (and the folders on its way); `ToolError` (and nothing
    changed) for a file with more than one hard link or that is not a regular file."""
    fd = open_beneath(root, path, os.O_WRONLY | os.O_CREAT, make_folders=True)  # no O_TRUNC: check first
    # newline="" keeps the model's line endings exactly as sent.
    with open(fd, "w", encoding="utf-8", newline="") as fh:
        _refuse_hard_links(os.fstat(fd), file_path)
        fh.truncate(0)
        fh.write(content)


def _count_lines(content: str) -> int:
    return content.count("\n") + (1 if content and not content.endswith("\n") else 0)


_EDIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "file_path": {"type": "string", "description": "The path of the file to modify"},
        "old_string": {"type": "string", "description": "The text to replace"},
        "new_string": {
            "type": "string",
            "description": "The text to replace it with (must be different from old_string)",
        },
        "replace_all": {
            "type": "boolean",
            "default": False,
            "description": "Replace all occurrences of old_string (default false)",
        },
    },
    "required": ["file_path", "old_string", "new_string"],
    "additionalProperties": False,
}


class Edit:
    """Replace an exact string in a file: once (it must be unique) or everywhere."""

    name: str = "Edit"
    description: str = (
        "Performs exact string replacements in a file (inside the agent's root).\n\n"
        "Usage:\n"
        "- Read the file first. Keep its exact indentation; never include the line-number prefix of "
        "Read's output in old_string or new_string.\n"
        "- The edit fails if old_string is not found, or if it occurs more than once and replace_all "
        "is false: then add surrounding context to make it unique, or set replace_all to true to "
        "change every occurrence (e.g. to rename a variable).\n"
        "- old_string and new_string must differ.\n"
        "- An empty old_string creates a new file (or fills an empty one) with new_string."
    )
    input_schema: dict[str, Any] = _EDIT_SCHEMA

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        """Apply the replacement and report how many occurrences changed; nothing changes on error."""
        args = validate_input(self.input_schema, input)
        file_path: str = args["file_path"]
        old: str = args["old_string"]
        new: str = args["new_string"]
        replace_all: bool = args.get("replace_all", False)
        if old == new:
            raise ToolError("No changes to make: old_string and new_string are exactly the same.")
        path = ctx.resolve(file_path)
        if old == "":
            return await self._create(path, file_path, new, ctx)
        path = _existing_file(ctx, file_path)
        try:
            count = await asyncio.to_thread(
                _replace_in_file, ctx.root, path, file_path, old, new, replace_all
            )
        except OSError as err:
            raise _os_error("edit", file_path, err) from err
        plural = "" if count == 1 else "s"
        return f"The file {ctx.display(path)} has been updated ({count} replacement{plural})."

    @staticmethod
    async def _create(path: Path, file_path: str, content: str, ctx: ToolContext) -> str:
        # Claude Code's convention: an empty old_string means "create this file", which is only
        # safe when there is nothing to lose.
        if path.is_dir():
            raise ToolError(f"{file_path} is a directory, not a file")
        if path.exists() and path.stat().st_size > 0:
            raise ToolError(
                "Cannot create new file - file already exists. Use a non-empty old_string to edit it."
            )
        try:
            await asyncio.to_thread(_write_text, ctx.root, path, file_path, content)
        except OSError as err:
            raise _os_error("write", file_path, err) from err
        return f"File created successfully at: {ctx.display(path)}."


def _replace_in_file(root: Path, path: Path, file_path: str, old: str, new: str, replace_all: bool) -> int:
    """Replace and write back, through the descriptor the checks were made on; return the
    number of replacements.  Raises before writing on error."""
    with open(open_beneath(root, path, os.O_RDWR), "r+b") as fh:
        _refuse_hard_links(os.fstat(fh.fileno()), file_path)
        updated, count = _replaced(fh.read(), file_path, old, new, replace_all)
        fh.seek(0)
        fh.truncate()
        fh.write(updated.encode("utf-8"))
    return count


def _replaced(raw: bytes, file_path: str, old: str, new: str, replace_all: bool) -> tuple[str, int]:
    """The text with the replacement made, and how many were made; `ToolError` if none can be."""
    if looks_binary(raw):
        raise ToolError(f"{file_path} appears to be a binary file and cannot be edited as text")
    try:
        # Decoded without newline translation so CRLF files keep their line endings.
        content = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ToolError(f"{file_path} is not valid UTF-8 text and cannot be edited") from err
    count = content.count(old)
    if count == 0:
        raise ToolError(f"String to replace not found in file.\nString: {old}")
    if count > 1 and not replace_all:
        raise ToolError(
            f"Found {count} matches of the string to replace, but replace_all is false. To replace all "
            "occurrences, set replace_all to true. To replace only one occurrence, add more context to "
            f"old_string so that it matches exactly once.\nString: {old}"
        )
    updated = content.replace(old, new) if replace_all else content.replace(old, new, 1)
    return updated, count if replace_all else 1
