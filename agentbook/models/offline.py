"""`OfflineModel`: a deterministic, network-free model that really explores.

It drives the same tools a real model would, through the same loop, so transcripts, events,
frames and widgets all work without an API key:

1. it lists the paths the prompt names (else the agent's root) with `Glob` and counts their
   lines with `Grep` (`output_mode: "count"`), in one turn;
2. it `Read`s the README and the largest source files;
3. it answers with a Markdown summary: files, line counts, and top-level definitions with the
   first line of their docstrings.

Its token counts are estimates (4 characters a token, `Usage.estimated`), and it costs nothing.
Everything it decides is a function of the conversation, so a resumed agent picks up where it was.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from agentbook.messages import Block, Message, Request, Response, Text, ToolResult, ToolUse, Usage
from agentbook.models.base import estimate_request_tokens, estimate_tokens

__all__ = ["DOC_SUFFIXES", "MAX_FILES_LISTED", "MAX_READS", "NOISE_PARTS", "SOURCE_SUFFIXES", "OfflineModel"]

SOURCE_SUFFIXES = {
    ".py",
    ".pyi",
    ".js",
    ".mjs",
    ".ts",
    ".tsx",
    ".jsx",
    ".go",
    ".rs",
    ".rb",
    ".java",
    ".kt",
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".hpp",
    ".cs",
    ".swift",
    ".php",
    ".sh",
    ".scala",
    ".lua",
}
DOC_SUFFIXES = {".md", ".rst", ".txt", ".toml", ".cfg", ".ini", ".json", ".yaml", ".yml", ".html", ".css"}
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
MAX_FILES_LISTED = 60

# A path-like word in a prompt: has a slash or a file suffix, and is not a URL.
_PATH_WORD = re.compile(r"(?<![\w:/])(?:\.{0,2}/)?[\w.-]+(?:/[\w.-]+)*/?")
_DEFINITION = re.compile(
    r"^(?:export\s+)?(?:pub\s+)?(?:async\s+)?(def|class|function|fn|func|interface|struct|trait)\s+([A-Za-z_]\w*)"
)
_READ_LINE = re.compile(r"^\s*(\d+)\t(.*)$")


@dataclass
class _Definition:
    kind: str
    name: str
    doc: str


class OfflineModel:
    """Explores with Glob, Grep and Read, then summarises; needs no network and no key."""

    name = "offline"

    @property
    def description(self) -> str:
        return "offline model (no API key configured): deterministic exploration, estimated tokens, $0"

    async def aclose(self) -> None:
        return None

    async def respond(self, request: Request) -> Response:
        tools = {t.name for t in request.tools}
        calls = _tool_calls(request.messages)
        results = _tool_results(request.messages)
        prompt = _first_prompt(request.messages)
        turn = sum(1 for m in request.messages if m.role == "assistant")
        blocks: list[Block]
        if not {"Glob", "Grep", "Read"} <= tools:
            blocks = [Text(_no_tools_answer(prompt, tools))]
        elif not calls:
            blocks = _survey(_targets(prompt), turn)
        elif all(c.name != "Read" for c in calls):
            blocks = _reads(calls, results, turn) or [Text(_summary(calls, results))]
        else:
            blocks = [Text(_summary(calls, results))]
        return _response(request, blocks)


def _response(request: Request, blocks: Sequence[Block]) -> Response:
    out = json.dumps(
        [b.text if isinstance(b, Text) else [b.__class__.__name__, getattr(b, "input", None)] for b in blocks]
    )
    usage = Usage(
        input_tokens=estimate_request_tokens(request), output_tokens=estimate_tokens(out), estimated=True
    )
    digest = hashlib.sha256(json.dumps([m.to_api() for m in request.messages]).encode()).hexdigest()[:24]
    stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
    return Response(f"msg_offline_{digest}", OfflineModel.name, tuple(blocks), stop, usage)


def _first_prompt(messages: Sequence[Message]) -> str:
    for message in messages:
        if message.role == "user" and message.text:
            return message.text
    return ""


def _tool_calls(messages: Sequence[Message]) -> list[ToolUse]:
    return [c for m in messages if m.role == "assistant" for c in m.tool_uses]


def _tool_results(messages: Sequence[Message]) -> dict[str, ToolResult]:
    return {b.tool_use_id: b for m in messages for b in m.content if isinstance(b, ToolResult)}


def _targets(prompt: str) -> list[str]:
    """Paths the prompt names, in order, or `["."]` when it names none."""
    found: list[str] = []
    for match in _PATH_WORD.finditer(prompt):
        word = match.group(0).rstrip(".,;:")
        named = "/" in word or PurePosixPath(word).suffix in SOURCE_SUFFIXES | DOC_SUFFIXES
        if named and not word.startswith("http") and word not in found:
            found.append(word.rstrip("/") or "/")
    return found or ["."]


def _tool_id(turn: int, index: int) -> str:
    return f"toolu_offline_{turn:03d}_{index:03d}"


def _survey(targets: list[str], turn: int) -> list[Block]:
    blocks: list[Block] = [Text(f"Surveying {', '.join(f'`{t}`' for t in targets)}.")]
    for target in targets:
        is_file = PurePosixPath(target).suffix in SOURCE_SUFFIXES | DOC_SUFFIXES
        glob: dict[str, Any] = {"pattern": target} if is_file else {"pattern": "**/*", "path": target}
        blocks.append(ToolUse(_tool_id(turn, len(blocks)), "Glob", glob))
        blocks.append(
            ToolUse(
                _tool_id(turn, len(blocks)), "Grep", {"pattern": "^", "path": target, "output_mode": "count"}
            )
        )
    return blocks


def _line_counts(calls: list[ToolUse], results: dict[str, ToolResult]) -> dict[str, int]:
    """File -> line count, from the Grep count results (ripgrep's `path:count` lines)."""
    counts: dict[str, int] = {}
    for call in calls:
        result = results.get(call.id)
        if call.name != "Grep" or result is None or result.is_error:
            continue
        for line in result.content.splitlines():
            path, sep, number = line.rpartition(":")
            if sep and number.strip().isdigit():
                counts[path] = int(number)
    return counts


def _listed_files(calls: list[ToolUse], results: dict[str, ToolResult]) -> list[str]:
    files: list[str] = []
    for call in calls:
        result = results.get(call.id)
        if call.name != "Glob" or result is None or result.is_error:
            continue
        files += [
            line.strip()
            for line in result.content.splitlines()
            if line.strip() and not line.startswith(("No files", "(")) and line.strip() not in files
        ]
    return sorted(files)


def _reads(calls: list[ToolUse], results: dict[str, ToolResult], turn: int) -> list[Block]:
    counts = {p: n for p, n in _line_counts(calls, results).items() if not _is_noise(p)}
    readmes = sorted((p for p in counts if PurePosixPath(p).stem.lower() == "readme"), key=len)[:1]
    sources = sorted(
        (p for p in counts if PurePosixPath(p).suffix in SOURCE_SUFFIXES), key=lambda p: (-counts[p], p)
    )[: MAX_READS - len(readmes)]
    chosen = readmes + sorted(sources)
    if not chosen:
        return []
    blocks: list[Block] = [Text(f"Reading {len(chosen)} file(s).")]
    for path in chosen:
        blocks.append(ToolUse(_tool_id(turn, len(blocks)), "Read", {"file_path": path}))
    return blocks


def _read_text(content: str) -> str:
    lines = [m.group(2) for line in content.splitlines() if (m := _READ_LINE.match(line))]
    return "\n".join(lines)


def _definitions(path: str, source: str) -> tuple[str, list[_Definition]]:
    """The module's first docstring line and its top-level definitions (with theirs)."""
    if path.endswith((".py", ".pyi")):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            pass
        else:
            defs = [
                _Definition(
                    "class" if isinstance(node, ast.ClassDef) else "def",
                    node.name,
                    _first_line(ast.get_docstring(node)),
                )
                for node in tree.body
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            ]
            return _first_line(ast.get_docstring(tree)), defs
    defs = []
    lines = source.splitlines()
    for number, line in enumerate(lines):
        if match := _DEFINITION.match(line):
            defs.append(_Definition(match.group(1), match.group(2), _doc_after(lines, number)))
    return "", defs


def _doc_after(lines: list[str], number: int) -> str:
    """A docstring or comment right after (or before) a definition line, for non-Python code."""
    for candidate in (*lines[number + 1 : number + 3], *(lines[number - 1 : number] if number else [])):
        text = candidate.strip()
        if text.startswith(('"""', "'''", "///", "//", "#", "/**", "*")):
            return _first_line(text.strip("\"'/*# "))
    return ""


def _first_line(doc: str | None) -> str:
    for line in (doc or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _is_noise(path: str) -> bool:
    return not NOISE_PARTS.isdisjoint(PurePosixPath(path).parts)


def _summary(calls: list[ToolUse], results: dict[str, ToolResult]) -> str:
    counts = {p: n for p, n in _line_counts(calls, results).items() if not _is_noise(p)}
    files = sorted(p for p in set(_listed_files(calls, results)) | set(counts) if not _is_noise(p))
    targets = [c.input.get("path") or c.input.get("pattern") for c in calls if c.name == "Glob"]
    title = ", ".join(f"`{t}`" for t in targets) or "the folder"
    if not files:
        return f"# Summary of {title}\n\nNo files found there.\n\n{_FOOTNOTE}"
    out = [f"# Summary of {title}", ""]
    total = sum(counts.values())
    out.append(f"{len(files)} files ({len(counts)} of them text), {total:,} lines of text.")
    suffixes: dict[str, list[int]] = {}
    for path in files:
        entry = suffixes.setdefault(PurePosixPath(path).suffix or "(none)", [0, 0])
        entry[0] += 1
        entry[1] += counts.get(path, 0)
    out += ["", "| kind | files | lines |", "|---|---:|---:|"]
    for suffix, (n, lines) in sorted(suffixes.items(), key=lambda kv: (-kv[1][1], kv[0])):
        out.append(f"| {suffix} | {n} | {lines:,} |")
    reads = [c for c in calls if c.name == "Read"]
    readme = next((c for c in reads if PurePosixPath(c.input["file_path"]).stem.lower() == "readme"), None)
    if readme is not None and (
        text := _read_text(results[readme.id].content if readme.id in results else "")
    ):
        intro = next((ln.strip("# ").strip() for ln in text.splitlines() if ln.strip()), "")
        out += ["", f"README: {intro}"]
    definitions = []
    for call in reads:
        path = call.input["file_path"]
        result = results.get(call.id)
        if call is readme or result is None or result.is_error:
            continue
        module_doc, defs = _definitions(path, _read_text(result.content))
        definitions.append(
            f"### `{path}` ({counts.get(path, 0):,} lines)" + (f": {module_doc}" if module_doc else "")
        )
        definitions += [f"- {d.kind} `{d.name}`" + (f": {d.doc}" if d.doc else "") for d in defs] or [
            "- (none)"
        ]
        definitions.append("")
    if definitions:
        out += ["", "## Top-level definitions (largest source files)", "", *definitions]
    out += ["", "## Files", "", "| file | lines |", "|---|---:|"]
    by_size = sorted(files, key=lambda p: (-counts.get(p, 0), p))
    out += [f"| `{p}` | {counts.get(p, 0):,} |" for p in by_size[:MAX_FILES_LISTED]]
    if len(files) > MAX_FILES_LISTED:
        out.append(f"| ... {len(files) - MAX_FILES_LISTED} more | |")
    out += ["", _FOOTNOTE]
    return "\n".join(out)


_FOOTNOTE = (
    "_Written by agentbook's offline model from Glob, Grep and Read results; token counts are "
    "estimates. Set ANTHROPIC_API_KEY to have Claude do this._"
)


def _no_tools_answer(prompt: str, tools: set[str]) -> str:
    have = ", ".join(sorted(tools)) or "none"
    return (
        "The offline model explores with Glob, Grep and Read, and this agent does not have all three "
        f"(it has: {have}). It cannot answer: {prompt[:200]!r}"
    )
