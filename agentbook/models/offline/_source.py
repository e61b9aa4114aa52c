"""What the offline model makes of the text it read: top-level definitions (with their line and
the first line of their docstring) and the console scripts a build file declares."""

from __future__ import annotations

import ast
import configparser
import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["BUILD_FILES", "Definition", "console_scripts", "definitions", "first_line", "numbered_lines"]

BUILD_FILES = ("pyproject.toml", "setup.cfg", "setup.py")

_DEFINITION = re.compile(
    r"^(?:export\s+)?(?:pub\s+)?(?:async\s+)?(def|class|function|fn|func|interface|struct|trait)\s+([A-Za-z_]\w*)"
)
_READ_LINE = re.compile(r"^\s*(\d+)\t(.*)$")
_SCRIPT = re.compile(r"^\s*([\w.-]+)\s*=\s*([\w.]+)(?::([\w.]+))?")
_SETUP_PY_SCRIPT = re.compile(r"""["']\s*([\w.-]+)\s*=\s*([\w.]+):([\w.]+)\s*["']""")


@dataclass(frozen=True)
class Definition:
    kind: str
    name: str
    doc: str
    line: int


@functools.lru_cache(maxsize=256)
def numbered_lines(content: str) -> Mapping[int, str]:
    """Line number -> text, from a Read result (`cat -n` lines; notes and markers are skipped).
    Cached (so read-only): each turn re-reads every Read result of the conversation."""
    return {int(m.group(1)): m.group(2) for line in content.splitlines() if (m := _READ_LINE.match(line))}


def definitions(path: str, source: str) -> tuple[str, list[Definition]]:
    """The module's first docstring line and its top-level definitions (with theirs).  Python is
    parsed; other code, or Python that does not parse (a file read only in part), is scanned for
    definition lines at the start of a line."""
    if path.endswith((".py", ".pyi")) and (parsed := _python_definitions(source)) is not None:
        return parsed[0], list(parsed[1])
    found = []
    lines = source.splitlines()
    for number, line in enumerate(lines):
        if match := _DEFINITION.match(line):
            found.append(Definition(match.group(1), match.group(2), _doc_after(lines, number), number + 1))
    return "", found


@functools.lru_cache(maxsize=128)
def _python_definitions(source: str) -> tuple[str, tuple[Definition, ...]] | None:
    """`definitions` of Python source, `None` if it does not parse.  Cached: parsing is most of
    the offline model's work, it holds the interpreter for milliseconds a file (other threads, a
    notebook kernel's included, wait), and parallel agents summarising one package parse the same
    files."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    defs = tuple(
        Definition(
            "class" if isinstance(node, ast.ClassDef) else "def",
            node.name,
            first_line(ast.get_docstring(node)),
            node.lineno,
        )
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    )
    return first_line(ast.get_docstring(tree)), defs


def _doc_after(lines: list[str], number: int) -> str:
    """A docstring or comment right after (or before) a definition line, for non-Python code."""
    for candidate in (*lines[number + 1 : number + 3], *(lines[number - 1 : number] if number else [])):
        text = candidate.strip()
        if text.startswith(('"""', "'''", "///", "//", "#", "/**", "*")):
            return first_line(text.strip("\"'/*# "))
    return ""


def first_line(doc: str | None) -> str:
    for line in (doc or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def console_scripts(path: str, text: str) -> list[tuple[str, str]]:
    """`(command, "module:function")` for each console script the build file `path` declares."""
    name = path.rsplit("/", 1)[-1]
    if name == "pyproject.toml":
        return _pyproject_scripts(text)
    if name == "setup.cfg":
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
            lines = parser.get("options.entry_points", "console_scripts", fallback="")
        except configparser.Error:
            return []
        return [(m.group(1), _target(m)) for line in lines.splitlines() if (m := _SCRIPT.match(line))]
    if name == "setup.py" and "console_scripts" in text:
        return [(m.group(1), f"{m.group(2)}:{m.group(3)}") for m in _SETUP_PY_SCRIPT.finditer(text)]
    return []


def _pyproject_scripts(text: str) -> list[tuple[str, str]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    project = data.get("project", {})
    tables = [project.get("scripts", {}), project.get("gui-scripts", {})]
    tables.append(data.get("tool", {}).get("poetry", {}).get("scripts", {}))
    return [
        (k, v) for table in tables if isinstance(table, dict) for k, v in table.items() if isinstance(v, str)
    ]


def _target(match: re.Match[str]) -> str:
    return match.group(2) + (f":{match.group(3)}" if match.group(3) else "")
