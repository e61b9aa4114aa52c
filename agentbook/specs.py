"""Agent definitions (`AgentSpec`), tasks (`Task`), and the loader for Claude Code agent files.

A Claude Code agent file is Markdown with YAML frontmatter; the body is the system prompt:

    ---
    name: code-reviewer
    description: Reviews code for quality
    tools: Read, Grep, Glob
    model: sonnet
    ---
    You are a code reviewer...

`load_agents` reads a folder of them.  Fields Claude Code knows but agentbook does not use
(`color`, `skills`, `hooks`, `mcpServers`, `memory`, ...) are accepted and ignored, as Claude Code
ignores fields it does not know.  A malformed file raises `AgentFileError` naming the file and
the problem, and nothing is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import yaml

from agentbook.budgets import Budget

PermissionMode: TypeAlias = Literal["default", "acceptEdits", "bypassPermissions", "dontAsk", "plan"]
PERMISSION_MODES: tuple[str, ...] = ("default", "acceptEdits", "bypassPermissions", "dontAsk", "plan")
SandboxSetting: TypeAlias = Literal["auto"] | bool
"""`"auto"`: Bash in the sandbox where bubblewrap works (else Bash asks); `True`: refuse to start
without it; `False`: no sandbox, an explicit opt-out."""
NetworkSetting: TypeAlias = Literal["off", "on"]
NETWORK_SETTINGS: tuple[str, ...] = ("off", "on")


def is_sandbox_setting(value: object) -> bool:
    """Whether `value` is a `SandboxSetting` (`1` is not `True` here)."""
    return value is True or value is False or value == "auto"


DEFAULT_MAX_TURNS = 30
"""The most model responses an agent gets per start, unless told otherwise."""
AGENTBOOK_TOOLS = ("Read", "Glob", "Grep", "Bash", "Edit", "Write", "Agent")
# The tools that change files: what acceptEdits approves, plan mode refuses, and plans read as edits.
EDIT_TOOLS = frozenset({"Edit", "Write"})
# Claude Code tools that agentbook does not provide: named in real agent files, so accepted
# (and left out) rather than refused.  Anything else is a typo and refused.
OTHER_CLAUDE_CODE_TOOLS = (
    "WebFetch",
    "WebSearch",
    "NotebookEdit",
    "NotebookRead",
    "TodoWrite",
    "TodoRead",
    "BashOutput",
    "KillShell",
    "KillBash",
    "ExitPlanMode",
    "EnterPlanMode",
    "SlashCommand",
    "Skill",
    "LS",
    "MultiEdit",
    "AskUserQuestion",
    "ListMcpResourcesTool",
    "ReadMcpResourceTool",
    "TaskOutput",
    "TaskStop",
    "TaskCreate",
    "TaskList",
    "TaskGet",
    "TaskUpdate",
    "SendMessage",
)
TOOL_RENAMES = {"Task": "Agent"}  # Claude Code's old name for the Agent tool


_NAME = re.compile(r"[^\W_][\w.-]*")


def check_name(kind: str, name: object) -> str:
    """`name` if it can name a folder and a branch component: letters, digits, `_`, `.` and `-`,
    starting with a letter or digit, no `..`, not ending in `.` or `.lock`, at most 100
    characters; else `ValueError` naming `kind` (`TypeError` if it is not a string)."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} must be a string, not {type(name).__name__} {name!r}")
    if not _NAME.fullmatch(name) or ".." in name or name.endswith((".", ".lock")) or len(name) > 100:
        raise ValueError(
            f"{kind} {name!r} must be letters, digits, '_', '.' and '-' (no spaces, '/' or '..'), "
            "start with a letter or digit, not end in '.' or '.lock', and be at most 100 characters"
        )
    return name


