"""Transcripts: Claude Code's layout, line-by-line flushing, faithful read-back, no secrets."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from agentbook.agent.loop import run_agent
from agentbook.messages import Message, Response, Text, ToolUse, Usage
from agentbook.models import ScriptedModel
from agentbook.scheduler.transcripts import TranscriptWriter, read_transcript, transcript_path
from agentbook.tools.base import ToolContext

# Real Claude Code transcripts (MIT), copied from ../shared/data with their licences.
DATA = Path(__file__).resolve().parents[1] / "data" / "claude-code-transcripts"


class Show:
    name = "Show"
    description = "print a value"
    input_schema: dict[str, Any] = {"type": "object"}

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> str:
        return str(input.get("value", os.environ.get("ANTHROPIC_API_KEY")))


def scripted_run(tmp_path: Path, agent_id: str | None = None) -> tuple[Any, Path, ScriptedModel]:
    usage = Usage(120, 30, 1000, 5000, 400, 600)
    model = ScriptedModel(
        [
            Response(
                "msg_1",
                "claude-sonnet-4-5",
                (Text("Looking."), ToolUse("toolu_1", "Show", {"value": 42})),
                "tool_use",
                usage,
                "req_1",
            ),
            Response(
                "msg_2", "claude-sonnet-4-5", (Text("The value is 42."),), "end_turn", Usage(200, 10), "req_2"
            ),
        ]
    )
    path = transcript_path(tmp_path, "sess-1", agent_id)
    writer = TranscriptWriter(path, session_id="sess-1", agent_id=agent_id)
    result = asyncio.run(
        run_agent(
            "a",
            "What is the value?",
            model=model,
            tools=[Show()],
            ctx=ToolContext(tmp_path),
            system="Be brief.",
            emit=writer,
        )
    )
    return result, path, model


def test_layout_fields_and_compact_lines(tmp_path: Path) -> None:
    _, path, _ = scripted_run(tmp_path, agent_id="a123")
    assert path == tmp_path / "sess-1" / "subagents" / "agent-a123.jsonl"
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    kinds = ["system", "user", "assistant", "system", "user", "assistant", "system"]
    assert [r["type"] for r in records] == kinds
    assert records[3]["subtype"] == "agentbook_tool_started"  # written before the tool ran
    for line, record in zip(lines, records, strict=True):
        assert line == json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        assert (
            record["sessionId"] == "sess-1" and record["agentId"] == "a123" and record["isSidechain"] is True
        )
        assert record["timestamp"].endswith("Z") and len(record["timestamp"]) == len(
            "2026-01-01T00:00:00.000Z"
        )
        assert record["cwd"] == str(tmp_path.resolve())
    # parentUuid chains every line to the one before.
    assert [r["parentUuid"] for r in records[1:]] == [r["uuid"] for r in records[:-1]]
    first = records[2]
    assert first["requestId"] == "req_1"
    assert first["message"]["id"] == "msg_1" and first["message"]["model"] == "claude-sonnet-4-5"
    assert first["message"]["usage"]["cache_creation"] == {
        "ephemeral_5m_input_tokens": 400,
        "ephemeral_1h_input_tokens": 600,
    }


def test_reading_back_gives_the_same_messages_and_usage(tmp_path: Path) -> None:
    result, path, _ = scripted_run(tmp_path)
    back = read_transcript(path)
    assert back.messages == result.messages
    assert back.usage == result.usage
    assert [c.request_id for c in back.calls] == ["req_1", "req_2"]
    assert back.start["system"] == "Be brief." and back.end["state"] == "done"
    assert back.end["result"] == "The value is 42."


def test_the_api_key_never_reaches_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-ant-api03-very-secret-value-0123456789"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    model = ScriptedModel([ToolUse("t", "Show", {}), f"the key is {secret}"])
    path = tmp_path / "t.jsonl"
    asyncio.run(
        run_agent(
            "a",
            f"print {secret}",
            model=model,
            tools=[Show()],
            ctx=ToolContext(tmp_path),
            emit=TranscriptWriter(path, session_id="s"),
        )
    )
    text = path.read_text()
    assert secret not in text
    assert text.count("[REDACTED]") >= 3  # prompt, tool output, answer


def test_a_crash_loses_at_most_the_line_in_flight(tmp_path: Path) -> None:
    # A child process writes a transcript and is killed while its agent sleeps in a tool call.
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from pathlib import Path
        from agentbook.agent.loop import run_agent
        from agentbook.messages import ToolUse
        from agentbook.models import ScriptedModel
        from agentbook.tools.base import ToolContext
        from agentbook.scheduler.transcripts import TranscriptWriter

        class Die:
            name = "Die"; description = "d"; input_schema = {{"type": "object"}}
            async def run(self, input, ctx):
                os.kill(os.getpid(), signal.SIGKILL)

        model = ScriptedModel([ToolUse("t1", "Die", {{}})])
        writer = TranscriptWriter(Path({str(tmp_path / "c.jsonl")!r}), session_id="s")
        asyncio.run(run_agent("a", "go", model=model, tools=[Die()], ctx=ToolContext(Path(".")), emit=writer))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, timeout=60)
    assert proc.returncode == -9
    back = read_transcript(tmp_path / "c.jsonl")
    assert back.bad_lines == 0
    assert [m.role for m in back.messages] == ["user", "assistant"]
    assert back.messages[1].tool_uses[0].id == "t1"
    assert back.end == {}  # it never ended


def test_a_torn_last_line_is_skipped_and_counted(tmp_path: Path) -> None:
    _, path, _ = scripted_run(tmp_path)
    with path.open("a") as f:
        f.write('{"type":"assistant","message":{"id":"msg_3"')
    back = read_transcript(path)
    assert back.bad_lines == 1 and len(back.calls) == 2


def test_every_real_claude_code_transcript_reads(tmp_path: Path) -> None:
    files = sorted(DATA.rglob("*.jsonl"))
    assert len(files) >= 20
    calls = 0
    for file in files:
        back = read_transcript(file)
        calls += len(back.calls)
        for message in back.messages:
            assert isinstance(message, Message)
    assert calls > 1000


def test_claude_codes_one_line_per_block_is_joined_into_one_message() -> None:
    back = read_transcript(DATA / "marot__spotter" / "tool_heavy.jsonl")
    ids = [c.message_id for c in back.calls]
    assert len(ids) == len(set(ids))
    assert any(len(m.content) > 1 for m in back.messages if m.role == "assistant")
