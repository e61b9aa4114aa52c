"""What Grep shows: Claude Code's three output formats, paging (`offset`, `head_limit`), the size
cap, and a note about files with more than one hard link.

`agentbook.tools.grep` feeds lines in as ripgrep's output arrives; `OutputWindow` keeps only the
lines that can be shown and counts the rest, so the summary lines stay exact without holding
everything rg printed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from agentbook.tools._hardlinks import shared_inode
from agentbook.tools.search import newest_first

__all__ = ["MAX_LINKED_NAMES", "OutputWindow", "cap_output", "finish", "hard_link_note"]

# How many hard-linked files the note names before it only counts them.
MAX_LINKED_NAMES = 20


@dataclass
class OutputWindow:
    """Output lines from `offset` on, at most `head_limit` of them (0: no limit), of which only
    about `budget` characters are kept; every line is counted."""

    offset: int
    head_limit: int
    budget: int
    kept: list[str] = field(default_factory=list)
    total: int = 0  # lines offered
    shown: int = 0  # lines inside the window, kept or not
    kept_chars: int = 0
    window_chars: int = 0  # characters of the lines inside the window, newlines included

    def add(self, line: str) -> None:
        index, self.total = self.total, self.total + 1
        if index < self.offset or (self.head_limit and index >= self.offset + self.head_limit):
            return
        self.shown += 1
        self.window_chars += len(line) + 1
        if self.kept_chars <= self.budget:  # one line past the budget: cap_output cuts it
            self.kept.append(line)
            self.kept_chars += len(line) + 1

    @property
    def unseen_chars(self) -> int:
        """Characters of window lines that were counted but not kept."""
        return self.window_chars - self.kept_chars


async def finish(
    mode: str,
    paths: list[str],
    counts: dict[str, int],
    window: OutputWindow,
    display: Callable[[str], str],
) -> str:
    """The tool's answer: the window's lines (filled here for the file and count modes, already
    by the caller for content), Claude Code's summary line, a paging note, capped in size."""
    if mode == "files_with_matches":
        for path in await asyncio.to_thread(newest_first, paths):
            window.add(display(path))
    elif mode == "count":
        for path in paths:
            window.add(f"{display(path)}:{counts[path]}")
    body = "\n".join(window.kept)
    if mode == "files_with_matches":
        body = f"Found {window.total} file{'s' if window.total != 1 else ''}\n" + body
    elif mode == "count":
        lines, files = sum(counts.values()), len(counts)
        body += (
            f"\n\nFound {lines} total matching line{'s' if lines != 1 else ''} "
            f"across {files} file{'s' if files != 1 else ''}."
        )
    if window.shown < window.total:
        body += (
            f"\n\n[Showing {window.shown} of {window.total} entries "
            f"(offset={window.offset}, head_limit={window.head_limit})]"
        )
    return cap_output(body, window.budget, unseen=window.unseen_chars)


def cap_output(text: str, limit: int, unseen: int = 0) -> str:
    """`text` cut to `limit` characters at a line boundary if possible, with a note of what was
    cut; `unseen` counts characters already left out before `text` was built."""
    if len(text) <= limit and not unseen:
        return text
    head = text[:limit]
    cut_at = head.rfind("\n")
    if cut_at > limit // 2:
        head = head[:cut_at]
    return head + f"\n\n[Output truncated: {len(text) - len(head) + unseen} more characters not shown]"


async def hard_link_note(paths: list[str], display: Callable[[str], str]) -> str:
    """A closing note naming the files among `paths` with more than one hard link, or "".

    Another name of such a file may lie outside the agent's root: what was found there may
    also be something else, and changing it would change that too (Write and Edit refuse).
    """
    linked = await asyncio.to_thread(_hard_linked, paths)
    if not linked:
        return ""
    names = ", ".join(f"{display(p)} ({n} links)" for p, n in linked[:MAX_LINKED_NAMES])
    more = f" and {len(linked) - MAX_LINKED_NAMES} more" if len(linked) > MAX_LINKED_NAMES else ""
    return (
        f"\n\n[note: {len(linked)} of these files {'has' if len(linked) == 1 else 'have'} more than "
        f"one hard link, so {'it' if len(linked) == 1 else 'they'} may also be reachable outside "
        f"the root: {names}{more}]"
    )


def _hard_linked(paths: list[str]) -> list[tuple[str, int]]:
    found = []
    for path in paths:
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        if shared_inode(st):
            found.append((path, st.st_nlink))
    return found
