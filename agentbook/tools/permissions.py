"""Permission rules in Claude Code's syntax, and the decision (`allow` / `ask` / `deny`) a tool call gets.

A rule is `Tool` or `Tool(specifier)`, as in Claude Code's `permissions.allow/ask/deny` settings:

    perms = Permissions(allow=["Bash(pytest *)", "Edit(docs/**)"], deny=["Bash(rm *)", "Read(./.env)"])
    perms.decide("Bash", {"command": "pytest -q && rm -rf /"}, root)   # -> deny, by Bash(rm *)

Evaluation (Claude Code's order): deny rules, then ask rules, then allow rules; the first list with a
matching rule decides, and rule specificity does not change the order.  When no rule matches, the
permission mode decides:

    tool            default  acceptEdits          plan   dontAsk  bypassPermissions
    Read Glob Grep  allow    allow                allow  allow    allow
    Agent           allow    allow                allow  allow    allow
    Edit Write      ask      allow (inside root)  deny   deny     allow
    Bash            ask      ask                  deny   deny     allow
    unknown tools   ask      ask                  deny   deny     allow

* acceptEdits also runs a Bash command that no rule decides when it is one `mkdir`, `touch`, `rm`,
  `rmdir`, `mv` or `cp` in plain words naming relative paths below the root with no `..` and no
  symbolic link along them (`ACCEPT_EDITS_COMMANDS`, `_accept_edits_command` for every
  condition); anything else asks.  Narrower than Claude Code on purpose: the paths are judged
  before the command runs.
* `dontAsk` turns every `ask` (from an ask rule or from the table) into `deny`.
* `bypassPermissions` still honours deny rules and still asks for ask rules: Claude Code documents
  that it "doesn't auto-approve ... in any mode, including bypassPermissions ... tools matched by an
  explicit ask rule", and that writes to protected directories (`.git`, `.claude` except its
  `commands`/`agents`/`skills`, `.vscode`, `.idea`) still prompt.  Both apply here; acceptEdits
  does not auto-approve protected directories either.  An explicit allow rule does.
* `plan` denies Edit and Write even when an allow or ask rule matches ("plan mode cannot modify
  files"); deny rules are still checked first so their reason wins.  Bash in plan mode follows the
  rules -- an allow rule lets a command run (meant for read-only commands while planning), an ask
  rule asks -- and is denied otherwise.
* Unknown tool names (anything but our seven tools, `Task` being read as `Agent`) are judged like
  Bash -- an action whose effects we cannot know -- and only bare rules naming them match.

Bash.  A command is split into subcommands at `&&`, `||`, `;`, `|`, `|&`, `&`, newlines and
subshell parentheses, outside quotes and comments; the bodies of command substitutions (`$(...)`,
backticks, `<(...)`, `>(...)`) are subcommands too.  Any subcommand (or the whole command) matching
a deny rule denies; then any matching an ask rule asks; the call is allowed only if every
subcommand is allowed by an allow rule (rules may differ per subcommand), or by the mode.  A
subcommand containing a substitution is never allowed by a wildcard or `:*` rule, only by an exact
rule or a bare `Bash`.  An exact (wildcard-free) allow rule may also match the whole compound
command, which is what `allow_always` relies on for commands it cannot express as a prefix.
Matching ignores leading shell keywords (`if`, `then`, `do`, `!`, `{` ...) and the process
wrappers `timeout`, `time`, `nice`, `nohup`, `stdbuf`, `command`, `exec`, `builtin` and `env`
(with flags that take no value); deny and ask rules (not allow rules) also look past leading
`VAR=value` assignments, as Claude Code documents, past leading redirections, past a command's
directory (`/bin/rm`), and at every word after a program that runs another (`env -u X rm`,
`sudo -u me rm`).  The splitter is not bash, so deny and ask rules are also matched against a
blind reading of the command (cut at every separator character, quotes and escapes dropped),
which errs towards matching, and a command using syntax the splitter does not model (escapes,
backquotes, `${...}`, `$'...'`, `$[...]`, `((`, here-documents) is allowed by rules only if that
reading's pieces are allowed too.  A command over 10,000 characters is not read against rules: it
asks (with no Bash rules, the mode decides).  Specifiers:

    Bash(npm run build)  exact command (runs of whitespace compare equal)
    Bash(npm test:*)     legacy prefix: `npm test`, `npm test --watch`, not `npm testing`
    Bash(pytest *)       `*` matches any text, anywhere (`Bash(git * main)`); a trailing ` *`
                         that is the only wildcard also matches nothing, so `Bash(ls *)` matches
                         `ls` and `ls -la` but not `lsof`; `Bash(ls*)` matches all three
    Bash(echo \\*)       `\\*` is a literal star
    Bash / Bash(*)       every command

Paths (Read, Edit, Write, Glob, Grep specifiers) follow gitignore: `*` and `?` stay within a
directory, `**` spans directories, `[abc]` classes; a pattern matches a path or any directory above
it (so `Read(secrets)` covers `secrets/key`, and `docs/**` covers `docs` itself).  Bases:

    //abs/path  absolute          ~/path  home directory
    /path       the agent's root (Claude Code: the settings file's project root)
    ./path      the agent's root, anchored there
    path        the agent's root; without an inner `/` it matches at any depth (`Read(*.md)`)

`Read` rules also govern Glob and Grep, judged by the directory they search (Grep's `path`;
Glob's `path` joined with the pattern's literal leading directories); `Edit` rules also govern
Write.  `Write`, `Glob` and `Grep` specifiers work too, each for its own tool.  Agent specifiers
name a sub-agent type: `Agent(Explore)`.  Other Claude Code tools (`WebFetch(domain:x)`, ...) and
`mcp__...` names parse but never match our tools.

Deviations from Claude Code, on purpose or for want of a real shell parser: `./path` is anchored
(Claude Code hands `./x` to gitignore matching); targets are resolved with `os.path.realpath`
(deny and ask rules match the path as written or resolved, allow rules only the resolved path,
so a symlink can neither dodge a deny rule nor borrow an allow rule); redirections stay part of
the command text (`Bash(echo *)` allows `echo x > f`), here-document bodies are read as commands
of their own (conservative) and a command with one is never allowed by a wildcard rule, and
`for`/`case` headers only ever match explicit rules; a command run through a variable (`$X`),
`eval` or another shell (`bash -c '...'`) is not seen as that command by deny rules (quoted or
escaped names such as `c''url` are, through the blind reading); Claude Code's built-in
read-only command list is not auto-approved, nor is `sed` under acceptEdits; a Read or Edit rule
does not govern Bash (`cat .env`), in Claude Code either.
A Glob or Grep over a parent directory is not stopped by a deny rule on a subtree inside it.

`Permissions` is pure and synchronous: no I/O beyond `os.path.realpath`, `lstat` and `scandir`
(acceptEdits' Bash check) and `expanduser`.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import shlex
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

from agentbook.specs import (
    AGENTBOOK_TOOLS,
    OTHER_CLAUDE_CODE_TOOLS,
    PERMISSION_MODES,
    TOOL_RENAMES,
    PermissionMode,
)

__all__ = ["Decision", "Permissions", "Rule", "Verdict"]

Decision: TypeAlias = Literal["allow", "ask", "deny"]

READ_ONLY_TOOLS = frozenset({"Read", "Glob", "Grep"})
EDIT_TOOLS = frozenset({"Edit", "Write"})
PATH_TOOLS = READ_ONLY_TOOLS | EDIT_TOOLS
KNOWN_TOOLS = frozenset(AGENTBOOK_TOOLS) | frozenset(OTHER_CLAUDE_CODE_TOOLS)
# Claude Code: "Edit rules apply to all built-in tools that edit files" and Read rules, best
# effort, to the tools that read files.  Every other rule governs only the tool it names.
_GOVERNED = {"Read": READ_ONLY_TOOLS, "Edit": EDIT_TOOLS}
# Claude Code's protected directories: writes there are never auto-approved by a mode.
PROTECTED_DIRS = frozenset({".git", ".claude", ".vscode", ".idea"})
_CLAUDE_EXEMPT = frozenset({"commands", "agents", "skills"})
# The filesystem commands acceptEdits runs without asking when every path they name is inside the
# root (Claude Code lists mkdir, touch, rm, rmdir, mv, cp and sed; sed is left out: its scripts
# can run commands and write anywhere), with the options each may take: only flags without a
# value, so that every other word is a path we check (`cp -text x` is `-t ext`: refused).
_MOVE_OPTIONS = frozenset({"--force", "--no-clobber", "--no-target-directory", "--update", "--verbose"})
ACCEPT_EDITS_COMMANDS: dict[str, tuple[str, frozenset[str]]] = {
    "mkdir": ("pv", frozenset({"--parents", "--verbose"})),
    "touch": ("acm", frozenset({"--no-create"})),
    "rm": ("dfirRv", frozenset({"--dir", "--force", "--recursive", "--verbose"})),
    "rmdir": ("pv", frozenset({"--parents", "--verbose", "--ignore-fail-on-non-empty"})),
    "mv": ("finTuv", _MOVE_OPTIONS),
    "cp": ("finTuv", _MOVE_OPTIONS),
}
# Commands that write where their last path names a directory: `cp x dir` writes `dir/x`.
_INTO_DIRECTORY = frozenset({"mv", "cp"})
# Plain words: ASCII letters, digits, quotes and a few harmless marks; no redirection, expansion,
# glob, escape, comment or control character (bash and shlex would split `\r` differently).
_PLAIN = re.compile(r"[A-Za-z0-9 \t_./,:=+@%'\"-]+")
DEFAULT_SUBAGENT = "general-purpose"


# ---------------------------------------------------------------------------------------------
# Rules


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
        allow sense: the rule alone covers every subcommand (see the module docstring) and paths are
        judged by their resolved target only.
        """
        return self._match(_Call(tool, input, root), for_allow=for_allow)

    def _match(self, call: _Call, *, for_allow: bool) -> bool:
        if call.tool not in _GOVERNED.get(self.tool, {self.tool}):
            return False
        if self.specifier is None:
            return True
        if self.tool == "Bash":
            return _bash_rule_matches(self.specifier, call, for_allow=for_allow)
        if self.tool in PATH_TOOLS:
            return _path_rule_matches(self.specifier, call, for_allow=for_allow)
        if self.tool == "Agent":
            return _wildcard_regex(self.specifier).fullmatch(call.subagent_type) is not None
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


