"""The analysis edge on small deterministic runs: the frames' tool and cache columns, and the
plots (`timeline`, `cost_by_agent`, `context_growth`), checked through the artists they draw."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from agentbook.analysis.cache import cache_hit_rate, cache_savings_usd
from agentbook.analysis.frames import COST_KINDS, cost_breakdown_frame
from agentbook.analysis.plots import context_growth, cost_by_agent, timeline
from agentbook.analysis.tool_frames import tool_calls_frame, tools_frame
from agentbook.costs import UnknownModelPriceWarning, price_for
from agentbook.messages import Request, Response, Text, ToolUse, Usage
from agentbook.models import ScriptedModel
from agentbook.plans import Plan
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.run import Run

PRICED = "claude-haiku-5-5"
CACHED = Usage(
    input_tokens=100,
    output_tokens=20,
    cache_creation_input_tokens=300,
    cache_read_input_tokens=600,
    ephemeral_5m_input_tokens=200,
    ephemeral_1h_input_tokens=100,
)


@pytest.fixture(autouse=True)
def fresh_gates() -> None:
    reset_gates()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "README.md").write_text("# Tiny\n\nA tiny project.\n")
    (root / "src" / "calc.py").write_text('def add(a, b):\n    """Add two numbers."""\n    return a + b\n')
    return root


def finished(run: Run) -> Run:
    run.wait(timeout=30)
    assert run.done
    return run


def offline_run(project: Path, tmp_path: Path) -> Run:
    tasks = {"alpha": "Explore src", "beta": "Explore README.md"}
    return finished(
        run_parallel(tasks, model="offline", cwd=project, interactive=False, run_dir=tmp_path / "off")
    )


def cached_reply(request: Request) -> Response:
    return Response("msg_cached", PRICED, (Text("done"),), "end_turn", CACHED)


def priced_run(project: Path, tmp_path: Path, names: tuple[str, ...] = ("a", "b", "c")) -> Run:
    model = ScriptedModel([cached_reply] * len(names), name=PRICED)
    tasks = {name: f"task {name}" for name in names}
    return finished(
        run_parallel(tasks, model=model, cwd=project, interactive=False, run_dir=tmp_path / "priced")
    )


def bars(fig: Figure) -> list[BarContainer]:
    (ax,) = fig.axes
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def tick_labels(fig: Figure, axis: str) -> list[str]:
    (ax,) = fig.axes
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in ticks]


def legend_texts(fig: Figure) -> list[str]:
    (legend,) = fig.legends
    return [t.get_text() for t in legend.get_texts()]


# ---- frames: tools


def test_tools_frame_counts_and_times_the_offline_models_tools(project: Path, tmp_path: Path) -> None:
    run = offline_run(project, tmp_path)
    calls = tool_calls_frame(run)
    assert len(calls) == sum(r.tools_run for r in run.records.values()) > 0
    assert calls["answered"].all() and (calls["duration_s"] >= 0).all()
    assert str(calls["start"].dtype).endswith("UTC]") and calls["tool"].dtype == "category"
    tools = tools_frame(run)
    assert set(tools["tool"]) <= {"Glob", "Grep", "Read"} and "Read" in set(tools["tool"])
    assert list(tools.columns) == ["tool", "calls", "total_time_s", "errors"]
    assert [str(t) for t in tools.dtypes] == ["category", "Int64", "Float64", "Int64"]
    assert tools["calls"].sum() == len(calls) and tools["errors"].sum() == 0
    by_tool = calls.groupby("tool", observed=True)["duration_s"].sum()
    for row in tools.itertuples():
        assert math.isclose(row.total_time_s, by_tool[row.tool])
    assert list(tools["total_time_s"]) == sorted(tools["total_time_s"], reverse=True)


def test_tools_frame_counts_error_results(project: Path, tmp_path: Path) -> None:
    model = ScriptedModel(
        [ToolUse("t1", "Read", {"file_path": str(project / "missing.txt")}), "could not read it"]
    )
    run = finished(
        run_parallel(
            {"reader": "read it"}, model=model, cwd=project, interactive=False, run_dir=tmp_path / "r"
        )
    )
    tools = tools_frame(run)
    assert tools.to_dict("records") == [
        {"tool": "Read", "calls": 1, "total_time_s": tools["total_time_s"].iloc[0], "errors": 1}
    ]
    (call,) = tool_calls_frame(run).itertuples()
    assert call.is_error and call.tool_use_id == "t1" and call.duration_s >= 0


def test_tool_frames_of_a_run_without_tools_are_empty_but_typed(project: Path, tmp_path: Path) -> None:
    run = priced_run(project, tmp_path, names=("a",))
    assert tool_calls_frame(run).empty and tools_frame(run).empty
    assert list(tools_frame(run).columns) == ["tool", "calls", "total_time_s", "errors"]


# ---- frames: cache columns


def test_cache_columns_follow_the_price_table(project: Path, tmp_path: Path) -> None:
    run = priced_run(project, tmp_path)
    price = price_for(PRICED)
    assert price is not None
    rate = 600 / (100 + 300 + 600)
    saved = (600 * (price.input - price.cache_read) - 200 * (price.cache_write_5m - price.input)
             - 100 * (price.cache_write_1h - price.input)) / 1e6  # fmt: skip
    for frame in (run.df, run.calls_df):
        assert frame["cache_hit_rate"].dtype == "Float64" and frame["cache_savings_usd"].dtype == "Float64"
        assert frame["model"].dtype == "category"
        assert all(math.isclose(v, rate) for v in frame["cache_hit_rate"])
        assert all(math.isclose(v, saved) for v in frame["cache_savings_usd"])
    assert cache_hit_rate(Usage()) is None and cache_savings_usd(CACHED, PRICED) == pytest.approx(saved)


def test_cache_columns_are_missing_without_input_or_price(project: Path, tmp_path: Path) -> None:
    model = ScriptedModel(
        [lambda r: Response("m", "mystery-model", (Text("x"),), "end_turn", Usage(0, 5))],
        name="mystery-model",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelPriceWarning)
        run = finished(
            run_parallel({"m": "go"}, model=model, cwd=project, interactive=False, run_dir=tmp_path / "m")
        )
        df, calls, costs = run.df, run.calls_df, cost_breakdown_frame(run)
    assert df["cache_hit_rate"].isna().all() and df["cache_savings_usd"].isna().all()
    assert calls["cache_hit_rate"].isna().all() and calls["cache_savings_usd"].isna().all()
    assert costs[[*COST_KINDS, "cost_usd"]].isna().all().all()


def test_cost_breakdown_sums_to_the_agents_cost(project: Path, tmp_path: Path) -> None:
    run = priced_run(project, tmp_path)
    costs = cost_breakdown_frame(run)
    assert list(costs.index) == ["a", "b", "c"]
    for name, row in costs.iterrows():
        assert math.isclose(sum(row[k] for k in COST_KINDS), row["cost_usd"])
        assert math.isclose(row["cost_usd"], run.df.loc[name, "cost_usd"])


# ---- plots


def test_the_backend_is_left_alone_or_agg() -> None:
    assert matplotlib.get_backend().lower() in ("agg", "module://matplotlib_inline.backend_inline")


def test_timeline_of_one_run_has_a_bar_per_agent_coloured_by_state(project: Path, tmp_path: Path) -> None:
    def reply(request: Request) -> Response:
        if "fail" in request.messages[0].text:
            raise RuntimeError("a harness bug")
        return Response("m", "scripted", (Text("ok"),), "end_turn", Usage(10, 2))

    model = ScriptedModel([reply] * 3)
    tasks = {"ok1": "fine", "ok2": "fine too", "broken": "fail please"}
    run = finished(run_parallel(tasks, model=model, cwd=project, interactive=False, run_dir=tmp_path / "t"))
    assert run.status["broken"] == "failed"
    fig = timeline(run)
    assert isinstance(fig, Figure)
    (container,) = bars(fig)
    assert len(container.patches) == 3
    assert sorted(tick_labels(fig, "y")) == ["broken", "ok1", "ok2"]
    assert legend_texts(fig) == ["done", "failed"]
    colors = {
        label: patch.get_facecolor()
        for label, patch in zip(tick_labels(fig, "y"), container.patches, strict=True)
    }
    assert colors["ok1"] == colors["ok2"] != colors["broken"]
    assert all(p.get_width() >= 0 and p.get_x() >= 0 for p in container.patches)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.texts] == []  # one run: no phase labels by default


def test_timeline_groups_a_plans_runs_by_phase(project: Path, tmp_path: Path) -> None:
    plan = Plan({"scan": "scan it", "left": {"prompt": "left after {scan}", "depends_on": ["scan"]},
                 "right": {"prompt": "right after {scan}", "depends_on": ["scan"]}})  # fmt: skip
    plan.approve()
    outcome = plan.run(model=ScriptedModel(["found", "l", "r"]), cwd=project, interactive=False,
                       run_dir=tmp_path / "plan")  # fmt: skip
    assert outcome.completed
    for source in (plan, outcome, plan.runs):
        fig = timeline(source)
        (container,) = bars(fig)
        assert len(container.patches) == 3
        assert tick_labels(fig, "y")[0] == "scan" and sorted(tick_labels(fig, "y")[1:]) == ["left", "right"]
        (ax,) = fig.axes
        assert [t.get_text() for t in ax.texts] == ["phase 0", "phase 1"]
        assert len(ax.lines) == 1  # the rule between the two phases
    flat = timeline(plan, by_phase=False)
    assert [t.get_text() for t in flat.axes[0].texts] == []


def test_cost_by_agent_stacks_five_kinds_per_agent(project: Path, tmp_path: Path) -> None:
    run = priced_run(project, tmp_path)
    fig = cost_by_agent(run)
    containers = bars(fig)
    assert len(containers) == len(COST_KINDS) == 5
    assert all(len(c.patches) == 3 for c in containers)
    assert [c.get_label() for c in containers] == [
        "input", "output", "cache write 5m", "cache write 1h", "cache read"
    ]  # fmt: skip
    assert legend_texts(fig) == [c.get_label() for c in containers]
    assert tick_labels(fig, "x") == ["a", "b", "c"]
    tops = [c.patches[0].get_y() + c.patches[0].get_height() for c in containers]
    assert math.isclose(tops[-1], float(run.df.loc["a", "cost_usd"]))
    assert fig.axes[0].get_ylabel() == "USD"


def test_cost_by_agent_marks_unpriced_agents(project: Path, tmp_path: Path) -> None:
    model = ScriptedModel(
        [lambda r: Response("m", "nope", (Text("x"),), "end_turn", Usage(5, 5))], name="nope"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelPriceWarning)
        run = finished(
            run_parallel({"u": "go"}, model=model, cwd=project, interactive=False, run_dir=tmp_path / "u")
        )
        fig = cost_by_agent(run)
    assert tick_labels(fig, "x") == ["u\n(no price)"]
    assert "unpriced" in fig.axes[0].get_title()
    assert all(c.patches[0].get_height() == 0 for c in bars(fig))


def test_context_growth_draws_one_cumulative_line_per_strategy() -> None:
    frame = pd.DataFrame(
        {
            "agent": ["a", "b", "c"],
            "full_result": [2000, 1500, 2500],
            "summary": [200, 150, 250],
            "note": list("xyz"),
        }
    )
    fig = context_growth(frame)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["full_result", "summary"]
    assert [list(line.get_ydata()) for line in ax.lines] == [[2000, 3500, 6000], [200, 350, 600]]
    assert [list(line.get_xdata()) for line in ax.lines] == [[1, 2, 3]] * 2
    assert tick_labels(fig, "x") == ["a", "b", "c"]
    assert legend_texts(fig) == ["full_result", "summary"]


def test_context_growth_takes_running_totals_and_an_agent_index() -> None:
    frame = pd.DataFrame({"totals": [10, 30, 60]}, index=pd.Index(["x", "y", "z"], name="agent"))
    (ax,) = context_growth(frame, cumulative=True).axes
    assert [list(line.get_ydata()) for line in ax.lines] == [[10, 30, 60]]


@pytest.mark.parametrize(
    "frame", [pd.DataFrame({"tokens": [1]}), pd.DataFrame({"agent": ["a"], "note": ["text"]})]
)
def test_context_growth_refuses_frames_it_cannot_read(frame: Any) -> None:
    with pytest.raises(ValueError, match="context_growth"):
        context_growth(frame)
