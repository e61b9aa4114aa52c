"""`cache_report()`'s savings against what they say they compare, measured from outside.

A warmed fan-out and a real cold fan-out of the same tasks both run, on the real SDK, against the
fake Messages API with `CachingHandler` (an entry is readable only once the response that wrote it
has begun).  Each run's actual cost is priced from the usage the server sent, not from the
run's records: `saved_usd` must equal the cold run's cost minus the warmed run's, and
`saved_vs_uncached_usd` what the warmed run would have cost with every cached token paid as
plain input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentbook.costs import Price, price_for
from agentbook.models import AnthropicModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.testing import FakeAnthropic, FakeRequest, MessageReply, ReplyUsage, ToolUseBlock
from agentbook.testing.caching import CachingHandler

MODEL = "claude-sonnet-5-5"
AGENTS = 10
# About 10,100 tokens by the fake server's estimator: the shared prefix of the fan-out.
SHARED = "Project handbook.\n" + "\n".join(f"Rule {i}: keep module {i} small and typed." for i in range(892))


@dataclasses.dataclass
class Measured:
    """A fan-out as the server saw it: the usage of every reply, and what the run reported."""

    usages: list[ReplyUsage]
    report: dict[str, float]
    savings_column: float
    savings_basis: str

    def cost(self, price: Price, *, uncached: bool = False) -> float:
        total = 0.0
        for u in self.usages:
            writes = u.ephemeral_5m_input_tokens * price.cache_write_5m
            writes += u.ephemeral_1h_input_tokens * price.cache_write_1h
            cached = u.cache_read_input_tokens * price.cache_read + writes
            if uncached:
                every = u.cache_read_input_tokens + u.ephemeral_5m_input_tokens + u.ephemeral_1h_input_tokens
                cached = every * price.input
            assert u.input_tokens is not None and u.output_tokens is not None  # set by the handler
            total += u.input_tokens * price.input + u.output_tokens * price.output + cached
        return total / 1_000_000


@pytest.fixture
def price() -> Price:
    found = price_for(MODEL)
    assert found is not None
    return found


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-savings-0000")
    yield


def fan_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, warm: bool, turns: int) -> Measured:
    """Run `AGENTS` agents of `turns` requests each (a Read, then the answer) on a fresh cache."""
    reset_gates()
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "notes.txt").write_text("hello\n")

    def replies(request: FakeRequest) -> MessageReply:
        answered = sum(1 for m in request.json["messages"] if m["role"] == "assistant")
        if answered + 1 < turns:
            tool = ToolUseBlock("Read", {"file_path": "notes.txt"})
            return MessageReply([tool], usage=ReplyUsage(output_tokens=24), delay=0.3)
        return MessageReply("Done.", usage=ReplyUsage(output_tokens=3), delay=0.3)

    caching = CachingHandler(replies, min_tokens=1024)
    usages: list[ReplyUsage] = []

    def handler(request: FakeRequest) -> MessageReply:
        reply = caching(request)
        assert isinstance(reply, MessageReply)
        usages.append(reply.usage)
        return reply

    with FakeAnthropic(handler) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        run = run_parallel(
            {f"a{i}": f"Summarise rule {i}." for i in range(AGENTS)},
            model=AnthropicModel(MODEL),
            cwd=tmp_path,
            run_dir=tmp_path / f"run-{warm}-{turns}",
            tools=["Read"],
            shared_context=SHARED,
            warm_cache=warm,
            interactive=False,
        )
        run.wait(timeout=60)
    assert set(run.status.values()) == {"done"}
    assert len(usages) == AGENTS * turns
    frame = run.df
    column = float(frame["cache_savings_usd"].sum())
    return Measured(usages, run.cache_report(), column, frame.attrs["cache_savings_usd"])


@pytest.mark.parametrize("turns", [1, 3])
def test_the_reported_saving_is_the_measured_difference_from_a_real_cold_run(
    env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, price: Price, turns: int
) -> None:
    cold = fan_out(tmp_path / "cold", monkeypatch, warm=False, turns=turns)
    warmed = fan_out(tmp_path / "warm", monkeypatch, warm=True, turns=turns)
    prefix = warmed.usages[1].cache_read_input_tokens  # a follower's first request
    assert 10_000 <= prefix <= 10_300
    measured = cold.cost(price) - warmed.cost(price)
    report = warmed.report
    print(
        f"{turns} turn(s): cold ${cold.cost(price):.4f}, warmed ${warmed.cost(price):.4f}, "
        f"measured saving ${measured:.4f}, reported ${report['saved_usd']:.4f} (every read as a "
        f"write: ${report['cache_reads'] * (price.cache_write_5m - price.cache_read) / 1e6:.4f})"
    )
    # The records agree with the server on what each run paid ...
    assert report["cost_usd"] == pytest.approx(warmed.cost(price), rel=1e-9)
    assert cold.report["cost_usd"] == pytest.approx(cold.cost(price), rel=1e-9)
    # ... and the saving against the cold fan-out is the one a cold run really shows.
    assert report["saved_usd"] == pytest.approx(measured, rel=0.02)
    assert report["cold_cost_usd"] == pytest.approx(cold.cost(price), rel=0.02)
    # A cold run saved nothing against itself.
    assert cold.report["saved_usd"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("turns", [1, 3])
def test_the_saving_against_no_caching_prices_every_cached_token_as_input(
    env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, price: Price, turns: int
) -> None:
    warmed = fan_out(tmp_path, monkeypatch, warm=True, turns=turns)
    uncached = warmed.cost(price, uncached=True)
    report = warmed.report
    assert report["uncached_cost_usd"] == pytest.approx(uncached, rel=1e-9)
    assert report["saved_vs_uncached_usd"] == pytest.approx(uncached - warmed.cost(price), rel=1e-9)
    # The frames' `cache_savings_usd` column compares against no caching too: it sums to this.
    assert warmed.savings_column == pytest.approx(report["saved_vs_uncached_usd"], rel=1e-9)
    assert warmed.savings_basis.startswith("vs no prompt caching")
    assert report["saved_vs_uncached_usd"] > 0
