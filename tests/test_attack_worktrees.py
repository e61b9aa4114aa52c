"""Adversarial review of issue 10: worktree agents, their names, and resuming them after `load_run`."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import git, new_repo

from agentbook.messages import Request, Response, Text, ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.restore import load_run
from agentbook.scheduler.run import Run
from agentbook.tools.permissions import Permissions


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    reset_gates()
    yield new_repo(tmp_path / "repo", monkeypatch, {"app.py": "print('hi')\n"})


def unit_run(repo: Path, tmp_path: Path, model: ScriptedModel, **options: Any) -> Run:
    """Agent "u" (task "unit") in a worktree of `repo`, headless, its run folder `tmp_path/run`."""
    return run_parallel(
        {"u": "unit"}, model=model, cwd=repo, isolation="worktree", run_dir=tmp_path / "run",
        interactive=False, **options,
    )  # fmt: skip


def parent_with_child(repo: Path, tmp_path: Path, parent_end: object) -> tuple[Run, ScriptedModel, str]:
    """Worktree agent "t" spawns a sub-agent that writes c.txt and ends partial (one turn); then
    "t" ends with `parent_end`.  The run (ended), its model and the sub-agent's name."""
    from agentbook.specs import AgentSpec

    spawn = ToolUse("s1", "Agent", {"description": "child", "prompt": "write", "subagent_type": "w"})
    model = ScriptedModel([spawn, write("c.txt", "c"), parent_end])  # type: ignore[list-item]
    run = run_parallel(
        {"t": "go"}, model=model, cwd=repo, isolation="worktree", run_dir=tmp_path / "run",
        interactive=False, permission_mode="acceptEdits",
        agents={"w": AgentSpec("w", description="writes", max_turns=1)},
    )  # fmt: skip
    run.wait(timeout=60)
    return run, model, next(n for n in run.records if n.startswith("t/"))


def write(path: str, text: str, call: str = "w1") -> ToolUse:
    return ToolUse(call, "Write", {"file_path": path, "content": text + "\n"})


def branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/agentbook/").split()


# ---- two agent names, one worktree


@pytest.mark.parametrize(
    "names",
    [("é", "ü"), ("a", "a-"), ("éa", "èa"), ("é" + "x" * 99, "è" + "x" * 99)],
    ids=["unicode", "trailing-dash", "unicode-prefix", "long"],
)
def test_two_agents_never_share_a_branch(repo: Path, tmp_path: Path, names: tuple[str, str]) -> None:
    # branch_part once mapped every name outside [A-Za-z0-9._-] to '-' and stripped '-' and '.':
    # distinct task names (valid for as_tasks) collided, and the second agent failed with
    # "already exists" before it started.
    first, second = names

    def step(request: Request) -> Response:  # each agent writes once, whichever asks first
        first_turn = len(request.messages) == 1
        return model.reply(request, (write("f.txt", "1") if first_turn else Text("ok"),))

    model = ScriptedModel([step] * 4)
    run = run_parallel(
        {first: "one", second: "two"},
        model=model,
        cwd=repo,
        isolation="worktree",
        run_dir=tmp_path / "run",
        interactive=False,
    )
    run.wait(timeout=60)
    assert run.status == {first: "done", second: "done"}, {n: r.error for n, r in run.records.items()}
    assert run.records[first].branch != run.records[second].branch
    assert len(branches(repo)) == 2


# ---- what load_run says after a resume that failed before its agent's first line


def test_a_resume_that_fails_in_the_wiring_reloads_as_failed(repo: Path, tmp_path: Path) -> None:
    run = unit_run(repo, tmp_path, ScriptedModel([write("u.txt", "1"), "ok"]))
    run.wait(timeout=60)
    branch = run.records["u"].branch
    assert branch is not None
    git(repo, "checkout", "-q", branch)  # the user looks at the agent's work in their checkout
    # A new process: load_run, then resume.
    first = load_run(tmp_path / "run", model=ScriptedModel(["again"]), interactive=False)
    first.resume("u", prompt="more").wait(timeout=60)
    assert first.records["u"].state == "failed"  # its branch cannot be checked out twice
    # run.json says failed, the transcript's last end record says done: load_run believes the
    # transcript, and the reason (a worktree error) is lost.
    loaded = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    assert loaded.records["u"].state == "failed"
    assert "checked out" in (loaded.records["u"].error or "")


