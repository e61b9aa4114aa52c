"""`RunConfig`: every option of a run, documented on its field and validated once.

`run_parallel` builds one from its keywords, the magics from their arguments, `Plan` and `batch`
pass theirs through, and `load_run` rebuilds one from a run's manifest.  Validation happens here
and nowhere else, before anything starts: a bad value raises `TypeError` or `ValueError` naming
the option (and for `cwd`, `NotADirectoryError`), and no run folder is created.

`to_json` keeps what can be written down (no callables, no model objects, nothing secret);
`from_json` reads it back, with the things it could not keep given again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentbook.agent.hooks import Hooks
from agentbook.budgets import Budget
from agentbook.models import Model
from agentbook.models.lanes import BatchLane, Lane, check_lane
from agentbook.models.retry import RetryPolicy
from agentbook.scheduler.ratelimit import RateLimits
from agentbook.specs import (
    AGENTBOOK_TOOLS,
    DEFAULT_MAX_TURNS,
    NETWORK_SETTINGS,
    PERMISSION_MODES,
    AgentSpec,
    NetworkSetting,
    PermissionMode,
    SandboxSetting,
    check_name,
    check_text,
    is_sandbox_setting,
    load_agents,
)
from agentbook.tools.permissions import Permissions

__all__ = ["DEFAULT_MAX_TOKENS", "RunConfig", "spec_from_json", "spec_json"]

DEFAULT_MAX_TOKENS = 8192


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Every option of a run; see the module docstring.  Fields are normalised on creation
    (`cwd` resolved, `agents` loaded from a folder, `permissions` made from `permission_mode`)."""

    model: Model | str | None = None
    """A `Model`, a name (`offline`, an alias such as `sonnet`, a model id) or `None` for the
    default (Claude when the SDK's variables are set, else the offline model)."""
    cwd: Path = Path(".")
    """The folder agents work in (with `isolation="worktree"`, the repository)."""
    concurrency: int | None = None
    """How many agents work at once; `None`: all of them."""
    agents: Mapping[str, AgentSpec] = field(default_factory=dict)
    """Agent definitions that tasks name with `agent` (or a folder of Claude Code agent files)."""
    tools: tuple[str, ...] | None = None
    """The tools of agents without an agent definition; `None`: every built-in tool."""
    max_turns: int = DEFAULT_MAX_TURNS
    """The most model responses per agent (per start or resume)."""
    max_tokens: int = DEFAULT_MAX_TOKENS
    """`max_tokens` of every model request."""
    permissions: Permissions = field(default_factory=Permissions)
    """Allow / ask / deny rules and a mode, judged before every tool call."""
    permission_mode: PermissionMode | None = None
    """A mode to put `permissions` in (`default`, `acceptEdits`, `bypassPermissions`, `dontAsk`,
    `plan`); after creation it is the mode `permissions` has."""
    interactive: bool | None = None
    """Whether an `ask` waits for an answer (`True`) or is denied (`False`); `None`: inside a
    Jupyter kernel."""
    hooks: Hooks = field(default_factory=Hooks)
    """Callbacks before and after tool calls and at each agent's start and end."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """How transient API errors are retried."""
    rate_limits: RateLimits | None = None
    """Known per-minute limits of the model; `None`: learned from the API's headers."""
    max_depth: int = 1
    """How deep sub-agents spawned with the Agent tool may nest (0: no Agent tool)."""
    system: str | None = None
    """The system prompt of agents without an agent definition (`{root}` is their folder)."""
    isolation: Literal["worktree"] | None = None
    """`"worktree"`: each agent in its own git worktree and branch of `cwd`."""
    base: str = "HEAD"
    """The commit worktrees start from."""
    shared_context: str | None = None
    """Text that opens every agent's first message, as a cached prefix."""
    warm_cache: bool = False
    """Send one agent's first request alone so that its siblings read the cache it writes."""
    max_result_tokens: int | None = None
    """Ask agents to keep their final answers under this many tokens."""
    name: str | None = None
    """The run's name (default: its folder's name); names its worktree branches."""
    run_dir: Path | None = None
    """Where transcripts and the manifest go (default: a new folder under `~/.agentbook/runs`)."""
    sandbox: SandboxSetting = "auto"
    """Every Bash call in a bubblewrap sandbox (`agentbook.tools.sandbox`): `"auto"` where it
    works, else Bash asks in every mode (a warning says why); `True`: refuse to start without it;
    `False`: no sandbox, an explicit opt-out (recorded in the manifest, shown on the board)."""
    network: NetworkSetting = "off"
    """Whether sandboxed commands reach the network (`"on"`) or have none (`"off"`)."""
    hidden_paths: tuple[str, ...] = ()
    """Paths (`~` allowed) hidden in the sandbox on top of its list of secrets (`~/.ssh` ...)."""
    compact_at_tokens: int | None = None
    """Compact an agent's conversation (a model-written summary in its place, as Claude Code's
    auto-compact) before a request whose input would pass this many tokens; `None`: never."""
    budget: Budget | None = None
    """The most the whole run (every agent, sub-agent and teammate) may spend; each request is
    refused that could pass it (`agentbook.scheduler.budgets`).  Tasks and agent files have their own."""
    lane: Lane = "standard"
    """How model requests travel: `"standard"` (one Messages API call each) or `"batch"` (through
    the Message Batches API at half price, for fan-outs nobody watches live; a `BatchLane` sets
    its timings); a task's own `lane` wins."""
    settings: str | None = None
    """The Claude Code settings the run read (`run_parallel(settings=...)`: a file's absolute path,
    or `"project"`); their rules are in `permissions`, their command hooks in `hooks`, and
    `load_run` reads their hooks again from here."""

    cluster: Any = None
    """Where the agents run: `None` in this process (on its background thread), else on a Dask
    cluster: a `distributed.Client`, a scheduler address (`"tcp://host:8786"`) or `"local"` (a
    `LocalCluster` sized to this machine); see `agentbook.scheduler.cluster`."""

    def __post_init__(self) -> None:
        _check_types(self)
        set_ = object.__setattr__  # normalising a frozen dataclass once, on creation
        cwd = Path(self.cwd).expanduser().resolve()
        if not cwd.is_dir():
            raise NotADirectoryError(f"cwd is not a folder: {cwd}")
        set_(self, "cwd", cwd)
        agents = self.agents
        set_(self, "agents", dict(load_agents(agents) if isinstance(agents, str | Path) else agents))
        if self.tools is not None:
            set_(self, "tools", _tool_names(self.tools))
        set_(self, "hidden_paths", tuple(self.hidden_paths))
        if self.permission_mode is not None and self.permission_mode != self.permissions.mode:
            set_(self, "permissions", self.permissions.with_mode(self.permission_mode))
        set_(self, "permission_mode", self.permissions.mode)
        if self.run_dir is not None:  # resolved now: a later chdir must not move the run
            set_(self, "run_dir", Path(self.run_dir).expanduser().resolve())

    @classmethod
    def of(cls, config: RunConfig | None = None, /, **options: Any) -> RunConfig:
        """`config` with `options` replaced (validated again), or a new config of `options`.

        `TypeError` names an unknown option."""
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"unknown run option(s) {', '.join(unknown)}; options: {', '.join(OPTION_NAMES)}")
        if config is None:
            return cls(**{k: v for k, v in options.items() if v is not None or k in _NONE_MEANS_NONE})
        if "permissions" in options and "permission_mode" not in options:
            options["permission_mode"] = None  # the new rules keep their own mode
        return dataclasses.replace(config, **options)

    @property
    def worktrees(self) -> bool:
        """Whether any agent of the run works in a worktree."""
        return self.isolation == "worktree" or any(s.isolation == "worktree" for s in self.agents.values())

    def to_json(self) -> dict[str, Any]:
        """The options that can be written down: not the hooks, the retry policy's random source
        or a `Model` object (its name is kept)."""
        model = self.model if isinstance(self.model, str) else None  # a Model object is given again
        rules = {kind: [str(r) for r in getattr(self.permissions, kind)] for kind in ("allow", "ask", "deny")}
        return {
            "model": model, "cwd": str(self.cwd), "concurrency": self.concurrency,
            "agents": {n: spec_json(s) for n, s in self.agents.items()},
            "tools": list(self.tools) if self.tools is not None else None,
            "max_turns": self.max_turns, "max_tokens": self.max_tokens,
            "permissions": rules, "permission_mode": self.permissions.mode,
            "interactive": self.interactive,
            "retry": {"max_attempts": self.retry.max_attempts, "base_s": self.retry.base_s,
                      "cap_s": self.retry.cap_s, "deadline_s": self.retry.deadline_s},
            "rate_limits": dataclasses.asdict(self.rate_limits) if self.rate_limits else None,
            "max_depth": self.max_depth, "system": self.system, "isolation": self.isolation,
            "base": self.base, "shared_context": self.shared_context, "warm_cache": self.warm_cache,
            "max_result_tokens": self.max_result_tokens, "name": self.name,
            "sandbox": self.sandbox, "network": self.network, "hidden_paths": list(self.hidden_paths),
            "settings": self.settings, "compact_at_tokens": self.compact_at_tokens,
            "budget": self.budget.to_json() if self.budget is not None else None,
            "lane": dataclasses.asdict(self.lane) if isinstance(self.lane, BatchLane) else self.lane,
            "cluster": cluster_address(self.cluster),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any], **given: Any) -> RunConfig:
        """The config `to_json` wrote, with `given` options (hooks, a model, permissions) on top."""
        options = dict(data)
        options["agents"] = {n: spec_from_json(s) for n, s in (options.get("agents") or {}).items()}
        rules = options.pop("permissions", None) or {}
        options["permissions"] = Permissions(**rules, mode=options.get("permission_mode") or "default")
        if options.get("retry"):
            options["retry"] = RetryPolicy(**options["retry"])
        if isinstance(options.get("lane"), dict):
            options["lane"] = BatchLane(**options["lane"])
        if options.get("rate_limits"):
            options["rate_limits"] = RateLimits(**options["rate_limits"])
        options["budget"] = Budget.of(options.get("budget"), "the manifest's budget")
        for key in ("tools", "hidden_paths"):
            if options.get(key) is not None:
                options[key] = tuple(options[key])
        options = {k: v for k, v in options.items() if k in OPTION_NAMES and (v is not None or k in given)}
        return cls.of(**{**options, **given})


OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunConfig))
# Options whose None is a choice, not "unset" (every other None takes the default).
_NONE_MEANS_NONE = frozenset({"model", "concurrency", "tools", "interactive", "rate_limits", "system",
                              "isolation", "shared_context", "max_result_tokens", "name", "run_dir",
                              "permission_mode", "settings", "compact_at_tokens", "budget",
                              "cluster"})  # fmt: skip


def _tool_names(tools: Sequence[str]) -> tuple[str, ...]:
    if isinstance(tools, str) or not isinstance(tools, Sequence | set | frozenset):
        raise TypeError(f"tools must be a list of tool names, not {type(tools).__name__} {tools!r}")
    names = tuple(tools)
    unknown = [t for t in names if not isinstance(t, str) or t not in AGENTBOOK_TOOLS]
    if unknown:
        raise ValueError(
            f"tools: unknown tool name(s): {', '.join(map(repr, unknown))}; known tools: "
            f"{', '.join(AGENTBOOK_TOOLS)}"
        )
    return names


def _check_types(config: RunConfig) -> None:
    """Each option's type and range, named in the error."""
    _integer(config, "concurrency", 1, optional=True)
    _integer(config, "max_turns", 1)
    _integer(config, "max_tokens", 1)
    _integer(config, "max_depth", 0)
    _integer(config, "max_result_tokens", 1, optional=True)
    _integer(config, "compact_at_tokens", 1, optional=True)
    if config.model is not None and not isinstance(config.model, str | Model):
        raise TypeError(f"model must be a Model, a model name or None, not {config.model!r}")
    if isinstance(config.model, str) and not config.model.strip():
        raise ValueError("model name is empty")
    for option in ("cwd", "run_dir"):
        value = getattr(config, option)
        if not isinstance(value, str | Path) and not (option == "run_dir" and value is None):
            raise TypeError(f"{option} must be a path, not {type(value).__name__} {value!r}")
    if not isinstance(config.permissions, Permissions):
        hint = (
            f" (for a mode, pass permission_mode={config.permissions!r})"
            if config.permissions in PERMISSION_MODES
            else ""
        )
        raise TypeError(f"permissions must be an agentbook.Permissions, not {config.permissions!r}{hint}")
    if config.permission_mode is not None and config.permission_mode not in PERMISSION_MODES:
        raise ValueError(
            f"permission_mode must be one of {', '.join(PERMISSION_MODES)}, not {config.permission_mode!r}"
        )
    for option, kind in (("hooks", Hooks), ("retry", RetryPolicy)):
        if not isinstance(getattr(config, option), kind):
            raise TypeError(f"{option} must be a {kind.__name__}, not {getattr(config, option)!r}")
    if config.rate_limits is not None and not isinstance(config.rate_limits, RateLimits):
        raise TypeError(f"rate_limits must be a RateLimits or None, not {config.rate_limits!r}")
    for option in ("interactive", "warm_cache"):
        value = getattr(config, option)
        if not isinstance(value, bool) and not (option == "interactive" and value is None):
            raise TypeError(f"{option} must be True or False, not {value!r}")
    _check_objects(config)
    for option in ("system", "shared_context"):
        value = getattr(config, option)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{option} must be a string or None, not {type(value).__name__} {value!r}")
        if value is not None:
            check_text(option, value)
    if config.shared_context is not None and not config.shared_context.strip():
        raise ValueError("shared_context is empty: the API refuses an empty text block (use None)")
    if config.name is not None:
        check_name("the run name", config.name)
    _check_isolation(config)
    _check_agents(config.agents)