def check_text(label: str, text: str) -> str:
    """`text` if it can be written (UTF-8: no lone surrogates from a bad decode); else `ValueError`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{label} cannot be written as UTF-8 ({exc.reason} at {exc.start})") from None
    return text


class AgentFileError(ValueError):
    """An agent file (or an agent definition) is malformed; the message names file and problem."""


@dataclass(frozen=True)
class AgentSpec:
    """What an agent is: its system prompt, tools, model and limits.

    `tools=None` means every agentbook tool; `model=None` means the run's model (Claude Code's
    `inherit`).  `prompt` is the system prompt.
    """

    name: str
    prompt: str = ""
    description: str = ""
    tools: tuple[str, ...] | None = None
    disallowed_tools: tuple[str, ...] = ()
    model: str | None = None
    max_turns: int | None = None
    permission_mode: PermissionMode | None = None
    isolation: Literal["worktree"] | None = None
    sandbox: SandboxSetting | None = None
    network: NetworkSetting | None = None
    background: bool = False
    """Claude Code's `background: true`: the Agent tool runs agents of this type in the background
    unless the call says otherwise (`run_in_background`)."""
    budget: Budget | None = None
    """The most one agent of this type (with its sub-agents) may spend (`budget:` in the file)."""
    context: Literal["fork"] | None = None
    """Claude Code's `context: fork`: an agent of this type starts from its caller's conversation
    so far, with the caller's system prompt, tools and model, so its first request reads the
    caller's cached prefix (`agentbook.scheduler.forking`); this file's body goes before its task."""
    source: Path | None = None

    def __post_init__(self) -> None:
        try:  # a mapping (an agent file's `budget:`, a manifest's) becomes a Budget
            object.__setattr__(self, "budget", Budget.of(self.budget, "budget"))
        except (TypeError, ValueError) as exc:
            where = f" in {self.source}" if self.source else ""
            raise AgentFileError(f"agent {self.name!r}{where}: {exc}") from None
        problems = _spec_problems(self)
        if problems:
            where = f" in {self.source}" if self.source else ""
            raise AgentFileError(f"agent {self.name!r}{where}: " + "; ".join(problems))

    def allowed_tools(self) -> tuple[str, ...]:
        """The agentbook tools this agent may use, in a stable order."""
        chosen = self.tools if self.tools is not None else AGENTBOOK_TOOLS
        return tuple(t for t in AGENTBOOK_TOOLS if t in chosen and t not in self.disallowed_tools)


@dataclass(frozen=True)
class Task:
    """One unit of work: a named prompt, optionally for a named agent, with dependencies and files."""

    name: str
    prompt: str
    agent: str | None = None
    depends_on: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    model: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    budget: Budget | None = None
    """The most this task's agent (with its sub-agents) may spend; the run's budget covers it too."""
    lane: str | None = None
    """`"standard"` or `"batch"` (the Message Batches API); `None`: the run's lane."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", Budget.of(self.budget, f"task {self.name!r}: budget"))
        for label, value in (("name", self.name), ("prompt", self.prompt)):
            if not isinstance(value, str):
                raise TypeError(f"task {label} must be a string, not {type(value).__name__} {value!r}")
        for label, optional in (("agent", self.agent), ("model", self.model)):
            if optional is not None and not isinstance(optional, str):
                raise TypeError(f"task {self.name!r}: {label} must be a string, not {optional!r}")
        for label, values in (("depends_on", self.depends_on), ("files", self.files)):
            if isinstance(values, str) or not all(isinstance(v, str) for v in values):
                raise TypeError(f"task {self.name!r}: {label} must be a tuple of strings, not {values!r}")
        if self.lane not in (None, "standard", "batch"):
            raise ValueError(f"task {self.name!r}: lane must be 'standard' or 'batch', not {self.lane!r}")
        check_text(f"task {self.name!r}: the prompt", self.prompt)


def _spec_problems(spec: AgentSpec) -> list[str]:
    problems = []
    if not spec.name or not isinstance(spec.name, str):
        problems.append("name must be a non-empty string")
    if spec.max_turns is not None and (not isinstance(spec.max_turns, int) or spec.max_turns < 1):
        problems.append(f"maxTurns must be a positive integer, not {spec.max_turns!r}")
    if spec.permission_mode is not None and spec.permission_mode not in PERMISSION_MODES:
        problems.append(
            f"permissionMode {spec.permission_mode!r} is not one of {', '.join(PERMISSION_MODES)}"
        )
    if spec.isolation not in (None, "worktree"):
        problems.append(f"isolation {spec.isolation!r} is not 'worktree'")
    if spec.sandbox is not None and not is_sandbox_setting(spec.sandbox):
        problems.append(f"sandbox {spec.sandbox!r} is not one of 'auto', true, false")
    if not isinstance(spec.background, bool):
        problems.append(f"background must be true or false, not {spec.background!r}")
    if spec.context not in (None, "fork"):
        problems.append(f"context {spec.context!r} is not 'fork'")
    if spec.network is not None and spec.network not in NETWORK_SETTINGS:
        problems.append(f"network {spec.network!r} is not 'off' or 'on'")
    for label, names in (("tools", spec.tools or ()), ("disallowedTools", spec.disallowed_tools)):
        unknown = [n for n in names if n not in AGENTBOOK_TOOLS]
        if unknown:
            problems.append(f"{label}: unknown tool(s) {', '.join(map(repr, unknown))}")
    return problems


