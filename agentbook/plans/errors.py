"""The one error of plans, raised by every part of the package (graph, prompts, analysis, gate)."""

from __future__ import annotations

__all__ = ["PlanError"]


class PlanError(ValueError):
    """A plan that cannot run as asked: duplicate names, unknown dependencies, a cycle, a prompt
    quoting a task with no result yet, an unapproved plan, a malformed analysis answer."""