def _check_objects(config: RunConfig) -> None:
    if config.budget is not None and not isinstance(config.budget, Budget):
        raise TypeError(f"budget must be an ab.Budget or None, not {config.budget!r}")
    if config.settings is not None and not isinstance(config.settings, str):
        raise TypeError(f"settings must be a path or 'project', not {config.settings!r}")
    cluster_address(config.cluster)


def cluster_address(cluster: Any) -> str | None:
    """The scheduler address a `cluster` option names (`"local"` stays `"local"`), or `None`;
    `TypeError`/`ValueError` for anything that is not a Client, an address or `"local"`."""
    if cluster is None:
        return None
    if isinstance(cluster, str):
        if not cluster.strip():
            raise ValueError("cluster is empty: give a scheduler address, 'local' or a distributed.Client")
        return cluster.strip()
    if not (hasattr(cluster, "submit") and hasattr(cluster, "scheduler")):
        raise TypeError(
            f"cluster must be a distributed.Client, a scheduler address or 'local', not {cluster!r}"
        )
    return getattr(cluster.scheduler, "address", None)  # None once the client has closed


def _check_isolation(config: RunConfig) -> None:
    """The worktree, sandbox and lane options: where agents work and how their requests travel."""
    check_lane("lane", config.lane)
    if config.isolation not in (None, "worktree"):
        raise ValueError(f"isolation must be None or 'worktree', not {config.isolation!r}")
    if not isinstance(config.base, str) or not config.base.strip():
        raise ValueError(f"base must be a commit-ish such as 'HEAD', not {config.base!r}")
    if not is_sandbox_setting(config.sandbox):
        raise ValueError(f"sandbox must be 'auto', True or False, not {config.sandbox!r}")
    if config.network not in NETWORK_SETTINGS:
        raise ValueError(f"network must be 'off' or 'on', not {config.network!r}")
    paths = config.hidden_paths
    listed = isinstance(paths, Sequence) and not isinstance(paths, str)
    if not listed or not all(p and isinstance(p, str) for p in paths):
        raise TypeError(f"hidden_paths must be a list of paths, not {paths!r}")
    relative = [p for p in paths if not p.startswith(("/", "~"))]
    if relative:  # relative to what? the process's folder is not the agents' root
        raise ValueError(f"hidden_paths must be absolute or start with ~, not {relative[0]!r}")


