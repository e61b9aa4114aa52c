"""The stable public names of ../shared/DESIGN.md are importable from the top-level package."""

from pathlib import Path

import agentbook as ab


def test_design_names_exist() -> None:
    for name in (
        "AgentSpec",
        "Task",
        "load_agents",
        "run_parallel",
        "load_run",
        "Run",
        "explore",
        "Permissions",
        "RunConfig",
        "Plan",
        "batch",
        "context_cost",
        "load_claude_code",
    ):
        assert hasattr(ab, name), name
    from agentbook.models import AnthropicModel, OfflineModel, ScriptedModel  # noqa: F401


def test_readme_fan_out_example_runs_offline(tmp_path: Path) -> None:
    run = ab.run_parallel(
        {"models": "Summarise agentbook/models", "tools": "Summarise agentbook/tools"},
        cwd=Path(ab.__file__).parents[1],
        run_dir=tmp_path,
        interactive=False,
    )
    run.wait(timeout=60)
    assert run.status == {"models": "done", "tools": "done"}
    assert "agentbook/models/anthropic.py" in run.results["models"]
    assert "agentbook/tools/shell.py" in run.results["tools"]
    assert run.df["tokens_estimated"].all()
