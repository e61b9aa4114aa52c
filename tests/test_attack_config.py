"""Adversarial review of issue 10: option and task validation (`RunConfig`, `as_tasks`).

Each test is one input that slipped through validation or failed late; see the report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import new_repo

from agentbook.models import ScriptedModel
from agentbook.scheduler.config import RunConfig, check_name
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.tasks import as_tasks


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    reset_gates()
    yield new_repo(tmp_path / "repo", monkeypatch, {"app.py": "print('hi')\n"})


# ---- names: `$` in the name regexes matches before a trailing newline


@pytest.mark.parametrize("name", ["abc\n", "run\n"])
def test_a_run_name_ending_in_a_newline_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        check_name("the run name", name)
    with pytest.raises(ValueError, match="name"):
        RunConfig.of(name=name)


@pytest.mark.parametrize("name", ["task\n", "a.lock"])
def test_task_names_git_or_the_filesystem_refuse_are_refused_up_front(name: str) -> None:
    # check_name refuses '.lock' and a trailing '.' for run names; as_tasks lets them through
    # for tasks, whose names become branch components and folder names too.
    with pytest.raises(ValueError, match="task name"):
        as_tasks({name: "do it"})


def test_an_agent_definition_named_with_a_trailing_newline_is_refused() -> None:
    from agentbook.specs import AgentSpec

    with pytest.raises(ValueError, match="agent name"):
        RunConfig.of(agents={"rev\n": AgentSpec("rev\n", description="d")})


def test_a_non_string_task_key_is_refused_not_turned_into_the_name_None() -> None:
    # {None: "prompt"} (a YAML key left empty, `~:`) became a task named "None".
    with pytest.raises(TypeError, match="task name"):
        as_tasks({None: "do it"})  # type: ignore[dict-item]


# ---- options of the wrong type raise naming the option


@pytest.mark.parametrize(
    ("option", "value"),
    [("tools", 5), ("tools", 3.5), ("run_dir", 5), ("run_dir", ["a"]), ("agents", 3.5)],
)
def test_a_wrong_type_names_its_option(option: str, value: object) -> None:
    with pytest.raises((TypeError, ValueError), match=option):
        RunConfig.of(**{option: value})


def test_a_system_prompt_with_braces_is_usable_or_refused_up_front(tmp_path: Path) -> None:
    # `system` is passed through str.format(root=...): a prompt showing JSON ends every agent
    # `failed` with a KeyError, after the run folder was made.
    system = 'Answer with JSON like {"ok": true}.'
    try:
        run = run_parallel(
            ["hi"], model=ScriptedModel(["fine"]), system=system, run_dir=tmp_path / "run", interactive=False
        )
    except ValueError as exc:  # refusing it, naming the option, is fine too
        assert "system" in str(exc)
        assert not (tmp_path / "run").exists()
        return
    run.wait(timeout=20)
    assert run.status == {"task-1": "done"}, run.records["task-1"].error


# ---- worktree runs: names the worktree layer refuses are caught before the run folder exists


@pytest.mark.parametrize("name", ["é-run", "r" * 120])
def test_a_run_name_worktrees_refuse_creates_no_run_folder(repo: Path, tmp_path: Path, name: str) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match="name"):
        run_parallel(
            ["hi"],
            model=ScriptedModel(["x"]),
            cwd=repo,
            isolation="worktree",
            name=name,
            run_dir=run_dir,
            interactive=False,
        )
    assert not run_dir.exists()


def test_a_run_folder_whose_name_is_no_branch_name_is_refused_before_it_is_made(
    repo: Path, tmp_path: Path
) -> None:
    # No `name`: the run is named after its folder, which is never checked.
    run_dir = tmp_path / "runs" / "my run"
    with pytest.raises(ValueError, match="name"):
        run_parallel(
            ["hi"],
            model=ScriptedModel(["x"]),
            cwd=repo,
            isolation="worktree",
            run_dir=run_dir,
            interactive=False,
        )
    assert not run_dir.exists()


def test_a_task_prompt_that_cannot_be_written_creates_no_run_folder(tmp_path: Path) -> None:
    # A lone surrogate (from a bad decode) cannot be written as UTF-8: run.json fails after mkdir.
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match="prompt"):
        run_parallel({"t": "bad \ud800 text"}, model=ScriptedModel(["x"]), run_dir=run_dir, interactive=False)
    assert not run_dir.exists()


def test_a_second_run_in_the_folder_of_another_is_refused(tmp_path: Path) -> None:
    # run_dir of an existing run: its run.json was silently replaced, its agents lost.
    run_dir = tmp_path / "run"
    first = run_parallel({"a": "one"}, model=ScriptedModel(["x"]), run_dir=run_dir, interactive=False)
    first.wait(timeout=20)
    with pytest.raises((ValueError, FileExistsError), match="run"):
        run_parallel({"b": "two"}, model=ScriptedModel(["y"]), run_dir=run_dir, interactive=False)
    from agentbook.scheduler.restore import load_run

    assert set(load_run(run_dir, model=ScriptedModel([]), interactive=False).status) == {"a"}


def test_a_relative_run_dir_stays_put_when_the_kernel_changes_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # run_dir is kept relative (cwd is resolved, run_dir is not): after a `%cd` in the notebook,
    # later transcripts and the final run.json go to a new folder under the new working folder.
    import time

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)

    from agentbook.messages import Request, Response, Text

    scripted = ScriptedModel()

    def slow(request: Request) -> Response:
        time.sleep(0.5)  # the first agent is still working when the folder changes
        return scripted.reply(request, (Text("a"),))

    model = ScriptedModel([slow, "b"])
    run = run_parallel(
        {"a": "one", "b": "two"}, model=model, run_dir="runs/x", concurrency=1, interactive=False
    )
    monkeypatch.chdir(second)
    run.wait(timeout=20)
    assert not (second / "runs").exists()
    assert len(list((first / "runs" / "x").rglob("agent-*.jsonl"))) == 2


@pytest.mark.parametrize("context", ["", "   \n"])
def test_an_empty_shared_context_sends_no_empty_text_block(tmp_path: Path, context: str) -> None:
    # The Messages API refuses empty (and whitespace-only) text blocks; shared_context="" passes
    # validation and becomes a cached empty text block in every agent's first message.
    from agentbook.messages import Text

    model = ScriptedModel(["ok"])
    try:
        run = run_parallel(
            ["hi"], model=model, shared_context=context, run_dir=tmp_path / "run", interactive=False
        )
    except ValueError as exc:
        assert "shared_context" in str(exc)
        assert not (tmp_path / "run").exists()
        return
    run.wait(timeout=20)
    blocks = [b for m in model.requests[0].messages for b in m.content if isinstance(b, Text)]
    assert all(b.text.strip() for b in blocks), blocks


def test_task_metadata_that_is_not_json_is_refused_before_the_run_folder_exists(tmp_path: Path) -> None:
    # Task.metadata goes into run.json as it is; a datetime or a Path raises TypeError from
    # json.dumps inside start(), after the run folder was made, with no option named.
    from datetime import datetime

    from agentbook.specs import Task

    run_dir = tmp_path / "run"
    task = Task("t", "do it", metadata={"when": datetime(2026, 1, 1), "where": Path("/x")})
    try:
        run = run_parallel([task], model=ScriptedModel(["ok"]), run_dir=run_dir, interactive=False)
    except (TypeError, ValueError) as exc:
        assert "metadata" in str(exc)
        assert not run_dir.exists()
        return
    run.wait(timeout=20)
    assert run.status == {"t": "done"}


def test_tools_empty_means_no_tools_not_every_tool(tmp_path: Path) -> None:
    # Wiring uses `config.tools or AGENTBOOK_TOOLS`: tools=[] (an agent that should only think)
    # gets all seven tools, Bash and Write included.
    model = ScriptedModel(["ok"])
    try:
        run = run_parallel(["think"], model=model, tools=[], run_dir=tmp_path / "run", interactive=False)
    except ValueError as exc:
        assert "tools" in str(exc)
        assert not (tmp_path / "run").exists()
        return
    run.wait(timeout=20)
    assert [t.name for t in model.requests[0].tools] == []


def test_run_parallel_refuses_dependent_tasks_as_the_magic_does(tmp_path: Path) -> None:
    # %%parallel_agents refuses depends_on ("dependent tasks need a phase plan"); run_parallel
    # starts both at once, silently ignoring the order the user asked for.  (Plan's later phases
    # pass tasks depending on earlier phases: only a dependency inside one call is contradictory.)
    from agentbook.specs import Task

    tasks = [Task("a", "first"), Task("b", "after a", depends_on=("a",))]
    with pytest.raises(ValueError, match="depends_on"):
        run_parallel(tasks, model=ScriptedModel(["x", "y"]), run_dir=tmp_path / "run", interactive=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "values",
    [
        {"max_attempts": "3"},
        {"max_attempts": 0},
        {"base_s": float("inf"), "cap_s": float("inf")},
        {"cap_s": float("nan")},
        {"base_s": -1.0},
    ],
    ids=["attempts-str", "attempts-0", "inf", "nan", "negative"],
)
def test_a_retry_policy_with_impossible_values_is_refused(values: dict[str, object]) -> None:
    # RunConfig checks only that retry is a RetryPolicy: max_attempts="3" fails every agent at
    # its first transient error (TypeError), base_s=cap_s=inf makes it wait forever.
    from agentbook.models.retry import RetryPolicy

    with pytest.raises((TypeError, ValueError), match=r"max_attempts|base_s|cap_s"):
        RunConfig.of(retry=RetryPolicy(**values))  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["pre_tool", "post_tool", "on_start", "on_end"])
@pytest.mark.parametrize("value", ["a function, not a list", "a list of non-callables"])
def test_hooks_that_are_not_lists_of_callables_are_refused(field: str, value: str) -> None:
    # Hooks(pre_tool=check) (one function, not a list) passes RunConfig; the run then fails or
    # denies at the first call that meets the hook ("'function' object is not iterable").
    from agentbook.agent.hooks import Hooks

    def check(*args: object) -> None:
        return None

    given: object = check if value.startswith("a function") else [5]
    with pytest.raises(TypeError, match=field):
        RunConfig.of(hooks=Hooks(**{field: given}))  # type: ignore[arg-type]
