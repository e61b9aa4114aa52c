"""Budgets (issue 14, point 1), through the real SDK on the local fake Messages API: a request that
could pass a budget covering its agent is never sent; the agent ends `budget` with what it has,
and goes on after a larger budget."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import first_prompt

import agentbook as ab
from agentbook.budgets import Budget
from agentbook.costs import cost_usd
from agentbook.models.lanes import BatchLane
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.transcripts import agentbook_home
from agentbook.specs import AgentFileError, load_agent_file
from agentbook.testing import FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock

KEY = "sk-ant-test-budgets-0123456789abcdef"
MODEL = "haiku"
FAST = BatchLane(window_s=0.05, poll_s=0.05, poll_factor=1.0)


@pytest.fixture(autouse=True)
def gates() -> None:
    reset_gates()


class Worker:
    """Each agent globs three times, then answers; `requests` counts what reached the server."""

    def __init__(self) -> None:
        self.lock, self.requests = threading.Lock(), 0

    def __call__(self, request: FakeRequest) -> Reply:
        with self.lock:
            self.requests += 1
        turn = sum(1 for m in request.json["messages"] if m["role"] == "assistant")
        if turn < 3:
            return MessageReply([ToolUseBlock("Glob", {"pattern": "*"})], delay=0.02)
        return MessageReply(f"{first_prompt(request)}: done")


@contextlib.contextmanager
def serving(monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    worker = Worker()
    with FakeAnthropic(worker, api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield worker


def start(tmp_path: Path, tasks: Any, **options: Any) -> Any:
    return ab.run_parallel(tasks, model=MODEL, cwd=tmp_path, interactive=False, max_tokens=256,
                           tools=["Glob"], **options)  # fmt: skip


def fan_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tasks: Any, **options: Any
) -> tuple[Any, Worker]:
    with serving(monkeypatch) as worker:
        run = start(tmp_path, tasks, **options)
        run.wait(timeout=60)
    return run, worker


def spent(run: Any) -> float:
    return sum(cost_usd(c.usage, c.model) or 0.0 for r in run.records.values() for c in r.calls)


def test_twenty_agents_under_a_run_budget_smaller_than_their_need_never_pass_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = {f"a{i}": f"agent {i}" for i in range(20)}
    whole, _ = fan_out(tmp_path, monkeypatch, tasks, run_dir=tmp_path / "whole")
    need = spent(whole)
    reset_gates()
    budget = Budget(usd=round(need / 2, 6))
    with serving(monkeypatch) as worker:
        run = start(tmp_path, tasks, run_dir=tmp_path / "half", budget=budget)
        run.wait(timeout=60)
        assert set(run.status.values()) <= {"done", "budget"} and "budget" in run.status.values()
        assert spent(run) <= budget.usd  # never passed, though a request's real cost is known only after
        assert spent(run) > 0.6 * budget.usd  # and used: waiting for others' reservations, not refused
        # Every request that was sent got its answer: none went out that the budget could not cover.
        assert worker.requests == sum(len(r.calls) for r in run.records.values())
        stopped = [r for r in run.records.values() if r.state == "budget"]
        assert all("the run budget of $" in (r.error or "") for r in stopped)
        assert all(r.turns == len(r.calls) for r in stopped)  # what each had so far is kept
        # A larger budget lets them go on.
        run.set_budget(Budget(usd=need * 2))
        for record in stopped:
            run.resume(record.name)
        run.wait(timeout=60)
    assert set(run.status.values()) == {"done"}
    assert ab.load_run(run.run_dir, interactive=False).config.budget == Budget(usd=need * 2)


def test_an_agents_own_budget_stops_it_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = [ab.Task("small", "agent small", budget=Budget(turns=2)), ab.Task("free", "agent free")]
    run, _ = fan_out(tmp_path, monkeypatch, tasks, run_dir=tmp_path / "run")
    assert run.status == {"small": "budget", "free": "done"}
    assert run.records["small"].turns == 2 and "agent 'small' budget of 2 turns" in (
        run.records["small"].error or ""
    )
    back = ab.load_run(run.run_dir, interactive=False)
    assert back.records["small"].state == "budget" and back.records["small"].task.budget == Budget(turns=2)


def test_an_agent_files_budget_covers_its_agents_and_bad_budgets_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tight.md"
    path.write_text("---\nname: tight\ndescription: d\nbudget:\n  tokens: 3000\n---\nBe brief.\n")
    spec = load_agent_file(path)
    assert spec.budget == Budget(tokens=3000)
    run, _ = fan_out(tmp_path, monkeypatch, [ab.Task("t", "agent t", agent="tight")], agents={"tight": spec},
                     run_dir=tmp_path / "run")  # fmt: skip
    assert run.status == {"t": "budget"} and "3,000 tokens" in (run.records["t"].error or "")
    assert run.records["t"].usage.total_input_tokens + run.records["t"].usage.output_tokens <= 3000
    path.write_text("---\nname: tight\ndescription: d\nbudget:\n  dollars: 3\n---\n")
    with pytest.raises(AgentFileError, match=r"unknown limit.*dollars"):
        load_agent_file(path)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: Budget(), ValueError, "at least one limit"),
        (lambda: Budget(usd=-1), ValueError, "usd must be more than 0"),
        (lambda: Budget(tokens=1.5), TypeError, "tokens must be a whole number"),
        (lambda: Budget(turns=True), TypeError, "turns must be a whole number"),
        (lambda: ab.Task("t", "p", budget=5), TypeError, "task 't': budget must be an ab.Budget"),
        (
            lambda: ab.run_parallel({"a": "x"}, model="offline", budget={"usd": 1}),
            TypeError,
            "budget must be",
        ),
    ],
)
def test_a_bad_budget_is_named_and_starts_nothing(make: Any, error: type[Exception], message: str) -> None:
    runs = agentbook_home() / "runs"
    before = list(runs.iterdir()) if runs.is_dir() else []
    with pytest.raises(error, match=message):
        make()
    assert (list(runs.iterdir()) if runs.is_dir() else []) == before  # no run folder made


def test_a_phase_budget_covers_that_phase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = ab.Plan([ab.Task("one", "agent one"), ab.Task("two", "agent two", depends_on=("one",))])
    plan.approve()
    with serving(monkeypatch):
        first = plan.run_phase(0, model=MODEL, cwd=tmp_path, interactive=False, tools=["Glob"],
                               budget=Budget(turns=1))  # fmt: skip
        first.wait(timeout=30)
    assert first.status == {"one": "budget"} and first.records["one"].turns == 1


def test_the_board_and_run_df_show_spend_against_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.notebook.render import render_text

    tasks = [
        ab.Task("small", "agent small", budget=Budget(usd=0.5, tokens=90_000)),
        ab.Task("free", "agent free"),
    ]
    run, _ = fan_out(tmp_path, monkeypatch, tasks, run_dir=tmp_path / "run", budget=Budget(usd=2))
    frame = run.df
    assert frame.loc["small", "budget_usd"] == 0.5 and frame.loc["small", "budget_tokens"] == 90_000
    assert frame["budget_usd"].isna()["free"]
    table = render_text(run)
    small = next(line for line in table.splitlines() if line.startswith("small"))
    assert (
        " of $0.5" in small
        and " of $2" in table.splitlines()[-1 - len([r for r in run.records.values() if r.error])]
    )


def test_a_coordinators_budget_covers_the_sub_agents_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runaway coordinator: each sub-agent starts another; the coordinator's own budget is
    charged for all of them, so the chain stops at it."""

    def handler(request: FakeRequest) -> Reply:
        return MessageReply([ToolUseBlock("Agent", {"description": "deeper", "prompt": "go deeper"})])

    with FakeAnthropic(handler, api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        lead = ab.Task("lead", "coordinate", budget=Budget(turns=5))
        run = ab.run_parallel([lead], model=MODEL, cwd=tmp_path, interactive=False, max_depth=10,
                              max_tokens=256, run_dir=tmp_path / "run")  # fmt: skip
        run.wait(timeout=60)
        sent = len(fake.message_requests)
    assert sum(r.turns for r in run.records.values()) == sent == 5
    assert "budget" in {r.state for r in run.records.values()}


def test_a_budget_on_the_batch_lane_is_charged_at_batch_prices_and_a_team_shares_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = {f"a{i}": f"agent {i}" for i in range(4)}
    standard, _ = fan_out(tmp_path, monkeypatch, tasks, run_dir=tmp_path / "standard")
    reset_gates()
    # 75% of the standard cost covers the fan-out on the batch lane (half price, so 1.5 times its
    # need: room for the worst case of the last request, reserved at the batch rates too).
    budget = Budget(usd=0.75 * spent(standard))
    with serving(monkeypatch):
        batched = start(tmp_path, tasks, run_dir=tmp_path / "batched", budget=budget, lane=FAST)
        batched.wait(timeout=60)
    assert set(batched.status.values()) == {"done"}
    assert sum(r.cost_usd or 0.0 for r in batched.records.values()) <= budget.usd
    team = ab.Team("Plan.", {"x": "helps"}, ["one"], model="offline", cwd=tmp_path, run_dir=tmp_path / "team",
                   interactive=False, budget=Budget(turns=3)).start().wait(30)  # fmt: skip
    assert team.run is not None and team.run.config.budget == Budget(turns=3)
    assert sum(r.turns for r in team.run.records.values()) <= 3