def test_an_agent_that_failed_before_starting_keeps_its_reason_after_load_run(
    repo: Path, tmp_path: Path
) -> None:
    # Something of the user's stands where the agent's worktree goes: the agent fails in the
    # wiring, before its first transcript line; after load_run its error once read "no
    # transcript: the agent never started".
    (repo / ".agentbook" / "worktrees" / "run").mkdir(parents=True)
    (repo / ".agentbook" / "worktrees" / "run" / "u").write_text("the user's\n")
    run = unit_run(repo, tmp_path, ScriptedModel(["ok"]))
    run.wait(timeout=60)
    error = run.records["u"].error or ""
    assert run.records["u"].state == "failed" and "already exists" in error
    loaded = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    assert (loaded.records["u"].state, loaded.records["u"].error) == ("failed", error)
    assert (repo / ".agentbook" / "worktrees" / "run" / "u").read_text() == "the user's\n"


# ---- resuming a done agent whose branch the user deleted


def test_resuming_an_agent_whose_branch_was_deleted_keeps_its_earlier_work(
    repo: Path, tmp_path: Path
) -> None:
    run = unit_run(repo, tmp_path, ScriptedModel([write("u.txt", "first"), "ok"]))
    run.wait(timeout=60)
    record = run.records["u"]
    assert record.state == "done" and record.commit and record.branch
    git(repo, "branch", "-D", record.branch)
    loaded = load_run(
        tmp_path / "run", model=ScriptedModel([write("v.txt", "second"), "again"]), interactive=False
    )
    loaded.resume("u", prompt="go on").wait(timeout=60)
    again = loaded.records["u"]
    # The agent's conversation says it wrote u.txt; it is resumed in a fresh worktree from the
    # base, so its new branch lacks u.txt (the recorded commit still exists and was ignored).
    # It should continue from its recorded commit, or fail saying its branch is gone.
    if again.state == "done":
        assert again.branch is not None
        assert git(repo, "show", f"{again.branch}:u.txt") == "first"
    else:
        assert "branch" in (again.error or "")


# ---- two resumes at once


def test_two_racing_resumes_of_one_agent_start_it_once(tmp_path: Path) -> None:
    # A long conversation: reading it back (between the state check and the start) takes a while.
    steps = [[ToolUse(f"g{i}", "Glob", {"pattern": "*.nothing"}) for i in range(50)] for _ in range(40)]
    run = run_parallel(
        {"a": "one"},
        model=ScriptedModel([*steps, "first"]),
        run_dir=tmp_path / "run",
        max_turns=100,
        interactive=False,
    )
    run.wait(timeout=60)
    assert run.status == {"a": "done"}
    # The first resume's agent holds its request until both resumes have answered: a second
    # resume after the first agent *ended* would rightly start it again.
    answered = threading.Event()

    def held(request: Request) -> Response:
        answered.wait(timeout=20)
        return model.reply(request, (Text("second"),))

    model = ScriptedModel([held, "third"])
    loaded = load_run(tmp_path / "run", model=model, interactive=False)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def resume() -> None:
        barrier.wait()
        try:
            loaded.resume("a", prompt="more")
            outcomes.append("started")
        except RuntimeError:
            outcomes.append("refused")

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answered.set()
    loaded.wait(timeout=20)
    assert sorted(outcomes) == ["refused", "started"]
    assert len(model.requests) == 1


def test_resuming_an_agent_from_another_process_while_it_still_runs_is_refused(tmp_path: Path) -> None:
    # The first process is still working on 'a' (no end record yet); a second process loads the
    # run and sees 'a' as failed ("the process died"), so resume() starts a second copy that
    # appends to the same transcript.
    started = tmp_path / "started"
    script = f"""
import time, pathlib
from agentbook.messages import Request, Response, Text, ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
def slow(request):
    pathlib.Path({str(started)!r}).write_text("x")
    time.sleep(30)
    raise RuntimeError("never")
run = run_parallel({{"a": "one"}}, model=ScriptedModel([slow]), run_dir={str(tmp_path / "run")!r},
                   interactive=False)
run.wait(60)
"""
    import os
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists()
        loaded = load_run(tmp_path / "run", model=ScriptedModel(["second"]), interactive=False)
        with pytest.raises(RuntimeError, match=r"running|still|another process"):
            loaded.resume("a")
        loaded.wait(timeout=20)
    finally:
        proc.kill()
        proc.wait()


