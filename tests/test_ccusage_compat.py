"""ccusage (npm, 20.0.24) reads agentbook's transcripts with the same token totals as agentbook.

The agent runs on the real SDK, pointed at a local fake Messages API by `ANTHROPIC_BASE_URL`;
its run folder is laid under `projects/<name>/`, as Claude Code lays out `~/.claude`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ccusage_bin

from agentbook.agent.loop import run_agent
from agentbook.messages import ToolUse, Usage
from agentbook.models import ScriptedModel
from agentbook.scheduler.explore import explore
from agentbook.scheduler.transcripts import TranscriptWriter, read_transcript, transcript_path
from agentbook.testing import (
    FakeAnthropic,
    MessageReply,
    ReplyUsage,
    ScriptedHandler,
    TextBlock,
    ToolUseBlock,
)
from agentbook.tools import ToolContext, tools_named


def ccusage_totals(config_dir: Path, cwd: Path) -> dict[str, object]:
    command = [ccusage_bin(), "claude", "session", "--json", "--offline"]
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config_dir)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, object] = json.loads(proc.stdout)
    return data


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    replies = ScriptedHandler(
        [
            MessageReply(
                [TextBlock("Looking."), ToolUseBlock("Glob", {"pattern": "*.py"})],
                usage=ReplyUsage(12, 40, 0, ephemeral_5m_input_tokens=3000, ephemeral_1h_input_tokens=500),
            ),
            MessageReply(
                [ToolUseBlock("Read", {"file_path": "a.py"}), ToolUseBlock("Read", {"file_path": "b.py"})],
                usage=ReplyUsage(30, 55, cache_read_input_tokens=3500),
            ),
            MessageReply("Two modules: a and b.", usage=ReplyUsage(80, 21, cache_read_input_tokens=3500)),
        ]
    )
    with FakeAnthropic(replies) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-compat-123456")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield fake


def test_ccusage_reads_an_agent_run_on_the_real_sdk(server: FakeAnthropic, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "a.py").write_text("A = 1\n")
    (code / "b.py").write_text("B = 2\n")
    config = tmp_path / "claude"
    run_dir = config / "projects" / "demo"
    found = explore(code, prompt="What modules are here?", model="sonnet", run_dir=run_dir)
    assert found.result.state == "done" and len(server.message_requests) == 3
    # A second agent of the same session, as a subagent file.
    sub = transcript_path(run_dir, found.transcript.stem, "a0123456789abcdef")
    scripted = ScriptedModel(
        [ToolUse("t1", "Glob", {"pattern": "*"}), "Found them."], name="claude-haiku-4-5"
    )
    asyncio.run(
        run_agent(
            "helper",
            "list",
            model=scripted,
            tools=tools_named(["Glob"]),
            ctx=ToolContext(code),
            emit=TranscriptWriter(sub, session_id=found.transcript.stem, agent_id="a0123456789abcdef"),
        )
    )

    ours = read_transcript(found.transcript).usage + read_transcript(sub).usage
    assert ours == found.result.usage + read_transcript(sub).usage
    assert ours.cache_creation_input_tokens == 3500 and ours.cache_read_input_tokens == 7000

    report = ccusage_totals(config, tmp_path)
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert totals["inputTokens"] == ours.input_tokens
    assert totals["outputTokens"] == ours.output_tokens
    assert totals["cacheCreationTokens"] == ours.cache_creation_input_tokens
    assert totals["cacheReadTokens"] == ours.cache_read_input_tokens
    sessions = report["sessions"]
    assert isinstance(sessions, list) and [s["sessionId"] for s in sessions] == [found.transcript.stem]
    assert totals["totalCost"] > 0  # the Sonnet calls were priced


def test_ccusage_counts_estimated_offline_usage_too(tmp_path: Path) -> None:
    config = tmp_path / "claude"
    code = Path(__file__).parent
    found = explore(code, run_dir=config / "projects" / "offline")
    usage: Usage = found.result.usage
    totals = ccusage_totals(config, tmp_path)["totals"]
    assert isinstance(totals, dict)
    assert (totals["inputTokens"], totals["outputTokens"]) == (usage.input_tokens, usage.output_tokens)
