"""What the offline model takes from a prompt: the paths it names, the words to search for, and
whether it asks something only a real model can answer.

The offline model has no understanding, so it reads a prompt the way a search box would: path-like
words are places to survey, identifiers and the remaining content words are Grep patterns, and a
question about reasons, opinions or changes is one it says plainly it cannot answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = [
    "DOC_SUFFIXES",
    "MAX_TERMS",
    "SOURCE_SUFFIXES",
    "SearchTerm",
    "asks_beyond_search",
    "search_terms",
    "targets",
]

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
MAX_TERMS = 4

# A path-like word in a prompt: has a slash or a file suffix, and is not a URL.
_PATH_WORD = re.compile(r"(?<![\w:/])(?:\.{0,2}/)?[\w.-]+(?:/[\w.-]+)*/?")
# Slashed words that are prose, not paths: they must not fail an agent as missing folders.
_PROSE_TEXT = (
    "and/or either/or i/o input/output read/write yes/no on/off true/false client/server he/she s/he w/o"
)
_PROSE_SLASHES = set(_PROSE_TEXT.split())
_BACKTICKED = re.compile(r"`([^`\s]+)`")
# CamelCase (two humps), snake_case or dotted.name: an identifier to search for as written.
_IDENTIFIER = re.compile(
    r"\b(?:[A-Z][a-z0-9]+[A-Z]\w*|[a-z]\w*[A-Z]\w*|\w+_\w+|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)\b"
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:'[a-z]+)?")
# Words that say nothing about where to look: questions' glue and words for "the code".
_STOP_TEXT = """
a an the and or but if then else of to in on at by for from with without into onto over under about
as is are was were be been being am do does did done have has had can could would should will shall
may might must this that these those it its there here what where which who whom whose when how why
whats i me my we our you your he she they them their his her all any some each every no not none
only also just very more most less much many please show tell find list give look see let know
explain describe summarise summarize summary overview explore folder folders file files code
codebase project repo repository directory directories package packages module modules thing things
stuff part parts lives live located defined implemented used uses use happen happens logic mechanism
implementation work works way ways get gets got say says one two main whole entire inside contents
content
"""
# The verbs of a task ("research ..., read ... and report ..."): what to do, not where.
_TASK_TEXT = """
research report read review check study analyse analyze investigate inspect examine survey understand
write change make create add update new before after feature app answer question ask task
"""
_STOP_WORDS = frozenset(_STOP_TEXT.split()) | frozenset(_TASK_TEXT.split())
# Questions about reasons, judgements or changes: finding and listing cannot answer them.
_BEYOND = re.compile(
    r"\b(why|should|shouldn't|opinions?|think|recommend|suggest|improve|review|critique|evaluate|assess|"
    r"compare|better|best|worse|worst|refactor|fix|implement|rewrite|write|change|explain|design|"
    r"trade-?offs?|pros|cons)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SearchTerm:
    """A word of the prompt and the Grep pattern that finds it (`ignore_case` for plain words)."""

    word: str
    pattern: str
    ignore_case: bool


def targets(prompt: str) -> list[str]:
    """Paths the prompt names, in order, or `["."]` when it names none."""
    found: list[str] = []
    for word in _path_words(prompt):
        if word not in found:
            found.append(word.rstrip("/") or "/")
    return found or ["."]


def _path_words(prompt: str) -> list[str]:
    words = []
    for match in _PATH_WORD.finditer(prompt):
        word = match.group(0).rstrip(".,;:")
        named = "/" in word or PurePosixPath(word).suffix in SOURCE_SUFFIXES | DOC_SUFFIXES
        route = word.startswith("/") and word.count("/") == 1  # `GET /notes`: a route, not a path
        if named and not route and not word.startswith("http") and word.lower() not in _PROSE_SLASHES:
            words.append(word)
    return words


def search_terms(prompt: str) -> list[SearchTerm]:
    """What to Grep for: identifiers first (as written), then content words (any case, plurals
    too), without stop words and the paths the prompt names; at most `MAX_TERMS`."""
    paths = set(_path_words(prompt))
    text = " ".join(w for w in prompt.split() if w.strip("`'\".,;:?!()") not in paths)
    terms: list[SearchTerm] = []
    identifiers = [m.group(1) for m in _BACKTICKED.finditer(text)] + _IDENTIFIER.findall(text)
    for word in identifiers:
        word = word.strip(".,;:?!()")
        if len(word) < 3 or min(len(part) for part in word.split(".")) < 2:  # e.g., i.e.
            continue
        if word.lower() not in _STOP_WORDS and not any(t.word == word for t in terms):
            terms.append(SearchTerm(word, re.escape(word), ignore_case=False))
    taken = {t.word.lower() for t in terms} | {p for t in terms for p in re.split(r"[._]", t.word.lower())}
    for raw in _WORD.findall(_BACKTICKED.sub(" ", text)):
        word = _singular(raw.lower())
        if (
            len(word) >= 3
            and word not in _STOP_WORDS
            and raw.lower() not in _STOP_WORDS
            and word not in taken
        ):
            taken.add(word)
            terms.append(SearchTerm(word, _word_pattern(word), ignore_case=True))
    return terms[:MAX_TERMS]


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _word_pattern(word: str) -> str:
    """A pattern for `word` and its plural (`retry` finds `max_retries` too)."""
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return re.escape(word[:-1]) + "(?:y|ies)"
    return re.escape(word)


def asks_beyond_search(prompt: str) -> bool:
    """Whether the prompt asks for reasons, judgements or changes, which finding cannot give."""
    return bool(_BEYOND.search(prompt))