# ---- what run.df shows after load_run


def test_denials_and_diff_stats_survive_load_run(repo: Path, tmp_path: Path) -> None:
    # Headless, default mode: the first Write is allowed (its worktree), the second denied.
    calls = [write("f.txt", "1"), write("secret.txt", "2", "w2")]
    run = unit_run(
        repo, tmp_path, ScriptedModel([calls, "ok"]), permissions=Permissions(deny=["Write(secret.txt)"])
    )
    run.wait(timeout=60)
    before = run.records["u"]
    assert (before.denials, before.files_changed) == (1, 1)
    after = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False).records["u"]
    assert (after.denials, after.files_changed, after.insertions, after.tools_run) == (
        before.denials,
        before.files_changed,
        before.insertions,
        before.tools_run,
    )


def test_a_new_run_reusing_a_run_name_starts_from_the_base_not_the_old_branches(
    repo: Path, tmp_path: Path
) -> None:
    # `name` names the branches.  A second run with the same name (another run_dir) finds the
    # first run's branch agentbook/exp/t and "revives" it: its agent silently starts on top of
    # the first run's work instead of at the base.  It should start from the base, or be refused.
    first = run_parallel(
        {"t": "one"},
        model=ScriptedModel([write("old.txt", "old"), "ok"]),
        cwd=repo,
        isolation="worktree",
        name="exp",
        run_dir=tmp_path / "r1",
        interactive=False,
    )
    first.wait(timeout=60)
    assert first.records["t"].commit
    try:
        second = run_parallel(
            {"t": "two"},
            model=ScriptedModel([write("new.txt", "new"), "ok"]),
            cwd=repo,
            isolation="worktree",
            name="exp",
            run_dir=tmp_path / "r2",
            interactive=False,
        )
    except ValueError as exc:
        assert "'exp' is taken" in str(exc) and "agentbook/exp/t" in str(exc)
        assert not (tmp_path / "r2").exists()
        return
    second.wait(timeout=60)
    record = second.records["t"]
    assert record.state == "done", record.error
    files = git(repo, "ls-tree", "--name-only", str(record.branch)).split()
    assert "new.txt" in files and "old.txt" not in files
    assert git(repo, "show", f"{first.records['t'].commit}:old.txt") == "old"


def test_a_worktree_run_whose_run_json_is_corrupt_still_loads(repo: Path, tmp_path: Path) -> None:
    # Rebuilt from transcripts, the config is {"cwd": <the last transcript's cwd>}: the agent's
    # worktree, removed after its commit -> NotADirectoryError, and nothing of the run loads.
    run = unit_run(repo, tmp_path, ScriptedModel([write("u.txt", "1"), "ok"]))
    run.wait(timeout=60)
    (tmp_path / "run" / "run.json").write_text("{not json", encoding="utf-8")
    with pytest.warns(UserWarning, match="run.json"):
        loaded = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    assert loaded.status == {"u": "done"}


def test_a_failed_worktree_agent_of_a_corrupt_run_json_resumes_isolated(repo: Path, tmp_path: Path) -> None:
    # Rebuilt from transcripts, the run has no isolation: the resumed agent works in the kept
    # worktree's folder as a plain folder, and its work is never committed on its branch.
    run = unit_run(repo, tmp_path, ScriptedModel([write("u.txt", "1"), RuntimeError("boom")]))
    run.wait(timeout=60)
    branch = run.records["u"].branch
    assert run.records["u"].state == "failed" and branch
    (tmp_path / "run" / "run.json").write_text("", encoding="utf-8")
    with pytest.warns(UserWarning, match="run.json"):
        loaded = load_run(
            tmp_path / "run", model=ScriptedModel([write("v.txt", "2"), "ok"]), interactive=False
        )
    loaded.resume("u", prompt="again").wait(timeout=60)
    assert loaded.records["u"].state == "done", loaded.records["u"].error
    assert git(repo, "show", f"{branch}:v.txt") == "2"
    assert loaded.cwd == repo.resolve()


