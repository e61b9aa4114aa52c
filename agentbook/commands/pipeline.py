"""A pipeline file: the YAML `agentbook run` reads, checked whole before anything starts.

The tasks are what a `%%parallel_agents` or `%%phase_plan` cell body holds (name: prompt, or
name: {prompt, depends_on, files, agent, model}), either at the top level or under `tasks:`,
beside two optional keys: `options:` (run options, as `run_parallel` takes them: model, cwd,
concurrency, max_turns, budget, tools, ...) and `agents:` (inline agent definitions, or a folder
of Claude Code agent files).  Relative paths (`cwd`, an agents folder) are read from the file's
folder.  Tasks with `depends_on` make a `Plan`, whose phases run one after the other.

Every problem is a `PipelineError` naming it, raised before a run folder exists.  The file's text
is kept in the run folder (`pipeline.json`), so `agentbook resume` can go on with a plan's later
phases.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbook.budgets import Budget
from agentbook.plans import Plan, PlanError
from agentbook.plans.prompts import check_prompts
from agentbook.scheduler.config import RunConfig
from agentbook.specs import AgentFileError, AgentSpec, load_agents
from agentbook.tasks import as_tasks, read_yaml_mapping, task_mapping

__all__ = ["PIPELINE_FILE", "Pipeline", "PipelineError", "check_cluster", "read_pipeline", "saved_pipeline"]

PIPELINE_FILE = "pipeline.json"
_NOT_IN_FILES = {"run_dir", "interactive", "on_event", "on_end", "hooks", "permissions", "agents"}


class PipelineError(ValueError):
    """A pipeline file (or a run folder) that cannot run as asked; the message names the problem."""


@dataclass
class Pipeline:
    """A checked pipeline: its tasks (as `run_parallel` takes them), its `Plan` when tasks depend
    on others, and the run options (`RunConfig` keywords, validated)."""

    source: Path
    text: str
    tasks: dict[str, Any]
    options: dict[str, Any]
    plan: Plan | None

    def save(self, folder: Path, model: str | None) -> None:
        """Keep the file's text in the run folder, for `agentbook resume`."""
        data = {"source": str(self.source), "text": self.text, "model": model}
        (folder / PIPELINE_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")


def read_pipeline(path: str | Path, model: str | None = None, cluster: str | None = None) -> Pipeline:
    """The pipeline in the file at `path` (`model`, `cluster`: the command line's, over the file's)."""
    source = Path(path).expanduser().resolve()
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(f"cannot read {path}: {exc}") from None
    pipeline = parse_pipeline(text, source, model)
    if cluster is not None:
        pipeline.options["cluster"] = cluster
        try:
            RunConfig.of(**pipeline.options)
        except (TypeError, ValueError) as exc:
            raise PipelineError(f"--cluster: {exc}") from None
    return pipeline


def check_cluster(options: Mapping[str, Any]) -> None:
    """The cluster the options name (`cluster`: an address or 'local') can be reached and has a
    worker; `PipelineError` saying why not, before anything starts."""
    if options.get("cluster") is None:
        return
    from agentbook.scheduler.cluster import ClusterUnavailable, client_for

    try:
        client_for(options["cluster"])
    except ClusterUnavailable as exc:
        raise PipelineError(f"cluster: {exc}") from None


def saved_pipeline(folder: Path, model: str | None = None) -> Pipeline | None:
    """The pipeline `agentbook run` kept in `folder`, or `None` when it holds none."""
    path = folder / PIPELINE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        source, text = Path(data["source"]), data["text"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{path} cannot be read: {exc}") from None
    return parse_pipeline(text, source, model or data.get("model"))


def parse_pipeline(text: str, source: Path, model: str | None = None) -> Pipeline:
    """`text` (from the file `source`) as a checked `Pipeline`; `PipelineError` otherwise."""
    try:
        data = read_yaml_mapping(text, str(source))
        raw = dict(data)
        options = _options(raw.pop("options", None), raw.pop("agents", None), source.parent, model)
        if "tasks" in raw:
            extra = sorted(str(k) for k in raw if k != "tasks")
            if extra or not isinstance(raw["tasks"], Mapping):
                raise PipelineError(f"{source}: with 'tasks:', the only other keys are 'options' and "
                                    f"'agents' (found {extra}), and 'tasks' must be a mapping")  # fmt: skip
            raw = dict(raw["tasks"])
        if not raw:
            raise PipelineError(f"{source} names no tasks")
        tasks = task_mapping(raw)
        checked = as_tasks(tasks)
        plan = Plan(tasks) if any(t.depends_on for t in checked) else None
        if plan is not None:
            check_prompts(plan.tasks, plan.phases, 0, {})
        config = RunConfig.of(**options)
    except PipelineError:
        raise
    except (TypeError, ValueError, OSError, PlanError) as exc:  # AgentFileError, NotADirectoryError
        message = str(exc)
        raise PipelineError(message if message.startswith(str(source)) else f"{source}: {message}") from None
    for task in checked:
        if task.agent is not None and task.agent not in config.agents:
            defined = ", ".join(config.agents) or "none"
            raise PipelineError(
                f"{source}: task {task.name!r} names agent {task.agent!r}, which is not defined "
                f"(in 'agents:' or cwd/.claude/agents); defined: {defined}"
            )
    return Pipeline(source, text, tasks, options, plan)


def _options(given: Any, agents: Any, base: Path, model: str | None) -> dict[str, Any]:
    """The `options:` mapping as `RunConfig` keywords: paths from the file's folder, `agents`
    read, `budget` made a `Budget`, `model` from the command line over the file's."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise PipelineError(f"'options' must be a mapping of run options, not {given!r}")
    options = {str(k): v for k, v in given.items()}
    refused = sorted(set(options) & _NOT_IN_FILES)
    if refused:
        raise PipelineError(f"option(s) {', '.join(refused)} cannot be set in a pipeline file"
                            + (" (put agents at the top level)" if "agents" in refused else ""))  # fmt: skip
    cwd = base / Path(str(options.get("cwd", "."))).expanduser()
    options["cwd"] = cwd
    options["budget"] = Budget.of(options.get("budget"), "options.budget")
    options["interactive"] = False  # nobody answers a permission request on a pipeline's behalf
    options["agents"] = _agents(agents, base, cwd)
    if model is not None:
        options["model"] = model
    return options


def _agents(value: Any, base: Path, cwd: Path) -> dict[str, AgentSpec]:
    if value is None:
        folder = cwd / ".claude" / "agents"
        return load_agents(folder) if folder.is_dir() else {}
    if isinstance(value, str):
        return load_agents(base / Path(value).expanduser())
    if not isinstance(value, Mapping):
        raise PipelineError(f"'agents' must be a folder or a mapping of agent definitions, not {value!r}")
    specs: dict[str, AgentSpec] = {}
    for name, fields in value.items():
        if not isinstance(fields, Mapping):
            raise PipelineError(
                f"agent {name!r}: expected a mapping (prompt, tools, model, ...), got {fields!r}"
            )
        values = dict(fields)
        for key in ("tools", "disallowed_tools"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        try:
            specs[str(name)] = AgentSpec(name=str(name), **values)
        except TypeError as exc:
            raise AgentFileError(f"agent {name!r}: {exc}") from None
    return specs
