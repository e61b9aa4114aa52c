"""The one shell reader: how agentbook reads a Bash command before it runs.

Two callers need to know what a command will run, and both read it here, with one table of the
words that run another command (`EXEC_WRAPPERS`):

* the Bash path guard (`agentbook.tools.shell`): `command_words` gives every shell word and
  whether it stands where a command name goes, so `sudo /usr/bin/env` is judged as a command;
* the Bash permission rules (`agentbook.tools.permissions.bash`): `split_command` cuts a command
  into subcommands (and substitution bodies), `blind_pieces` gives a second, quote-blind reading
  for deny rules, and `PEELED_WRAPPERS` / `KEYWORDS` say which leading words to look past.

Neither is bash: both err towards reading more, smaller commands (see docs/permissions.md).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

__all__ = [
    "EXEC_WRAPPERS",
    "KEYWORDS",
    "PEELED_WRAPPERS",
    "blind_pieces",
    "command_words",
    "hard_syntax",
    "is_wrapper",
    "split_command",
]

# Words that only introduce the command after them (`if`, `!`, `{` ...).
KEYWORDS = frozenset({"!", "{", "if", "then", "else", "elif", "do", "while", "until"})
# Programs that run another program named by one of their later words (`env -u X rm`, `sudo -u me
# rm`, `chroot /srv rm`): deny and ask rules look at every word after them, and the path guard
# judges the word after them (and their options) as a command name.
EXEC_WRAPPERS = frozenset(
    {"env", "sudo", "doas", "setsid", "ionice", "taskset", "flock", "nice", "nohup", "timeout", "stdbuf",
     "time", "exec", "command", "builtin", "coproc", "xargs", "chronic", "unbuffer", "chroot", "su"}
)  # fmt: skip
# The wrappers whose options are modelled exactly, so that allow rules may look past them too
# (`timeout 5 pytest` is `pytest`); every name here is in EXEC_WRAPPERS.
PEELED_WRAPPERS = re.compile(
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


def is_wrapper(word: str) -> bool:
    """Whether `word` names a program that runs another (`/usr/bin/sudo` counts as `sudo`)."""
    return word.rsplit("/", 1)[-1] in EXEC_WRAPPERS


# ---------------------------------------------------------------------------------------------
# Words, for the path guard

_OPERATOR_CHARS = "();<>|&\n"
_SETS_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def _tokens(command: str) -> list[str]:
    """Shell words and operator tokens of `command`; quotes removed.

    Newlines are kept as operators (they separate commands).  Text shlex cannot parse (an
    apostrophe in a heredoc body, say) falls back to a rough split that errs towards checking more.
    """
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=_OPERATOR_CHARS)
        lexer.whitespace = " \t\r"
        lexer.whitespace_split = True
        lexer.commenters = ""  # a '#' inside a word must not hide the words after it
        return list(lexer)
    except ValueError:
        return re.findall(r"[();<>|&\n]+|[^\s();<>|&'\"`]+", command)


def command_words(command: str) -> Iterator[tuple[str, bool]]:
    """Each word of `command` with whether it stands where a command name goes: first in a
    command, or after a keyword, a `VAR=value`, or a wrapper (`EXEC_WRAPPERS`) and its options."""
    command_position = True
    after_prefix = False
    for token in _tokens(command):
        if token and all(ch in _OPERATOR_CHARS for ch in token):
            # A redirection is followed by its target; any other operator by a new command.
            command_position = not any(ch in "<>" for ch in token)
            after_prefix = False
            continue
        yield token, command_position
        prefix = token in KEYWORDS or is_wrapper(token)
        if command_position and (_SETS_VARIABLE.match(token) or prefix):
            after_prefix = prefix or after_prefix
            continue
        if command_position and after_prefix and token.startswith("-"):
            continue  # options of a prefix command, as in `env -i /usr/bin/python`
        command_position = False
        after_prefix = False


# ---------------------------------------------------------------------------------------------
# Subcommands, for the permission rules

_MAX_NESTING = 32  # substitutions within substitutions
_SEPARATORS = ";\n()"


def split_command(command: str, depth: int = 0) -> list[tuple[str, bool]]:
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
        result.extend(split_command(body, depth + 1))
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


# The scanner is not bash: for quoting it does not model (`${...}`, escapes before blanks, nested
# backquotes, ...) its reading can differ.  So deny and ask rules are also matched against a blind
# reading that cuts at every separator character wherever it is and drops quotes and escapes
# (errs towards matching: a `;` inside quotes can trigger a deny rule), and a command with such
# syntax is allowed by rules only if that reading's pieces are allowed too.
_BLIND_SPLIT = re.compile(r"[;&|\n(){}`]|\$\(|<\(|>\(|\$\[")
_QUOTING = re.compile(r"[\"'\\]")
_HARD_SYNTAX = re.compile(r"[\\`]|\$\{|\$'|\$\[|<<|\(\(")
_ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'")


def hard_syntax(command: str) -> bool:
    """Whether `command` uses syntax the scanner does not model (escapes, backquotes, `${...}`,
    `$'...'`, `$[...]`, `((`, here-documents): then the blind reading must agree too."""
    return _HARD_SYNTAX.search(command) is not None


def blind_pieces(command: str) -> list[str]:
    """`command` cut at every separator, quotes and escapes ignored, their characters dropped:
    a second reading for when the scanner's differs from bash's."""
    # Read raw as well as with `$'...'` decoded: blind to quoting, a `$'` may not open one.
    readings = dict.fromkeys((command, _ANSI_C.sub(_ansi_c_text, command)))
    pieces = (
        _QUOTING.sub("", piece).replace(",", " ").strip()
        for text in readings
        for piece in _BLIND_SPLIT.split(text)
    )
    return [p for p in dict.fromkeys(pieces) if p]


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
