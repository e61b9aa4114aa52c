"""`ScriptedModel`: answers from a queue, for tests and clearly labelled demos.

Each queued item is one response: a string (a final text answer), a `ToolUse` or a list of
blocks (tool calls and text), a ready `Response`, a callable that builds one from the request,
or an exception instance to raise (to script failures).  Requests are recorded for assertions.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TypeAlias

from agentbook.messages import Block, Request, Response, Text, ToolUse, Usage
from agentbook.models.base import estimate_request_tokens, estimate_tokens

__all__ = ["ScriptStep", "ScriptedModel"]

ScriptStep: TypeAlias = (
    str | ToolUse | Sequence[Block] | Response | Callable[[Request], Response] | BaseException
)


class ScriptedModel:
    """Replays `steps` in order; raises `IndexError` naming the request when the script runs out."""

    def __init__(self, steps: Iterable[ScriptStep] = (), *, name: str = "scripted") -> None:
        self.name = name
        self._steps: deque[ScriptStep] = deque(steps)
        self.requests: list[Request] = []
        self._ids = itertools.count(1)

    @property
    def description(self) -> str:
        return f"scripted responses ({len(self._steps)} left)"

    async def aclose(self) -> None:
        return None

    def add(self, *steps: ScriptStep) -> None:
        """Queue more responses."""
        self._steps.extend(steps)

    async def respond(self, request: Request) -> Response:
        self.requests.append(request)
        if not self._steps:
            raise IndexError(
                f"ScriptedModel {self.name!r} has no response left for request {len(self.requests)}"
            )
        step = self._steps.popleft()
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, Response):
            return step
        if callable(step):
            return step(request)
        blocks: tuple[Block, ...]
        if isinstance(step, str):
            blocks = (Text(step),)
        elif isinstance(step, ToolUse):
            blocks = (step,)
        else:
            blocks = tuple(step)
        return self.reply(request, blocks)

    def reply(self, request: Request, blocks: tuple[Block, ...]) -> Response:
        """A response carrying `blocks`, with estimated usage."""
        stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
        out_text = "".join(b.text if isinstance(b, Text) else repr(b) for b in blocks)
        usage = Usage(
            input_tokens=estimate_request_tokens(request),
            output_tokens=estimate_tokens(out_text),
            estimated=True,
        )
        return Response(f"msg_scripted_{next(self._ids):06d}", self.name, blocks, stop, usage)
