"""Prompt caching across a fan-out, on the real SDK against a fake server that follows the caching
rules (an entry is readable only after the response that wrote it has begun)."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentbook.agent.gates import RequestHook, RequestOutcome
from agentbook.costs import price_for
from agentbook.messages import Message, Request
from agentbook.models import AnthropicModel, ScriptedModel, TransientModelError
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.warming import Warmup
from agentbook.testing import FakeAnthropic, MessageReply
from agentbook.testing.caching import CachingHandler

SHARED = "Project handbook.\n" + "\n".join(f"Rule {i}: keep module {i} small and typed." for i in range(600))
MODEL = "claude-sonnet-5-5"


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeAnthropic, CachingHandler]]:
    reset_gates()
    handler = CachingHandler(lambda request: MessageReply("ok", delay=0.3), min_tokens=1024)
    with FakeAnthropic(handler) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-cache-0000")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield fake, handler


def fan_out(tmp_path: Path, warm: bool) -> dict[str, float]:
    run = run_parallel(
        {f"a{i}": f"Summarise rule {i}." for i in range(10)},
        model=AnthropicModel(MODEL),
        cwd=tmp_path,
        run_dir=tmp_path / f"run-{warm}",
        tools=["Read"],
        shared_context=SHARED,
        warm_cache=warm,
        interactive=False,
    )
    run.wait(timeout=60)
    assert set(run.status.values()) == {"done"}
    return run.cache_report()


def test_a_warmed_fan_out_writes_once_and_reads_nine_times(
    cache: tuple[FakeAnthropic, CachingHandler], tmp_path: Path
) -> None:
    fake, handler = cache
    report = fan_out(tmp_path, warm=True)
    stats = handler.stats
    leader, *followers = handler.outcomes
    assert stats.reads == 9 and len(followers) == 9
    # Each follower reads the shared prefix the leader wrote and writes only its own few-token
    # task prompt (the conversation's breakpoint, as on every turn).
    prefix = followers[0].read_tokens
    assert prefix > 1024 and {f.read_tokens for f in followers} == {prefix}
    assert all(0 < f.write_5m_tokens < 30 for f in followers)
    assert leader.read_tokens == 0 and leader.write_5m_tokens > prefix
    assert (report["cache_writes"], report["cache_reads"]) == (stats.write_tokens, 9 * prefix)
    # What the rules say it costs: one 5-minute write and nine reads of the prefix.
    price = price_for(MODEL)
    assert price is not None
    expected_saving = 9 * prefix * (price.cache_write_5m - price.cache_read) / 1e6
    assert report["saved_usd"] == pytest.approx(expected_saving)
    # The system prompt and the shared context carried cache breakpoints.
    first = fake.message_requests[0].json
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_a_cold_fan_out_pays_ten_writes(cache: tuple[FakeAnthropic, CachingHandler], tmp_path: Path) -> None:
    _, handler = cache
    report = fan_out(tmp_path, warm=False)
    assert (handler.stats.writes, handler.stats.reads) == (10, 0)
    assert report["cache_reads"] == 0 and report["saved_usd"] == 0


def test_a_short_shared_prefix_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-short-prefix-0123")  # credentials, no server
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = run_parallel(
            {"a": "x"}, model="claude-opus-4-6", cwd=tmp_path, run_dir=tmp_path / "r", shared_context="tiny",
            warm_cache=True, interactive=False, max_turns=1,
        )  # fmt: skip
    run.cancel()
    assert any("minimum cacheable length" in str(w.message) for w in caught)


def test_the_warm_up_is_a_request_hook_that_releases_on_an_answer_or_a_final_failure() -> None:
    warmup = Warmup()
    assert isinstance(warmup, RequestHook)
    request = Request(system="", messages=(Message.user("hi"),))
    error = TransientModelError("529", status=529)

    async def main() -> None:
        await warmup.before_request("leader", request)  # the first goes alone, at once
        sibling = asyncio.create_task(warmup.before_request("sibling", request))
        await asyncio.sleep(0.01)
        await warmup.after_request("sibling", RequestOutcome(request, error=error))  # not the leader
        await warmup.after_request("leader", RequestOutcome(request, error=error, retry_in=1.0))
        await asyncio.sleep(0.01)
        assert not sibling.done()  # the leader tries again: its write is still to come
        await warmup.after_request("leader", RequestOutcome(request, error=error))  # failed for good
        await asyncio.wait_for(sibling, 1)

    asyncio.run(main())


def test_a_leader_that_crashes_mid_request_releases_its_siblings(tmp_path: Path) -> None:
    # The leader's first request raises a harness error: no request hook hears of it, and the
    # run releases the warm-up when the agent ends (else its siblings would wait for ever).
    model = ScriptedModel([RuntimeError("adapter bug"), "ok", "ok"])
    run = run_parallel(
        {f"a{i}": "go" for i in range(3)},
        model=model,
        cwd=tmp_path,
        run_dir=tmp_path / "run",
        warm_cache=True,
        interactive=False,
    )
    run.wait(timeout=10)
    assert sorted(run.status.values()) == ["done", "done", "failed"]