# ---------------------------------------------------------------------------------------------
# The call being judged


@dataclass(frozen=True)
class _Segment:
    """One subcommand of a Bash command, with the texts rules are matched against."""

    text: str
    substituted: bool  # contains $(...), `...`, <(...) or >(...)
    strict_forms: tuple[str, ...]  # for allow rules: keywords and wrappers peeled
    lenient_forms: tuple[str, ...]  # for deny/ask rules: also past VAR=value assignments


@dataclass(frozen=True)
class _Target:
    """The path a file tool acts on: as written (normalised) and resolved."""

    written: str
    real: str

    def forms(self, *, for_allow: bool) -> tuple[str, ...]:
        return (self.real,) if for_allow else (self.written, self.real)


def _real_root(root: str) -> str:
    # An agent's root is fixed while it runs and every call it makes is checked against it: one
    # realpath per root, not one per call (targets inside it are still resolved every time).  A
    # relative root depends on the working directory, so it is resolved every time.
    return _real_absolute_root(root) if os.path.isabs(root) else os.path.realpath(root)


@functools.lru_cache(maxsize=256)
def _real_absolute_root(root: str) -> str:
    return os.path.realpath(root)


class _Call:
    """A tool call, analysed once however many rules look at it."""

    def __init__(self, tool: str, input: Mapping[str, Any], root: Path) -> None:
        self.tool = TOOL_RENAMES.get(tool, tool)
        self.input = input
        self.root = _real_root(os.fspath(root))

    @functools.cached_property
    def command(self) -> str:
        value = self.input.get("command")
        return value.strip() if isinstance(value, str) else ""

    @functools.cached_property
    def segments(self) -> tuple[_Segment, ...]:
        segments = (_segment(text, sub) for text, sub in _split_command(self.command))
        # A bare `fi`, `done` or `}` runs nothing, so it needs no rule.
        return tuple(s for s in segments if s.strict_forms)

    @functools.cached_property
    def blind_segments(self) -> tuple[_Segment, ...]:
        """The command cut at every separator, quotes and escapes ignored, their characters
        dropped: a second reading for when the scanner's differs from bash's (see `_BLIND_SPLIT`)."""
        # Read raw as well as with `$'...'` decoded: blind to quoting, a `$'` may not open one.
        readings = dict.fromkeys((self.command, _ANSI_C.sub(_ansi_c_text, self.command)))
        pieces = (
            _QUOTING.sub("", piece).replace(",", " ").strip()
            for text in readings
            for piece in _BLIND_SPLIT.split(text)
        )
        segments = (_segment(p, False) for p in dict.fromkeys(pieces) if p)
        return tuple(s for s in segments if s.strict_forms)

    @functools.cached_property
    def target(self) -> _Target | None:
        text = _target_text(self.tool, self.input)
        if not text or "\x00" in text:
            return None
        path = os.path.join(self.root, os.path.expanduser(text))
        return _Target(os.path.normpath(path), os.path.realpath(path))

    @property
    def subagent_type(self) -> str:
        value = self.input.get("subagent_type")
        return value if isinstance(value, str) and value else DEFAULT_SUBAGENT