def _integer(config: RunConfig, option: str, least: int, *, optional: bool = False) -> None:
    value = getattr(config, option)
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{option} must be a whole number, not {type(value).__name__} {value!r}")
    if value < least:
        raise ValueError(f"{option} must be at least {least}, not {value}")


def _check_agents(agents: object) -> None:
    if isinstance(agents, str | Path):
        return  # a folder: load_agents checks every file
    if not isinstance(agents, Mapping):
        raise TypeError(f"agents must be a mapping of name to AgentSpec or a folder, not {agents!r}")
    for name, spec in agents.items():
        check_name("agent name", name)
        if not isinstance(spec, AgentSpec):
            raise TypeError(f"agents[{name!r}] must be an AgentSpec, not {spec!r}")


def spec_json(spec: AgentSpec) -> dict[str, Any]:
    """An agent definition as JSON (its source file as a string)."""
    data = dataclasses.asdict(spec)
    data["source"] = str(spec.source) if spec.source else None
    for key in ("tools", "disallowed_tools"):
        data[key] = list(data[key]) if data[key] is not None else None
    return data


def spec_from_json(data: Mapping[str, Any]) -> AgentSpec:
    """The agent definition `spec_json` wrote."""
    values = dict(data)
    values["source"] = Path(values["source"]) if values.get("source") else None
    values["tools"] = tuple(values["tools"]) if values.get("tools") is not None else None
    values["disallowed_tools"] = tuple(values.get("disallowed_tools") or ())
    return AgentSpec(**values)
