"""agentbook: run many LLM agents in parallel from a Jupyter notebook, and see what they do and cost."""

__version__ = "0.1.0"

from agentbook.batches import Batch, BatchError, Unit, batch
from agentbook.context import context_cost
from agentbook.explore import Exploration, explore, explore_async
from agentbook.hooks import Hooks
from agentbook.loop import AgentResult, run_agent
from agentbook.permissions import Permissions
from agentbook.plans import Conflict, Plan, PlanError, PlanRun
from agentbook.ratelimit import RateLimits
from agentbook.reload import load_run
from agentbook.runs import Run, run_parallel
from agentbook.specs import AgentSpec, Task, load_agents


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext agentbook`: register the magics; kernel interrupts cancel running agents."""
    from agentbook import kernel
    from agentbook.magics import AgentMagics

    ipython.register_magics(AgentMagics)  # type: ignore[attr-defined]
    kernel.install(ipython)


__all__ = [
    "AgentResult",
    "AgentSpec",
    "Batch",
    "BatchError",
    "Conflict",
    "Exploration",
    "Hooks",
    "Permissions",
    "Plan",
    "PlanError",
    "PlanRun",
    "RateLimits",
    "Run",
    "Task",
    "Unit",
    "__version__",
    "batch",
    "context_cost",
    "explore",
    "explore_async",
    "load_agents",
    "load_ipython_extension",
    "load_run",
    "run_agent",
    "run_parallel",
]