def _target_text(tool: str, input: Mapping[str, Any]) -> str | None:
    """The path `tool` acts on, relative to the root or absolute; None when there is none."""
    path = input.get("path")
    search_dir = path if isinstance(path, str) and path else "."
    if tool == "Grep":
        return search_dir
    if tool == "Glob":
        pattern = input.get("pattern")
        if not isinstance(pattern, str):
            return search_dir
        return os.path.join(search_dir, _literal_head(pattern))
    value = input.get("file_path") if tool in PATH_TOOLS else None
    return value if isinstance(value, str) else None


def _literal_head(pattern: str) -> str:
    """The leading directories of a glob pattern before its first wildcard (all of it if none)."""
    segments = pattern.split("/")
    for i, seg in enumerate(segments):
        if re.search(r"[*?\[{]", seg):
            return "/".join(segments[:i]) or ("/" if pattern.startswith("/") else "")
    return pattern


# ---------------------------------------------------------------------------------------------
# Bash: splitting a command into subcommands

_SEPARATORS = ";\n()"


def _split_command(command: str, depth: int = 0) -> list[tuple[str, bool]]:
    """The subcommands of `command` as (text, has_substitution), substitution bodies last.

    A small quote-aware scanner, not a shell parser: it errs towards more, smaller subcommands,
    which can only make an allow rule harder to satisfy and a deny rule easier to hit.
    """
    if depth > _MAX_NESTING:
        return [(command, True)]  # too deep to read: never allowed by a wildcard rule
    scanner = _Scanner(command)
    scanner.run()
    result = scanner.segments
    for body in scanner.bodies:
        result.extend(_split_command(body, depth + 1))
    return result


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.current: list[str] = []
        self.substituted = False
        self.segments: list[tuple[str, bool]] = []
        self.bodies: list[str] = []
        self.heredocs: list[tuple[str, bool]] = []  # (delimiter, strip leading tabs) still to read

    def run(self) -> None:
        while self.i < len(self.text):
            self._step()
        self._end_segment()

    def _step(self) -> None:
        text, i = self.text, self.i
        c = text[i]
        if c == "\\":
            # A backslash-newline is a line continuation; any other escaped character is literal.
            self._take(0 if text[i + 1 : i + 2] == "\n" else 2, skip=2)
        elif c == "'":
            self._take(_quote_end(text, i, "'") + 1 - i)
        elif text.startswith("$'", i):  # ANSI-C quoting: `\'` does not end it
            self._take(_quote_end(text, i + 1, "'", escapes=True) + 1 - i)
        elif c == '"':
            self._double_quoted()
        elif text.startswith("<<", i) and not text.startswith("<<<", i):
            self._heredoc_start()
        elif c == "\n" and self.heredocs:
            self._end_segment()
            self._heredoc_bodies()
        elif self._at_substitution():
            self._substitution()
        elif c == "#" and self._at_word_start():
            end = text.find("\n", i)
            self.i = len(text) if end < 0 else end
        elif c in _SEPARATORS or self._at_operator():
            self._end_segment()
            self.i += 2 if text[i : i + 2] in ("&&", "||", "|&") else 1
        else:
            self._take(1)

    def _heredoc_start(self) -> None:
        """`<<WORD` or `<<-WORD`: the body comes after this line, up to a line that is WORD.  The
        body is text, not commands, but an unquoted WORD lets `$(...)` in it run: it is scanned as
        commands on its own (conservative), so its quotes cannot swallow what follows it."""
        text = self.text
        start = self.i
        i = start + 2
        strip = text.startswith("-", i)
        i += strip
        while i < len(text) and text[i] in " \t":
            i += 1
        word_start = i
        while i < len(text) and text[i] not in " \t\n;&|()<>":
            i = _quote_end(text, i, text[i]) + 1 if text[i] in "'\"" else i + 1
        delimiter = re.sub(r"[\\'\"]", "", text[word_start:i])
        self.heredocs.append((delimiter, strip))
        self.substituted = True  # never allowed by a wildcard rule, as with a substitution
        self._take(i - start)

    def _heredoc_bodies(self) -> None:
        """At the newline ending a line with here-documents: read their bodies."""
        text = self.text
        i = self.i + 1
        for delimiter, strip in self.heredocs:
            lines: list[str] = []
            while i < len(text):
                end = text.find("\n", i)
                end = len(text) if end < 0 else end
                line = text[i:end]
                i = end + 1
                if (line.lstrip("\t") if strip else line) == delimiter:
                    break
                lines.append(line)
            self.bodies.append("\n".join(lines))
        self.heredocs = []
        self.i = i

    def _take(self, n: int, skip: int | None = None) -> None:
        self.current.append(self.text[self.i : self.i + n])
        self.i += n if skip is None else skip

    def _at_word_start(self) -> bool:
        # Judged on the text kept, not the raw text: after a line continuation (`a\<newline>#`)
        # bash joins the lines, so that `#` is part of a word and starts no comment.
        # A `)` kept in the text closes a substitution (subshell parentheses end the segment),
        # and `$(true)#x` is one word.
        last = next((piece for piece in reversed(self.current) if piece), "")
        if len(last) == 2 and last[0] == "\\":
            return False  # an escaped character (`a\ #`): still inside the word
        return not last or last[-1] in " \t\n;&|"

    def _at_operator(self) -> bool:
        text, i = self.text, self.i
        c = text[i]
        if c not in "&|":
            return False
        prev = text[i - 1] if i else ""
        # `2>&1`, `>&2`, `&>file` and `>|file` are redirections, not command separators.
        return not (prev in "<>" or (c == "&" and text[i + 1 : i + 2] == ">"))

    def _at_substitution(self) -> bool:
        pair = self.text[self.i : self.i + 2]
        return pair in ("$(", "<(", ">(", "$[") or pair[:1] == "`"

    def _substitution(self) -> None:
        start = self.i
        if self.text[start] == "`":
            end = _quote_end(self.text, start, "`")
            body = self.text[start + 1 : end]
        elif self.text.startswith("$[", start):
            # Old-style arithmetic: it expands `$(...)` even inside quotes and evaluates variables
            # as expressions (`$[_]`), so it is a substitution like `$((...))`.
            end = _bracket_end(self.text, start + 2)
            body = self.text[start + 2 : end]
        else:
            end = _paren_end(self.text, start + 2)
            body = self.text[start + 2 : end]
        self.bodies.append(body)
        self.substituted = True
        self._take(end + 1 - start)

    def _double_quoted(self) -> None:
        """Copy a "..." string; substitutions inside it still run, so they are collected."""
        self._take(1)
        while self.i < len(self.text) and self.text[self.i] != '"':
            if self.text[self.i] == "\\":
                self._take(2)
            elif self.text[self.i] == "`" or self.text[self.i : self.i + 2] in ("$(", "$["):
                self._substitution()
            else:
                self._take(1)
        self._take(1)

    def _end_segment(self) -> None:
        text = "".join(self.current).strip()
        if text:
            self.segments.append((text, self.substituted))
        self.current = []
        self.substituted = False