@pytest.mark.parametrize("name", ["_a", "a.lock", "a" * 101])
def test_a_task_name_the_worktree_layer_refuses_works_or_is_refused_up_front(
    repo: Path, tmp_path: Path, name: str
) -> None:
    # as_tasks accepts '_a' (\w starts it) and 'a.lock'; worktrees.repo.check_name refuses them
    # (it wants [A-Za-z0-9] first, no '.lock', at most 100), so the agent fails after the run began.
    run_dir = tmp_path / "run"
    try:
        run = run_parallel(
            {name: "unit"},
            model=ScriptedModel([write("f.txt", "1"), "ok"]),
            cwd=repo,
            isolation="worktree",
            run_dir=run_dir,
            interactive=False,
        )
    except ValueError as exc:
        assert "name" in str(exc)
        assert not run_dir.exists()
        return
    run.wait(timeout=60)
    assert run.status == {name: "done"}, run.records[name].error


def test_a_done_worktree_agent_resumes_twice_in_the_same_process(repo: Path, tmp_path: Path) -> None:
    model = ScriptedModel(
        [write("a.txt", "1"), "one", write("b.txt", "2", "w2"), "two", write("c.txt", "3", "w3"), "three"]
    )
    run = unit_run(repo, tmp_path, model)
    run.wait(timeout=60)
    for _ in range(2):
        run.resume("u", prompt="more").wait(timeout=60)
        assert run.records["u"].state == "done", run.records["u"].error
    branch = run.records["u"].branch
    assert branch and sorted(git(repo, "ls-tree", "--name-only", branch).split()) == [
        "a.txt",
        "app.py",
        "b.txt",
        "c.txt",
    ]
    assert git(repo, "status", "--porcelain") == ""


def test_after_load_run_the_base_is_the_commit_the_run_started_from(repo: Path, tmp_path: Path) -> None:
    # run.json keeps base="HEAD", not the commit it resolved to: after the user commits on main,
    # load_run resolves a new base, and a resumed agent's diff stats count the user's commits
    # (reversed) as the agent's changes.
    start = git(repo, "rev-parse", "HEAD")
    model = ScriptedModel([write("f.txt", "1"), "ok"])
    run = unit_run(repo, tmp_path, model)
    run.wait(timeout=60)
    for name in ("x.py", "y.py", "z.py"):
        (repo / name).write_text("user\n")
    git(repo, "add", "x.py", "y.py", "z.py")
    git(repo, "commit", "-qm", "the user's own work")
    loaded = load_run(
        tmp_path / "run", model=ScriptedModel([write("g.txt", "2", "w2"), "ok"]), interactive=False
    )
    base = loaded.isolation.worktrees.base if loaded.isolation else None
    loaded.resume("u", prompt="more").wait(timeout=60)
    record = loaded.records["u"]
    assert record.state == "done", record.error
    assert (record.files_changed, record.deletions) == (2, 0)
    assert base == start


def test_a_run_of_a_moved_repository_loads_with_cwd_given_and_resumes_there(
    repo: Path, tmp_path: Path
) -> None:
    run = unit_run(repo, tmp_path, ScriptedModel([write("f.txt", "1"), "ok"]))
    run.wait(timeout=60)
    moved = tmp_path / "moved"
    repo.rename(moved)
    git(moved, "worktree", "prune")
    loaded = load_run(
        tmp_path / "run", model=ScriptedModel([write("g.txt", "2", "w2"), "ok"]), cwd=moved, interactive=False
    )
    loaded.resume("u", prompt="more").wait(timeout=60)
    record = loaded.records["u"]
    assert record.state == "done", record.error
    assert record.branch and git(moved, "show", f"{record.branch}:g.txt") == "2"
    assert not repo.exists()


