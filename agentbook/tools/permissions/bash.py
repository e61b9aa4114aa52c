"""Bash rules: the subcommands a command runs, and whether a `Bash(...)` specifier matches them.

`rules.Rule` asks here whether a Bash rule matches a call; `policy.Permissions` asks which allow
rule covers each subcommand.  The command is read by the one shell reader (`_shellwords`); this
module adds what rules need on top: the forms each subcommand is matched in (keywords, wrappers,
assignments and redirections peeled) and the specifier syntax.  Both are specified for users in
docs/permissions.md ("Bash rules").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentbook.tools._shellwords import KEYWORDS, PEELED_WRAPPERS, blind_pieces, is_wrapper, split_command

__all__ = [
    "MAX_COMMAND_CHARS",
    "Segment",
    "bash_pattern",
    "blind_segments",
    "command_segments",
    "exact_whole_match",
    "rule_matches",
    "segment_matches",
    "wildcard_regex",
]

MAX_COMMAND_CHARS = 10_000  # longer commands are not matched against rules: they ask

_KEYWORD = re.compile(r"(?:" + "|".join(map(re.escape, sorted(KEYWORDS))) + r")\s+")
_CLOSERS = frozenset({"fi", "done", "esac", "}", "then", "else", "do"})
_ASSIGNMENT = re.compile(
    r"""[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=(?:'[^']*'|"(?:[^"\\]|\\.)*"|\\.|[^\s'"\\])*\s+"""
)
# For deny and ask rules only (more forms can only match more): leading redirections.
_REDIRECTION = re.compile(r"(?:\d*(?:>>?|<|&>>?|>&|<&)\S*)\s+")


@dataclass(frozen=True)
class Segment:
    """One subcommand of a Bash command, with the texts rules are matched against."""

    text: str
    substituted: bool  # contains $(...), `...`, <(...) or >(...)
    strict_forms: tuple[str, ...]  # for allow rules: keywords and wrappers peeled
    lenient_forms: tuple[str, ...]  # for deny/ask rules: also past VAR=value assignments


def command_segments(command: str) -> tuple[Segment, ...]:
    """The subcommands of `command` as the scanner reads them."""
    segments = (_segment(text, sub) for text, sub in split_command(command))
    # A bare `fi`, `done` or `}` runs nothing, so it needs no rule.
    return tuple(s for s in segments if s.strict_forms)


def blind_segments(command: str) -> tuple[Segment, ...]:
    """The pieces of the quote-blind reading of `command` (`_shellwords.blind_pieces`)."""
    segments = (_segment(p, False) for p in blind_pieces(command))
    return tuple(s for s in segments if s.strict_forms)


def _segment(text: str, substituted: bool) -> Segment:
    return Segment(
        text,
        substituted,
        _peeled_forms(text, (_KEYWORD, PEELED_WRAPPERS)),
        _lenient_forms(_peeled_forms(text, (_KEYWORD, PEELED_WRAPPERS, _ASSIGNMENT, _REDIRECTION))),
    )


def _lenient_forms(forms: tuple[str, ...]) -> tuple[str, ...]:
    """`forms`, plus each form's words after a program that runs another, plus the command word
    without its directory (`/bin/rm` is `rm`)."""
    more: list[str] = []
    for form in forms:
        words = form.split()
        if words and is_wrapper(words[0]):
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
# Specifiers


@dataclass(frozen=True)
class _BashPattern:
    regex: re.Pattern[str]
    wildcard: bool  # False for an exact command


@functools.lru_cache(maxsize=1024)
def bash_pattern(spec: str) -> _BashPattern:
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
def wildcard_regex(spec: str) -> re.Pattern[str]:
    """`spec` with `*` wildcards (as in `Agent(Exp*)`) as a regex to fullmatch."""
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


def segment_matches(spec: str, segment: Segment, *, for_allow: bool) -> bool:
    """Whether the Bash specifier `spec` matches one subcommand, in the allow or the deny/ask sense."""
    pattern = bash_pattern(spec)
    if for_allow and pattern.wildcard and segment.substituted:
        return False  # `Bash(echo *)` must not approve `echo $(rm -rf ~)`
    forms = segment.strict_forms if for_allow else segment.lenient_forms
    return any(pattern.regex.fullmatch(form) for form in forms)


def exact_whole_match(spec: str, command: str) -> bool:
    """Whether the wildcard-free `spec` is the whole compound `command` (what `allow_always` adds)."""
    # Whitespace runs compare equal, but a newline separates commands: it must be where the rule has one.
    pattern = bash_pattern(spec)
    return (
        not pattern.wildcard
        and spec.count("\n") == command.count("\n")
        and pattern.regex.fullmatch(command) is not None
    )


def rule_matches(spec: str, command: str, segments: Sequence[Segment], *, for_allow: bool) -> bool:
    """Whether `Bash(spec)` matches `command`: in the allow sense it must cover every subcommand
    (or be the whole command, exactly); in the deny/ask sense the whole command or any one."""
    if for_allow:
        covered = bool(segments) and all(segment_matches(spec, s, for_allow=True) for s in segments)
        return covered or exact_whole_match(spec, command)
    return bash_pattern(spec).regex.fullmatch(command) is not None or any(
        segment_matches(spec, s, for_allow=False) for s in segments
    )
