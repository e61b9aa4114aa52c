"""Messages, content blocks and usage: the small typed values every other module passes around.

The turn loop, the models, transcripts and frames all speak these types, so only
`models/anthropic.py` needs to know the SDK's own classes.  Each type converts to and from the
Messages API's JSON shape (`to_api` / `from_api`), which is also the shape transcripts store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeAlias

__all__ = [
    "EPHEMERAL",
    "Block",
    "Message",
    "Request",
    "Response",
    "Role",
    "StopReason",
    "Text",
    "Thinking",
    "ToolResult",
    "ToolSchema",
    "ToolUse",
    "Usage",
    "block_from_api",
    "block_to_api",
]

Role: TypeAlias = Literal["user", "assistant"]
EPHEMERAL: dict[str, str] = {"type": "ephemeral"}
"""A prompt-cache breakpoint with the default (5-minute) lifetime."""
StopReason: TypeAlias = str  # "end_turn", "tool_use", "max_tokens", "stop_sequence", "pause_turn", ...


@dataclass(frozen=True, slots=True)
class Text:
    """A text block; `cache` puts a prompt-cache breakpoint after it (`cache_control`)."""

    text: str
    type: Literal["text"] = "text"
    cache: bool = False


@dataclass(frozen=True, slots=True)
class ToolUse:
    """The model asks for a tool to run with `input`."""

    id: str
    name: str
    input: dict[str, Any]
    type: Literal["tool_use"] = "tool_use"


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool's answer to the `ToolUse` with the same id; `is_error` tells the model it failed."""

    tool_use_id: str
    content: str
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"


@dataclass(frozen=True, slots=True)
class Thinking:
    """An extended-thinking block, kept verbatim so it can be sent back unchanged."""

    thinking: str
    signature: str = ""
    type: Literal["thinking"] = "thinking"


Block: TypeAlias = Text | ToolUse | ToolResult | Thinking


def block_to_api(block: Block) -> dict[str, Any]:
    """The Messages API's JSON for one block."""
    if isinstance(block, Text):
        text: dict[str, Any] = {"type": "text", "text": block.text}
        if block.cache:
            text["cache_control"] = EPHEMERAL
        return text
    if isinstance(block, ToolResult):
        out: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": block.tool_use_id,
            "content": block.content,
        }
        if block.is_error:
            out["is_error"] = True
        return out
    return {f.name: getattr(block, f.name) for f in fields(block)}


def block_from_api(data: dict[str, Any]) -> Block:
    """Parse one block of the Messages API's JSON.

    Block types agentbook does not model (images, documents, server tool blocks, redacted
    thinking) become a `Text` placeholder naming the type, so any transcript can be read.
    """
    kind = data.get("type")
    if kind == "text":
        return Text(data["text"], cache=bool(data.get("cache_control")))
    if kind == "tool_use":
        return ToolUse(data["id"], data["name"], dict(data.get("input") or {}))
    if kind == "tool_result":
        return ToolResult(data["tool_use_id"], _result_text(data.get("content")), bool(data.get("is_error")))
    if kind == "thinking":
        return Thinking(data.get("thinking", ""), data.get("signature", ""))
    return Text(f"[{kind} block]")