def _quote_end(text: str, start: int, quote: str, *, escapes: bool | None = None) -> int:
    """Index of the `quote` closing the one at `start`; a backslash escapes the next character
    when `escapes` (default: for every quote but `'`; `$'...'` passes True)."""
    escapes = quote != "'" if escapes is None else escapes
    i = start + 1
    while i < len(text) and text[i] != quote:
        i += 2 if escapes and text[i] == "\\" else 1
    return min(i, len(text))


def _bracket_end(text: str, start: int) -> int:
    """Index of the `]` closing a `[` opened just before `start` (nested brackets counted)."""
    depth = 1
    for i in range(start, len(text)):
        depth += {"[": 1, "]": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return len(text)


def _paren_end(text: str, start: int) -> int:
    """Index of the `)` closing a `(` opened just before `start`, skipping quoted text."""
    depth, i = 1, start
    while i < len(text):
        c = text[i]
        if c in "'\"`":
            i = _quote_end(text, i, c)
        elif c == "\\":
            i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(text)


# Leading words that only introduce the command that follows them.
# The scanner is not bash: for quoting it does not model (`${...}`, escapes before blanks, nested
# backquotes, ...) its reading can differ.  So deny and ask rules are also matched against a blind
# reading that cuts at every separator character wherever it is and drops quotes and escapes
# (errs towards matching: a `;` inside quotes can trigger a deny rule), and a command with such
# syntax is allowed by rules only if that reading's pieces are allowed too.
_MAX_NESTING = 32  # substitutions within substitutions
_MAX_COMMAND_CHARS = 10_000  # longer commands are not matched against rules: they ask
_BLIND_SPLIT = re.compile(r"[;&|\n(){}`]|\$\(|<\(|>\(|\$\[")
_QUOTING = re.compile(r"[\"'\\]")
_HARD_SYNTAX = re.compile(r"[\\`]|\$\{|\$'|\$\[|<<|\(\(")
_ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'")


def _ansi_c_text(match: re.Match[str]) -> str:
    """The text of a `$'...'` string (`$'\\x72m'` is `rm`), for the blind reading; each escape
    is read as bash reads it, so one Python would reject cannot leave the others unread."""
    return _ANSI_ESCAPE.sub(_ansi_escape, match.group(1))


_ANSI_ESCAPE = re.compile(
    r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|[0-7]{1,3}|c.|.)", re.DOTALL
)
_ANSI_SIMPLE = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
                "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}  # fmt: skip


def _ansi_escape(match: re.Match[str]) -> str:
    code = match.group(1)
    try:
        if code[0] in "xuU" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8) & 0xFF)
    except (ValueError, OverflowError):
        return ""
    if code[0] == "c" and len(code) == 2:
        return chr(ord(code[1]) & 0x1F)
    return _ANSI_SIMPLE.get(code, "\\" + code)  # bash keeps an unknown escape as written


_KEYWORD = re.compile(r"(?:!|\{|if|then|else|elif|do|while|until)\s+")
_CLOSERS = frozenset({"fi", "done", "esac", "}", "then", "else", "do"})
_WRAPPER = re.compile(
    r"""(?:nohup
      | time(?:\s+-p)?
      | nice(?:\s+-n\s*[+-]?\d+|\s+-[+-]?\d+|\s+--adjustment=[+-]?\d+)?
      | timeout(?:\s+(?:-[sk]\s*\S+|--\S+|-v))*\s+\d+(?:\.\d+)?[smhd]?
      | stdbuf(?:\s+(?:-[ioe]\s*\S+|--\S+))+
      | command(?:\s+-p)? | exec(?:\s+-[cl]+)* | builtin
      | env(?:\s+(?:-[i0v]+|--ignore-environment|--null|--debug))*
    )\s+""",
    re.VERBOSE,
)
_ASSIGNMENT = re.compile(
    r"""[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=(?:'[^']*'|"(?:[^"\\]|\\.)*"|\\.|[^\s'"\\])*\s+"""
)
# For deny and ask rules only (more forms can only match more): leading redirections, and the
# words after a program that runs another (`env -u X rm`, `sudo -u me rm`): every suffix counts.
_REDIRECTION = re.compile(r"(?:\d*(?:>>?|<|&>>?|>&|<&)\S*)\s+")
_EXEC_WRAPPERS = frozenset(
    {"env", "sudo", "doas", "setsid", "ionice", "taskset", "flock", "nice", "nohup", "timeout", "stdbuf",
     "time", "exec", "command", "builtin", "coproc", "xargs", "chronic", "unbuffer", "chroot", "su"}
)  # fmt: skip


