"""Permission rules in Claude Code's syntax: `Tool` or `Tool(specifier)`, parsed and matched.

`Rule` is what `Permissions` holds in its allow, ask and deny lists, and what `allow_always`
adds.  Parsing (escapes, parentheses, tool names) lives here; matching dispatches to the tool
kind's module: `bash` for Bash specifiers, `paths` for file tools.  The rule syntax is specified
for users in docs/permissions.md.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbook.specs import AGENTBOOK_TOOLS, EDIT_TOOLS, OTHER_CLAUDE_CODE_TOOLS, TOOL_RENAMES
from agentbook.tools.permissions import bash, paths
from agentbook.tools.permissions.call import PATH_TOOLS, READ_ONLY_TOOLS, Call

__all__ = ["KNOWN_TOOLS", "Rule", "parse_rules"]

KNOWN_TOOLS = frozenset(AGENTBOOK_TOOLS) | frozenset(OTHER_CLAUDE_CODE_TOOLS)
# Claude Code: "Edit rules apply to all built-in tools that edit files" and Read rules, best
# effort, to the tools that read files.  Every other rule governs only the tool it names.
_GOVERNED = {"Read": READ_ONLY_TOOLS, "Edit": EDIT_TOOLS}


@dataclass(frozen=True)
class Rule:
    """One permission rule: `tool` alone (`specifier=None`) matches every call of that tool.

    Construction normalises as Claude Code does -- `Task` becomes `Agent`, and an empty or `*`
    specifier means the bare tool -- and refuses unknown tool names with `ValueError`.
    """

    tool: str
    specifier: str | None = None

    def __post_init__(self) -> None:
        tool = TOOL_RENAMES.get(self.tool, self.tool)
        spec = self.specifier.strip() if self.specifier is not None else None
        object.__setattr__(self, "tool", tool)
        object.__setattr__(self, "specifier", None if spec in ("", "*") else spec)
        problem = _tool_problem(tool)
        if problem:
            raise ValueError(f"invalid permission rule {_format_rule(tool, spec)!r}: {problem}")

    @classmethod
    def parse(cls, text: str) -> Rule:
        """Parse Claude Code's `Tool` / `Tool(specifier)` syntax.

        Inside the parentheses `\\(`, `\\)` and `\\\\` stand for a literal parenthesis and
        backslash; unescaped parentheses must balance.  Raises `ValueError` naming the rule for an
        empty rule, unbalanced or misplaced parentheses, text after the `)`, or a bad tool name.
        """
        stripped = text.strip()
        syntax = _syntax_problem(stripped)
        if syntax is not None:
            raise ValueError(f"invalid permission rule {text!r}: {syntax}")
        tool, spec = _split_rule(stripped)
        problem = _tool_problem(tool)
        if problem is not None:
            raise ValueError(f"invalid permission rule {text!r}: {problem}")
        return cls(tool, spec)

    def matches(self, tool: str, input: Mapping[str, Any], root: Path, *, for_allow: bool = False) -> bool:
        """Whether this rule concerns the call `tool(input)` made by an agent confined to `root`.

        By default this is the deny/ask sense: for Bash, the rule matches the whole command or any
        one subcommand (a deny rule that matches denies).  With `for_allow=True` it is the stricter
        allow sense: the rule alone covers every subcommand (docs/permissions.md) and paths are
        judged by their resolved target only.
        """
        return self.matches_call(Call(tool, input, root), for_allow=for_allow)

    def matches_call(self, call: Call, *, for_allow: bool) -> bool:
        """`matches` for a call already analysed."""
        if call.tool not in _GOVERNED.get(self.tool, {self.tool}):
            return False
        if self.specifier is None:
            return True
        if self.tool == "Bash":
            return bash.rule_matches(self.specifier, call.command, call.segments, for_allow=for_allow)
        if self.tool in PATH_TOOLS:
            return paths.rule_matches(self.specifier, call.target, call.root, for_allow=for_allow)
        if self.tool == "Agent":
            return bash.wildcard_regex(self.specifier).fullmatch(call.subagent_type) is not None
        return False  # WebFetch(domain:...) and friends: not our tools' inputs

    def __str__(self) -> str:
        return _format_rule(self.tool, self.specifier)


def _format_rule(tool: str, spec: str | None) -> str:
    return tool if spec is None else f"{tool}({_escape_specifier(spec)})"


def _tool_problem(tool: str) -> str | None:
    """Why `tool` cannot head a rule, or None."""
    if not tool:
        return "the tool name is empty"
    if any(c.isspace() for c in tool):
        return f"tool name {tool!r} contains whitespace"
    name = TOOL_RENAMES.get(tool, tool)
    if name in KNOWN_TOOLS or name.startswith("mcp__"):
        return None
    close = difflib.get_close_matches(tool, sorted(KNOWN_TOOLS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"unknown tool {tool!r}{hint}; known tools: {', '.join(AGENTBOOK_TOOLS)}, "
        "Claude Code's others (WebFetch, WebSearch, NotebookEdit, ...) and mcp__ tools"
    )


def _unescaped_parens(text: str) -> list[tuple[int, str]]:
    """Positions of the parentheses in `text` not escaped by a backslash."""
    found: list[tuple[int, str]] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1 : i + 2] in ("\\", "(", ")"):
            i += 2
            continue
        if text[i] in "()":
            found.append((i, text[i]))
        i += 1
    return found


def _syntax_problem(text: str) -> str | None:
    """What is wrong with the parentheses of the rule `text`, or None."""
    if not text:
        return "the rule is empty"
    parens = _unescaped_parens(text)
    if not parens:
        return None
    if parens[0][1] == ")":
        return "')' without a matching '('"
    last_at, last = parens[-1]
    if last != ")":
        return "missing the closing ')'"
    if last_at != len(text) - 1:
        return f"unexpected text {text[last_at + 1 :]!r} after the closing ')'"
    if not _balanced(p for _, p in parens[1:-1]):
        return "unbalanced parentheses in the specifier (write a literal one as \\( or \\))"
    return None


def _balanced(parens: Iterable[str]) -> bool:
    depth = 0
    for p in parens:
        depth += 1 if p == "(" else -1
        if depth < 0:
            return False
    return depth == 0


def _split_rule(text: str) -> tuple[str, str | None]:
    """(tool, unescaped specifier) of a syntactically valid rule."""
    parens = _unescaped_parens(text)
    if not parens:
        return text, None
    open_at = parens[0][0]
    return text[:open_at], re.sub(r"\\([\\()])", r"\1", text[open_at + 1 : -1])


def _escape_specifier(spec: str) -> str:
    """`spec` as written inside the parentheses, escaped only when needed to parse back the same."""
    plain = (
        _balanced(p for _, p in _unescaped_parens(spec))
        and re.search(r"\\[\\()]", spec) is None
        and not spec.endswith("\\")
    )
    return spec if plain else re.sub(r"([\\()])", r"\\\1", spec)


def parse_rules(rules: Iterable[str | Rule], kind: str) -> list[Rule]:
    """`rules` parsed, for the list called `kind`; errors name the list and the rule."""
    if isinstance(rules, str):
        raise TypeError(f"{kind} must be a list of rules, not the single string {rules!r}")
    parsed: list[Rule] = []
    for item in rules:
        if isinstance(item, Rule):
            parsed.append(item)
        elif isinstance(item, str):
            try:
                parsed.append(Rule.parse(item))
            except ValueError as err:
                raise ValueError(f"in {kind} rules: {err}") from None
        else:
            raise TypeError(f"{kind} rules must be strings or Rule objects, got {type(item).__name__}")
    return parsed
