"""The batch flow on a real repository: research -> units -> approval -> one worktree agent per
unit -> test commands -> commits and a report; one unit fails and the others land."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import git, new_repo

from agentbook.batches import BatchError, Unit, batch, parse_units
from agentbook.messages import Request, Response, Text, ToolResult, ToolUse, Usage
from agentbook.scheduler.ratelimit import reset_gates

UNITS = [
    {"name": f"add-mod-{n}", "files": [f"mod_{n}.py"], "instructions": f"create mod_{n}.py with VALUE = {n}",
     "test_command": f"python -c 'import mod_{n}; assert mod_{n}.VALUE == {n}'"}
    for n in range(4)
] + [{"name": "add-broken", "files": ["broken.py"], "instructions": "create broken.py with VALUE = (",
      "test_command": "python -c 'import broken'"}]  # fmt: skip


class Planner:
    """Labelled scripted model: answers the research prompt with UNITS, and implements a unit by
    writing the file its instructions name."""

    name = "scripted"
    description = "scripted batch model"

    async def aclose(self) -> None:
        return None

    async def respond(self, request: Request) -> Response:
        prompt = request.messages[0].text
        done = any(isinstance(b, ToolResult) for b in request.messages[-1].content)
        blocks: tuple[Any, ...]
        if prompt.startswith("Plan this change"):
            blocks = (Text("Here is the plan:\n```json\n" + json.dumps({"units": UNITS}) + "\n```"),)
        elif not done:
            path, _, content = prompt.split("create ", 1)[1].split("\n", 1)[0].partition(" with ")
            blocks = (ToolUse("w", "Write", {"file_path": path, "content": content + "\n"}),)
        else:
            blocks = (Text("done"),)
        stop = "tool_use" if isinstance(blocks[0], ToolUse) else "end_turn"
        return Response(f"m{len(request.messages)}", "scripted", blocks, stop, Usage(10, 5))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    reset_gates()
    yield new_repo(tmp_path / "repo", monkeypatch, {"README.md": "demo\n"})


def test_a_batch_where_one_unit_fails_and_the_others_land(repo: Path) -> None:
    planned = batch("Add five modules", repo, model=Planner())
    assert [u.name for u in planned.units] == [u["name"] for u in UNITS]
    assert list(planned.units_df.columns) == ["name", "files", "instructions", "test_command"]
    with pytest.raises(BatchError, match="not approved"):
        planned.start()
    planned.approve()
    planned.start()
    planned.wait(timeout=120)
    report = planned.report
    assert set(report["state"]) == {"done"}
    passed = [f"add-mod-{n}" for n in range(4)]
    assert list(report.loc[passed, "test"]) == ["passed"] * 4
    assert report.loc["add-broken", "test"] == "failed"
    for name in passed:
        branch = report.loc[name, "branch"]
        assert branch and git(repo, "log", "-1", "--format=%s", branch).startswith(f"agentbook: {name}")
    failures = (planned.run.run_dir / "batch-failures.md").read_text()  # type: ignore[union-attr]
    assert "## add-broken" in failures and "SyntaxError" in failures and "add-mod-0" not in failures
    assert git(repo, "status", "--porcelain") == "" and git(repo, "branch", "--show-current") == "main"
    merged = planned.merge(into="integration")
    assert merged.conflict is None and len(merged.merged) == 4
    assert "broken.py" not in git(repo, "ls-tree", "--name-only", "integration")
    published = planned.publish()  # no gh and no remote here: patch files
    assert all(Path(p).is_file() and p.endswith(".patch") for p in published.values())
    assert planned.report.loc["add-mod-0", "published"] == published["add-mod-0"]


def test_edit_before_approval_and_given_units(repo: Path) -> None:
    planned = batch(
        "x", repo, model=Planner(), units=[Unit("one", "create one.py with A = 1", ["one.py"], "true")]
    )
    frame = planned.units_df
    frame.loc[0, "name"] = "renamed"
    planned.edit(frame)
    assert planned.units[0].name == "renamed" and planned.units[0].files == ["one.py"]
    planned.approve()
    with pytest.raises(BatchError, match="approved"):
        planned.edit(frame)


def test_bad_plans_and_inputs_are_clear_errors(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="no JSON 'units'"):
        parse_units("I could not decide.")
    with pytest.raises(BatchError, match="5 to 30 units, got 2"):
        parse_units(json.dumps({"units": UNITS[:2]}))
    twice = json.dumps({"units": [UNITS[0]] * 5})
    with pytest.raises(BatchError, match="used twice"):
        parse_units(twice)
    with pytest.raises(BatchError, match="offline model cannot split"):
        batch("anything", repo, model="offline")
    with pytest.raises(BatchError, match="not the top of a git repository"):
        batch("anything", tmp_path, model=Planner())


def test_batch_view_approves_the_edited_units_and_starts(repo: Path) -> None:
    from agentbook.notebook.widgets import batch_view

    planned = batch("Add modules", repo, model=Planner())
    view = batch_view(planned)
    table, forecast, button = view.children[1], view.children[2], view.children[3]
    assert "agentbook-forecast" in forecast.value  # what each unit may cost, before approval
    rows = table.children
    rows[4].children[0].value = False  # leave out add-broken
    rows[0].children[1].value = "first-module"  # rename a unit in the table
    button.click()
    assert planned.approved and button.disabled
    assert [u.name for u in planned.units] == ["first-module", "add-mod-1", "add-mod-2", "add-mod-3"]
    planned.wait(timeout=120)
    assert set(planned.report["test"]) == {"passed"}


def test_batch_magic_reports_bad_input_as_usage_errors(repo: Path) -> None:
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "agentbook")
    with pytest.raises(UsageError, match="offline model cannot split"):
        ip.run_line_magic("batch", f"--repo {repo} --model offline Add modules")
    with pytest.raises(UsageError, match="the following arguments are required: instruction"):
        ip.run_line_magic("batch", f"--repo {repo}")


def test_the_batch_view_follows_an_approval_made_in_code(repo: Path) -> None:
    from agentbook.notebook.widgets import batch_view

    planned = batch("Add modules", repo, model=Planner())
    view = batch_view(planned)
    table, button = view.children[1], view.children[3]
    planned.approve()  # from code, not the button
    assert button.description == "Run (approved)" and not button.disabled
    assert all(field.disabled for row in table.children for field in row.children)
    button.click()  # runs the approved units as they are
    assert button.disabled and button.description == "Running" and planned.run is not None
    planned.wait(timeout=120)
