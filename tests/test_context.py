"""context_cost: the tokens results add to a coordinator's context, under each strategy."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentbook.analysis.context import STRATEGIES, context_cost
from agentbook.messages import Request, Response, Text, Usage
from agentbook.models import AnthropicModel
from agentbook.models.base import estimate_tokens
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.run import Run
from agentbook.testing import FakeAnthropic


class Sized:
    """Answers `chars:N` with N characters (N/4 estimated tokens), and records system prompts."""

    name = "scripted"
    description = "answers of a given size"

    def __init__(self) -> None:
        self.systems: list[str] = []

    async def aclose(self) -> None:
        return None

    async def respond(self, request: Request) -> Response:
        self.systems.append(request.system)
        size = int(request.messages[0].text.split(":")[1])
        return Response(f"m{size}", "scripted", (Text("x" * size),), "end_turn", Usage(10, 5))


def finished(tmp_path: Path, name: str, sizes: dict[str, int], **kwargs: object) -> tuple[Run, Sized]:
    reset_gates()
    model = Sized()
    tasks = {agent: f"chars:{size}" for agent, size in sizes.items()}
    # One at a time, so the results arrive in task order.
    run = run_parallel(tasks, model=model, cwd=tmp_path, run_dir=tmp_path / name, interactive=False,
                       concurrency=1, **kwargs)  # type: ignore[arg-type]  # fmt: skip
    run.wait(timeout=30)
    return run, model


def test_strategies_on_one_run(tmp_path: Path) -> None:
    run, model = finished(tmp_path, "r", {"a": 400, "b": 1200, "c": 80}, max_result_tokens=150)
    assert all("keep it under\n150 tokens" in system for system in model.systems)
    frame = context_cost(run)
    assert list(frame["agent"]) == ["a", "b", "c"] and not frame["counted"].any()
    assert list(frame["result_tokens"]) == [100, 300, 20]
    assert frame.attrs["cap"] == 150 and list(frame["within_cap"]) == [True, False, True]
    assert list(frame["full"]) == [100, 400, 420]
    assert list(frame["capped"]) == [100, 250, 270]
    assert list(frame["aggregated"]) == [100, 150, 150]
    assert list(frame["phased"]) == list(frame["full"])


def test_phased_runs_keep_only_the_current_phase_whole(tmp_path: Path) -> None:
    first, _ = finished(tmp_path, "p0", {"a": 400, "b": 400})
    second, _ = finished(tmp_path, "p1", {"c": 800})
    frame = context_cost([first, second], cap=50)
    assert list(frame["phase"]) == [0, 0, 1]
    assert list(frame["full"]) == [100, 200, 400]
    assert list(frame["phased"]) == [100, 200, 50 + 200]


def test_a_phase_smaller_than_the_cap_is_not_summarised_upwards(tmp_path: Path) -> None:
    first, _ = finished(tmp_path, "p0", {"a": 40})
    second, _ = finished(tmp_path, "p1", {"b": 40, "c": 800})
    third, _ = finished(tmp_path, "p2", {"d": 400})
    frame = context_cost([first, second, third], cap=50)
    assert list(frame["full"]) == [10, 20, 220, 320]
    # Phase 0's 10 tokens stay 10; phase 1's 210 become a 50-token summary.
    assert list(frame["phased"]) == [10, 10 + 10, 10 + 210, 10 + 50 + 100]
    assert (frame["phased"] <= frame["full"]).all()


def test_results_are_counted_by_the_api_when_online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = finished(tmp_path, "r", {"a": 400, "b": 1200})
    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-count-0000")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        frame = context_cost(run, model=AnthropicModel("haiku"))
        counts = [r for r in fake.requests if r.path.endswith("count_tokens")]
    assert frame["counted"].all() and len(counts) == 2
    # The fake counts the whole request body: a little more than the text alone.
    assert list(frame["result_tokens"]) > [estimate_tokens("x" * 400), 0]


def test_context_growth_plot_draws_one_line_per_strategy(tmp_path: Path) -> None:
    from agentbook.analysis.plots import context_growth

    run, _ = finished(tmp_path, "r", {"a": 400, "b": 40})
    figure = context_growth(context_cost(run)[["agent", *STRATEGIES]], cumulative=True)
    assert len(figure.axes[0].lines) == len(STRATEGIES)


def test_the_compacted_strategy_falls_back_to_a_summary_past_its_threshold(tmp_path: Path) -> None:
    run, _ = finished(tmp_path, "r", {"a": 1600, "b": 1600, "c": 1600, "d": 1600})
    frame = context_cost(run, cap=100, compact_at=1000)
    assert list(frame["full"]) == [400, 800, 1200, 1600]
    assert list(frame["compacted"]) == [400, 800, 100, 500]  # past 1,000: a 100-token summary, then on
