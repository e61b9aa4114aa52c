"""Forecasts before approval: what each task of a plan or a batch may cost, as a low / typical /
high range of tokens and dollars, before anything runs.

The first request of each task is measured: its system prompt, tool schemas and first message,
counted by the API's `count_tokens` where the model is Claude and credentials are set, else with
the estimator every other count uses (offline, a forecast never calls the API).  The rest comes
from earlier runs of the same kind of agent (the same task name first, else the same agent type)
found in the history folders: each earlier agent's usage, by kind, scaled by how much larger this
first request is than its own, and priced at this task's model (`basis` says how many and which);
with no earlier run, from `DEFAULTS`, stated on the forecast.
"""

from __future__ import annotations

import dataclasses
import statistics
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentbook.costs import cost_usd
from agentbook.messages import Message, Request, Usage
from agentbook.models import Model, get_model
from agentbook.models.base import estimate_request_tokens
from agentbook.models.lanes import is_batch
from agentbook.scheduler import background, manifest
from agentbook.scheduler.batching import lane_of
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.spawning import agent_types
from agentbook.scheduler.transcripts import agentbook_home, read_transcript, transcript_path
from agentbook.scheduler.wiring import first_message, system_prompt, tool_names
from agentbook.specs import Task
from agentbook.tools import tools_named
from agentbook.tools.agent import GENERAL_PURPOSE, AgentTool, SubagentRequest
from agentbook.tools.base import ToolContext, schema

__all__ = ["DEFAULTS", "Earlier", "Forecast", "forecast_tasks", "history"]


@dataclass(frozen=True)
class Defaults:
    """Per task, low / typical / high: model responses, output tokens each, and the input tokens
    each turn adds to the conversation (tool results, the model's own messages)."""

    turns: tuple[int, int, int] = (1, 4, 12)
    output_per_turn: tuple[int, int, int] = (150, 400, 1200)
    growth_per_turn: tuple[int, int, int] = (300, 1500, 4000)


DEFAULTS = Defaults()


@dataclass(frozen=True)
class Earlier:
    """One agent of an earlier run: its task, agent type, first request's input and usage."""

    task: str
    agent_type: str
    first_input: int
    usage: Usage
    run_dir: Path


@dataclass(frozen=True)
class Forecast:
    """One task's forecast: `tokens` and `usd` as (low, typical, high)."""

    task: str
    agent_type: str
    model: str
    first_input: int
    counted: str
    """How the first request was measured: `count_tokens` or `estimated`."""
    basis: str
    tokens: tuple[int, int, int]
    usd: tuple[float | None, float | None, float | None]


def forecast_tasks(
    tasks: Sequence[Task], config: RunConfig, earlier: Sequence[Earlier] | None = None
) -> list[Forecast]:
    """A forecast per task of a run with `config` (`earlier`: default `history()`)."""
    unknown = sorted({t.agent for t in tasks if t.agent is not None and t.agent not in config.agents})
    if unknown:  # as run_parallel would refuse them
        raise ValueError(
            f"agent type(s) {', '.join(unknown)} not defined; defined: {', '.join(config.agents) or 'none'}"
        )
    past = history() if earlier is None else list(earlier)
    models: dict[str | None, Model] = {}
    uncountable: set[str] = set()  # models whose count_tokens failed once: not asked again
    out = []
    for task in tasks:
        spec = config.agents.get(task.agent) if task.agent else None
        key = task.model or (spec.model if spec else None)
        model = models.setdefault(key, get_model(key) if key is not None else _run_model(config))
        first, counted = _count(model, first_request(task, config), uncountable)
        kind, tier = task.agent or GENERAL_PURPOSE, "batch" if is_batch(lane_of(task, config.lane)) else None
        same = [e for e in past if e.task == task.name and e.agent_type == kind] or [
            e for e in past if e.agent_type == kind
        ]
        made = _from_history(task, kind, model.name, first, same, tier) if same else _from_defaults(
            task, kind, model.name, first, tier)  # fmt: skip
        out.append(dataclasses.replace(made, counted=counted))
    return out


def first_request(task: Task, config: RunConfig) -> Request:
    """The first request `task`'s agent will send, as the scheduler's wiring builds it for a
    top-level agent (system prompt, tools, first message)."""
    spec = config.agents.get(task.agent) if task.agent else None
    names = tool_names(config, spec)
    tools = [schema(t) for t in tools_named([n for n in names if n != "Agent"])]
    if "Agent" in names and config.max_depth > 0:
        tools.append(schema(AgentTool(_no_spawn, agent_types(config.agents))))
    message = first_message(task.prompt, config.shared_context, None)
    first = message if isinstance(message, Message) else Message.user(message)
    return Request(system_prompt(config, spec, config.cwd), (first,), tools=tuple(tools),
                   max_tokens=config.max_tokens)  # fmt: skip


async def _no_spawn(request: SubagentRequest, ctx: ToolContext) -> str:
    raise AssertionError("a forecast starts no agent")


