"""The one glob engine: file-name patterns turned into regular expressions, and pattern overlaps.

Three callers read globs, each with a dialect of its own, all translated here:

* Glob and Grep's `glob` filter (`agentbook.tools.search`, `agentbook.tools.grep`):
  `glob_to_regex`, with `{a,b}` alternatives.
* Permission path rules (`agentbook.tools.permissions.paths`): `gitignore_regex`, gitignore's
  reading, where `docs/**` also covers `docs` itself and braces are literal.
* Plan overlaps (`agentbook.plans`' declared `files`): `overlap`, whether two patterns can name
  one file, with backslashes read as separators and `[^...]` not a negation (fnmatch's reading).

Common to all: `*` and `?` never cross `/` (and match names starting with a dot), `**` as a whole
segment spans any number of directories, `[...]` is a class of one character that never matches
`/` (`[!...]` negates), and `\\` escapes the next character.  A `[` without its `]` in the same
segment, or whose class is not a valid range (`[z-a]`), is a literal `[`.
"""

from __future__ import annotations

import functools
import re

__all__ = ["GLOB_META", "gitignore_regex", "glob_to_regex", "has_magic", "overlap"]

# What makes a segment a pattern rather than a literal name (braces count for Glob and Grep).
GLOB_META = re.compile(r"[*?\[{]")
_META_NO_BRACES = re.compile(r"[*?\[]")


def has_magic(segment: str, *, braces: bool = True) -> bool:
    """Whether `segment` holds a wildcard (or, with `braces`, a `{`)."""
    return (GLOB_META if braces else _META_NO_BRACES).search(segment) is not None


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A regex that fully matches the `/`-separated relative paths `pattern` matches.

    Supports `*` and `?` (not crossing `/`), `**` as a whole segment (any number of directories,
    including none), `[...]` classes (`[!...]` and `[^...]` negate), `{a,b}` alternatives and `\\`
    escapes.  Unlike shell globs, `*` also matches names starting with a dot.
    """
    return re.compile(_translate(pattern, braces=True) + r"\Z", re.DOTALL)


def gitignore_regex(pattern: str) -> str:
    """Regex text for a `/`-separated gitignore pattern (without its leading base): braces are
    literal, and a trailing `/**` also matches the directory itself."""
    return _translate(pattern, braces=False, gitignore=True)


@functools.lru_cache(maxsize=1024)
def _name_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(_translate(pattern, braces=False, caret_negates=False) + r"\Z", re.DOTALL)


def _name_matches(name: str, pattern: str) -> bool:
    """Whether the file name `name` (no `/`) matches the name pattern `pattern`, read as
    `fnmatch.fnmatchcase` reads it: no braces, and `[^...]` is a class holding `^`."""
    return _name_regex(pattern).match(name) is not None


# ---------------------------------------------------------------------------------------------
# Translation


def _translate(pat: str, *, braces: bool, gitignore: bool = False, caret_negates: bool = True) -> str:
    """Regex text for the glob `pat`.  `braces`: `{a,b}` alternatives; `gitignore`: a trailing
    `/**` also matches the directory itself and a backslash before `/` is a literal backslash (a
    segment's last character); `caret_negates`: `[^...]` negates as `[!...]` does."""
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            i = _translate_star(pat, i, out, gitignore)
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[" and (klass := _class(pat, i, caret_negates)) is not None:
            text, i = klass
            out.append(text)
        elif c == "{" and braces and (end := _brace_end(pat, i)) >= 0:
            alternatives = _split_top_level(pat[i + 1 : end])
            out.append("(?:" + "|".join(_translate(a, braces=True) for a in alternatives) + ")")
            i = end
        elif c == "\\" and i + 1 < n and not (gitignore and pat[i + 1] == "/"):
            i += 1
            out.append(re.escape(pat[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _translate_star(pat: str, i: int, out: list[str], gitignore: bool) -> int:
    """Translate the `*` or `**` at `i`; return the index after it."""
    if not pat.startswith("**", i):
        out.append("[^/]*")
        return i + 1
    after = i + 2
    if i == 0 or pat[i - 1] == "/":
        if pat.startswith("/", after):
            out.append("(?:.*/)?")
            return after + 1
        if after == len(pat):
            if gitignore and out and out[-1] == "/":
                out[-1] = "(?:/.*)?"  # gitignore: `docs/**` covers `docs` itself
            else:
                out.append(".*")
            return after
    out.append("[^/]*")
    return after


def _class(pat: str, start: int, caret_negates: bool) -> tuple[str, int] | None:
    """(regex, index of the closing `]`) for the class opened at `start`, or None when the `[`
    is a literal: no `]` before the segment ends, or not a valid class."""
    j = start + 1
    negate = j < len(pat) and (pat[j] == "!" or (caret_negates and pat[j] == "^"))
    j += negate
    if j < len(pat) and pat[j] == "]":
        j += 1  # a leading ] is a literal member
    end = pat.find("]", j)
    body = pat[start + 1 + negate : end]
    if end < 0 or "/" in body:
        return None
    members = body.replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
    text = f"(?!/)[^{members}]" if negate else f"[{members}]"
    try:
        re.compile(text)
    except re.error:
        return None  # a reversed range (`[z-a]`)
    return text, end


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


# ---------------------------------------------------------------------------------------------
# Overlaps between declared patterns (plans)


def _segments(pattern: str) -> tuple[str, ...]:
    """A pattern's path segments; a trailing `**` makes it cover what lies under what it names."""
    parts = [p for p in pattern.strip().replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or parts[-1] != "**":
        parts.append("**")
    return tuple(parts)


def _names_meet(a: str, b: str) -> bool:
    """Whether two glob names (no `/`) can match one name: exact when either is literal, else
    approximate (compatible literal heads and tails), erring towards yes."""
    if a == b or _name_matches(a, b) or _name_matches(b, a):
        return True
    if not (has_magic(a, braces=False) and has_magic(b, braces=False)):
        return False
    head_a, head_b = _META_NO_BRACES.split(a, 1)[0], _META_NO_BRACES.split(b, 1)[0]
    tail_a, tail_b = re.split(r".*[*?\]]", a, maxsplit=1)[-1], re.split(r".*[*?\]]", b, maxsplit=1)[-1]
    heads_fit = head_a.startswith(head_b) or head_b.startswith(head_a)
    return heads_fit and (tail_a.endswith(tail_b) or tail_b.endswith(tail_a))


def _paths_meet(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two segment patterns can match one path: `**` takes any number of segments."""

    @functools.cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "**":
            return meet(i + 1, j) or (j < len(b) and meet(i, j + 1))
        if j < len(b) and b[j] == "**":
            return meet(i, j + 1) or (i < len(a) and meet(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        return _names_meet(a[i], b[j]) and meet(i + 1, j + 1)

    return meet(0, 0)


def overlap(p: str, q: str) -> str | None:
    """Where two declared file patterns overlap (the narrower path, or `p & q`), or `None`.

    A declared folder covers its files (`src/lib` meets `src/lib/a.py`); two globs meet when some
    path could match both, judged segment by segment and erring towards yes.
    """
    a, b = _segments(p), _segments(q)
    if not _paths_meet(a, b):
        return None
    if a == b:
        return p
    literal = [x for x in (p, q) if not has_magic(x, braces=False)]
    if len(literal) == 2:
        return max(literal, key=lambda x: len(_segments(x)))  # the file inside the folder
    return literal[0] if literal else f"{p} & {q}"
