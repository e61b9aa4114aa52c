"""A plan shown as text (the phase graph) and HTML (a task table above that graph).

`Plan.to_text`, `Plan._repr_html_` and `Plan._repr_mimebundle_` call these with what they read off
the plan; the functions only format, so the display needs no notebook: Jupyter shows the HTML,
and plain output (a terminal, a saved notebook without widgets) the text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from agentbook.plans.conflicts import Conflict
from agentbook.specs import Task

__all__ = ["plan_html", "plan_text"]

_CELL = "text-align:left;padding:2px 8px"


def plan_text(
    phases: Sequence[Sequence[str]],
    states: Sequence[str],
    feeds: Mapping[str, Sequence[str]],
    conflicts: Sequence[Conflict],
    approved: bool,
) -> str:
    """The phases as a text graph (with each phase's state unless `pending`), then the dependency
    arrows (`feeds`: a -> the tasks that need a), any declared conflicts, and the approval."""
    lines: list[str] = []
    for index, names in enumerate(phases):
        if index:
            lines.append("   |")
        state = states[index]
        lines.append(f"phase {index}: {', '.join(names)}" + ("" if state == "pending" else f"  [{state}]"))
    if feeds:
        lines += ["", "dependencies (a -> b: b needs a):"]
        lines += [f"  {name} -> {', '.join(after)}" for name, after in feeds.items()]
    if conflicts:
        lines += ["", "possible conflicts (same phase, overlapping files):"]
        lines += [f"  phase {c.phase}: {c.a} / {c.b}: {c.overlap}" for c in conflicts]
    lines += ["", "approved" if approved else "not approved: call plan.approve()"]
    return "\n".join(lines)


def plan_html(tasks: Mapping[str, Task], phases: Sequence[Sequence[str]], text: str) -> str:
    """A table (task, phase, depends_on, files, agent), then `text` (the graph), all escaped."""
    head = "".join(f'<th style="{_CELL}">{t}</th>' for t in ("task", "phase", "depends_on", "files", "agent"))
    rows = []
    for index, names in enumerate(phases):
        for name in names:
            task = tasks[name]
            cells = (name, str(index), ", ".join(task.depends_on), ", ".join(task.files), task.agent or "")
            tds = "".join(f'<td style="{_CELL}">{html.escape(c)}</td>' for c in cells)
            rows.append(f"<tr>{tds}</tr>")
    return (
        '<div class="agentbook-plan"><table style="border-collapse:collapse;font-family:monospace">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<pre>{html.escape(text)}</pre></div>"
    )