def _segment(text: str, substituted: bool) -> _Segment:
    return _Segment(
        text,
        substituted,
        _peeled_forms(text, (_KEYWORD, _WRAPPER)),
        _lenient_forms(_peeled_forms(text, (_KEYWORD, _WRAPPER, _ASSIGNMENT, _REDIRECTION))),
    )


def _lenient_forms(forms: tuple[str, ...]) -> tuple[str, ...]:
    """`forms`, plus each form's words after a program that runs another, plus the command word
    without its directory (`/bin/rm` is `rm`)."""
    more: list[str] = []
    for form in forms:
        words = form.split()
        if words and words[0].rsplit("/", 1)[-1] in _EXEC_WRAPPERS:
            more.extend(" ".join(words[k:]) for k in range(1, len(words)))
            # An option with its value attached (`env -Srm x` runs `rm x`).
            attached = [k for k in range(1, len(words)) if re.fullmatch(r"-[A-Za-z]\S+", words[k])]
            more.extend(" ".join([words[k][2:], *words[k + 1 :]]) for k in attached)
            break  # the later forms are suffixes of this one: their suffixes are all here
    # A bare closer (`env fi`) peels to nothing at all.
    found = [*forms, *(peeled[-1] for f in more if (peeled := _peeled_forms(f, (_ASSIGNMENT,))))]
    for form in list(found):
        first, _, rest = form.partition(" ")
        if "/" in first:
            found.append(f"{first.rsplit('/', 1)[1]} {rest}".strip())
    return tuple(dict.fromkeys(found))


def _peeled_forms(text: str, prefixes: tuple[re.Pattern[str], ...]) -> tuple[str, ...]:
    """`text` and what is left after peeling each leading prefix in turn."""
    forms = [text]
    while True:
        match = next((m for p in prefixes if (m := p.match(forms[-1]))), None)
        if match is None:
            return tuple(f for f in forms if f not in _CLOSERS)
        forms.append(forms[-1][match.end() :])


# ---------------------------------------------------------------------------------------------
# Bash: matching specifiers


@dataclass(frozen=True)
class _BashPattern:
    regex: re.Pattern[str]
    wildcard: bool  # False for an exact command


@functools.lru_cache(maxsize=1024)
def _bash_pattern(spec: str) -> _BashPattern:
    """Compile a Bash specifier: exact, legacy `prefix:*`, or with `*` wildcards."""
    if spec.endswith(":*"):
        return _BashPattern(re.compile(_wildcard_body(spec[:-2]) + r"(?:\s.*)?", re.DOTALL), True)
    stars = len(re.findall(r"(?<!\\)\*", spec))
    if stars == 1 and re.search(r"\s\*\Z", spec):
        # Claude Code: `ls *` also matches bare `ls`, but keeps the word boundary (not `lsof`).
        body = _wildcard_body(spec[:-1].rstrip()) + r"(?:\s.*)?"
    else:
        body = _wildcard_body(spec)
    return _BashPattern(re.compile(body, re.DOTALL), stars > 0)


@functools.lru_cache(maxsize=1024)
def _wildcard_regex(spec: str) -> re.Pattern[str]:
    return re.compile(_wildcard_body(spec), re.DOTALL)


def _wildcard_body(spec: str) -> str:
    """Regex for `spec`: `*` any text, `\\*` a literal star, whitespace runs any whitespace."""
    out: list[str] = []
    for token in re.findall(r"\\\*|\*|\s+|.", spec, re.DOTALL):
        if token == "*":
            out.append(".*")
        elif token == "\\*":
            out.append(re.escape("*"))
        elif token.isspace():
            out.append(r"\s+")
        else:
            out.append(re.escape(token))
    return "".join(out)


def _bash_segment_matches(spec: str, segment: _Segment, *, for_allow: bool) -> bool:
    pattern = _bash_pattern(spec)
    if for_allow and pattern.wildcard and segment.substituted:
        return False  # `Bash(echo *)` must not approve `echo $(rm -rf ~)`
    forms = segment.strict_forms if for_allow else segment.lenient_forms
    return any(pattern.regex.fullmatch(form) for form in forms)


def _exact_whole_match(spec: str, command: str) -> bool:
    # Whitespace runs compare equal, but a newline separates commands: it must be where the rule has one.
    pattern = _bash_pattern(spec)
    return (
        not pattern.wildcard
        and spec.count("\n") == command.count("\n")
        and pattern.regex.fullmatch(command) is not None
    )


def _bash_rule_matches(spec: str, call: _Call, *, for_allow: bool) -> bool:
    segments = call.segments
    if for_allow:
        covered = bool(segments) and all(_bash_segment_matches(spec, s, for_allow=True) for s in segments)
        return covered or _exact_whole_match(spec, call.command)
    return _bash_pattern(spec).regex.fullmatch(call.command) is not None or any(
        _bash_segment_matches(spec, s, for_allow=False) for s in segments
    )


# ---------------------------------------------------------------------------------------------
# Paths: gitignore-style specifiers


@dataclass(frozen=True)
class _PathPattern:
    base: Literal["absolute", "home", "root"]
    up: int  # leading `..` segments: the base is that many directories higher
    regex: re.Pattern[str]


@functools.lru_cache(maxsize=1024)
def _path_pattern(spec: str) -> _PathPattern:
    base: Literal["absolute", "home", "root"] = "root"
    rest, anchored = spec, True
    if spec.startswith("//"):
        base, rest = "absolute", spec[2:]
    elif spec == "~" or spec.startswith("~/"):
        base, rest = "home", spec[2:]
    elif spec == "." or spec.startswith("./"):
        while rest.startswith("./"):
            rest = rest[2:]
        rest = "" if rest == "." else rest
    elif spec.startswith("/"):
        rest = spec[1:]
    else:
        # gitignore: a pattern with no `/` but a trailing one matches at any depth.
        anchored = "/" in rest.rstrip("/")
    rest = rest.rstrip("/")
    up = 0
    while rest == ".." or rest.startswith("../"):
        up, rest = up + 1, rest[3:]
    body = _gitignore_body(rest) if rest else ".*"
    prefix = "" if anchored else "(?:.*/)?"
    # A pattern matching a directory covers everything inside it, as in gitignore.
    return _PathPattern(base, up, re.compile(prefix + body + "(?:/.*)?", re.DOTALL))


