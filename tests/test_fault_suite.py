"""The fault suite: 100 agents on the real SDK against a fake server that fails 20% of requests
(429 with retry-after, 529, 500, connection resets, SSE streams cut mid-message).

Every agent must finish with the right result; no tool call may run twice; every transcript must
agree with the final state; retries must stay bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentbook.models import AnthropicModel
from agentbook.models.retry import RetryPolicy
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.transcripts import read_transcript
from agentbook.testing import (
    FakeAnthropic,
    FakeRequest,
    MessageReply,
    Reply,
    ReplyUsage,
    ToolUseBlock,
    faults,
    request_limit,
)

AGENTS = 100
MAX_ATTEMPTS = 8


def scripted_agent(request: FakeRequest) -> Reply:
    """Turn 1: append one line to the agent's log with Bash; turn 2: answer with its number."""
    prompt = request.messages[0]["content"]
    number = re.search(r"agent (\d+)", prompt if isinstance(prompt, str) else prompt[0]["text"])
    assert number is not None
    n = number.group(1)
    turn = sum(1 for m in request.messages if m["role"] == "assistant")
    if turn == 0:
        command = f"echo ran >> calls-{n}.log"
        return MessageReply([ToolUseBlock("Bash", {"command": command})], usage=ReplyUsage(50, 20))
    return MessageReply(f"agent {n} finished", usage=ReplyUsage(80, 5, cache_read_input_tokens=10))


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeAnthropic, object]]:
    reset_gates()
    injector = faults(0.2, seed=7, base=scripted_agent, retry_after=0.05)
    with FakeAnthropic(injector) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-faults-0000")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield fake, injector


def test_hundred_agents_survive_twenty_percent_faults(
    server: tuple[FakeAnthropic, object], tmp_path: Path
) -> None:
    fake, injector = server
    run = run_parallel(
        {f"a{n}": f"You are agent {n}." for n in range(AGENTS)},
        model=AnthropicModel("sonnet"),
        cwd=tmp_path,
        run_dir=tmp_path / "run",
        permission_mode="bypassPermissions",
        interactive=False,
        retry=RetryPolicy(max_attempts=MAX_ATTEMPTS, base_s=0.02, cap_s=0.2),
    )
    run.wait(timeout=120)
    injected = injector.injected  # type: ignore[attr-defined]
    kinds = {f.kind for f in injected}
    assert kinds == {"rate_limit", "overloaded", "api_error", "reset", "stream_cut"}
    assert len(injected) >= 0.1 * len(fake.message_requests)

    # Every agent finished, with the right answer.
    assert run.status == {f"a{n}": "done" for n in range(AGENTS)}
    assert all(run.results[f"a{n}"] == f"agent {n} finished" for n in range(AGENTS))
    # No tool call ran twice: each agent's log has exactly one line.
    for n in range(AGENTS):
        assert (tmp_path / f"calls-{n}.log").read_text() == "ran\n", n
    # Retries are bounded and account for every failed request.
    retries = sum(r.retries for r in run.records.values())
    assert retries == len(injected)
    assert max(r.retries for r in run.records.values()) <= 2 * (MAX_ATTEMPTS - 1)
    assert len(fake.message_requests) == 2 * AGENTS + retries
    # Every transcript agrees with the final state.
    for record in run.records.values():
        back = read_transcript(record.transcript)
        assert back.bad_lines == 0
        assert back.end["state"] == "done" and back.end["result"] == record.text
        assert len(back.calls) == record.turns == 2
        assert back.usage == record.usage
        assert [m.role for m in back.messages] == ["user", "assistant", "user", "assistant"]
    df = run.df
    assert int(df["input_tokens"].sum()) == AGENTS * 130 and int(df["retries"].sum()) == retries


def test_a_limit_no_header_reveals_is_learned_and_no_agent_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 600 requests a minute with bursts of 5, refused with bare 429s (no retry-after, no
    # anthropic-ratelimit-* headers): 20 agents x 2 calls.  Two attempts a call would fail most
    # agents if a 429 used one.
    reset_gates()
    limit = request_limit(600, scripted_agent, burst=5)
    with FakeAnthropic(limit, rate_headers=False) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-limit-0000")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        run = run_parallel(
            {f"a{n}": f"You are agent {n}." for n in range(20)},
            model=AnthropicModel("sonnet"),
            cwd=tmp_path,
            run_dir=tmp_path / "run",
            permission_mode="bypassPermissions",
            interactive=False,
            retry=RetryPolicy(max_attempts=2, deadline_s=60),
        )
        run.wait(timeout=90)
    assert run.status == {f"a{n}": "done" for n in range(20)}
    assert limit.refused > 0 and limit.passed == 40
    assert all((tmp_path / f"calls-{n}.log").read_text() == "ran\n" for n in range(20))
