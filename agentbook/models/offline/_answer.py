"""The offline model's answer: where the prompt's words occur (or why it cannot answer), then a
survey of the folder with its entry points first, built only from Glob, Grep and Read results."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import PurePosixPath

from agentbook.models.offline._prompt import (
    SOURCE_SUFFIXES,
    SearchTerm,
    asks_beyond_search,
    search_terms,
    targets,
)
from agentbook.models.offline._reading import (
    Hit,
    Seen,
    chosen_files,
    entry_points,
    hits,
    line_counts,
    listed_files,
    match_counts,
    ranked_hits,
    script_targets,
)
from agentbook.models.offline._source import BUILD_FILES, definitions

__all__ = ["FOOTNOTE", "MAX_FILES_LISTED", "MAX_HITS_SHOWN", "summary"]

MAX_FILES_LISTED = 60
MAX_HITS_SHOWN = 10
FOOTNOTE = (
    "_Written by agentbook's offline model from Glob, Grep and Read results; token counts are "
    "estimates. Set ANTHROPIC_API_KEY to have Claude do this._"
)
CANNOT = (
    "**The offline model cannot answer this.** It only finds and lists: files, their sizes and "
    "definitions, and where the prompt's words occur. It cannot say why, judge a design, or write or "
    "change code. Set ANTHROPIC_API_KEY to have Claude answer {prompt!r}."
)
# The agent's folder, as agentbook's system prompts name it ("... working in /path. ...").
_ROOT_IN_SYSTEM = re.compile(r"working in (\S.*?)(?:\.\s|\.?$)", re.MULTILINE)


def summary(prompt: str, system: str, seen: Seen) -> str:
    """The final answer, in Markdown."""
    files, counts = listed_files(seen), line_counts(seen)
    out = [f"# Summary of {_title(prompt, system)}", "", *_question(prompt, seen)]
    if not files:
        return "\n".join([*out, "No files found there.", "", FOOTNOTE])
    out += _overview(files, counts, seen)
    out += _entry_points(seen, counts)
    out += _largest(seen, counts)
    out += ["## Files", "", "| file | lines |", "|---|---:|"]
    by_size = sorted(files, key=lambda p: (-counts.get(p, 0), p))
    out += [f"| `{p}` | {counts.get(p, 0):,} |" for p in by_size[:MAX_FILES_LISTED]]
    if len(files) > MAX_FILES_LISTED:
        out.append(f"| ... {len(files) - MAX_FILES_LISTED} more | |")
    return "\n".join([*out, "", FOOTNOTE])


def _title(prompt: str, system: str) -> str:
    places = targets(prompt)
    if places != ["."]:
        return ", ".join(f"`{t}`" for t in places)
    match = _ROOT_IN_SYSTEM.search(system)
    name = PurePosixPath(match.group(1).strip()).name if match else ""
    return f"`{name}`" if name else "the folder"


def _question(prompt: str, seen: Seen) -> list[str]:
    """What the offline model can say about the prompt itself: where its words occur, and
    plainly that it cannot answer what needs understanding."""
    out = [CANNOT.format(prompt=prompt.strip()[:200]), ""] if asks_beyond_search(prompt) else []
    terms = search_terms(prompt)
    if terms:
        out += ["## Where the prompt's words occur", ""]
        found = hits(seen)
        for term in terms:
            out += _where(term, found.get(term.pattern, []), seen)
    return out


def _where(term: SearchTerm, matched: list[Hit], seen: Seen) -> list[str]:
    if not matched:
        return [f"`{term.word}`: no matches in the files surveyed.", ""]
    totals = match_counts(seen, term.pattern) or Counter(h.path for h in matched)
    ranked = ranked_hits(seen, term)
    lines = sum(totals.values())
    out = [f"`{term.word}` occurs on {lines:,} line(s) in {len(totals)} file(s):", ""]
    out += [f"- `{h.path}:{h.line}`: `{_inline(h.text)}`" for h in ranked[:MAX_HITS_SHOWN]]
    rest = Counter(totals)
    rest.subtract(Counter(h.path for h in ranked[:MAX_HITS_SHOWN]))
    if more := sum(n for n in rest.values() if n > 0):
        where = ", ".join(f"`{p}` ({n})" for p, n in rest.most_common(5) if n > 0)
        out.append(f"- ... {more:,} more line(s), most in {where}")
    return [*out, "", *_excerpt(ranked[0], seen)]


def _inline(text: str, limit: int = 100) -> str:
    text = text.strip().replace("`", "'")
    return text if len(text) <= limit else text[:limit] + "..."


def _excerpt(hit: Hit, seen: Seen) -> list[str]:
    """The lines read around the first match, as a code block."""
    lines = seen.read_lines(hit.path)
    numbers = [n for n in range(hit.line - 3, hit.line + 9) if n in lines]
    if not numbers:
        return []
    body = [f"{n:>5}  {lines[n]}" for n in numbers]
    return [f"`{hit.path}`, lines {numbers[0]}-{numbers[-1]}:", "", "```", *body, "```", ""]


def _overview(files: list[str], counts: dict[str, int], seen: Seen) -> list[str]:
    out = [f"{len(files)} files ({len(counts)} of them text), {sum(counts.values()):,} lines of text.", ""]
    suffixes: dict[str, list[int]] = {}
    for path in files:
        entry = suffixes.setdefault(PurePosixPath(path).suffix or "(none)", [0, 0])
        entry[0] += 1
        entry[1] += counts.get(path, 0)
    out += ["| kind | files | lines |", "|---|---:|---:|"]
    for suffix, (n, lines) in sorted(suffixes.items(), key=lambda kv: (-kv[1][1], kv[0])):
        out.append(f"| {suffix} | {n} | {lines:,} |")
    readme = next((p for p in chosen_files(seen) if PurePosixPath(p).stem.lower() == "readme"), None)
    text = seen.read_lines(readme).values() if readme else []
    intro = next((ln.strip("# ").strip() for ln in text if ln.strip()), "")
    return [*out, "", *([f"README: {intro}", ""] if intro else [])]


def _entry_points(seen: Seen, counts: dict[str, int]) -> list[str]:
    """Console scripts, then the entry-point modules, each described."""
    scripts = script_targets(seen)
    files = [f for f in entry_points(listed_files(seen)) if f in counts]
    files += [w for _, _, w in scripts if w is not None and w not in files and w in counts]
    if not files and not scripts:
        return []
    out = ["## Entry points", ""]
    for command, target, where in scripts:
        out.append(f"- console script `{command}` runs `{target}`" + (f" (`{where}`)" if where else ""))
    out += [""] if scripts else []
    for path in files:
        out += _describe(path, seen, counts)
    return out


def _largest(seen: Seen, counts: dict[str, int]) -> list[str]:
    entries = set(entry_points(listed_files(seen))) | {w for _, _, w in script_targets(seen)}
    chosen = [
        p
        for p in chosen_files(seen)
        if p not in entries
        and PurePosixPath(p).suffix in SOURCE_SUFFIXES
        and PurePosixPath(p).name not in BUILD_FILES
    ]
    described = [line for path in chosen for line in _describe(path, seen, counts)]
    return ["## Top-level definitions (largest source files)", "", *described] if described else []


def _describe(path: str, seen: Seen, counts: dict[str, int]) -> list[str]:
    """A file's heading (size, module docstring, how much was read) and its top-level definitions."""
    lines = seen.read_lines(path)
    if not lines:
        return []
    read = 0
    while read + 1 in lines:
        read += 1
    total = max(counts.get(path, read), read)
    module_doc, defs = definitions(path, "\n".join(lines[n] for n in range(1, read + 1)))
    cut = f"; read the first {read:,} of them" if read < total else ""
    head = f"### `{path}` ({total:,} lines{cut})" + (f": {module_doc}" if module_doc else "")
    items = [f"- {d.kind} `{d.name}` (line {d.line})" + (f": {d.doc}" if d.doc else "") for d in defs]
    return [head, *(items or ["- (none)"]), ""]
