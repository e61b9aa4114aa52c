"""Adversarial tests of budgets and the batch lane (attack 14): each xfail names a bug that
still stands; the others are kept as regression tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import first_prompt

import agentbook as ab
from agentbook.budgets import Budget
from agentbook.costs import cost_usd
from agentbook.models.lanes import BatchLane
from agentbook.models.retry import RetryPolicy
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.transcripts import agentbook_home
from agentbook.specs import AgentFileError, load_agent_file
from agentbook.testing import ErrorReply, FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock

KEY = "sk-ant-test-attack14-0123456789abcdef"
MODEL = "haiku"
FAST = BatchLane(window_s=0.05, poll_s=0.05, poll_factor=1.0)


@pytest.fixture(autouse=True)
def gates() -> None:
    reset_gates()


def globs_then_answers(request: FakeRequest) -> Reply:
    """Three Globs, then an answer; a request without tools (a summary) is answered at once."""
    if not request.json.get("tools"):
        return MessageReply("summary of the work")
    turn = sum(1 for m in request.json["messages"] if m["role"] == "assistant")
    if turn < 3:
        return MessageReply([ToolUseBlock("Glob", {"pattern": "*"})])
    return MessageReply(f"{first_prompt(request)}: done")


@contextlib.contextmanager
def serving(monkeypatch: pytest.MonkeyPatch, handler: Callable[[FakeRequest], Reply] = globs_then_answers,
            **options: Any) -> Iterator[FakeAnthropic]:  # fmt: skip
    with FakeAnthropic(handler, api_key=KEY, **options) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield fake


def start(tmp_path: Path, tasks: Any, **options: Any) -> Any:
    options.setdefault("run_dir", tmp_path / "run")
    options.setdefault("tools", ["Glob"])
    return ab.run_parallel(tasks, model=MODEL, cwd=tmp_path, interactive=False, max_tokens=256, **options)


def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def sent(fake: FakeAnthropic) -> int:
    return len(fake.message_requests)


# ---- spend that escapes a budget


def test_compact_of_an_agent_its_budget_stopped_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(monkeypatch) as fake:
        run = start(tmp_path, [ab.Task("small", "agent small", budget=Budget(turns=2))])
        run.wait(timeout=10)
        assert run.status == {"small": "budget"}
        before = sent(fake)
        with contextlib.suppress(Exception):  # refusing it is fine; sending it is not
            run.compact("small")
        assert sent(fake) == before


def test_a_resume_in_the_same_process_does_not_give_the_turns_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(monkeypatch) as fake:
        run = start(tmp_path, [ab.Task("small", "agent small", budget=Budget(turns=2))])
        run.wait(timeout=10)
        before = sent(fake)
        run.resume("small")
        run.wait(timeout=10)
        assert sent(fake) == before and run.status == {"small": "budget"}


def test_a_resume_after_load_run_does_not_give_the_turns_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(monkeypatch) as fake:
        run = start(tmp_path, [ab.Task("small", "agent small", budget=Budget(turns=2))])
        run.wait(timeout=10)
        assert run.status == {"small": "budget"}
        back = ab.load_run(run.run_dir, interactive=False)
        before = sent(fake)
        back.resume("small")
        back.wait(timeout=10)
        assert sent(fake) == before and back.records["small"].turns <= 2


def test_a_run_budget_after_load_run_still_counts_what_was_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(monkeypatch) as fake:
        run = start(tmp_path, {"a": "agent a", "b": "agent b"}, budget=Budget(turns=5))
        run.wait(timeout=10)
        assert sent(fake) == 5 and "budget" in run.status.values()
        back = ab.load_run(run.run_dir, interactive=False)
        for name, state in back.status.items():
            if state == "budget":
                back.resume(name)
        back.wait(timeout=10)
        assert sent(fake) == 5


def test_set_budget_counts_what_the_run_spent_before_it_had_a_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(monkeypatch) as fake:
        run = start(tmp_path, {"a": "agent a"})
        run.wait(timeout=10)
        assert run.status == {"a": "done"} and sent(fake) == 4
        run.set_budget(Budget(turns=4))  # all spent already: "what was spent still counts"
        run.resume("a", prompt="one more thing")
        run.wait(timeout=10)
        assert sent(fake) == 4 and run.status == {"a": "budget"}


def test_set_budget_of_an_agent_counts_what_it_spent_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(monkeypatch) as fake:
        run = start(tmp_path, {"a": "agent a"})
        run.wait(timeout=10)
        run.set_budget(Budget(turns=4), agent="a")
        run.resume("a", prompt="one more thing")
        run.wait(timeout=10)
        assert sent(fake) == 4 and run.status == {"a": "budget"}


def test_set_budget_of_an_unknown_agent_is_a_key_error_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(monkeypatch):
        run = start(tmp_path, {"a": "agent a"}, budget=Budget(turns=10))
        run.wait(timeout=10)
    manifest = (run.run_dir / "run.json").read_text()
    with pytest.raises(KeyError, match="no agent 'ghost'"):
        run.set_budget(Budget(turns=1), agent="ghost")
    with pytest.raises(TypeError, match=r"ab\.Budget"):
        run.set_budget({"turns": 1})  # type: ignore[arg-type]
    assert (run.run_dir / "run.json").read_text() == manifest
    assert run.config.budget == Budget(turns=10) and set(run.budgets.accounts) == {""}


def test_transient_errors_and_resets_give_their_reservations_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.testing import ConnectionReset

    lock, attempts = threading.Lock(), dict[tuple[str, int], int]()

    def flaky(request: FakeRequest) -> Reply:
        """Each request fails twice (a 529, then a reset or a 500) before its answer."""
        key = (first_prompt(request), len(request.json["messages"]))
        with lock:
            n = attempts[key] = attempts.get(key, 0) + 1
        if n == 1:
            return ErrorReply(529)
        if n == 2:
            return ConnectionReset() if key[1] % 2 else ErrorReply(500)
        return globs_then_answers(request)

    retry = RetryPolicy(base_s=0.01, cap_s=0.02, max_attempts=6)
    with serving(monkeypatch, flaky):
        run = start(tmp_path, {f"a{i}": f"agent {i}" for i in range(6)}, budget=Budget(turns=40), retry=retry)
        run.wait(timeout=15)
    account = run.budgets.accounts[""]
    assert set(run.status.values()) == {"done"}
    assert (account.held_tokens, account.held_turns) == (0, 0)
    assert account.held_usd == pytest.approx(0, abs=1e-12)  # a float residual: see the exact-fit test
    assert account.turns == sum(r.turns for r in run.records.values()) == 24


def test_a_cancelled_request_in_flight_wakes_the_agent_waiting_for_its_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, first = threading.Lock(), list[str]()

    def one_slow(request: FakeRequest) -> Reply:
        with lock:
            slow = not first
            first.append(first_prompt(request))
        return MessageReply("slow", delay=8) if slow else MessageReply("quick")

    with serving(monkeypatch, one_slow):
        run = start(tmp_path, {"a": "a", "b": "b"}, budget=Budget(turns=1))
        until(lambda: bool(first))
        time.sleep(0.3)  # the other agent now waits for the slow one's reservation
        slow = first[0]
        run.cancel(slow)
        run.wait(timeout=5)
    other = "b" if slow == "a" else "a"
    assert run.status == {slow: "cancelled", other: "done"}


def test_background_sub_agents_are_charged_to_their_parents_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def spawner(request: FakeRequest) -> Reply:
        call = {"description": "more", "prompt": "spawn more", "run_in_background": True}
        return MessageReply([ToolUseBlock("Agent", call), ToolUseBlock("Agent", call)])

    with serving(monkeypatch, spawner) as fake:
        lead = ab.Task("lead", "coordinate", budget=Budget(turns=6))
        run = start(tmp_path, [lead], max_depth=6, tools=None)
        run.wait(timeout=15)
        assert sent(fake) <= 6
    assert sum(r.turns for r in run.records.values()) <= 6


def test_automatic_compaction_is_charged_to_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(monkeypatch) as fake:
        run = start(tmp_path, [ab.Task("a", "agent a", budget=Budget(turns=3))], compact_at_tokens=50)
        run.wait(timeout=10)
        assert sent(fake) == 3
        assert any(not r.json.get("tools") for r in fake.message_requests)  # a summary was one of them
    assert run.status == {"a": "budget"}


# ---- bad budgets


@pytest.mark.parametrize("budget", ["5", "\n  usd: 'three'", "\n  turns: 2.5", "\n  seconds: -1", "\n  - 3"])
def test_a_bad_budget_in_an_agent_file_is_an_agent_file_error_naming_it(tmp_path: Path, budget: str) -> None:
    path = tmp_path / "bad.md"
    path.write_text(f"---\nname: bad\ndescription: d\nbudget: {budget}\n---\nBody.\n")
    with pytest.raises(AgentFileError, match=r"bad\.md"):
        load_agent_file(path)


@pytest.mark.parametrize("bad", [{"usd": "1"}, {"dollars": 1}, 7, {"turns": 0}])
def test_load_run_of_a_malformed_run_budget_warns_naming_the_file_and_keeps_the_budget(
    tmp_path: Path, bad: object
) -> None:
    """The manifest's config is unusable: rebuilt from the transcripts (which hold the budget)
    with a warning naming run.json and the budget; run.json is left as it was."""
    run = ab.run_parallel({"a": "x"}, model="offline", cwd=tmp_path, interactive=False,
                          run_dir=tmp_path / "run", budget=Budget(turns=10))  # fmt: skip
    run.wait(timeout=10)
    manifest = run.run_dir / "run.json"
    data = json.loads(manifest.read_text())
    data["config"]["budget"] = bad
    manifest.write_text(json.dumps(data))
    text = manifest.read_text()
    with pytest.warns(UserWarning, match=r"run\.json.*budget"):
        back = ab.load_run(run.run_dir, interactive=False)
    assert back.config.budget == Budget(turns=10)
    assert manifest.read_text() == text


def test_the_batch_lane_with_the_offline_model_is_refused_before_anything_starts(tmp_path: Path) -> None:
    runs = agentbook_home() / "runs"
    with pytest.raises(ValueError, match="lane='batch' needs the Anthropic API"):
        ab.run_parallel({"a": "x"}, model="offline", cwd=tmp_path, interactive=False, lane="batch")
    assert not runs.is_dir() or not list(runs.iterdir())


# ---- waiting for room


def test_a_request_that_fits_exactly_does_not_wait_for_a_reservation_nobody_holds() -> None:
    from agentbook.messages import Message
    from agentbook.scheduler.budgets import Account, BudgetHook

    # Six reservations made and given back: held_usd is 4.3e-19, not 0 (float sums).
    held = [0.0009524380752180778, 0.0006600899406536317, 0.0006517207765167506,
            0.0003015478493284777, 0.0007055992972014974, 0.0005015287194329001]  # fmt: skip
    spent, worst = 0.001230487392350899, 0.0031888487743356475
    account = Account(Budget(usd=spent + worst), "run")
    for usd in held:
        account.hold(usd, 0)
    for usd in held:
        account.hold(-usd, 0, -1)
    account.spend(spent, 0)
    assert account.held_turns == 0  # nothing is in flight: nobody will ever give room back
    hook = BudgetHook([account], MODEL)
    hook.worst_case = lambda request: (worst, 1)  # type: ignore[method-assign]
    request = ab_request(Message.user("hi"))

    async def ask() -> None:
        await asyncio.wait_for(hook.before_request("a", request), 2)

    asyncio.run(ask())  # it fits (spent + worst == the budget): it goes, or is refused; never hangs


def ab_request(message: Any) -> Any:
    from agentbook.messages import Request

    return Request("system", (message,), max_tokens=1)


# ---- the batch lane


def one_answer(request: FakeRequest) -> Reply:
    from agentbook.testing.fakeapi.replies import ReplyUsage

    return MessageReply("done", usage=ReplyUsage(input_tokens=1000, output_tokens=100))


def test_an_agent_cancelled_in_a_shared_batch_is_still_charged_for_what_the_batch_bills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.messages import Usage
    from agentbook.models import AnthropicModel

    model = "claude-sonnet-5-5"
    with FakeAnthropic(one_answer, batch_delay=1.0) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        run = ab.run_parallel({f"a{i}": f"agent {i}" for i in range(3)},
                              model=AnthropicModel(model, base_url=fake.base_url), cwd=tmp_path,
                              run_dir=tmp_path / "run", interactive=False, tools=[], max_tokens=256,
                              lane=FAST, budget=Budget(usd=5))  # fmt: skip
        until(lambda: all(r.batch for r in run.records.values()))
        run.cancel("a0")
        run.wait(timeout=10)
        billed = [r for r in fake.message_requests if r.query]  # every item the batch answered
    assert run.status == {"a0": "cancelled", "a1": "done", "a2": "done"}  # the siblings go on
    assert len(billed) == 3  # a0's item was processed (and billed) with the others
    each = cost_usd(Usage(input_tokens=1000, output_tokens=100), model, service_tier="batch") or 0.0
    account = run.budgets.accounts[""]
    assert account.held_turns == 0
    assert account.usd == pytest.approx(3 * each)


def test_a_budget_on_the_batch_lane_is_given_back_after_errored_items_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.models import AnthropicModel

    lock, attempts = threading.Lock(), dict[str, int]()

    def overloaded_once(request: FakeRequest) -> Reply:
        key = first_prompt(request)
        with lock:
            n = attempts[key] = attempts.get(key, 0) + 1
        return ErrorReply(529) if n == 1 else one_answer(request)

    with FakeAnthropic(overloaded_once, batch_delay=0.05) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        run = ab.run_parallel({f"a{i}": f"agent {i}" for i in range(4)},
                              model=AnthropicModel("claude-sonnet-5-5", base_url=fake.base_url), cwd=tmp_path,
                              run_dir=tmp_path / "run", interactive=False, tools=[], max_tokens=256,
                              lane=FAST, budget=Budget(turns=4),
                              retry=RetryPolicy(base_s=0.01, cap_s=0.02))  # fmt: skip
        run.wait(timeout=10)
    account = run.budgets.accounts[""]
    assert set(run.status.values()) == {"done"}
    assert (account.turns, account.held_turns, account.held_tokens) == (4, 0, 0)
