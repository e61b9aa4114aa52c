"""agentbook: run many LLM agents in parallel from a Jupyter notebook, and see what they do and cost.

The public names below load on first use, so `import agentbook` (and the `agentbook costs`
command) stays fast: the Anthropic SDK, pandas and IPython are imported only by what needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agentbook._version import __version__

_EXPORTS: dict[str, str] = {
    "AgentResult": "agentbook.agent.loop",
    "AgentSpec": "agentbook.specs",
    "Batch": "agentbook.batches",
    "BatchError": "agentbook.batches",
    "Budget": "agentbook.budgets",
    "Conflict": "agentbook.plans.conflicts",
    "Exploration": "agentbook.scheduler.explore",
    "Hooks": "agentbook.agent.hooks",
    "Permissions": "agentbook.tools.permissions",
    "Plan": "agentbook.plans.plan",
    "PlanError": "agentbook.plans.errors",
    "PlanRun": "agentbook.plans.running",
    "RateLimits": "agentbook.scheduler.ratelimit",
    "Run": "agentbook.scheduler.run",
    "RunConfig": "agentbook.scheduler.config",
    "RunFailed": "agentbook.scheduler.reports",
    "RunSummary": "agentbook.scheduler.reports",
    "Task": "agentbook.specs",
    "Team": "agentbook.teams.team",
    "TeamError": "agentbook.teams.team",
    "Unit": "agentbook.batches",
    "batch": "agentbook.batches",
    "context_cost": "agentbook.analysis.context",
    "explore": "agentbook.scheduler.explore",
    "explore_async": "agentbook.scheduler.explore",
    "load_agents": "agentbook.specs",
    "load_claude_code": "agentbook.analysis.claude_code",
    "load_run": "agentbook.scheduler.restore",
    "run_agent": "agentbook.agent.loop",
    "run_parallel": "agentbook.scheduler.launch",
}

if TYPE_CHECKING:
    from agentbook.agent.hooks import Hooks
    from agentbook.agent.loop import AgentResult, run_agent
    from agentbook.analysis.claude_code import load_claude_code
    from agentbook.analysis.context import context_cost
    from agentbook.batches import Batch, BatchError, Unit, batch
    from agentbook.budgets import Budget
    from agentbook.plans.conflicts import Conflict
    from agentbook.plans.errors import PlanError
    from agentbook.plans.plan import Plan
    from agentbook.plans.running import PlanRun
    from agentbook.scheduler.config import RunConfig
    from agentbook.scheduler.explore import Exploration, explore, explore_async
    from agentbook.scheduler.launch import run_parallel
    from agentbook.scheduler.ratelimit import RateLimits
    from agentbook.scheduler.reports import RunFailed, RunSummary
    from agentbook.scheduler.restore import load_run
    from agentbook.scheduler.run import Run
    from agentbook.specs import AgentSpec, Task, load_agents
    from agentbook.teams.team import Team, TeamError
    from agentbook.tools.permissions import Permissions


def _attach_edges() -> None:
    """Wire the edges to the scheduler's observers (the scheduler never names an edge).

    Each edge is imported only when used: the notebook edge when a run is made or waited for
    inside a Jupyter kernel, the analysis edge's frames on the first `run.df`.
    """
    from agentbook.scheduler import observers

    def notebook(hook: str) -> Any:
        def call(handle: Any) -> None:
            if observers.in_kernel():
                getattr(importlib.import_module("agentbook.notebook.attach"), hook)(handle)

        return call

    observers.on_created(notebook("created"))
    observers.on_waited(notebook("waited"))
    observers.provide("frames", lambda: importlib.import_module("agentbook.analysis.frames"))
    observers.provide("forecasts", lambda: importlib.import_module("agentbook.analysis.forecasts"))


_attach_edges()


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentbook' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext agentbook`: register the magics; kernel interrupts cancel running agents."""
    from agentbook.notebook import kernel
    from agentbook.notebook.magics import AgentMagics
    from agentbook.notebook.team_magic import TeamMagics

    ipython.register_magics(AgentMagics, TeamMagics)
    kernel.install(ipython)


__all__ = [
    "AgentResult",
    "AgentSpec",
    "Batch",
    "BatchError",
    "Budget",
    "Conflict",
    "Exploration",
    "Hooks",
    "Permissions",
    "Plan",
    "PlanError",
    "PlanRun",
    "RateLimits",
    "Run",
    "RunConfig",
    "RunFailed",
    "RunSummary",
    "Task",
    "Team",
    "TeamError",
    "Unit",
    "__version__",
    "batch",
    "context_cost",
    "explore",
    "explore_async",
    "load_agents",
    "load_claude_code",
    "load_ipython_extension",
    "load_run",
    "run_agent",
    "run_parallel",
]