def test_a_resumed_sub_agent_of_a_worktree_agent_works_in_a_real_worktree(repo: Path, tmp_path: Path) -> None:
    # The sub-agent works in its parent's worktree.  The parent ended done, so that folder was
    # removed after its commit; resuming the sub-agent runs it in the vanished path: its Write
    # recreates a plain folder under .agentbook/worktrees/, which is no worktree and is never
    # committed anywhere.  Now it is refused, saying why.
    run, model, child = parent_with_child(repo, tmp_path, "parent done")
    assert run.records["t"].state == "done" and run.records[child].state == "partial"
    model.add(write("d.txt", "d", "w2"), "child done")
    with pytest.raises(RuntimeError, match=r"worktree of 't'.*removed when 't' ended; resume 't' instead"):
        run.resume(child, prompt="finish")
    assert run.records[child].state == "partial" and not model.requests[3:]


def test_a_worktree_run_from_a_subfolder_works_in_that_subfolder_of_each_worktree(
    repo: Path, tmp_path: Path
) -> None:
    # cwd=<repo>/pkg: without isolation agents work in pkg/; with worktrees they work at the
    # worktree's top, so "new.py" lands at the repository root and relative paths mean other files.
    (repo / "pkg").mkdir()
    (repo / "pkg" / "mod.py").write_text("x = 1\n")
    git(repo, "add", "pkg")
    git(repo, "commit", "-qm", "pkg")
    run = run_parallel(
        {"u": "unit"},
        model=ScriptedModel([write("new.py", "y = 2"), "ok"]),
        cwd=repo / "pkg",
        isolation="worktree",
        permission_mode="acceptEdits",
        run_dir=tmp_path / "run",
        interactive=False,
    )
    run.wait(timeout=60)
    record = run.records["u"]
    assert record.state == "done", record.error
    files = git(repo, "ls-tree", "-r", "--name-only", str(record.branch)).split()
    assert "pkg/new.py" in files, files


def test_branch_parts_are_distinct_and_valid_for_git() -> None:
    from agentbook.scheduler.isolation import branch_part
    from agentbook.worktrees import check_name

    names = ["a", "a-", "a_b", "t/1-a", "t-1-a", "é", "ü", "_", "." * 3, "p/" + "q" * 120, "p/" + "q" * 121]
    parts = [branch_part(n) for n in names]
    assert len(set(parts)) == len(names), parts
    assert all(check_name("task", p) == p for p in parts)
    assert parts[:3] == ["a", "a-", "a_b"]  # valid names stay as they are


def test_a_sub_agent_resumed_after_its_parent_failed_commits_on_the_parents_branch(
    repo: Path, tmp_path: Path
) -> None:
    # The parent failed: its worktree is kept.  The resumed child works there again, and what it
    # writes is committed on the parent's branch when it ends (not left for cleanup to delete).
    run, model, child = parent_with_child(repo, tmp_path, RuntimeError("the parent's model broke"))
    parent = run.records["t"]
    assert parent.state == "failed" and parent.worktree is not None and parent.worktree.is_dir()
    model.add(write("d.txt", "d", "w2"), "child done")
    run.resume(child, prompt="finish").wait(timeout=60)
    assert run.records[child].state == "done", run.records[child].error
    assert parent.branch and git(repo, "show", f"{parent.branch}:d.txt") == "d"
    assert parent.worktree is not None and (parent.worktree / ".git").exists()  # still kept


def test_bash_of_a_worktree_run_from_a_subfolder_starts_there_and_its_git_works(
    repo: Path, tmp_path: Path
) -> None:
    from agentbook.tools.sandbox import unavailable_reason

    if unavailable_reason() is not None:
        pytest.skip(f"no sandbox here: {unavailable_reason()}")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "mod.py").write_text("x = 1\n")
    git(repo, "add", "pkg")
    git(repo, "commit", "-qm", "pkg")
    command = "git rev-parse --show-prefix; ls; echo made > new.txt; git add new.txt && git status --short"
    model = ScriptedModel([ToolUse("b1", "Bash", {"command": command}), "ok"])
    run = run_parallel(
        {"u": "unit"}, model=model, cwd=repo / "pkg", isolation="worktree",
        run_dir=tmp_path / "run", interactive=False,
    )  # fmt: skip
    run.wait(timeout=60)
    record = run.records["u"]
    assert record.state == "done", record.error
    result = model.requests[-1].messages[-1].content[0]
    assert "pkg/\nmod.py\nA  new.txt" in str(getattr(result, "content", result)), result
    assert "pkg/new.txt" in git(repo, "ls-tree", "-r", "--name-only", str(record.branch)).split()