def history(folders: Iterable[Path] | None = None, limit: int = 50) -> list[Earlier]:
    """The agents that ended `done` in the newest `limit` run folders under `folders` (default
    `~/.agentbook/runs`; a plan's phase folders one level down count too).  Unreadable runs
    are skipped with a warning."""
    roots = list(folders) if folders is not None else [agentbook_home() / "runs"]
    found = [root for root in roots if (root / "run.json").is_file()]
    for root in (r for r in roots if r.is_dir()):
        found += [m.parent for m in (*root.glob("*/run.json"), *root.glob("*/*/run.json"))]
    found = sorted(set(found), key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
    out: list[Earlier] = []
    for folder in found:
        try:
            out += _earlier(folder)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # not a run of ours
            warnings.warn(f"forecast: skipped {folder}: {exc}", stacklevel=2)
    return out


def _earlier(folder: Path) -> list[Earlier]:
    run = manifest.read(folder)
    out = []
    for name, entry in run.agents.items():
        if entry.get("state") != "done" or entry.get("parent"):
            continue
        back = read_transcript(transcript_path(folder, run.session_id, entry["agent_id"]))
        calls = [c for c in back.calls if c.compacted is None] or back.calls
        if not calls:
            continue
        total = Usage()
        for call in back.calls:
            total += call.usage
        kind = (entry.get("task") or {}).get("agent") or GENERAL_PURPOSE
        out.append(Earlier(name, kind, max(1, calls[0].usage.total_input_tokens), total, folder))
    return out


def _from_history(
    task: Task, kind: str, model: str, first: int, same: Sequence[Earlier], tier: str | None
) -> Forecast:
    scaled = [_scaled(e.usage, first / e.first_input) for e in same]
    tokens = sorted(u.total_input_tokens + u.output_tokens for u in scaled)
    priced = [cost_usd(u, model, service_tier=tier) for u in scaled]
    known = sorted(c for c in priced if c is not None)
    named = "this task" if all(e.task == task.name for e in same) else f"agent type {kind}"
    basis = f"{len(same)} earlier run{'s' if len(same) > 1 else ''} of {named}"
    usd = _usd_range(known) if len(known) == len(priced) else (None, None, None)  # unknown, never $0
    return Forecast(task.name, kind, model, first, "", basis, _range(tokens), usd)


def _from_defaults(task: Task, kind: str, model: str, first: int, tier: str | None) -> Forecast:
    usages = [_default_usage(first, n, o, g) for n, o, g in zip(*DEFAULTS.__dict__.values(), strict=True)]
    low, typical, high = (u.total_input_tokens + u.output_tokens for u in usages)
    usd_low, usd_typical, usd_high = (cost_usd(u, model, service_tier=tier) for u in usages)
    turns, output = "/".join(map(str, DEFAULTS.turns)), "/".join(map(str, DEFAULTS.output_per_turn))
    basis = f"defaults: {turns} turns, {output} output tokens per turn (no earlier run of this agent type)"
    return Forecast(task.name, kind, model, first, "", basis, (low, typical, high),
                    (usd_low, usd_typical, usd_high))  # fmt: skip


def _default_usage(first: int, turns: int, output: int, growth: int) -> Usage:
    """`turns` requests with the conversation cached as it grows: each turn writes what is new
    and reads the rest."""
    writes = first + (turns - 1) * (growth + output)
    reads = (turns - 1) * first + (growth + output) * (turns - 1) * (turns - 2) // 2
    return Usage(input_tokens=0, output_tokens=turns * output, cache_creation_input_tokens=writes,
                 cache_read_input_tokens=reads)  # fmt: skip


def _scaled(usage: Usage, factor: float) -> Usage:
    return Usage(input_tokens=round(usage.input_tokens * factor), output_tokens=usage.output_tokens,
                 cache_creation_input_tokens=round(usage.cache_creation_input_tokens * factor),
                 cache_read_input_tokens=round(usage.cache_read_input_tokens * factor))  # fmt: skip


def _range(values: Sequence[int]) -> tuple[int, int, int]:
    """low / typical / high of sorted `values`: the smallest, the median and the largest; one
    value gives a range of half to twice it."""
    if len(values) == 1:
        return (values[0] // 2, values[0], values[0] * 2)
    return (values[0], round(statistics.median(values)), values[-1])


def _usd_range(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    if len(values) == 1:
        return (values[0] / 2, values[0], values[0] * 2)
    return (values[0], statistics.median(values), values[-1])


def _count(model: Model, request: Request, uncountable: set[str]) -> tuple[int, str]:
    counter = getattr(model, "count_request_tokens", None)
    if counter is not None and model.name not in uncountable:
        try:  # on agentbook's loop, where the model's clients live (a notebook's loop is busy)
            return int(background.submit(counter(request)).result(timeout=60)), "count_tokens"
        except Exception as exc:  # no credentials, no network: the estimate, said so
            uncountable.add(model.name)
            warnings.warn(
                f"forecast: count_tokens failed ({exc}); the first request is estimated", stacklevel=3
            )
    return estimate_request_tokens(request), "estimated"


def _run_model(config: RunConfig) -> Model:
    return config.model if isinstance(config.model, Model) else get_model(config.model)
