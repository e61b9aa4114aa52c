"""The tool contract: what a tool is, what it is given, and how it fails.

Tools carry Claude Code's names and input schemas so that prompts and agent files written for
Claude Code work unchanged.  Two kinds of failure are kept apart on purpose:

* `ToolError` is the model's mistake (a bad path, a non-unique edit, a refused escape).  The loop
  sends its message back as an `is_error` tool result and the agent goes on.
* Any other exception is a harness failure; the loop ends the agent with that reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from agentbook.messages import ToolSchema
from agentbook.tools.sandbox import Sandbox, is_secret

__all__ = ["Tool", "ToolContext", "ToolError", "schema", "validate_input"]


class ToolError(Exception):
    """A failure the model caused and can correct; its message goes back to the model."""


@dataclass
class ToolContext:
    """What a tool may touch.

    `root` is the agent's confinement root: every path a tool reads, writes or passes to the
    shell must resolve inside it.  `env` is the environment the shell sees (secrets removed).
    `sandbox`, when set, confines every Bash call (`agentbook.tools.sandbox`); without it Bash
    runs behind a path guard only.
    """

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    sandbox: Sandbox | None = None
    bash_timeout_s: float = 120.0
    bash_max_timeout_s: float = 600.0
    max_output_chars: int = 30_000
    # Grep's time limit: past it ripgrep is killed and the model told to narrow the search.
    grep_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        self.root = Path(os.path.realpath(self.root))

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """The real path of `path` (relative to `root`), or `ToolError` if it leaves `root`.

        Symlinks are resolved before the check, so a link pointing outside is refused too; so are
        secrets inside the root (`agentbook.tools.sandbox.is_secret`: `~/.ssh` and the like, and
        the sandbox's hidden paths).
        """
        text = os.fspath(path)
        if not text:
            raise ToolError("path is empty")
        if "\x00" in text:
            raise ToolError("path contains a NUL byte")
        candidate = Path(text).expanduser()
        if not candidate.is_absolute():
            candidate = self.root / candidate
        try:
            real = Path(os.path.realpath(candidate))
        except OSError as exc:  # a path changing under the check (a Bash call swapping it)
            raise ToolError(f"path {text!r} cannot be resolved now: {exc.strerror or exc}") from None
        if real != self.root and self.root not in real.parents:
            raise ToolError(f"path {text!r} is outside the agent's root {self.root}; access refused")
        if is_secret(real, self.sandbox.hidden if self.sandbox else ()):
            raise ToolError(
                f"path {text!r} holds secrets (credentials, keys) hidden from agents; access refused"
            )
        return real

    def display(self, path: str | os.PathLike[str]) -> str:
        """`path` (absolute and normalised) relative to the root, as tools print it; `.` for the
        root itself, and a path outside it unchanged."""
        text, root = os.fspath(path), str(self.root)
        if text == root:
            return "."
        inside = root if root.endswith(os.sep) else root + os.sep
        return text[len(inside) :] if text.startswith(inside) else text


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def validate_input(input_schema: dict[str, Any], input: object) -> dict[str, Any]:
    """Check `input` against the small JSON Schema subset tools use; return a normalised copy.

    Supported: an object schema with `properties` (each with `type`, optional `enum`, `minimum`,
    `maximum`), `required`, and `additionalProperties: false`.  Every failure is a `ToolError`
    naming the offending key, because a malformed call is the model's mistake.  Leniencies, on
    purpose: an optional key sent as `null` counts as absent, and a float with an integral value
    (`10.0`) is accepted for an `integer` and converted, as models sometimes send those.
    """
    if not isinstance(input, dict):
        raise ToolError(f"tool input must be a JSON object, got {type(input).__name__}")
    properties: dict[str, dict[str, Any]] = input_schema.get("properties", {})
    required: list[str] = input_schema.get("required", [])
    if input_schema.get("additionalProperties") is False:
        unknown = sorted(k for k in input if k not in properties)
        if unknown:
            allowed = ", ".join(properties)
            raise ToolError(f"unknown parameter {unknown[0]!r}; this tool accepts: {allowed}")
    out: dict[str, Any] = {}
    for key, value in input.items():
        if value is None and key not in required:
            continue
        out[key] = _check_value(key, value, properties.get(key, {}))
    for key in required:
        if key not in out:
            raise ToolError(f"missing required parameter {key!r}")
    return out


def _check_value(key: str, value: object, spec: dict[str, Any]) -> object:
    kind = spec.get("type")
    if kind is not None:
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        # bool is a subclass of int in Python but not a number in JSON.
        wrong_bool = isinstance(value, bool) and kind != "boolean"
        if wrong_bool or not isinstance(value, _JSON_TYPES[kind]):
            raise ToolError(f"parameter {key!r} must be of type {kind}, got {_json_type_name(value)}")
    if "enum" in spec and value not in spec["enum"]:
        choices = ", ".join(repr(c) for c in spec["enum"])
        raise ToolError(f"parameter {key!r} must be one of {choices}, got {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in spec and value < spec["minimum"]:
            raise ToolError(f"parameter {key!r} must be >= {spec['minimum']}, got {value}")
        if "maximum" in spec and value > spec["maximum"]:
            raise ToolError(f"parameter {key!r} must be <= {spec['maximum']}, got {value}")
    return value


def _json_type_name(value: object) -> str:
    for name, types in _JSON_TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name != "boolean"):
            return name
    return "null" if value is None else type(value).__name__


@runtime_checkable
class Tool(Protocol):
    """A tool the turn loop can run.

    `run` returns the text the model sees.  It raises `ToolError` for model mistakes; anything
    else it raises ends the agent.  It must honour cancellation (`asyncio.CancelledError`) and
    leave no process or file handle behind when cancelled.
    """

    name: str
    description: str
    input_schema: dict[str, Any]

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str: ...


def schema(tool: Tool) -> ToolSchema:
    """The schema the model is shown for `tool`."""
    return ToolSchema(tool.name, tool.description, tool.input_schema)
