"""The one glob engine: file-name patterns turned into regular expressions, and pattern overlaps.

Three callers read globs, each with a dialect of its own, all translated here:

* Glob (`agentbook.tools.glob`): `glob_to_regex`, with `{a,b}` alternatives.  (Grep's `glob`
  filter is ripgrep's own `--glob`: `agentbook.tools.grep`.)
* Permission path rules (`agentbook.tools.permissions.paths`): `gitignore_regex`, gitignore's
  reading, where `docs/**` also covers `docs` itself and braces are literal.
* Plan overlaps (`agentbook.plans`' declared `files`): `overlap`, whether two patterns can name
  one file, with backslashes read as separators and `[^...]` not a negation (fnmatch's reading).

Common to all: `*` and `?` never cross `/` (and match names starting with a dot), `**` as a whole
segment spans any number of directories, `[...]` is a class of one character that never matches
`/` (`[!...]` negates), and `\\` escapes the next character.  A `[` without its `]` in the same
segment, or whose class is not a valid range (`[z-a]`), is a literal `[`.

Patterns may come from the model, so no translation backtracks catastrophically, whatever the
pattern and path (see "Translation" below).
"""

from __future__ import annotations

import functools
import re
from typing import TypeAlias

__all__ = [
    "GLOB_META",
    "MAX_ALTERNATIVES",
    "gitignore_regex",
    "glob_escape",
    "glob_to_regex",
    "has_magic",
    "overlap",
]

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
    escapes.  Unlike shell globs, `*` also matches names starting with a dot.  The regex never
    backtracks catastrophically (see "Translation" below).  `ValueError` if the braces expand to
    more than `MAX_ALTERNATIVES` patterns.
    """
    return re.compile(_translate(pattern, braces=True) + r"\Z", re.DOTALL)


def gitignore_regex(pattern: str, *, anchored: bool = True, below: bool = False) -> str:
    """Regex text (for `fullmatch`) for a `/`-separated gitignore pattern (without its leading
    base): braces are literal, and a trailing `/**` also matches the directory itself.

    `anchored=False` lets the pattern start in any directory (a leading `**/`); `below=True` also
    matches whatever lies below a match (a trailing `/**`).  Asking here rather than wrapping the
    text keeps the whole regex free of catastrophic backtracking.
    """
    return _translate(pattern, braces=False, gitignore=True, anchored=anchored, below=below)


@functools.lru_cache(maxsize=1024)
def _name_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(_translate(pattern, braces=False, caret_negates=False) + r"\Z", re.DOTALL)


def _name_matches(name: str, pattern: str) -> bool:
    """Whether the file name `name` (no `/`) matches the name pattern `pattern`, read as
    `fnmatch.fnmatchcase` reads it: no braces, and `[^...]` is a class holding `^`."""
    return _name_regex(pattern).match(name) is not None


# ---------------------------------------------------------------------------------------------
# Translation
#
# Patterns come from the model (Glob) and paths from the tree, so the regex must not backtrack
# catastrophically: `*a*a*a*a*a*a*a*a*a*a*a*b` translated naively takes exponential time on a long
# name of `a`s, and several `**` polynomial time in the depth.  Two facts make a safe translation:
#
# * Within a segment, `c0 * c1 * ... * ck` (each chunk of fixed width) matches if and only if it
#   matches with every middle chunk at its leftmost place; so each middle chunk is an atomic
#   group `(?>[^/]*?ci)` that is never retried.
# * Likewise, in `**/A/**/...` (A a fixed number of segments), A may take its leftmost place: the
#   next `**` absorbs whatever lies between.  So each middle group is `(?>(?:.*?/)??A/)`.
#
# Braces are expanded first (the alternatives are tried one after the other), so the structure
# above is all there is.  Matching then costs about (path length) x (pattern length) per
# alternative.

MAX_ALTERNATIVES = 1024
_STAR = "*"
_GLOBSTAR = "**"
_SEP = "/"
# A token: "*", "**" (two stars as written), "/", a regex matching one character, or the
# alternatives of a brace (each a token list).
_Token: TypeAlias = "str | tuple[list[_Token], ...]"


def _translate(
    pat: str,
    *,
    braces: bool,
    gitignore: bool = False,
    caret_negates: bool = True,
    anchored: bool = True,
    below: bool = False,
) -> str:
    """Regex text for the glob `pat`.  `braces`: `{a,b}` alternatives; `gitignore`: a trailing
    `/**` also matches the directory itself and a backslash before `/` is a literal backslash (a
    segment's last character); `caret_negates`: `[^...]` negates as `[!...]` does; `anchored` and
    `below`: as in `gitignore_regex`."""
    tokens = _tokens(pat, braces=braces, gitignore=gitignore, caret_negates=caret_negates)
    alternatives = []
    for flat in _expand(tokens):
        segments: list[str | None] = [None] if not anchored else []  # None: a `**` segment
        segments += _segments_of(flat)
        if below:
            segments.append(None)
        alternatives.append(_assemble(segments, gitignore))
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"


def _tokens(pat: str, *, braces: bool, gitignore: bool, caret_negates: bool) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            double = pat.startswith("**", i)
            out.append(_GLOBSTAR if double else _STAR)
            i += 1 + double
            continue
        if c == "/":
            out.append(_SEP)
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (klass := _class(pat, i, caret_negates)) is not None:
            text, i = klass
            out.append(text)
        elif c == "{" and braces and (end := _brace_end(pat, i)) >= 0:
            alternatives = _split_top_level(pat[i + 1 : end])
            out.append(
                tuple(
                    _tokens(a, braces=True, gitignore=gitignore, caret_negates=caret_negates)
                    for a in alternatives
                )
            )
            i = end
        elif c == "\\" and i + 1 < n and not (gitignore and pat[i + 1] == "/"):
            i += 1
            out.append(_SEP if pat[i] == "/" else re.escape(pat[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return out


def _expand(tokens: list[_Token]) -> list[list[str]]:
    """Every brace-free token list `tokens` stands for; `ValueError` past `MAX_ALTERNATIVES`."""
    results: list[list[str]] = [[]]
    for token in tokens:
        if isinstance(token, str):
            for r in results:
                r.append(token)
            continue
        options = [flat for alternative in token for flat in _expand(alternative)]
        if len(results) * len(options) > MAX_ALTERNATIVES:
            raise ValueError(f"the braces expand to more than {MAX_ALTERNATIVES} patterns")
        results = [r + o for r in results for o in options]
    return results


def _segments_of(flat: list[str]) -> list[str | None]:
    """The regex of each `/`-separated segment of a brace-free token list; `None` for a `**`
    segment (consecutive ones merged, as they mean the same)."""
    segments: list[str | None] = []
    current: list[str] = []
    for token in [*flat, _SEP]:
        if token != _SEP:
            current.append(token)
            continue
        if current == [_GLOBSTAR]:
            if not (segments and segments[-1] is None):
                segments.append(None)
        else:
            segments.append(_segment_regex(current))
        current = []
    return segments


def _segment_regex(tokens: list[str]) -> str:
    """One segment: its fixed-width chunks around the stars, middle chunks atomic (see above)."""
    chunks: list[str] = [""]
    for token in tokens:
        if token in (_STAR, _GLOBSTAR):  # `**` inside a segment is a plain star
            if chunks[-1] or len(chunks) == 1:
                chunks.append("")
            continue  # consecutive stars: one
        chunks[-1] += token
    if len(chunks) == 1:
        return chunks[0]
    middle = "".join(f"(?>[^/]*?{c})" for c in chunks[1:-1])
    return f"{chunks[0]}{middle}[^/]*{chunks[-1]}"


def _assemble(segments: list[str | None], gitignore: bool) -> str:
    """Join segment regexes; each `**` (None) spans any number of directories (see above)."""
    segments = [s for i, s in enumerate(segments) if s is not None or segments[i - 1 : i] != [None]]
    if None not in segments:
        return "/".join(s for s in segments if s is not None)
    first = segments.index(None)
    out = "/".join(s for s in segments[:first] if s is not None)
    groups = _split_at_globstars(segments[first + 1 :])
    need_slash = first > 0  # whether a `/` must separate what is built from what follows
    for i, group in enumerate(groups):
        lead, body = "/" if need_slash else "", "/".join(group)
        if not group:  # a trailing `**` (only the last group can be empty)
            out += "(?:/.*)?" if gitignore and need_slash else lead + ".*"
        elif i == len(groups) - 1:
            out += lead + "(?:.*/)?" + body
        elif gitignore and i == len(groups) - 2 and not groups[-1]:
            # Followed by gitignore's trailing `(?:/.*)?`: A ends at a `/` or at the end.
            out += lead + "(?>(?:.*?/)??" + body + r"(?=/|\Z))"
            need_slash = True
        else:
            out += lead + "(?>(?:.*?/)??" + body + "/)"
            need_slash = False
    return out


def _split_at_globstars(segments: list[str | None]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for s in segments:
        if s is None:
            groups.append([])
        else:
            groups[-1].append(s)
    return groups


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


def glob_escape(text: str) -> str:
    """`text` as a glob that matches it literally: each metacharacter in a class of its own."""
    return "".join(f"[{c}]" if c in "*?[]{}\\!" else c for c in text)
