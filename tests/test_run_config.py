"""`RunConfig`: every run option validated once; bad input names the option, starts nothing and
creates no run folder (through `run_parallel`, the magics and `load_run` alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentbook.models import ScriptedModel
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.restore import load_run
from agentbook.scheduler.run import all_runs
from agentbook.specs import AgentSpec, Task
from agentbook.tools.permissions import Permissions

BAD_OPTIONS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"permissions": "bypassPermissions"}, TypeError, "permission_mode='bypassPermissions'"),
    ({"permission_mode": "yolo"}, ValueError, "permission_mode must be one of"),
    ({"max_tokens": 0}, ValueError, "max_tokens must be at least 1"),
    ({"max_tokens": -5}, ValueError, "max_tokens must be at least 1"),
    ({"concurrency": "8"}, TypeError, "concurrency must be a whole number, not str"),
    ({"concurrency": 2.5}, TypeError, "concurrency must be a whole number, not float"),
    ({"concurrency": 0}, ValueError, "concurrency must be at least 1"),
    ({"max_turns": "10"}, TypeError, "max_turns must be a whole number"),
    ({"max_turns": 3.0}, TypeError, "max_turns must be a whole number"),
    ({"max_turns": 0}, ValueError, "max_turns must be at least 1"),
    ({"max_turns": True}, TypeError, "max_turns must be a whole number"),
    ({"max_depth": -1}, ValueError, "max_depth must be at least 0"),
    ({"max_result_tokens": -1}, ValueError, "max_result_tokens must be at least 1"),
    ({"name": "a/b"}, ValueError, "the run name 'a/b'"),
    ({"name": "a..b"}, ValueError, "(no spaces, '/' or '..')"),
    ({"name": "x.lock"}, ValueError, "the run name"),
    ({"shared_context": 5}, TypeError, "shared_context must be a string"),
    ({"system": ["a"]}, TypeError, "system must be a string"),
    ({"isolation": "docker"}, ValueError, "isolation must be None or 'worktree'"),
    ({"tools": "Read"}, TypeError, "tools must be a list of tool names"),
    ({"tools": ["Read", "Telnet"]}, ValueError, "unknown tool name(s): 'Telnet'"),
    ({"model": 5}, TypeError, "model must be a Model"),
    ({"model": " "}, ValueError, "model name is empty"),
    ({"warm_cache": "yes"}, TypeError, "warm_cache must be True or False"),
    ({"interactive": 1}, TypeError, "interactive must be True or False"),
    ({"agents": {"a/b": AgentSpec("x")}}, ValueError, "agent name 'a/b'"),
    ({"agents": {"x": "not a spec"}}, TypeError, "agents['x'] must be an AgentSpec"),
    ({"cwd": "/no/such/folder"}, NotADirectoryError, "cwd is not a folder"),
    ({"retry": 3}, TypeError, "retry must be a RetryPolicy"),
    ({"base": ""}, ValueError, "base must be a commit-ish"),
]


@pytest.mark.parametrize(("options", "error", "message"), BAD_OPTIONS)
def test_a_bad_option_is_named_and_nothing_starts(
    options: dict[str, Any], error: type[Exception], message: str, home: Path, tmp_path: Path
) -> None:
    before = all_runs()
    run_dir = tmp_path / "run"
    kwargs = {"cwd": tmp_path, "run_dir": run_dir, "model": ScriptedModel(["x"]), **options}
    with pytest.raises(error) as caught:
        run_parallel({"a": "x"}, **kwargs)
    assert message in str(caught.value)
    assert all_runs() == before and not run_dir.exists() and not home.exists()


BAD_TASKS: list[tuple[Any, type[Exception], str]] = [
    (None, TypeError, "tasks must be a mapping"),
    (5, TypeError, "tasks must be a mapping"),
    ("abc", TypeError, "not str 'abc'"),
    ({"a/b": "x"}, ValueError, "task name 'a/b'"),
    ({"a..b": "x"}, ValueError, "no spaces, '/' or '..'"),
    ({"a": {"prompt": "x", "model": 5}}, ValueError, "'model' must be a string, not 5"),
    ({"a": ""}, ValueError, "empty prompt"),
    ([], ValueError, "no tasks given"),
]


@pytest.mark.parametrize(("tasks", "error", "message"), BAD_TASKS)
def test_bad_tasks_are_named_and_nothing_starts(
    tasks: Any, error: type[Exception], message: str, home: Path, tmp_path: Path
) -> None:
    before = all_runs()
    with pytest.raises(error) as caught:
        run_parallel(tasks, cwd=tmp_path, model=ScriptedModel(["x"]))
    assert message in str(caught.value)
    assert all_runs() == before and not home.exists()


def test_a_task_checks_its_own_fields() -> None:
    with pytest.raises(TypeError, match="task name must be a string, not NoneType"):
        Task(None, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="task prompt must be a string, not NoneType"):
        Task("a", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="depends_on must be a tuple of strings"):
        Task("a", "x", depends_on="b")  # type: ignore[arg-type]


def test_options_are_normalised_once(tmp_path: Path) -> None:
    config = RunConfig.of(cwd=tmp_path, tools=["Read", "Grep"], permission_mode="acceptEdits")
    assert config.cwd == tmp_path.resolve() and config.tools == ("Read", "Grep")
    assert config.permissions.mode == "acceptEdits" and config.permission_mode == "acceptEdits"
    again = RunConfig.of(config, permissions=Permissions(deny=["Bash(rm *)"]))
    assert again.permissions.mode == "default" and again.tools == ("Read", "Grep")
    with pytest.raises(TypeError, match="unknown run option"):
        RunConfig.of(max_turn=3)


def test_the_config_round_trips_through_json(tmp_path: Path) -> None:
    config = RunConfig.of(
        cwd=tmp_path, model="haiku", tools=["Read"], max_tokens=1000, system="Be brief in {root}.",
        permissions=Permissions(allow=["Bash(pytest *)"], deny=["Read(./.env)"], mode="acceptEdits"),
        agents={"r": AgentSpec("r", prompt="You review.", tools=("Read",), max_turns=3)},
        isolation="worktree", shared_context="shared", max_result_tokens=200, concurrency=4,
    )  # fmt: skip
    back = RunConfig.from_json(config.to_json())
    assert back.to_json() == config.to_json()
    assert [str(r) for r in back.permissions.deny] == ["Read(./.env)"] and back.agents == config.agents


def test_load_run_validates_its_overrides(tmp_path: Path) -> None:
    run = run_parallel({"a": "x"}, cwd=tmp_path, model=ScriptedModel(["done"]), run_dir=tmp_path / "run")
    run.wait(timeout=10)
    with pytest.raises(TypeError, match="max_turns must be a whole number"):
        load_run(run.run_dir, max_turns="5")
    with pytest.raises(TypeError, match="unknown run option"):
        load_run(run.run_dir, max_turn=5)


def test_a_plan_checks_its_run_options_before_any_phase(home: Path, tmp_path: Path) -> None:
    from agentbook.plans import Plan

    plan = Plan({"a": "first", "b": {"prompt": "then {a}", "depends_on": ["a"]}})
    plan.approve()
    with pytest.raises(ValueError, match="max_turns must be at least 1"):
        plan.run(max_turns=0, cwd=tmp_path)
    with pytest.raises(TypeError, match="permission_mode='plan'"):
        plan.run_phase(0, permissions="plan", cwd=tmp_path)
    assert plan.runs == [] and not home.exists()
