"""Forecasts before approval (issue 14, point 2): a plan's and a batch's tasks get a low / typical /
high cost before anything runs, the first request counted by the API online (the fake Messages
API's count_tokens) and estimated offline, the rest learnt from earlier runs of the same tasks or
agent type, else from stated defaults; after a run, `run.forecast_error()`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import first_prompt

import agentbook as ab
from agentbook.scheduler.forecasting import DEFAULTS
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.testing import FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock

KEY = "sk-ant-test-forecasts-0123456789abcdef"
TASKS = {
    "survey": "Survey the notes in this folder and list their subjects.",
    "summary": {"prompt": "Summarise these subjects in one line each: {survey}", "depends_on": ["survey"]},
    "check": "Check that every note has a title line.",
}


@pytest.fixture(autouse=True)
def gates() -> None:
    reset_gates()


def reply(request: FakeRequest) -> Reply:
    """Each agent reads twice, then answers at a length that depends on its task."""
    turn = sum(1 for m in request.json["messages"] if m["role"] == "assistant")
    if turn < 2:
        return MessageReply([ToolUseBlock("Glob", {"pattern": "*.txt"})])
    return MessageReply(
        f"{first_prompt(request)[:20]}: " + "words " * (40 if "Survey" in first_prompt(request) else 10)
    )


@contextlib.contextmanager
def serving(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(reply, api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield fake


def options(tmp_path: Path) -> dict[str, Any]:
    return {"model": "haiku", "cwd": tmp_path, "interactive": False, "tools": ["Glob"], "max_tokens": 512}


def test_a_plan_run_twice_is_forecast_from_its_first_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.txt").write_text("Title\nnotes\n")
    with serving(monkeypatch) as fake:
        plan = ab.Plan(TASKS)
        before = plan.forecast(history=[tmp_path / "none"], **options(tmp_path))
        assert set(before["counted"][:-1]) == {"count_tokens"}  # measured by the API
        counted = [r for r in fake.requests if r.path.endswith("/count_tokens")]
        assert len(counted) == 3 and not fake.message_requests
        assert before.loc["survey", "basis"].startswith("defaults:")
        plan.approve()
        done = plan.run(run_dir=tmp_path / "first", **options(tmp_path))
        assert done.completed, done.stopped_reason
        actual = sum(r.cost_usd or 0.0 for run in plan.runs for r in run.records.values())
        errors = plan.runs[0].forecast_error()  # the forecast made before this run
        assert set(errors.index) == {"survey", "check"} and errors.loc["survey", "basis"].startswith(
            "defaults"
        )

        again = ab.Plan(TASKS)
        second = again.forecast(history=[tmp_path / "first"], **options(tmp_path))
    typical = float(second.loc["(total)", "usd_typical"])
    print(f"first run cost ${actual:.6f}; the second forecast's typical total ${typical:.6f}")
    assert abs(typical - actual) <= 0.25 * actual
    assert second.loc["survey", "basis"] == "1 earlier run of this task"
    assert (
        second.loc["summary", "usd_low"]
        <= second.loc["summary", "usd_typical"]
        <= second.loc["summary", "usd_high"]
    )


def test_offline_a_forecast_calls_no_api_and_says_it_estimated(tmp_path: Path) -> None:
    with FakeAnthropic(reply, api_key=KEY) as fake:  # there, but nothing may call it
        frame = ab.Plan(TASKS).forecast(model="offline", cwd=tmp_path, history=[tmp_path])
        assert not fake.requests
    assert set(frame["counted"][:-1]) == {"estimated"}
    assert frame.loc["(total)", "usd_typical"] == 0  # the offline model is free
    assert f"{DEFAULTS.turns[1]}" in frame.loc["check", "basis"]
    tokens = frame.loc["check", ["tokens_low", "tokens_typical", "tokens_high"]].tolist()
    assert tokens == sorted(tokens) and tokens[0] >= frame.loc["check", "first_input_tokens"]


def test_a_batch_is_forecast_before_approval_and_the_approval_table_shows_it(tmp_path: Path) -> None:
    from agentbook.analysis.forecasts import forecast_html

    subprocess_git(tmp_path)
    units = [
        ab.Unit(f"add-{s}", f"create {s}.py with area()", [f"{s}.py"]) for s in ("a", "b", "c", "d", "e")
    ]
    planned = ab.batch("Add a module per shape", tmp_path, model="offline", units=units)
    frame = planned.forecast()
    assert list(frame.index[:-1]) == [u.name for u in planned.units] and frame.index[-1] == "(total)"
    page = forecast_html(frame)
    assert "agentbook-forecast" in page and "(total)" in page and "defaults:" in page


def subprocess_git(path: Path) -> None:
    import subprocess

    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "t"], ["config", "user.email", "t@t"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    (path / "shapes.py").write_text('"""Shapes."""\n')
    subprocess.run(["git", "add", "."], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "start"], cwd=path, check=True)
