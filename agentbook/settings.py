"""Claude Code's settings files: the permission rules and command hooks a run can take from them.

`read_settings("project", cwd)` reads and merges, as Claude Code does, the user's
`~/.claude/settings.json`, the project's `.claude/settings.json` and `.claude/settings.local.json`
(later files win a scalar such as `permissions.defaultMode`; rule and hook lists add up); a path
reads that one file.  Only what agentbook acts on is read: `permissions.allow/ask/deny/defaultMode`
and `hooks`; other keys are left alone.  A file that is not JSON, or a key of the wrong shape,
raises `SettingsError` naming the file and the key, before anything starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["HOOK_EVENTS", "ClaudeSettings", "HookCommand", "HookGroup", "SettingsError", "read_settings"]

HOOK_EVENTS = ("PreToolUse", "PostToolUse", "Stop", "SubagentStart", "SubagentStop", "Notification")
"""The hook events agentbook runs (others in a file are kept out, and named in `ignored`)."""

DEFAULT_HOOK_TIMEOUT_S = 60.0


class SettingsError(ValueError):
    """A settings file agentbook cannot use: not JSON, or a key of the wrong shape."""


@dataclass(frozen=True)
class HookCommand:
    """One `{"type": "command", "command": ..., "timeout": ...}` entry."""

    command: str
    timeout_s: float = DEFAULT_HOOK_TIMEOUT_S


@dataclass(frozen=True)
class HookGroup:
    """A matcher (a tool-name regular expression; empty or `*` for every tool) and its commands."""

    matcher: str
    commands: tuple[HookCommand, ...]


@dataclass(frozen=True)
class ClaudeSettings:
    """What the settings say that agentbook acts on; `sources` the files read, in order."""

    allow: tuple[str, ...] = ()
    ask: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    default_mode: str | None = None
    hooks: Mapping[str, tuple[HookGroup, ...]] = field(default_factory=dict)
    sources: tuple[Path, ...] = ()
    ignored: tuple[str, ...] = ()
    """Hook events in the files that agentbook does not run."""

    def merged(self, other: ClaudeSettings) -> ClaudeSettings:
        """These settings with `other`'s on top (lists add up, `other`'s mode wins)."""
        hooks = {e: (*self.hooks.get(e, ()), *other.hooks.get(e, ())) for e in {*self.hooks, *other.hooks}}
        return ClaudeSettings(
            (*self.allow, *other.allow), (*self.ask, *other.ask), (*self.deny, *other.deny),
            other.default_mode or self.default_mode, hooks, (*self.sources, *other.sources),
            tuple(sorted({*self.ignored, *other.ignored})),
        )  # fmt: skip


def read_settings(
    source: str | Path, cwd: str | Path = ".", home: str | Path | None = None
) -> ClaudeSettings:
    """The settings of `source`: `"project"` (the three files above, each optional) or a path."""
    if source == "project":
        root, user = Path(cwd).resolve(), Path(home) if home is not None else Path.home()
        paths = [user / ".claude/settings.json", root / ".claude/settings.json"]
        paths.append(root / ".claude/settings.local.json")
        settings = ClaudeSettings()
        for path in paths:
            if path.is_file():
                settings = settings.merged(_read(path))
        return settings
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"settings file {path} does not exist (or pass settings='project')")
    return _read(path)


def _read(path: Path) -> ClaudeSettings:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SettingsError(f"{path} is not JSON agentbook can read: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: the settings must be a JSON object, not {type(data).__name__}")
    rules = _mapping(data.get("permissions", {}), path, "permissions")
    lists = {
        kind: tuple(_strings(rules.get(kind, []), path, f"permissions.{kind}"))
        for kind in ("allow", "ask", "deny")
    }
    mode = rules.get("defaultMode")
    if mode is not None and not isinstance(mode, str):
        raise SettingsError(f"{path}: permissions.defaultMode must be a string, not {mode!r}")
    hooks, ignored = _hooks(_mapping(data.get("hooks", {}), path, "hooks"), path)
    return ClaudeSettings(lists["allow"], lists["ask"], lists["deny"], mode, hooks, (path,), ignored)


def _hooks(data: Mapping[str, Any], path: Path) -> tuple[dict[str, tuple[HookGroup, ...]], tuple[str, ...]]:
    hooks: dict[str, tuple[HookGroup, ...]] = {}
    for event, groups in data.items():
        if event not in HOOK_EVENTS:
            continue  # Claude Code's to check (its prompt hooks, say): agentbook does not run them
        if not isinstance(groups, list):
            raise SettingsError(f"{path}: hooks.{event} must be a list of matcher groups, not {groups!r}")
        hooks[event] = tuple(_group(g, path, f"hooks.{event}[{i}]") for i, g in enumerate(groups))
    return hooks, tuple(sorted(set(data) - set(HOOK_EVENTS)))


def _group(data: Any, path: Path, key: str) -> HookGroup:
    group = _mapping(data, path, key)
    matcher = group.get("matcher", "")
    if not isinstance(matcher, str):
        raise SettingsError(f"{path}: {key}.matcher must be a string, not {matcher!r}")
    entries = group.get("hooks", [])
    if not isinstance(entries, list):
        raise SettingsError(f"{path}: {key}.hooks must be a list, not {entries!r}")
    commands = []
    for i, entry in enumerate(entries):
        hook = _mapping(entry, path, f"{key}.hooks[{i}]")
        command, timeout = hook.get("command"), hook.get("timeout", DEFAULT_HOOK_TIMEOUT_S)
        if hook.get("type", "command") != "command" or not isinstance(command, str) or not command.strip():
            raise SettingsError(f"{path}: {key}.hooks[{i}] must be {{'type': 'command', 'command': '...'}}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 3600:
            raise SettingsError(
                f"{path}: {key}.hooks[{i}].timeout must be seconds in (0, 3600], not {timeout!r}"
            )
        commands.append(HookCommand(command, float(timeout)))
    return HookGroup(matcher, tuple(commands))


def _mapping(value: Any, path: Path, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SettingsError(f"{path}: {key} must be a JSON object, not {value!r}")
    return value


def _strings(value: Any, path: Path, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{path}: {key} must be a list of rule strings, not {value!r}")
    return value
