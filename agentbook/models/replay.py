"""`ReplayModel`: answers an agent's requests with the responses of a recorded transcript.

A replay shows a real agent's run (its tool calls, its texts, the API's own usage figures and,
with `pace=True`, its pacing) without a key and without the network: for demos, binder and CI,
where the offline model's board would be over in a fraction of a second, and for tests that need
real usage.  It reads agentbook's transcripts (a run folder and an agent name, or a file) and
Claude Code's (`~/.claude/projects/.../<session>/subagents/agent-<id>.jsonl`) alike.

Each request gets the next recorded response, found from the request itself: its turn is the
number of assistant messages it carries, so a resumed agent goes on where it was.  Tool calls keep
their recorded ids; the turn loop runs them (here, on whatever folder the agent has: results need
not match the original, a replay never reads them) and the next request must answer exactly
those ids.  When it does not (other ids, a request past the end of the recording), the replay
raises a `ModelError` (not transient: retrying cannot help) naming the file, the turn and what
differed, and the agent fails with it.

The reader here is the models layer's own (models cannot import the scheduler): it keeps what a
replay needs, the responses.  Claude Code writes one line per content block, sharing
`message.id` and `requestId`, with tool results written in between, and streaming snapshots of
the usage: lines are joined by (`message.id`, `requestId`) and the largest `output_tokens` is the
final usage, as `agentbook.scheduler.transcript_reading` reads them, so replayed totals equal the
transcript's totals exactly.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agentbook.messages import Block, Message, Request, Response, ToolResult, ToolUse, Usage, block_from_api
from agentbook.models.base import ModelError
from agentbook.specs import Task

__all__ = ["Recording", "ReplayModel", "read_recording"]

MAX_GAP = 30.0
"""The longest pause a paced replay makes between two responses, in seconds (after `speed`)."""


@dataclass(frozen=True)
class Recording:
    """A transcript's responses, in order, with what a replay needs around them."""

    path: Path
    prompt: str
    """The text of the first user message (the agent's task)."""
    responses: tuple[Response, ...]
    gaps: tuple[float, ...]
    """Seconds from the previous response (the prompt, for the first) to each response."""

    @property
    def model(self) -> str:
        return self.responses[0].model

    @property
    def usage(self) -> Usage:
        total = Usage()
        for response in self.responses:
            total += response.usage
        return total


@dataclass
class _Call:
    """One response as its lines build it up."""

    message_id: str
    request_id: str | None
    model: str
    at: float | None
    blocks: list[Block] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None


def read_recording(path: str | Path) -> Recording:
    """The responses of the transcript at `path` (ours or Claude Code's); `ValueError` naming
    the file when it holds none.  Lines that are not JSON objects are skipped."""
    path = Path(path)
    calls: dict[tuple[str, str | None], _Call] = {}
    prompt, started = "", None
    with path.open("rb") as lines:
        for raw in lines:
            record = _record(raw)
            kind, message = record.get("type"), record.get("message")
            at = _seconds(record.get("timestamp"))
            started = at if started is None else started
            if kind == "user" and isinstance(message, dict) and not calls and not prompt:
                prompt = Message.from_api({"role": "user", "content": message.get("content") or ""}).text
            elif kind == "assistant" and isinstance(message, dict):
                _absorb(calls, record, message, at)
    if not calls:
        raise ValueError(f"{path} holds no assistant responses to replay")
    responses = tuple(_response(c) for c in calls.values())
    times = [started, *(c.at for c in calls.values())]
    gaps = tuple(
        max(0.0, b - a) if a is not None and b is not None else 0.0 for a, b in itertools.pairwise(times)
    )
    return Recording(path, prompt, responses, gaps)


def _record(raw: bytes) -> dict[str, Any]:
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}  # a crash may cut the last line; a replay needs the responses before it
    return record if isinstance(record, dict) else {}


def _seconds(stamp: object) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _absorb(
    calls: dict[tuple[str, str | None], _Call],
    record: dict[str, Any],
    message: dict[str, Any],
    at: float | None,
) -> None:
    """Add one assistant line to its response: its blocks (each once), its usage when it is the
    largest snapshot so far, its stop reason when it has one."""
    key = (str(message.get("id") or record.get("uuid") or ""), record.get("requestId"))
    call = calls.get(key)
    if call is None:
        call = calls[key] = _Call(key[0], key[1], str(message.get("model") or ""), at)
        call.usage = Usage.from_api(message.get("usage"))
    else:
        usage = Usage.from_api(message.get("usage"))
        if usage.output_tokens > call.usage.output_tokens:
            call.usage = usage
    content = message.get("content") or []
    if isinstance(content, str):  # the API's short form of one text block
        content = [{"type": "text", "text": content}]
    for data in content if isinstance(content, list) else []:
        if not isinstance(data, dict):
            continue  # not a block: nothing to replay in it
        block = block_from_api(data)
        if block not in call.blocks:
            call.blocks.append(block)
    call.stop_reason = message.get("stop_reason") or call.stop_reason


def _response(call: _Call) -> Response:
    stop = call.stop_reason or (
        "tool_use" if any(isinstance(b, ToolUse) for b in call.blocks) else "end_turn"
    )
    return Response(call.message_id, call.model, tuple(call.blocks), stop, call.usage, call.request_id)


