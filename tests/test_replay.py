"""`ReplayModel`: real Claude Code sub-agent transcripts replayed through the real turn loop and
scheduler reproduce their usage totals exactly; divergence, pacing and agentbook run folders.

The transcripts are the MIT-licensed ones in data/claude-code-transcripts (marot/spotter's
`<session>/subagents/agent-*.jsonl`, compaction calls included).  Their tool calls name folders
of the machine they were recorded on: here they run on an empty folder with read-only tools and
fail harmlessly (Bash and the web tools are not given, so they are unknown tools): a replay checks
the ids and order of the tool results, never their content.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agentbook.messages import Message, Request, Response, Text, ToolResult, ToolUse, Usage
from agentbook.models import ModelError, ReplayModel, ScriptedModel, TransientModelError
from agentbook.models.replay import read_recording
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.transcript_reading import read_transcript

DATA = Path(__file__).resolve().parents[1] / "data" / "claude-code-transcripts"
SUBAGENTS = sorted((DATA / "marot__spotter").glob("*/subagents/agent-*.jsonl"))
READ_ONLY = ["Read", "Glob", "Grep"]

# The totals of each file, as read_transcript (and load_claude_code) count them; the replay must
# give these, so they are written out here as well as compared with the reader's.
TOTALS = {
    "agent-a2898e3": (53, 136, 71_257, 604_156, 12),
    "agent-a7be2f0": (94, 33, 13_554, 299_487, 13),
    "agent-a881341": (15, 3, 42_176, 34_159, 3),
    "agent-a93ccab": (70, 28, 45_621, 329_070, 11),
    "agent-aa84377": (52, 17, 52_562, 306_055, 9),
    "agent-aac57f5": (2_408, 7, 18_814, 29_274, 3),
    "agent-acompact-70d8e7": (3, 6, 2_414, 166_873, 1),
    "agent-acompact-946d2b": (3, 8, 121_689, 17_842, 1),
    "agent-acompact-e1f845": (3, 8, 8_681, 164_830, 1),
    "agent-acompact-f46190": (3, 6, 2_814, 167_093, 1),
    "agent-acompact-fffbd0": (3, 6, 2_487, 166_758, 1),
    "agent-afc096d": (219, 28, 39_438, 457_858, 18),
}


def figures(usage: Usage, calls: int) -> tuple[int, ...]:
    return (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_creation_input_tokens,
        usage.cache_read_input_tokens,
        calls,
    )


def test_the_shared_sub_agent_transcripts_are_all_here() -> None:
    assert sorted(p.stem for p in SUBAGENTS) == sorted(TOTALS)


@pytest.mark.parametrize("path", SUBAGENTS, ids=lambda p: p.stem)
def test_replaying_a_real_sub_agent_transcript_reproduces_its_usage_exactly(
    path: Path, tmp_path: Path
) -> None:
    recorded = read_transcript(path)
    assert figures(recorded.usage, len(recorded.calls)) == TOTALS[path.stem]
    model = ReplayModel(path)
    assert model.name == recorded.calls[0].model and f"replay of {path.name}" in model.description
    (tmp_path / "work").mkdir()
    run = run_parallel(model.tasks(), model=model, cwd=tmp_path / "work", run_dir=tmp_path / "run",
                       tools=READ_ONLY, max_turns=50, interactive=False)  # fmt: skip
    run.wait()
    record = run.records[path.stem]
    assert (record.state, record.error) == ("done", None)
    assert record.usage == recorded.usage  # every field, the 5m/1h split too
    assert figures(record.usage, len(record.calls)) == TOTALS[path.stem]
    assert [c.message_id for c in record.calls] == [c.message_id for c in recorded.calls]
    assert record.model == recorded.calls[0].model and record.cost_usd and record.cost_usd > 0
    # What the run wrote reads back with the same totals (ccusage and load_claude_code see them).
    assert read_transcript(record_path(run.run_dir, record.agent_id)).usage == recorded.usage


def record_path(run_dir: Path, agent_id: str) -> Path:
    (found,) = run_dir.glob(f"*/subagents/agent-{agent_id}.jsonl")
    return found


def test_several_recordings_in_one_run_each_answer_their_own_task(tmp_path: Path) -> None:
    haiku = [p for p in SUBAGENTS if read_recording(p).model.startswith("claude-haiku")]
    assert len(haiku) == 4
    model = ReplayModel(haiku)
    run = run_parallel(model.tasks(), model=model, cwd=tmp_path, run_dir=tmp_path / "run",
                       tools=READ_ONLY, max_turns=50, interactive=False)  # fmt: skip
    run.wait()
    for path in haiku:
        record = run.records[path.stem]
        assert record.state == "done" and record.usage == read_transcript(path).usage
    with pytest.raises(ValueError, match="several models"):
        ReplayModel(SUBAGENTS)


# ---- divergence --------------------------------------------------------------------------------


def ask(model: ReplayModel, *messages: Message) -> Response:
    return asyncio.run(model.respond(Request("", tuple(messages))))


def conversation(path: Path, turns: int) -> list[Message]:
    """The recorded conversation up to request `turns + 1`, answered with empty tool results."""
    recording = read_recording(path)
    messages = [Message.user(recording.prompt)]
    for response in recording.responses[:turns]:
        messages.append(response.message)
        messages.append(Message("user", tuple(ToolResult(c.id, "") for c in response.message.tool_uses)))
    return messages


def test_a_request_past_the_recording_is_an_error_naming_the_file_and_turn() -> None:
    path = DATA / "marot__spotter/ae4a77f8-aedd-4bc1-888f-c94edc91af04/subagents/agent-aac57f5.jsonl"
    model = ReplayModel(path)
    messages = conversation(path, 3)
    messages[-1] = Message.user("and one more thing")
    with pytest.raises(ModelError) as caught:
        ask(model, *messages)
    assert not isinstance(caught.value, TransientModelError)
    assert str(path) in str(caught.value) and "request 4" in str(caught.value)
    assert "only 3 responses" in str(caught.value)


def test_tool_results_for_other_ids_are_an_error_that_says_which() -> None:
    path = SUBAGENTS[0]
    model = ReplayModel(path)
    messages = conversation(path, 1)
    first = read_recording(path).responses[0].message.tool_uses
    messages[-1] = Message(
        "user", (ToolResult("toolu_other", ""), *(ToolResult(c.id, "") for c in first[1:]))
    )
    with pytest.raises(ModelError, match=r"request 2: tool results differ .*missing \['" + first[0].id):
        ask(model, *messages)
    assert ask(model, *conversation(path, 1)).id == read_recording(path).responses[1].id


def test_a_conversation_that_is_not_the_recorded_one_is_an_error(tmp_path: Path) -> None:
    path = SUBAGENTS[0]
    messages = conversation(path, 1)
    messages[1] = Message("assistant", (ToolUse("toolu_mine", "Read", {"file_path": "x"}),))
    messages[2] = Message("user", (ToolResult("toolu_mine", ""),))
    with pytest.raises(ModelError, match="response 1 in the conversation has tool calls"):
        ask(ReplayModel(path), *messages)


def test_an_agent_that_asks_past_the_recording_fails_with_the_replay_error(tmp_path: Path) -> None:
    path = write_transcript(tmp_path / "cut.jsonl", ["10:00:00.000", "10:00:01.000", "10:00:02.000"])
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # cut before the final answer
    model = ReplayModel(path)
    run = run_parallel({"cut": "Look around"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run",
                       tools=READ_ONLY, interactive=False)  # fmt: skip
    run.wait()
    record = run.records["cut"]
    assert record.state == "failed" and record.turns == 1
    assert record.error == f"model error: replay of {path}: request 2: the recording has only 1 responses"


def test_a_partial_replay_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = next(p for p in SUBAGENTS if p.stem == "agent-a7be2f0")
    model = ReplayModel(path)
    run = run_parallel(model.tasks(), model=model, cwd=tmp_path, run_dir=tmp_path / "run",
                       tools=READ_ONLY, max_turns=5, interactive=False)  # fmt: skip
    run.wait()
    assert (run.records[path.stem].state, run.records[path.stem].turns) == ("partial", 5)
    run.resume(path.stem, max_turns=50)
    run.wait()
    record = run.records[path.stem]
    assert (record.state, record.turns) == ("done", 13) and record.usage == read_transcript(path).usage


def test_with_several_recordings_an_unknown_prompt_is_an_error() -> None:
    haiku = [p for p in SUBAGENTS if read_recording(p).model.startswith("claude-haiku")]
    with pytest.raises(ModelError, match="no recording has the prompt 'hello'"):
        ask(ReplayModel(haiku), Message.user("hello"))


# ---- pacing ------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_pacing_sleeps_the_recorded_gaps_scaled_capped_and_less_the_time_spent(tmp_path: Path) -> None:
    path = write_transcript(tmp_path / "paced.jsonl", ["10:00:00.000", "10:00:04.000", "10:00:10.000",
                                                       "10:02:00.000"])  # fmt: skip
    clock = Clock()
    model = ReplayModel(path, pace=True, speed=2.0, max_gap=5.0, sleep=clock.sleep, clock=clock)
    assert "paced x2" in model.description
    ask(model, *written_conversation(0))
    clock.now += 1.0  # the tools took a second
    ask(model, *written_conversation(1))
    ask(model, *written_conversation(2))
    # 4 s / 2; 6 s / 2 less the second spent; 110 s / 2, capped at 5 s.
    assert clock.slept == [2.0, 2.0, 5.0]
    unpaced = Clock()
    ask(ReplayModel(path, sleep=unpaced.sleep, clock=unpaced), *written_conversation(0))
    assert unpaced.slept == []
    with pytest.raises(ValueError, match="speed"):
        ReplayModel(path, speed=0)


def write_transcript(path: Path, stamps: list[str]) -> Path:
    """A Claude Code transcript: the prompt at `stamps[0]`, then one response per later stamp (two
    tool calls, each written on its own line with its result in between, then a final text)."""
    lines: list[dict[str, object]] = [user(stamps[0], "Look around")]
    for turn, stamp in enumerate(stamps[1:]):
        message_id, last = f"msg_{turn}", turn == len(stamps) - 2
        blocks = [{"type": "text", "text": "done"}] if last else [
            {"type": "tool_use", "id": f"toolu_{turn}_{n}", "name": "Read", "input": {"file_path": "x"}}
            for n in range(2)
        ]  # fmt: skip
        for n, block in enumerate(blocks):
            usage = {"input_tokens": 3, "output_tokens": 1 + n * 10, "cache_read_input_tokens": 100 * turn}
            message = {"id": message_id, "model": "claude-haiku-4-5", "role": "assistant",
                       "content": [block], "stop_reason": None, "usage": usage}  # fmt: skip
            stamped = f"2026-01-09T{stamp}Z"
            lines.append(
                {"type": "assistant", "timestamp": stamped, "requestId": f"req_{turn}", "message": message}
            )
            if block["type"] == "tool_use":
                lines.append(
                    user(stamp, [{"type": "tool_result", "tool_use_id": block["id"], "content": "x"}])
                )
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in lines), encoding="utf-8")
    return path


def user(stamp: str, content: object) -> dict[str, object]:
    return {
        "type": "user",
        "timestamp": f"2026-01-09T{stamp}Z",
        "message": {"role": "user", "content": content},
    }


def written_conversation(turns: int) -> list[Message]:
    messages = [Message.user("Look around")]
    for turn in range(turns):
        calls = tuple(ToolUse(f"toolu_{turn}_{n}", "Read", {"file_path": "x"}) for n in range(2))
        messages += [Message("assistant", calls), Message("user", tuple(ToolResult(c.id, "") for c in calls))]
    return messages


def test_lines_of_one_response_are_joined_with_the_largest_usage(tmp_path: Path) -> None:
    path = write_transcript(tmp_path / "t.jsonl", ["10:00:00.000", "10:00:01.000", "10:00:02.000"])
    recording = read_recording(path)
    first = recording.responses[0]
    assert [b.id for b in first.message.tool_uses] == ["toolu_0_0", "toolu_0_1"]
    assert first.usage == Usage(input_tokens=3, output_tokens=11) and first.stop_reason == "tool_use"
    assert (
        recording.responses[1].content == (Text("done"),) and recording.responses[1].stop_reason == "end_turn"
    )
    assert recording.usage == read_transcript(path).usage and recording.prompt == "Look around"


# ---- agentbook run folders -----------------------------------------------------------------------


def test_a_replay_of_an_agentbook_run_folder_replays_the_named_agent(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Notes\n")
    calls = [
        ToolUse("toolu_a", "Read", {"file_path": "notes.md"}),
        ToolUse("toolu_b", "Glob", {"pattern": "*"}),
    ]
    model = ScriptedModel([calls, "The folder has one note.", "hi"])
    tasks = {"reader": "Read the notes", "idle": "Say hi"}
    first = run_parallel(tasks, cwd=tmp_path, run_dir=tmp_path / "run1", model=model, concurrency=1,
                         interactive=False)  # fmt: skip
    first.wait()
    original = first.records["reader"]
    assert original.state == "done"
    with pytest.raises(ValueError, match="has 2 agents: name one"):
        ReplayModel(tmp_path / "run1")
    with pytest.raises(ValueError, match="no agent 'nobody'"):
        ReplayModel(tmp_path / "run1", agent="nobody")
    replay = ReplayModel(tmp_path / "run1", agent="reader")
    assert replay.name == "scripted" and "replay of agent-" in repr(replay)
    again = run_parallel({"reader": "Read the notes"}, model=replay, cwd=tmp_path, run_dir=tmp_path / "run2",
                         interactive=False)  # fmt: skip
    again.wait()
    record = again.records["reader"]
    assert (record.state, record.turns, record.text) == ("done", 2, "The folder has one note.")
    assert record.usage == original.usage
    assert [c.message_id for c in record.calls] == [c.message_id for c in original.calls]