def load_agents(directory: str | Path) -> dict[str, AgentSpec]:
    """Every `*.md` agent file in `directory`, by agent name.

    Raises `AgentFileError` for a malformed file or two files defining one name, and
    `FileNotFoundError` when the folder does not exist.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"no agent folder at {folder}")
    agents: dict[str, AgentSpec] = {}
    for path in sorted(folder.glob("*.md")):
        spec = load_agent_file(path)
        if spec.name in agents:
            raise AgentFileError(
                f"{path}: agent name {spec.name!r} is already defined in {agents[spec.name].source}"
            )
        agents[spec.name] = spec
    return agents


def load_agent_file(path: str | Path) -> AgentSpec:
    """One Claude Code agent file; `AgentFileError` names the file and what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AgentFileError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    front, body = _split_frontmatter(path, text)
    try:
        meta = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        raise AgentFileError(f"{path}: frontmatter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise AgentFileError(f"{path}: frontmatter must be a mapping of fields, got {type(meta).__name__}")
    for required in ("name", "description"):
        if not isinstance(meta.get(required), str) or not meta[required].strip():
            raise AgentFileError(f"{path}: required field {required!r} is missing or empty")
    model = meta.get("model")
    if model is not None and not isinstance(model, str):
        raise AgentFileError(f"{path}: model must be a string (alias, model id or 'inherit'), got {model!r}")
    return AgentSpec(
        name=meta["name"].strip(),
        prompt=body.strip(),
        description=meta["description"].strip(),
        tools=_tool_list(path, "tools", meta.get("tools")),
        disallowed_tools=_tool_list(path, "disallowedTools", meta.get("disallowedTools")) or (),
        model=None if model in (None, "inherit") else model,
        max_turns=meta.get("maxTurns"),
        permission_mode=meta.get("permissionMode"),
        isolation=meta.get("isolation"),
        sandbox=meta.get("sandbox"),
        network=meta.get("network"),
        background=meta.get("background", False),
        context=meta.get("context"),
        budget=meta.get("budget"),
        source=path,
    )


def _split_frontmatter(path: Path, text: str) -> tuple[str, str]:
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise AgentFileError(f"{path}: no YAML frontmatter (the file must start with a '---' line)")
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1 :])
    raise AgentFileError(f"{path}: frontmatter is not closed by a '---' line")


def _tool_list(path: Path, label: str, value: Any) -> tuple[str, ...] | None:
    """Claude Code's tool field: a comma-separated string or a list; `Bash(git *)` keeps `Bash`."""
    if value is None:
        return None
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise AgentFileError(f"{path}: {label} must be a comma-separated string or a list, got {value!r}")
    names = []
    for item in items:
        if not isinstance(item, str):
            raise AgentFileError(f"{path}: {label} entries must be strings, got {item!r}")
        name = item.strip().split("(", 1)[0].strip()
        if not name:
            continue
        name = TOOL_RENAMES.get(name, name)
        if name in OTHER_CLAUDE_CODE_TOOLS or name.startswith("mcp__"):
            continue  # a Claude Code tool agentbook lacks: the agent simply does not get it
        if name not in AGENTBOOK_TOOLS:
            raise AgentFileError(
                f"{path}: {label}: unknown tool {name!r} (known: {', '.join(AGENTBOOK_TOOLS)})"
            )
        names.append(name)
    return tuple(dict.fromkeys(names))


__all__ = [
    "AGENTBOOK_TOOLS",
    "DEFAULT_MAX_TURNS",
    "EDIT_TOOLS",
    "NETWORK_SETTINGS",
    "OTHER_CLAUDE_CODE_TOOLS",
    "PERMISSION_MODES",
    "TOOL_RENAMES",
    "AgentFileError",
    "AgentSpec",
    "NetworkSetting",
    "PermissionMode",
    "SandboxSetting",
    "Task",
    "check_name",
    "check_text",
    "is_sandbox_setting",
    "load_agent_file",
    "load_agents",
]
