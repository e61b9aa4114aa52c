"""The magics, through a real IPython shell: arguments, YAML bodies, variables, errors, %agents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from agentbook.scheduler.run import Run, all_runs


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "agentbook")
    yield shell


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "my code"  # a space, to check quoted values keep it
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "alpha.py").write_text('"""Alpha module."""\n\n\ndef a():\n    """Do a."""\n')
    (folder / "pkg" / "beta.py").write_text('"""Beta module."""\n\n\nclass B:\n    """A B."""\n')
    return folder


def cell(ip: InteractiveShell, line: str, body: str) -> Any:
    return ip.run_cell_magic("parallel_agents", line, body)


def test_help_lists_the_options(ip: InteractiveShell) -> None:
    doc = ip.find_cell_magic("parallel_agents").__doc__ or ""
    for option in (
        "--model",
        "--agent",
        "--max-turns",
        "--tools",
        "--concurrency",
        "--worktree",
        "--cwd",
        "--settings",
        "--wait",
        "-o",
    ):
        assert option in doc, option
    assert "YAML" in doc


def test_parallel_agents_runs_the_yaml_tasks_with_notebook_variables(
    ip: InteractiveShell, code: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.user_ns["part"] = "pkg/beta.py"
    body = "first: Summarise pkg/alpha.py\nsecond:\n  prompt: Summarise {part} (literal {{braces}})\n"
    out = cell(ip, f'--model offline --cwd "{code}" --wait -o r', body)
    assert out is None  # --wait published the final state itself
    assert "2 done" in capsys.readouterr().out  # and printed the outcome
    run = ip.user_ns["r"]
    assert isinstance(run, Run) and run.status == {"first": "done", "second": "done"}
    assert "def `a` (line 4): Do a." in run.results["first"]
    assert "class `B` (line 4): A B." in run.results["second"]
    assert run.records["second"].task.prompt == "Summarise pkg/beta.py (literal {braces})"


def test_the_cell_returns_the_run_at_once(ip: InteractiveShell, code: Path) -> None:
    run = cell(ip, f"--model offline --cwd '{code}'", "a: Summarise pkg")
    assert isinstance(run, Run)
    run.wait(timeout=30)
    assert run.status == {"a": "done"}


def test_agent_magic_runs_one_agent(ip: InteractiveShell, code: Path) -> None:
    ip.user_ns["target"] = "pkg/alpha.py"
    run = ip.run_cell_magic(
        "agent", f'--model offline --cwd "{code}" --name scout -o one', "Look at {target}"
    )
    run.wait(timeout=30)
    assert ip.user_ns["one"] is run and run.status == {"scout": "done"}


@pytest.mark.parametrize(
    ("line", "body", "message"),
    [
        ("--max-turns x", "a: b", "invalid int value: 'x'"),
        ("--max-turns 0", "a: b", "--max-turns must be at least 1"),
        ("--concurrency -2", "a: b", "--concurrency must be at least 1"),
        ("--tools Read,Teleport", "a: b", "unknown tool(s) 'Teleport'"),
        ("--cwd /no/such/folder", "a: b", "--cwd: not a folder"),
        ("--bogus 1", "a: b", "unrecognized arguments: --bogus"),
        ("--agent ghost", "a: b", "names agent 'ghost'"),
        ("--worktree", "a: b", "not a git repository"),
        ("", "a: [unclosed", "not valid YAML"),
        ("", "- just\n- a list", "must be a YAML mapping"),
        ("", "", "the cell body is empty"),
        ("", "a: Use {missing}", "uses {missing}, which is not a notebook variable"),
        ("", "a: {prompt: x, agnet: y}", "unknown key"),
        ("", "a: {prompt: x, depends_on: [b]}\nb: y", "need a phase plan"),
        ("", "a b: x", "must be letters"),
        ("", "a: {prompt: x, model: 5}", "'model' must be a string, not 5"),
    ],
)
def test_bad_arguments_raise_usage_error_and_start_nothing(
    ip: InteractiveShell, code: Path, line: str, body: str, message: str
) -> None:
    before = all_runs()  # a list holds them: runs that ended may otherwise be collected meanwhile
    with pytest.raises(UsageError) as caught:
        cell(
            ip,
            f'--model offline --cwd "{code}" {line}' if "--cwd" not in line else f"--model offline {line}",
            body,
        )
    assert message in str(caught.value)
    assert all_runs() == before


def test_a_bad_argument_in_a_cell_is_reported_not_raised(ip: InteractiveShell) -> None:
    result = ip.run_cell("%%parallel_agents --max-turns 0\na: b\n")
    assert isinstance(result.error_in_exec, UsageError)


def test_agents_lists_and_steers_runs(
    ip: InteractiveShell, code: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cell(
        ip,
        f'--model offline --cwd "{code}" --wait -o steer',
        "north: Summarise pkg\nsouth: Summarise pkg/alpha.py",
    )
    run = ip.user_ns["steer"]
    table = ip.run_line_magic("agents", "")
    assert run.name in list(table["run"]) and "2 done" in table.set_index("run").loc[run.name, "states"]
    assert ip.run_line_magic("agents", f"status {run.name}") is run
    assert ip.run_line_magic("agents", "status north").startswith("north: done")
    shown = ip.run_line_magic("agents", "transcript south")
    transcript = repr(shown)  # lines in a terminal, HTML in a notebook
    assert "[tool call] Glob" in transcript and "[assistant] # Summary" in transcript
    assert transcript.count("\n") > 3 and "agentbook-message" in shown._repr_html_()
    frame = ip.run_line_magic("agents", "df")
    assert {"north", "south"} <= set(frame.index)
    resumed = ip.run_line_magic("agents", 'resume north --max-turns 2 --prompt "Say more"')
    resumed.wait(timeout=30)
    assert run.records["north"].state in ("done", "partial")
    ip.run_line_magic("agents", "cancel north")  # an ended agent: nothing to do, no error
    assert "cancelled north: 1 done" in capsys.readouterr().out  # it says how they ended
    with pytest.raises(UsageError, match="no run or agent named 'nobody'"):
        ip.run_line_magic("agents", "status nobody")
    with pytest.raises(UsageError, match="unknown %agents command"):
        ip.run_line_magic("agents", "explode")
    with pytest.raises(UsageError, match="--max-turns must be"):
        ip.run_line_magic("agents", "resume north --max-turns zero")


CLASSIC = """\
library: {prompt: Write a shared validation library, files: ["src/validation/**"]}
user-model: {prompt: Change the user model, files: [src/models/user.py]}
registration: {prompt: "Validate registration with {library}", depends_on: [library], files: [src/api/reg.py]}
payment: {prompt: "Validate payment with {library}", depends_on: [library], files: [src/api/pay.py]}
tests: {prompt: Test both endpoints, depends_on: [registration, payment]}
"""


def test_phase_plan_magic_builds_the_plan(ip: InteractiveShell) -> None:
    from agentbook.plans import Plan

    plan = ip.run_cell_magic("phase_plan", "-o plan", CLASSIC)
    assert isinstance(plan, Plan) and ip.user_ns["plan"] is plan
    assert plan.phases == [["library", "user-model"], ["payment", "registration"], ["tests"]]
    assert plan.tasks["registration"].prompt == "Validate registration with {library}"  # kept for the run
    assert not plan.approved
    with pytest.raises(UsageError, match="cycle"):
        ip.run_cell_magic(
            "phase_plan", "", "a: {prompt: x, depends_on: [b]}\nb: {prompt: y, depends_on: [a]}"
        )


def test_plan_view_approve_button_opens_the_gate() -> None:
    from agentbook.notebook.widgets import plan_view
    from agentbook.plans import Plan

    plan = Plan({"a": "x", "b": {"prompt": "y", "depends_on": ["a"]}})
    view = plan_view(plan)
    forecast, button = view.children[1], view.children[2]
    assert "agentbook-forecast" in forecast.value and "total" in forecast.value
    assert button.description == "Approve" and not button.disabled
    button.click()
    assert plan.approved and button.disabled and button.description == "Approved"


def test_settings_option_runs_the_settings_hooks_and_a_bad_one_is_a_usage_error(
    ip: InteractiveShell, code: Path, tmp_path: Path
) -> None:
    log = tmp_path / "hook-payloads"  # one file per call: the offline model's calls run at once
    log.mkdir()
    settings = tmp_path / "settings.json"
    hook = {"type": "command", "command": f"cat > \"$(mktemp -p '{log}')\""}
    settings.write_text(json.dumps({"hooks": {"PreToolUse": [{"hooks": [hook]}]}}))
    cell(ip, f'--model offline --cwd "{code}" --settings "{settings}" --wait -o r', "look: Summarise pkg")
    run = ip.user_ns["r"]
    assert run.status == {"look": "done"} and run.config.settings == str(settings)
    payloads = [json.loads(p.read_text()) for p in log.iterdir()]
    assert payloads and all(p["hook_event_name"] == "PreToolUse" for p in payloads)
    before = len(all_runs())
    with pytest.raises(UsageError, match=r"missing\.json"):
        cell(ip, f'--model offline --cwd "{code}" --settings "{tmp_path / "missing.json"}"', "t: x")
    assert len(all_runs()) == before


def test_the_plan_view_redraws_when_the_plan_is_approved_in_code_and_as_phases_run(tmp_path: Path) -> None:
    from agentbook.notebook.widgets import plan_view
    from agentbook.plans import Plan

    plan = Plan({"a": "x", "b": {"prompt": "y", "depends_on": ["a"]}})
    view = plan_view(plan)
    table, button = view.children[0], view.children[2]
    assert "not approved" in table.value
    plan.approve()  # from code, not the button
    assert "not approved" not in table.value and button.disabled
    plan.run_phase(0, model="offline", cwd=tmp_path).wait(30)
    assert "phase 0" in table.value and "done" in table.value