def _gitignore_body(pattern: str) -> str:
    """Regex for a `/`-separated gitignore pattern (without its leading base)."""
    out, need_slash = "", False
    segments = pattern.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "**":
            if last:
                out += "(?:/.*)?" if need_slash else ".*"
            else:
                out += "/(?:.*/)?" if need_slash else "(?:.*/)?"
                need_slash = False
            continue
        out += ("/" if need_slash else "") + _glob_segment(seg)
        need_slash = True
    return out


def _glob_segment(seg: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(seg):
        c = seg[i]
        end = seg.find("]", i + 2) if c == "[" else -1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif end > 0:
            body = seg[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body[:1] == "!" else body).replace("\\", "\\\\") + "]")
            i = end
        elif c == "\\" and i + 1 < len(seg):
            i += 1
            out.append(re.escape(seg[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _path_rule_matches(spec: str, call: _Call, *, for_allow: bool) -> bool:
    target = call.target
    if target is None:
        return False
    pattern = _path_pattern(spec)
    base = {"absolute": "/", "home": os.path.realpath(os.path.expanduser("~")), "root": call.root}
    base_dir = os.path.normpath(os.path.join(base[pattern.base], *([".."] * pattern.up)))
    return any(_matches_below(pattern.regex, base_dir, f) for f in target.forms(for_allow=for_allow))


def _matches_below(regex: re.Pattern[str], base: str, path: str) -> bool:
    """Whether `path`, taken relative to `base`, matches; paths outside `base` never do."""
    if path == base:
        rel = ""
    elif path.startswith(base.rstrip("/") + "/"):
        rel = path[len(base.rstrip("/")) + 1 :]
    else:
        return False
    return regex.fullmatch(rel) is not None


def _accept_edits_command(command: str, segments: Sequence[_Segment], root: str) -> str | None:
    """The command's name when acceptEdits runs this Bash command without asking, else None.

    Deliberately narrow, because paths are judged before the command runs: one subcommand of
    `ACCEPT_EDITS_COMMANDS` in plain words (no wrapper, redirection, expansion, glob, escape or
    comment) with flags that take no value, whose every operand is a relative path without `..`
    and without a symbolic link anywhere along it (so the path is what it says, inside the root,
    before and after the command runs), not the root itself, and not protected.  `mv`/`cp` take
    one source (the path written in a directory destination is checked too), nothing written may
    be a hard link, and no tree removed or moved may hold a protected directory.
    """
    if len(segments) != 1 or segments[0].substituted or not _PLAIN.fullmatch(segments[0].text):
        return None
    if not _PLAIN.fullmatch(command.strip()):
        return None  # the segment came out plain, but the whole command must be (`((rm a #)); x`)
    try:
        words = shlex.split(segments[0].text)
    except ValueError:
        return None
    if len(words) < 2 or words[0] not in ACCEPT_EDITS_COMMANDS:
        return None
    name = words[0]
    short, long = ACCEPT_EDITS_COMMANDS[name]
    operands: list[str] = []
    flags: set[str] = set()
    options = True
    for word in words[1:]:
        if options and word == "--":
            options = False
        elif options and word.startswith("--"):
            if word not in long:
                return None
            flags.add(word)
        elif options and word.startswith("-") and word != "-":
            if not set(word[1:]) <= set(short):
                return None
            flags.update(word[1:])
        else:
            operands.append(word)
    if not operands or (name in _INTO_DIRECTORY and len(operands) != 2):
        return None
    targets = list(operands)
    if name == "rmdir" and flags & {"p", "--parents"}:  # removes each parent named as well
        targets += ["/".join(t.split("/")[:n]) for t in operands for n in range(1, t.count("/") + 1)]
    if name in _INTO_DIRECTORY and os.path.isdir(os.path.join(root, operands[1])):
        targets.append(f"{operands[1].rstrip('/')}/{os.path.basename(operands[0].rstrip('/'))}")
    for target in targets:
        if not _plain_path(target, root):
            return None
    paths = [os.path.join(root, t) for t in targets]
    if any(_shared_inode(p) for p in (paths if name == "touch" else paths[1:] if name == "cp" else ())):
        return None  # a hard link: writing it writes the file wherever its other names are
    recursive = name == "rm" and bool(flags & {"r", "R", "--recursive"})
    moved = paths if recursive else paths[:1] if name == "mv" else []
    if any(_holds_protected(p) for p in moved):
        return None  # deleting or moving a tree that holds a .git (a nested repository, say)
    return name


def _plain_path(path: str, root: str) -> bool:
    """Whether `path` is relative, without `..` or `-`, names something below `root` (not the
    root), is not protected, and no existing part of it is a symbolic link."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") or path == "-" or not parts or ".." in parts:
        return False
    if _protected(os.path.join(root, *parts), root):
        return False
    here = root
    for part in parts:
        here = os.path.join(here, part)
        try:
            if stat.S_ISLNK(os.lstat(here).st_mode):
                return False
        except FileNotFoundError:
            return True  # the rest does not exist yet: nothing further can be a link
        except OSError:
            return False
    return True


def _shared_inode(path: str) -> bool:
    """Whether `path` is a file with other hard links (which may be outside the root)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_nlink > 1


def _holds_protected(path: str, limit: int = 2000) -> bool:
    """Whether the tree at `path` (links not followed) holds a protected directory; a tree of more
    than `limit` entries counts as holding one, so that the check stays cheap."""
    pending, seen = [path], 0
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                for entry in listing:
                    seen += 1
                    if seen > limit or entry.name.casefold() in PROTECTED_DIRS:
                        return True
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
        except NotADirectoryError:
            return False
        except FileNotFoundError:
            continue
        except OSError:
            return True  # unreadable: it may hold one
    return False


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _protected(path: str, root: str) -> bool:
    """Whether `path` lies in one of Claude Code's protected directories.

    Inside the root only the part below it counts: the root itself may well live in
    `.claude/worktrees/`, where Claude Code puts its worktrees.
    """
    below = os.path.relpath(path, root) if _inside(path, root) else path
    parts = Path(below).parts
    for i, part in enumerate(parts):
        # Case-folded: `.GIT` is `.git` on the case-insensitive filesystems of macOS and Windows.
        folded = part.casefold()
        tail = tuple(parts[i + 1 : i + 2])  # the exemption's names exactly: `COMMANDS` is not one
        if folded in PROTECTED_DIRS and not (folded == ".claude" and tail in _EXEMPT_TAILS):
            return True
    return False


_EXEMPT_TAILS = tuple((name,) for name in _CLAUDE_EXEMPT)


# ---------------------------------------------------------------------------------------------
# Decisions


@dataclass(frozen=True)
class Verdict:
    """The decision for one tool call, why it was taken, and the rule that took it (if a rule did)."""

    decision: Decision
    reason: str
    rule: Rule | None = None


class Permissions:
    """Allow / ask / deny rules plus a permission mode; `decide` judges one tool call.

    Every rule is parsed up front: a malformed one raises `ValueError` naming it and its list, and
    an unknown mode raises `ValueError` listing the valid ones.  `allow_always` is the only
    mutation; `with_mode` returns an independent copy.
    """

    def __init__(
        self,
        allow: Iterable[str | Rule] = (),
        ask: Iterable[str | Rule] = (),
        deny: Iterable[str | Rule] = (),
        mode: PermissionMode = "default",
    ) -> None:
        if mode not in PERMISSION_MODES:
            raise ValueError(f"unknown permission mode {mode!r}; valid modes: {', '.join(PERMISSION_MODES)}")
        self._mode: PermissionMode = mode
        self._allow = _parse_rules(allow, "allow")
        self._ask = _parse_rules(ask, "ask")
        self._deny = _parse_rules(deny, "deny")

    @property
    def mode(self) -> PermissionMode:
        return self._mode

    @property
    def allow(self) -> tuple[Rule, ...]:
        return tuple(self._allow)

    @property
    def ask(self) -> tuple[Rule, ...]:
        return tuple(self._ask)

    @property
    def deny(self) -> tuple[Rule, ...]:
        return tuple(self._deny)

    def with_mode(self, mode: PermissionMode) -> Permissions:
        """A copy with the same rules under `mode` (`ValueError` for an unknown mode)."""
        return Permissions(self._allow, self._ask, self._deny, mode)

    def __repr__(self) -> str:
        def show(rules: list[Rule]) -> list[str]:
            return [str(r) for r in rules]

        return (
            f"Permissions(allow={show(self._allow)}, ask={show(self._ask)}, "
            f"deny={show(self._deny)}, mode={self._mode!r})"
        )

    def decide(self, tool: str, input: Mapping[str, Any], root: Path) -> Verdict:
        """The verdict for `tool(input)` by an agent confined to `root` (see the module docstring)."""
        call = _Call(tool, input, root)
        if call.tool == "Bash":
            return self._decide_bash(call)
        return self._decide_other(call)

    def _decide_other(self, call: _Call) -> Verdict:
        denied = _first_match(self._deny, call)
        if denied:
            return Verdict("deny", f"denied by rule {denied}", denied)
        if self._mode == "plan" and call.tool in EDIT_TOOLS:
            return Verdict("deny", f"plan mode cannot modify files: {call.tool} denied")
        asked = _first_match(self._ask, call)
        if asked:
            return self._asking(f"ask rule {asked} requires approval", asked)
        allowed = _first_match(self._allow, call, for_allow=True)
        if allowed:
            return Verdict("allow", f"allowed by rule {allowed}", allowed)
        return self._by_mode(call)

    def _decide_bash(self, call: _Call) -> Verdict:
        if len(call.command) > _MAX_COMMAND_CHARS:
            # Reading a huge command against rules costs more than it is worth (it could stall the
            # agent loop): without Bash rules the mode decides, with them it asks.
            if not any(r.tool == "Bash" for r in (*self._deny, *self._ask, *self._allow)):
                return self._by_mode(call, f" (a command of {len(call.command):,} characters)")
            return self._asking(f"a command of {len(call.command):,} characters needs approval")
        for rules, kind in ((self._deny, "deny"), (self._ask, "ask")):
            hit = _first_bash_hit(rules, call)
            if hit:
                rule, text = hit
                reason = f"{'denied by' if kind == 'deny' else 'ask'} rule {rule}{_for_part(text, call)}"
                if kind == "deny":
                    return Verdict("deny", reason, rule)
                return self._asking(reason + " requires approval", rule)
        whole = next((r for r in self._allow if _allows_whole(r, call)), None)
        if whole:
            return Verdict("allow", f"allowed by rule {whole}", whole)
        segments = call.segments
        if _HARD_SYNTAX.search(call.command):
            segments += call.blind_segments
        allowing = [self._segment_allowed_by(s) for s in segments]
        pending = [s for s, r in zip(segments, allowing, strict=True) if r is None]
        if segments and not pending:
            rules = list(dict.fromkeys(r for r in allowing if r is not None))
            label = "rule" if len(rules) == 1 else "rules"
            return Verdict("allow", f"allowed by {label} {', '.join(map(str, rules))}", rules[0])
        if self._mode == "acceptEdits" and pending and len(pending) == len(segments):
            name = _accept_edits_command(call.command, call.segments, call.root)
            if name:
                return Verdict("allow", f"{name} inside the root is allowed in acceptEdits mode")
        detail = f" (no allow rule matches `{pending[0].text}`)" if pending else " (empty command)"
        return self._by_mode(call, detail)

    def _segment_allowed_by(self, segment: _Segment) -> Rule | None:
        for rule in self._allow:
            if rule.tool == "Bash" and (
                rule.specifier is None or _bash_segment_matches(rule.specifier, segment, for_allow=True)
            ):
                return rule
        return None

    def _asking(self, reason: str, rule: Rule | None = None) -> Verdict:
        """An `ask` verdict -- or, in dontAsk mode, the `deny` it turns into."""
        if self._mode == "dontAsk":
            return Verdict("deny", f"{reason}, and dontAsk mode denies instead of asking", rule)
        return Verdict("ask", reason, rule)

    def _by_mode(self, call: _Call, detail: str = "") -> Verdict:
        """The verdict when no rule matched."""
        tool, mode = call.tool, self._mode
        if tool in READ_ONLY_TOOLS or tool == "Agent":
            return Verdict("allow", f"{tool} is allowed in every mode")
        if tool in EDIT_TOOLS and mode in ("acceptEdits", "bypassPermissions"):
            return self._auto_edit(call)
        if mode == "bypassPermissions":
            return Verdict("allow", f"{tool} is allowed in bypassPermissions mode")
        if mode == "plan":
            return Verdict("deny", f"plan mode cannot modify files or run commands: {tool} denied{detail}")
        if mode == "dontAsk":
            return Verdict("deny", f"dontAsk mode denies {tool}: it would need approval{detail}")
        return Verdict("ask", f"{tool} needs approval in {mode} mode{detail}")

    def _auto_edit(self, call: _Call) -> Verdict:
        """Edit/Write under acceptEdits or bypassPermissions, which approve most edits by themselves."""
        tool, mode, target = call.tool, self._mode, call.target
        if target is None:
            return Verdict("ask", f"{tool} without a file path needs approval")
        if _protected(target.real, call.root):
            return Verdict("ask", f"{tool} of protected path {target.real} needs approval in {mode} mode")
        if mode == "acceptEdits" and not _inside(target.real, call.root):
            return Verdict("ask", f"{tool} outside the root needs approval in acceptEdits mode")
        where = " inside the root" if mode == "acceptEdits" else ""
        return Verdict("allow", f"{tool} is allowed{where} in {mode} mode")

    # --- "always allow" -------------------------------------------------------------------

    def suggest_rule(self, tool: str, input: Mapping[str, Any], root: Path) -> Rule:
        """The rule "always allow" would add for this call, without adding it.

        Bash: a prefix rule of the first subcommand not yet allowed (`Bash(npm test *)`: the program
        plus its sub-command word, e.g. `git commit`, `npm run build`, `python -m pytest`), or an
        exact rule when a prefix rule could not allow it (substitutions, odd first words).  Edit
        and Write: `Edit(./path)` for that one file (absolute `//path` outside the root).  Other
        tools: the bare tool name.  `ValueError` when there is nothing to allow (an empty command,
        no file path) or the tool is unknown.
        """
        call = _Call(tool, input, root)
        if call.tool == "Bash":
            return self._suggest_bash(call)
        if call.tool in EDIT_TOOLS:
            return _suggest_edit(call)
        return Rule(call.tool)

    def allow_always(self, tool: str, input: Mapping[str, Any], root: Path) -> Rule:
        """Add (once) and return the allow rule Claude Code's "always allow" would add; see `suggest_rule`."""
        rule = self.suggest_rule(tool, input, root)
        if rule not in self._allow:
            self._allow.append(rule)
        return rule

    def _suggest_bash(self, call: _Call) -> Rule:
        if not call.segments:
            raise ValueError("cannot suggest an allow rule for an empty Bash command")
        pending = [s for s in call.segments if self._segment_allowed_by(s) is None]
        segment = (pending or list(call.segments))[0]
        form = segment.strict_forms[-1]
        prefix = _command_prefix(form)
        if prefix is not None:
            rule = Rule("Bash", prefix + " *")
            if _bash_segment_matches(prefix + " *", segment, for_allow=True):
                return rule
        return Rule("Bash", form.replace("*", "\\*"))


def _parse_rules(rules: Iterable[str | Rule], kind: str) -> list[Rule]:
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


def _first_match(rules: Iterable[Rule], call: _Call, *, for_allow: bool = False) -> Rule | None:
    return next((r for r in rules if r._match(call, for_allow=for_allow)), None)


def _first_bash_hit(rules: Iterable[Rule], call: _Call) -> tuple[Rule, str] | None:
    """The first rule matching the command or one of its subcommands, with the text it matched."""
    for rule in rules:
        if rule.tool != "Bash":
            continue
        if rule.specifier is None or _bash_pattern(rule.specifier).regex.fullmatch(call.command):
            return rule, call.command
        for segment in (*call.segments, *call.blind_segments):
            if _bash_segment_matches(rule.specifier, segment, for_allow=False):
                return rule, segment.text
    return None


def _allows_whole(rule: Rule, call: _Call) -> bool:
    return (
        rule.tool == "Bash"
        and rule.specifier is not None
        and _exact_whole_match(rule.specifier, call.command)
    )


def _for_part(text: str, call: _Call) -> str:
    return "" if text == call.command else f" (subcommand `{text}`)"


# Programs whose second word names what they do (`git commit`, `npm test`): "always allow" keeps it.
_SUBCOMMAND_PROGRAMS = frozenset(
    {"git", "npm", "pnpm", "yarn", "bun", "cargo", "go", "docker", "kubectl", "pip", "pip3", "uv",
     "poetry", "make", "gh", "brew", "apt", "apt-get", "dotnet", "mvn", "gradle", "bundle",
     "terraform", "helm", "conda", "deno", "rustup", "just", "hatch", "pdm", "tox", "nox"}
)  # fmt: skip
_RUNNERS = frozenset({"run", "exec"})  # `npm run build`, `uv run pytest`: the script is the point
_PROGRAM = re.compile(r"[A-Za-z0-9_./+-]+\Z")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]*\Z")


def _command_prefix(command: str) -> str | None:
    """The leading words naming what `command` runs, or None when its first word is unusual."""
    words = [*command.split(), ""]  # the sentinel spares length checks

    def plain(i: int) -> bool:
        return i < len(words) and _WORD.match(words[i]) is not None

    if not _PROGRAM.match(words[0]) or "=" in words[0]:
        return None
    length = 1
    if words[0] in ("python", "python3") and words[1] == "-m" and plain(2):
        length = 3
    elif words[0] in _SUBCOMMAND_PROGRAMS and plain(1):
        length = 3 if words[1] in _RUNNERS and plain(2) else 2
    return " ".join(words[:length])


def _suggest_edit(call: _Call) -> Rule:
    target = call.target
    if target is None:
        raise ValueError(f"cannot suggest an allow rule for {call.tool} without a file path")
    if target.real == call.root:
        raise ValueError(f"cannot suggest an allow rule for {call.tool} of the root itself")
    if _inside(target.real, call.root):
        return Rule("Edit", "./" + _escape_glob(os.path.relpath(target.real, call.root)))
    return Rule("Edit", "/" + _escape_glob(target.real))


def _escape_glob(path: str) -> str:
    """`path` as a gitignore pattern matching only itself."""
    return re.sub(r"([*?\[\\])", r"\\\1", path)