def _run_transcript(run_dir: Path, agent: str | None) -> Path:
    """The transcript of `agent` in an agentbook run folder (`run.json` names each agent's id;
    transcripts are `<session>/subagents/agent-<id>.jsonl`, as Claude Code lays them out)."""
    manifest = run_dir / "run.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        session, agents = str(data["session_id"]), dict(data["agents"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{run_dir} is not a readable agentbook run folder ({exc})") from None
    if agent is None and len(agents) != 1:
        raise ValueError(f"{run_dir} has {len(agents)} agents: name one with agent= ({', '.join(agents)})")
    name = agent if agent is not None else next(iter(agents))
    if name not in agents:
        raise ValueError(f"{run_dir} has no agent {name!r} (it has: {', '.join(agents)})")
    return run_dir / session / "subagents" / f"agent-{agents[name]['agent_id']}.jsonl"


Sleep = Callable[[float], Awaitable[None]]


class ReplayModel:
    """Answers requests with the responses of one recorded transcript, or of several (each
    request then from the one whose prompt its first message carries); see the module docstring.

    `path` is a transcript file, an agentbook run folder (with `agent=`, its name, unless the run
    has one agent) or a sequence of transcript files.  With `pace=True` each response comes as
    long after the previous one as it did when recorded, divided by `speed` and at most `max_gap`
    seconds (the time the agent spent since, running tools, counts); `sleep` and `clock` are
    injectable for tests.  `name` is the recorded model, so costs are priced as recorded.
    """

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        agent: str | None = None,
        *,
        pace: bool = False,
        speed: float = 1.0,
        max_gap: float = MAX_GAP,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(speed, int | float) or not math.isfinite(speed) or speed <= 0:
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        self.recordings = tuple(read_recording(p) for p in _paths(path, agent))
        models = sorted({r.model for r in self.recordings})
        if len(models) > 1:
            raise ValueError(f"the recordings use several models ({', '.join(models)}): one ReplayModel each")
        self.name = models[0]
        self.pace, self.speed, self.max_gap = pace, speed, max_gap
        self._sleep, self._clock = sleep, clock
        self._answered: dict[tuple[int, int], float] = {}  # (recording, turn) -> when it was answered

    @property
    def description(self) -> str:
        files = ", ".join(r.path.name for r in self.recordings)
        paced = f", paced x{self.speed:g}" if self.pace else ""
        return f"replay of {files} ({self.name}, recorded usage{paced})"

    def __repr__(self) -> str:
        return f"<ReplayModel: {self.description}>"

    def tasks(self) -> list[Task]:
        """One task per recording, with its recorded prompt, named by its file."""
        return [Task(r.path.stem, r.prompt) for r in self.recordings]

    async def aclose(self) -> None:
        return None

    async def respond(self, request: Request) -> Response:
        index = self._recording_for(request)
        recording = self.recordings[index]
        turn = sum(1 for m in request.messages if m.role == "assistant")
        _check(recording, request.messages, turn)
        if self.pace:
            await self._wait(index, turn)
        self._answered[(index, turn)] = self._clock()
        return recording.responses[turn]

    def _recording_for(self, request: Request) -> int:
        if len(self.recordings) == 1:
            return 0
        first = next((m.text for m in request.messages if m.role == "user"), "")
        # The recording whose prompt is the request's, else the longest one it contains (a
        # shared context may come before it): "Look" must not answer "Look around".
        exact = [i for i, r in enumerate(self.recordings) if r.prompt and r.prompt == first]
        within = sorted((i for i, r in enumerate(self.recordings) if r.prompt and r.prompt in first),
                        key=lambda i: -len(self.recordings[i].prompt))  # fmt: skip
        for index in (*exact, *within):
            return index
        raise ModelError(f"{self.description}: no recording has the prompt {first[:120]!r}")

    async def _wait(self, index: int, turn: int) -> None:
        gap = min(self.recordings[index].gaps[turn] / self.speed, self.max_gap)
        since = self._answered.get((index, turn - 1))
        spent = self._clock() - since if since is not None else 0.0
        if gap - spent > 0:
            await self._sleep(gap - spent)


def _paths(path: str | Path | Sequence[str | Path], agent: str | None) -> list[Path]:
    if isinstance(path, str | Path):
        found = Path(path).expanduser()
        return [_run_transcript(found, agent) if found.is_dir() else found]
    if agent is not None:
        raise ValueError("agent= names an agent of one run folder, not of several files")
    paths = [Path(p).expanduser() for p in path]
    if not paths:
        raise ValueError("no transcripts to replay")
    return paths


def _check(recording: Recording, messages: Iterable[Message], turn: int) -> None:
    """`ModelError` naming the file and the turn when `messages` are not the replayed conversation:
    its earlier responses must be the recorded ones (by their tool calls), and the recorded tool
    calls of the last one must be answered, each of them and no other."""
    where = f"replay of {recording.path}: request {turn + 1}"
    if turn >= len(recording.responses):
        raise ModelError(f"{where}: the recording has only {len(recording.responses)} responses")
    messages = list(messages)
    asked = [m for m in messages if m.role == "assistant"]
    for number, (sent, recorded) in enumerate(zip(asked, recording.responses, strict=False), start=1):
        if _ids(sent.tool_uses) != _ids(recorded.message.tool_uses):
            raise ModelError(
                f"{where}: response {number} in the conversation has tool calls {_ids(sent.tool_uses)}, "
                f"the recording {_ids(recorded.message.tool_uses)}"
            )
    owed = _ids(recording.responses[turn - 1].message.tool_uses) if turn else []
    last = messages[-1] if messages else None
    given = [b.tool_use_id for b in last.content if isinstance(b, ToolResult)] if last else []
    if owed and sorted(given) != sorted(owed):
        missing, extra = sorted(set(owed) - set(given)), sorted(set(given) - set(owed))
        raise ModelError(
            f"{where}: tool results differ from the recorded calls (missing {missing}, unexpected {extra})"
        )


def _ids(calls: Iterable[ToolUse]) -> list[str]:
    return [c.id for c in calls]
