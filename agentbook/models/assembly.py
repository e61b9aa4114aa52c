"""`Assembly`: one streamed message put together from the SDK's raw events, for `AnthropicModel`.

The events are the SDK's objects, read by their attributes only, so this module needs no import of
`anthropic` (`agentbook.models.anthropic` stays the only one).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jiter

from agentbook.messages import Block, Response, Text, Thinking, ToolUse, Usage
from agentbook.models.base import ModelError, TransientModelError

__all__ = ["Assembly", "usage_from_sdk"]

_DELTA_USAGE = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class Assembly:
    """One streamed message, put together from the SDK's raw events as they arrive.

    Follows the SDK's own accumulation (`anthropic.lib.streaming`): text, tool input JSON and
    thinking arrive as deltas of the block at `index`; `message_delta` carries the stop reason and
    usage totals that replace `message_start`'s.  A stream that ends without `message_stop` was
    cut short and is a `TransientModelError`, never a truncated answer.
    """

    def __init__(self) -> None:
        self.start: Any = None
        self.blocks: list[Any] = []
        self.parts: list[list[str]] = []  # text, tool input JSON or thinking, per block
        self.signatures: dict[int, str] = {}
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.complete = False

    def add(self, event: Any) -> None:
        kind = event.type
        if kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                self.parts[event.index].append(delta.text)
            elif delta.type == "input_json_delta":
                self.parts[event.index].append(delta.partial_json)
            elif delta.type == "thinking_delta":
                self.parts[event.index].append(delta.thinking)
            elif delta.type == "signature_delta":
                self.signatures[event.index] = delta.signature
        elif kind == "content_block_start":
            self.blocks.append(event.content_block)
            self.parts.append([])
        elif kind == "message_start":
            self.start = event.message
            self.blocks = list(event.message.content)
            self.parts = [[] for _ in self.blocks]
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason
            # Totals, not increments; a field left out keeps message_start's value.
            for name in _DELTA_USAGE:
                value = getattr(event.usage, name, None)
                if value is not None:
                    self.usage[name] = value
        elif kind == "message_stop":
            self.complete = True

    def response(self, request_id: str | None, rate_limits: dict[str, str]) -> Response:
        if self.start is None or not self.complete:
            raise TransientModelError("stream ended before message_stop")
        usage = usage_from_sdk(self.start.usage)
        if self.usage:
            usage = dataclasses.replace(usage, **self.usage)
        return Response(
            id=self.start.id,
            model=self.start.model,
            content=tuple(self._block(i, b) for i, b in enumerate(self.blocks)),
            stop_reason=self.stop_reason,
            usage=usage,
            request_id=request_id,
            rate_limits=rate_limits,
        )

    def _block(self, index: int, block: Any) -> Block:
        parts = self.parts[index]
        if block.type == "text":
            return Text(block.text + "".join(parts))
        if block.type == "tool_use":
            written = "".join(parts)
            tool_input = _tool_input(block.name, written) if written else dict(block.input or {})
            return ToolUse(block.id, block.name, tool_input)
        if block.type == "thinking":
            return Thinking(block.thinking + "".join(parts), self.signatures.get(index, block.signature))
        return Text(f"[{block.type} block]")  # as `block_from_api` shows block types it does not model


def _tool_input(tool: str, written: str) -> dict[str, Any]:
    """A tool call's input from its streamed JSON.  An answer that hit `max_tokens` mid-call has
    cut-short JSON: it is read as far as it goes, as the SDK's own accumulator does, so the tool
    gets what input there is (and the model hears what was missing) rather than the agent failing."""
    try:
        value = json.loads(written)
    except json.JSONDecodeError:
        try:
            value = jiter.from_json(written.encode(), partial_mode=True)
        except ValueError as exc:
            raise ModelError(f"tool {tool!r} input is not JSON ({exc}): {written[:200]!r}") from exc
    return value if isinstance(value, dict) else {}


def usage_from_sdk(usage: Any) -> Usage:
    """agentbook's `Usage` from the SDK's usage object (a stream's `message_start`)."""
    split = getattr(usage, "cache_creation", None)
    return Usage(
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
        cache_read_input_tokens=usage.cache_read_input_tokens or 0,
        ephemeral_5m_input_tokens=(split.ephemeral_5m_input_tokens or 0) if split else 0,
        ephemeral_1h_input_tokens=(split.ephemeral_1h_input_tokens or 0) if split else 0,
    )
