"""agentbook: run many LLM agents in parallel from a Jupyter notebook, and see what they do and cost."""

__version__ = "0.1.0"

from agentbook.explore import Exploration, explore, explore_async
from agentbook.hooks import Hooks
from agentbook.loop import AgentResult, run_agent
from agentbook.permissions import Permissions
from agentbook.ratelimit import RateLimits
from agentbook.reload import load_run
from agentbook.runs import Run, run_parallel
from agentbook.specs import AgentSpec, Task, load_agents

__all__ = [
    "AgentResult",
    "AgentSpec",
    "Exploration",
    "Hooks",
    "Permissions",
    "RateLimits",
    "Run",
    "Task",
    "__version__",
    "explore",
    "explore_async",
    "load_agents",
    "load_run",
    "run_agent",
    "run_parallel",
]
