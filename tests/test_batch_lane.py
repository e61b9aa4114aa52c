"""The batch lane: a run's requests through the Message Batches API, on the real SDK against the
fake server's batch endpoints (create, retrieve, results, cancel)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentbook.costs import cost_usd, price_for
from agentbook.messages import Usage
from agentbook.models import AnthropicModel, ScriptedModel
from agentbook.models.lanes import BatchLane
from agentbook.models.retry import RetryPolicy
from agentbook.notebook.cells import state_cell
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.restore import load_run
from agentbook.scheduler.run import Run
from agentbook.specs import Task
from agentbook.testing import ErrorReply, FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock
from agentbook.testing.caching import CachingHandler

MODEL = "claude-sonnet-5-5"
SHARED = "Project handbook.\n" + "\n".join(f"Rule {i}: keep module {i} small and typed." for i in range(600))
FAST = BatchLane(window_s=0.05, poll_s=0.05, poll_factor=1.0)
TASKS = {f"a{i}": f"Summarise rule {i} of notes.txt." for i in range(6)}


def two_turns(request: FakeRequest) -> Reply:
    """Read notes.txt first, then answer with what was asked: the same answers on either lane."""
    last = request.messages[-1]["content"]
    if any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last):
        asked = next(b["text"] for b in request.messages[0]["content"] if "Summarise" in b.get("text", ""))
        return MessageReply(f"done: {asked}")
    return MessageReply([ToolUseBlock("Read", {"file_path": "notes.txt"})])


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_gates()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-batch-0000")


def fan_out(tmp_path: Path, fake: FakeAnthropic, lane: str | BatchLane, **options: object) -> Run:
    (tmp_path / "notes.txt").write_text("Rule 0 to 5: keep modules small.\n")
    return run_parallel(
        TASKS, model=AnthropicModel(MODEL, base_url=fake.base_url), cwd=tmp_path,
        run_dir=tmp_path / f"run-{lane if isinstance(lane, str) else 'batch'}-{time.monotonic_ns()}",
        tools=["Read"], interactive=False, lane=lane, **options,  # type: ignore[arg-type]
    )  # fmt: skip


def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def fakes() -> Iterator[tuple[FakeAnthropic, FakeAnthropic]]:
    """Two servers with their own cache: one for the standard lane, one for the batch lane."""
    standard = FakeAnthropic(CachingHandler(two_turns, min_tokens=1024))
    with standard, FakeAnthropic(CachingHandler(two_turns, min_tokens=1024), batch_delay=0.1) as batch:
        yield standard, batch


def test_a_batch_fan_out_answers_as_the_standard_one_at_half_the_price(
    fakes: tuple[FakeAnthropic, FakeAnthropic], tmp_path: Path
) -> None:
    standard_fake, batch_fake = fakes
    # Warmed on both lanes: one agent writes the shared prefix, the others read it.
    common = {"shared_context": SHARED, "warm_cache": True}
    standard = fan_out(tmp_path, standard_fake, "standard", **common)
    standard.wait(timeout=30)
    batched = fan_out(tmp_path, batch_fake, FAST, **common)
    batched.wait(timeout=30)

    assert set(standard.status.values()) == set(batched.status.values()) == {"done"}
    assert batched.results == standard.results == {n: f"done: {p}" for n, p in TASKS.items()}
    usage = {r.name: r.usage for r in standard.records.values()}
    assert {r.name: r.usage for r in batched.records.values()} == usage
    assert sum(usage.values(), Usage()).cache_read_input_tokens > 5 * 4000  # caching took part
    # Every answer came from a batch, and is priced at the table's batch rates: half.
    assert not standard_fake.batch_requests and not [r for r in batch_fake.message_requests if not r.query]
    assert all(c.service_tier == "batch" for r in batched.records.values() for c in r.calls)
    standard_cost = sum(r.cost_usd or 0.0 for r in standard.records.values())
    batch_cost = sum(r.cost_usd or 0.0 for r in batched.records.values())
    assert standard_cost > 0 and batch_cost == standard_cost / 2
    price = price_for(MODEL)
    assert price is not None and (price.batch_input, price.batch_output) == (
        price.input / 2,
        price.output / 2,
    )
    # The frames and the calls table say the same.
    assert batched.df["cost_usd"].sum() == pytest.approx(batch_cost, rel=1e-12)
    assert batched.calls_df["cost_usd"].sum() == pytest.approx(batch_cost, rel=1e-12)
    assert batched.cache_report()["cost_usd"] == pytest.approx(batch_cost, rel=1e-12)  # the batch rates
    # The cache markers went into the batch unchanged.
    first = batch_fake.message_requests[0].json
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    print(f"\n6-agent fan-out: standard ${standard_cost:.6f}, batch ${batch_cost:.6f}")


def test_the_board_says_queued_in_batch_while_it_waits(tmp_path: Path) -> None:
    with FakeAnthropic(two_turns, batch_delay=0.6) as fake:
        run = fan_out(tmp_path, fake, FAST)
        until(lambda: all(r.batch for r in run.records.values()))
        cell = state_cell(run.records["a0"])
        assert cell == "queued in batch (6 processing, 0 succeeded)"
        run.wait(timeout=30)
        assert set(run.status.values()) == {"done"}
        assert all(r.batch is None and state_cell(r) == "done" for r in run.records.values())
        assert len([r for r in fake.batch_requests if r.method == "POST"]) == 2  # one batch per turn


def test_cancel_mid_batch_cancels_the_batch(tmp_path: Path) -> None:
    with FakeAnthropic(two_turns, batch_delay=60) as fake:
        run = fan_out(tmp_path, fake, FAST)
        until(lambda: all(r.batch for r in run.records.values()))
        run.cancel()
        run.wait(timeout=10)
        assert set(run.status.values()) == {"cancelled"}
        until(lambda: any(r.path.endswith("/cancel") for r in fake.batch_requests))
        cancels = [r for r in fake.batch_requests if r.path.endswith("/cancel")]
        assert len(cancels) == 1 and cancels[0].method == "POST"
        assert not fake.message_requests  # no item was ever answered


def test_an_errored_request_is_retried_in_a_new_batch(tmp_path: Path) -> None:
    failed = threading.Event()

    def overloaded_once(request: FakeRequest) -> Reply:
        if "rule 2" in str(request.messages[0]) and not failed.is_set():
            failed.set()
            return ErrorReply(529)
        return two_turns(request)

    with FakeAnthropic(overloaded_once, batch_delay=0.05) as fake:
        run = fan_out(tmp_path, fake, FAST, retry=RetryPolicy(base_s=0.01, cap_s=0.02))
        run.wait(timeout=30)
    assert set(run.status.values()) == {"done"}
    assert run.records["a2"].retries == 1 and run.results["a2"] == f"done: {TASKS['a2']}"
    assert sum(r.retries for r in run.records.values()) == 1
    assert len([r for r in fake.batch_requests if r.method == "POST"]) >= 3  # turn 1, the retry, turn 2


def test_an_invalid_request_in_a_batch_fails_its_agent_only(tmp_path: Path) -> None:
    def refuse_rule_3(request: FakeRequest) -> Reply:
        if "rule 3" in str(request.messages[0]):
            return ErrorReply(400, message="prompt is too long")
        return two_turns(request)

    with FakeAnthropic(refuse_rule_3) as fake:
        run = fan_out(tmp_path, fake, FAST)
        run.wait(timeout=30)
    assert run.status["a3"] == "failed" and run.records["a3"].retries == 0
    assert "invalid_request_error in batch msgbatch_" in (run.records["a3"].error or "")
    assert {s for n, s in run.status.items() if n != "a3"} == {"done"}


@pytest.mark.parametrize(
    ("lane", "error"),
    [("fast", ValueError), ("Batch", ValueError), (3, TypeError), (True, TypeError)],
)
def test_bad_lanes_are_refused_before_anything_starts(tmp_path: Path, lane: object, error: type) -> None:
    with pytest.raises(error, match="lane"):
        run_parallel({"a": "hi"}, model="offline", cwd=tmp_path, run_dir=tmp_path / "run", lane=lane)  # type: ignore[arg-type]
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="lane must be 'standard' or 'batch'"):
        Task("a", "hi", lane="bulk")
    with pytest.raises(ValueError, match="max_size"):
        BatchLane(max_size=0)


@pytest.mark.parametrize("model", ["offline", ScriptedModel([])])
def test_the_batch_lane_needs_the_anthropic_api(tmp_path: Path, model: object) -> None:
    with pytest.raises(ValueError, match="lane='batch' needs the Anthropic API"):
        run_parallel({"a": "hi"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run", lane="batch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs the Anthropic API"):
        run_parallel([Task("a", "hi", lane="batch")], model=model, cwd=tmp_path, run_dir=tmp_path / "r2")  # type: ignore[arg-type]
    assert not (tmp_path / "run").exists() and not (tmp_path / "r2").exists()


def test_a_task_takes_the_batch_lane_on_its_own(tmp_path: Path) -> None:
    with FakeAnthropic(two_turns) as fake:
        tasks = [Task("a0", TASKS["a0"], lane="batch"), Task("a1", TASKS["a1"])]
        (tmp_path / "notes.txt").write_text("notes\n")
        model = AnthropicModel(MODEL, base_url=fake.base_url)
        run = run_parallel(tasks, model=model, cwd=tmp_path, run_dir=tmp_path / "run", tools=["Read"],
                           interactive=False, lane=FAST)  # fmt: skip
        run.wait(timeout=30)
        tiers = {r.name: {c.service_tier for c in r.calls} for r in run.records.values()}
    assert tiers == {"a0": {"batch"}, "a1": {"batch"}}  # the run's lane is batch: a1 goes too
    with FakeAnthropic(two_turns) as fake:
        tasks = [Task("a0", TASKS["a0"], lane="batch"), Task("a1", TASKS["a1"], lane="standard")]
        run = run_parallel(tasks, model=AnthropicModel(MODEL, base_url=fake.base_url), cwd=tmp_path,
                           run_dir=tmp_path / "run2", tools=["Read"], interactive=False)  # fmt: skip
        run.wait(timeout=60)
        tiers = {r.name: {c.service_tier for c in r.calls} for r in run.records.values()}
    assert tiers == {"a0": {"batch"}, "a1": {None}}
    assert set(run.status.values()) == {"done"}


def test_the_lane_is_kept_in_the_config_and_priced_back_from_the_transcript(tmp_path: Path) -> None:
    config = RunConfig(cwd=tmp_path, lane=FAST)
    assert RunConfig.from_json(config.to_json()).lane == FAST
    assert RunConfig.from_json(RunConfig(cwd=tmp_path, lane="batch").to_json()).lane == "batch"
    with FakeAnthropic(two_turns) as fake:
        run = fan_out(tmp_path, fake, FAST)
        run.wait(timeout=30)
    again = load_run(run.run_dir, model=AnthropicModel(MODEL, base_url="http://127.0.0.1:9"))
    assert again.config.lane == FAST
    for name, record in again.records.items():
        assert [c.service_tier for c in record.calls] == ["batch", "batch"]
        assert record.cost_usd == run.records[name].cost_usd
    usage = run.records["a0"].usage
    assert run.records["a0"].cost_usd == cost_usd(usage, MODEL, service_tier="batch")
