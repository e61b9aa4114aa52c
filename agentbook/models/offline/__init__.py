"""`OfflineModel`: a deterministic, network-free model that really explores.

It drives the same tools a real model would, through the same loop, so transcripts, events,
frames and widgets all work without an API key:

1. it lists and counts the lines of the paths the prompt names (else the agent's root) with
   `Glob` and `Grep`, and Greps for the prompt's identifiers and content words, in one turn
   (`agentbook.models.offline._prompt` reads the prompt);
2. it `Read`s the entry points, build files, README and largest sources to their end (in pages,
   up to a cap it states), and the spots where the prompt's words occur
   (`agentbook.models.offline._reading`);
3. it answers in Markdown: where the prompt's words occur, or plainly that it cannot answer
   (why, opinions, changes), then the files, line counts, entry points and top-level definitions
   with the first line of their docstrings (`agentbook.models.offline._answer`).

A place the prompt names that does not exist, or a root that cannot be listed, is a failure:
`respond` raises `ModelError` and the loop ends the agent `failed`, rather than `done` on nothing.
Its token counts are estimates (4 characters a token, `Usage.estimated`), and it costs nothing.
Everything it decides is a function of the conversation, so a resumed agent picks up where it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence

from agentbook.messages import Block, Message, Request, Response, Text, ToolUse, Usage
from agentbook.models.base import ModelError, estimate_request_tokens, estimate_tokens
from agentbook.models.offline._answer import MAX_FILES_LISTED, summary
from agentbook.models.offline._prompt import DOC_SUFFIXES, SOURCE_SUFFIXES
from agentbook.models.offline._reading import MAX_READS, NOISE_PARTS, Seen, follow_ups, missing, reads, survey

__all__ = ["DOC_SUFFIXES", "MAX_FILES_LISTED", "MAX_READS", "NOISE_PARTS", "SOURCE_SUFFIXES", "OfflineModel"]


class OfflineModel:
    """Explores with Glob, Grep and Read, then answers what it can; needs no network and no key."""

    name = "offline"

    def __init__(self, pace_s: float = 0.0) -> None:
        """`pace_s`: seconds each response takes (0: at once), so a board visibly moves in a
        demo, as a real model's would; the answers are the same."""
        if isinstance(pace_s, bool) or not isinstance(pace_s, int | float) or not 0 <= pace_s <= 60:
            raise ValueError(f"pace_s must be a number of seconds from 0 to 60, not {pace_s!r}")
        self.pace_s = float(pace_s)

    @property
    def description(self) -> str:
        paced = f", paced at {self.pace_s:g} s a response" if self.pace_s else ""
        return (
            f"offline model (no API key configured): deterministic exploration, estimated tokens, $0{paced}"
        )

    async def aclose(self) -> None:
        return None

    async def respond(self, request: Request) -> Response:
        """The next turn: survey, reads, more reads, then the answer; `ModelError` when a place
        to survey does not exist (a harness-level failure: answering would pretend it did)."""
        if self.pace_s:
            await asyncio.sleep(self.pace_s)
        tools = {t.name for t in request.tools}
        prompt = _first_prompt(request.messages)
        seen = Seen.of(request.messages)
        turn = sum(1 for m in request.messages if m.role == "assistant")
        blocks: list[Block]
        if not {"Glob", "Grep", "Read"} <= tools:
            blocks = [Text(_no_tools_answer(prompt, tools))]
        elif not seen.calls:
            blocks = survey(prompt, turn)
        elif problem := missing(seen):
            raise ModelError(problem)
        elif all(c.name != "Read" for c in seen.calls):
            blocks = reads(prompt, seen, turn) or [Text(summary(prompt, request.system, seen))]
        else:
            blocks = follow_ups(prompt, seen, turn) or [Text(summary(prompt, request.system, seen))]
        return _response(request, blocks)


def _response(request: Request, blocks: Sequence[Block]) -> Response:
    out = json.dumps(
        [b.text if isinstance(b, Text) else [b.__class__.__name__, getattr(b, "input", None)] for b in blocks]
    )
    usage = Usage(
        input_tokens=estimate_request_tokens(request), output_tokens=estimate_tokens(out), estimated=True
    )
    digest = hashlib.sha256(json.dumps([m.to_api() for m in request.messages]).encode()).hexdigest()[:24]
    stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
    return Response(f"msg_offline_{digest}", OfflineModel.name, tuple(blocks), stop, usage)


def _first_prompt(messages: Sequence[Message]) -> str:
    for message in messages:
        if message.role == "user" and message.text:
            return message.text
    return ""


def _no_tools_answer(prompt: str, tools: set[str]) -> str:
    have = ", ".join(sorted(tools)) or "none"
    return (
        "The offline model explores with Glob, Grep and Read, and this agent does not have all three "
        f"(it has: {have}). It cannot answer: {prompt[:200]!r}"
    )
