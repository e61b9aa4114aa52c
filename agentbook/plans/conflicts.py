"""Conflicts between tasks of one phase: declared `files` that overlap, and files both edited.

`Plan.conflicts()` looks before anything runs (the declared patterns, through
`agentbook.tools._globs.overlap`); `Plan.edited_conflicts()` looks after a phase ran, at the `Edit` and
`Write` calls that succeeded in the agents' transcripts.  Both give `Conflict`s.
"""

from __future__ import annotations

import itertools
import json
import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentbook.messages import ToolResult
from agentbook.scheduler.run import Run
from agentbook.scheduler.transcripts import read_transcript
from agentbook.specs import EDIT_TOOLS, Task
from agentbook.tools._globs import overlap

__all__ = ["Conflict", "declared_conflicts", "edited_conflicts"]


@dataclass(frozen=True)
class Conflict:
    """Two tasks of one phase that may touch the same files.

    `kind` is `declared` (their `files` patterns overlap) or `edited` (both edited a file in a
    run).  `overlap` says where: a path, a pattern, or `p & q` for two patterns that can meet;
    several overlaps are joined by `; `.  `a` < `b` by name.
    """

    phase: int
    a: str
    b: str
    overlap: str
    kind: Literal["declared", "edited"] = "declared"


def declared_conflicts(tasks: Mapping[str, Task], phases: list[list[str]]) -> list[Conflict]:
    """Pairs of tasks in one phase whose declared `files` patterns can name a common path."""
    found = []
    for index, names in enumerate(phases):
        for a, b in itertools.combinations(names, 2):
            overlaps = [o for p in tasks[a].files for q in tasks[b].files if (o := overlap(p, q)) is not None]
            if overlaps:
                found.append(Conflict(index, a, b, "; ".join(dict.fromkeys(overlaps))))
    return found


def edited_conflicts(
    tasks: Mapping[str, Task], phases: list[list[str]], runs: Iterable[Run]
) -> list[Conflict]:
    """Pairs of tasks in one phase that both edited a file in `runs`; other agents are ignored."""
    edited: dict[str, set[str]] = {}
    for run in runs:
        for name, files in _edited_files(run).items():
            if name in tasks:
                edited.setdefault(name, set()).update(files)
    found = []
    for index, names in enumerate(phases):
        for a, b in itertools.combinations(names, 2):
            shared = sorted(edited.get(a, set()) & edited.get(b, set()))
            if shared:
                found.append(Conflict(index, a, b, "; ".join(shared), kind="edited"))
    return found


def _edited_files(run: Run) -> dict[str, set[str]]:
    """Top-level agent name -> files it or its sub-agents edited, relative to the agent's root."""
    edited: dict[str, set[str]] = {}
    for record in list(run.records.values()):
        if record.transcript.is_file():
            owner = record.name.split("/", 1)[0]  # a sub-agent's edits are its parent task's
            edited.setdefault(owner, set()).update(_edits(record.transcript, run.cwd))
    return edited


def _edits(transcript: Path, fallback_root: Path) -> set[str]:
    messages = read_transcript(transcript).messages
    succeeded = {
        b.tool_use_id for m in messages for b in m.content if isinstance(b, ToolResult) and not b.is_error
    }
    root = _transcript_root(transcript) or fallback_root
    return {
        _relative(call.input["file_path"], root)
        for m in messages
        for call in m.tool_uses
        if call.name in EDIT_TOOLS and call.id in succeeded and isinstance(call.input.get("file_path"), str)
    }


def _transcript_root(transcript: Path) -> Path | None:
    """The agent's root as its transcript records it (`cwd`): a worktree when isolated."""
    with transcript.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                cwd = json.loads(line).get("cwd")
            except (json.JSONDecodeError, AttributeError):
                continue
            if cwd:
                return Path(cwd)
    return None


def _relative(file_path: str, root: Path) -> str:
    path = Path(file_path)
    if not path.is_absolute():
        return posixpath.normpath(path.as_posix())
    for candidate in (path, Path(os.path.realpath(path))):  # the root is recorded resolved
        try:
            return posixpath.normpath(candidate.relative_to(root).as_posix())
        except ValueError:
            continue
    return path.as_posix()