def _result_text(content: Any) -> str:
    # A tool_result's content may be a string or a list of text blocks; we keep the text.
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation turn: a role and its blocks."""

    role: Role
    content: tuple[Block, ...]

    @classmethod
    def user(cls, text: str) -> Message:
        return cls("user", (Text(text),))

    def to_api(self) -> dict[str, Any]:
        return {"role": self.role, "content": [block_to_api(b) for b in self.content]}

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Message:
        content = data["content"]
        if isinstance(content, str):
            return cls(data["role"], (Text(content),))
        return cls(data["role"], tuple(block_from_api(b) for b in content))

    @property
    def text(self) -> str:
        """The message's text blocks joined."""
        return "".join(b.text for b in self.content if isinstance(b, Text))

    @property
    def tool_uses(self) -> tuple[ToolUse, ...]:
        return tuple(b for b in self.content if isinstance(b, ToolUse))


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one API response, with the API's own field names.

    `input_tokens` counts only the tokens after the last cache breakpoint; the total input is
    `input_tokens + cache_creation_input_tokens + cache_read_input_tokens`.  `estimated` is true
    when the figures were not reported by the API (the offline model estimates them).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0
    estimated: bool = False

    TOKEN_FIELDS = (
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "ephemeral_5m_input_tokens",
        "ephemeral_1h_input_tokens",
    )

    def __add__(self, other: Usage) -> Usage:
        sums = {n: getattr(self, n) + getattr(other, n) for n in self.TOKEN_FIELDS}
        return Usage(**sums, estimated=self.estimated or other.estimated)

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    def to_api(self) -> dict[str, Any]:
        """The API's usage JSON, as Claude Code stores it in transcripts."""
        out: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }
        split = self.ephemeral_5m_input_tokens + self.ephemeral_1h_input_tokens
        # Readers such as ccusage take the split as the write total when it is present, so it is
        # written only when it accounts for every cache write.
        if split == self.cache_creation_input_tokens:
            out["cache_creation"] = {
                "ephemeral_5m_input_tokens": self.ephemeral_5m_input_tokens,
                "ephemeral_1h_input_tokens": self.ephemeral_1h_input_tokens,
            }
        out["output_tokens"] = self.output_tokens
        if self.estimated:
            out["estimated"] = True
        return out

    @classmethod
    def from_api(cls, data: dict[str, Any] | None) -> Usage:
        data = data or {}
        split = data.get("cache_creation") or {}
        return cls(
            input_tokens=int(data.get("input_tokens") or 0),
            output_tokens=int(data.get("output_tokens") or 0),
            cache_creation_input_tokens=int(data.get("cache_creation_input_tokens") or 0),
            cache_read_input_tokens=int(data.get("cache_read_input_tokens") or 0),
            ephemeral_5m_input_tokens=int(split.get("ephemeral_5m_input_tokens") or 0),
            ephemeral_1h_input_tokens=int(split.get("ephemeral_1h_input_tokens") or 0),
            estimated=bool(data.get("estimated")),
        )


@dataclass(frozen=True, slots=True)
class Response:
    """One model response: the assistant message plus what the API said about it."""

    id: str
    model: str
    content: tuple[Block, ...]
    stop_reason: StopReason | None
    usage: Usage
    request_id: str | None = None
    rate_limits: dict[str, str] = field(default_factory=dict, compare=False)
    """The response's `anthropic-ratelimit-*` headers (name without the prefix -> value)."""
    service_tier: str | None = None
    """`"batch"` for an answer of the Message Batches API (priced at the batch rates); else `None`."""

    @classmethod
    def from_api(cls, data: dict[str, Any], **extra: Any) -> Response:
        """A Messages API message's JSON as a `Response` (straight into agentbook's types: the
        SDK's models would cost more than the rest of a turn); `extra` gives what the message does
        not hold (request id, rate limits, service tier).  `KeyError`, `TypeError`,
        `AttributeError` or `ValueError` when `data` is not a message."""
        content = tuple(block_from_api(b) for b in data["content"])
        usage = Usage.from_api(data.get("usage"))
        return cls(data["id"], data["model"], content, data.get("stop_reason"), usage, **extra)

    @property
    def message(self) -> Message:
        return Message("assistant", self.content)


@dataclass(frozen=True, slots=True)
class ToolSchema:
    """A tool as the model sees it."""

    name: str
    description: str
    input_schema: dict[str, Any]

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}


@dataclass(frozen=True, slots=True)
class Request:
    """What a model is asked: everything `messages.create` needs, in agentbook's types."""

    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSchema, ...] = ()
    max_tokens: int = 8192
    metadata: dict[str, Any] = field(default_factory=dict)
    cache_system: bool = False
    """Put a prompt-cache breakpoint after the system prompt (tools and system become cacheable)."""
    cache_turns: bool = False
    """Put a prompt-cache breakpoint after the last message too, as Claude Code does on every
    turn: the next turn (and a `fork` child) reads the conversation so far from the cache."""
