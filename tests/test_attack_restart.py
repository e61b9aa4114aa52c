"""Adversarial review of the restart round (branch_part, end records of wiring failures, revive,
transcript locks, counts in run.json, run-name refusal, the config in the main transcript, borrowed
worktrees, subfolder runs, never-started agents).

Two `load_run` handles of one run folder stand for two processes: `flock` locks belong to open
file descriptions, so two handles in one process exclude each other exactly as two processes do.
Where only a real process death tells, a subprocess is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import git, new_repo

from agentbook.messages import Request, Response, Text, ToolResult, ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.isolation import branch_part
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.restore import load_run
from agentbook.scheduler.run import Run
from agentbook.scheduler.transcript_locks import being_written
from agentbook.scheduler.transcripts import read_transcript
from agentbook.specs import AgentSpec
from agentbook.tools.permissions import Permissions

ROOT = Path(__file__).resolve().parents[1]


def settle(*runs: Run) -> None:
    """Wait for `runs` and retrieve their agents' task exceptions (the escapes the tests show):
    one left to the garbage collector is logged, traceback and all, on whatever thread collects
    it, and on CPython 3.11 two threads formatting tracebacks at once break pytest itself
    ("SystemError: AST constructor recursion depth mismatch")."""
    for run in runs:
        with contextlib.suppress(Exception):
            run.wait(timeout=10)
        for task in list(run.tasks.values()):
            if task.done() and not task.cancelled():
                task.exception()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    reset_gates()
    yield new_repo(tmp_path / "repo", monkeypatch, {"app.py": "print('hi')\n"})


def write(path: str, text: str, call: str = "w1") -> ToolUse:
    return ToolUse(call, "Write", {"file_path": path, "content": text + "\n"})


def worktree_run(repo: Path, tmp_path: Path, tasks: Any, steps: list[Any], **options: Any) -> Run:
    """A headless worktree run of `tasks` in `repo`, its folder `tmp_path/run`, waited for."""
    run = run_parallel(
        tasks,
        model=ScriptedModel(steps),
        cwd=repo,
        isolation="worktree",
        run_dir=tmp_path / "run",
        interactive=False,
        **options,
    )
    run.wait(timeout=30)
    return run


def load(tmp_path: Path, steps: list[Any] | None = None) -> Run:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_run(tmp_path / "run", model=ScriptedModel(steps or []), interactive=False)


def until(check: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return bool(check())


class PacedModel(ScriptedModel):
    """A `ScriptedModel` whose requests wait (without blocking the event loop, where other agents
    go on) until `ready(request)` holds, at most 10 s."""

    def __init__(self, steps: list[Any], ready: Any) -> None:
        super().__init__(steps)
        self.ready = ready

    async def respond(self, request: Request) -> Response:
        deadline = time.monotonic() + 10
        while not self.ready(request) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return await super().respond(request)


def held_model(gate: threading.Event, *steps: Any) -> ScriptedModel:
    """A model whose requests wait for `gate`, then answer `steps` in turn."""
    return PacedModel(list(steps), lambda request: gate.is_set())


def branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/agentbook/").split()


# ==== transcript locks: "running" in another process


def test_load_run_while_another_handle_resumes_an_agent_says_running(repo: Path, tmp_path: Path) -> None:
    worktree_run(repo, tmp_path, {"u": "unit"}, [write("a.txt", "1"), "ok"])
    gate = threading.Event()
    first = load_run(tmp_path / "run", model=held_model(gate, "again"), interactive=False)
    first.resume("u", prompt="more")
    try:
        assert until(lambda: being_written(first.records["u"].transcript))
        second = load(tmp_path)
        with pytest.raises(RuntimeError, match="another process"):  # this part holds
            second.resume("u")
        assert second.records["u"].state == "running", second.records["u"].state
    finally:
        gate.set()
        first.wait(timeout=10)


KILLED_RESUME = """
import pathlib, sys, time
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
run_dir, marker = map(pathlib.Path, sys.argv[1:3])
def hang(request):
    marker.write_text("x")
    time.sleep(60)
run = run_parallel({"a": "one"}, model=ScriptedModel(["first answer", hang]), run_dir=run_dir,
                   interactive=False)
run.wait(30)
run.resume("a", prompt="more").wait(60)
"""


def run_then_kill(script: str, tmp_path: Path) -> Path:
    """Run `script run_dir marker` in a new process, SIGKILLed once it writes the marker."""
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script, str(run_dir), str(marker)], env=env)
    try:
        assert until(marker.exists, 30), "the agent never reached its request"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return run_dir


def test_a_resume_killed_mid_way_loads_as_interrupted(tmp_path: Path) -> None:
    run_dir = run_then_kill(KILLED_RESUME, tmp_path)
    record = load_run(run_dir, model=ScriptedModel([]), interactive=False).records["a"]
    assert not being_written(record.transcript)  # the kernel dropped the dead process's lock
    assert record.state == "failed", (record.state, record.text)
    assert "interrupted" in (record.error or "")


def test_a_process_killed_holding_the_lock_releases_it_and_the_agent_resumes(tmp_path: Path) -> None:
    script = KILLED_RESUME.replace('["first answer", hang]', "[hang]").replace(
        'run.wait(30)\nrun.resume("a", prompt="more").wait(60)', "run.wait(60)"
    )
    run_dir = run_then_kill(script, tmp_path)
    model = ScriptedModel(["after the kill"])
    loaded = load_run(run_dir, model=model, interactive=False)
    record = loaded.records["a"]
    assert (record.state, not being_written(record.transcript)) == ("failed", True)
    assert "interrupted" in (record.error or "")
    loaded.resume("a", prompt="go on").wait(timeout=10)
    assert loaded.records["a"].state == "done", loaded.records["a"].error
    again = load_run(run_dir, model=ScriptedModel([]), interactive=False).records["a"]
    assert (again.state, again.text) == ("done", "after the kill")


def test_two_handles_resuming_one_agent_at_once_the_second_is_refused(repo: Path, tmp_path: Path) -> None:
    worktree_run(repo, tmp_path, {"u": "unit"}, [write("a.txt", "1"), RuntimeError("boom")])
    gate = threading.Event()
    one = held_model(gate, "first handle")
    two = ScriptedModel([write("c.txt", "3", "w3"), "second handle"])
    first = load_run(tmp_path / "run", model=one, interactive=False)
    second = load_run(tmp_path / "run", model=two, interactive=False)
    first.resume("u", prompt="more")
    try:
        with pytest.raises(RuntimeError, match=r"another process|running"):
            second.resume("u", prompt="more too")
    finally:
        gate.set()
        settle(first, second)


def test_an_end_record_that_cannot_be_written_stays_inside_the_agent(tmp_path: Path) -> None:
    run = run_parallel(
        {"a": "one"}, model=ScriptedModel(["first"]), run_dir=tmp_path / "run", interactive=False
    )
    run.wait(timeout=10)
    held: list[Any] = []

    def another_process_starts(agent: str) -> None:
        # Between resume's being_written check and the first line: another process took it.
        file = loaded.records[agent].transcript.open("a")
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.append(file)

    from agentbook.agent.hooks import Hooks

    loaded = load_run(
        tmp_path / "run",
        model=ScriptedModel(["never"]),
        interactive=False,
        hooks=Hooks(on_start=[another_process_starts]),
    )
    ended: list[str] = []
    loaded.on_end(lambda record: ended.append(record.name))
    try:
        loaded.resume("a", prompt="more").wait(timeout=10)
        assert loaded.records["a"].state == "failed"
        assert ended == ["a"]
        assert loaded.tasks["a"].exception() is None
    finally:
        settle(loaded)
        for file in held:
            file.close()


def test_load_run_of_a_read_only_run_folder_works(tmp_path: Path) -> None:
    # The run folder bind-mounted read-only in a new mount namespace (unshare -rm): a shared
    # lock on a file opened for reading needs no write access.
    run = run_parallel(
        {"a": "one", "b": "two"},
        model=ScriptedModel(["x", RuntimeError("boom")]),
        run_dir=tmp_path / "run",
        interactive=False,
        concurrency=1,
    )
    run.wait(timeout=10)
    ro = tmp_path / "ro"
    ro.mkdir()
    code = (
        "import sys, warnings\nfrom agentbook.scheduler.restore import load_run\n"
        "from agentbook.models import ScriptedModel\n"
        "run = load_run(sys.argv[1], model=ScriptedModel([]), interactive=False)\n"
        "print(sorted(run.status.items()), [r.error for r in run.records.values()])\n"
    )
    (tmp_path / "load.py").write_text(code)
    shell = (
        f"mount --bind '{tmp_path / 'run'}' '{ro}' && mount -o remount,bind,ro '{ro}' && "
        f"touch '{ro}/probe' 2>/dev/null; test ! -e '{ro}/probe' && exec '{sys.executable}' "
        f"'{tmp_path / 'load.py'}' '{ro}'"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(["unshare", "-rm", "sh", "-c", shell], env=env, capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no unshare here")
    if "mount" in done.stderr or "unshare" in done.stderr:
        pytest.skip(f"cannot make a read-only mount here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert "[('a', 'done'), ('b', 'failed')]" in done.stdout, done.stdout


# ==== branch_part


def test_a_plain_name_equal_to_another_agents_hashed_name_gets_its_own_branch(
    repo: Path, tmp_path: Path
) -> None:
    other = branch_part("é")  # "agent-<8 hex>", a valid task name
    run = worktree_run(
        repo,
        tmp_path,
        {"é": "one", other: "two"},
        [write("f.txt", "1"), "ok", write("g.txt", "2", "w2"), "ok"],
        concurrency=1,
    )
    assert run.status == {"é": "done", other: "done"}
    assert run.records["é"].branch != run.records[other].branch
    assert len(branches(repo)) == 2


def test_branch_parts_of_many_names_are_valid_and_distinct() -> None:
    from agentbook.worktrees import check_name

    names = [f"t/{i}-{s}" for i in range(30) for s in ("fix", "fix ", "fïx", "_", "a.lock")]
    names += ["..", "a..b", "-x", "x-", "x.", "." * 100, "é" * 200, "a" * 100, "a" * 101, "日本語", "a b"]
    parts = [branch_part(n) for n in names]
    assert len(set(parts)) == len(names)
    assert all(check_name("task", p) == p for p in parts)


# ==== counts in run.json


def bad_counts(tmp_path: Path, agent: str, **counts: Any) -> None:
    path = tmp_path / "run" / "run.json"
    data = json.loads(path.read_text())
    data["agents"][agent]["counts"].update(counts)
    path.write_text(json.dumps(data))


def test_a_count_of_the_wrong_type_is_named_with_the_file_and_the_agent(repo: Path, tmp_path: Path) -> None:
    worktree_run(
        repo,
        tmp_path,
        {"u": "one", "v": "two"},
        [write("a.txt", "1"), "ok", write("b.txt", "2"), "ok"],
        concurrency=1,
    )
    bad_counts(tmp_path, "v", denials="3")
    with pytest.warns(UserWarning, match=r"run\.json: agent 'v' is not readable.*counts"):
        loaded = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    assert loaded.status == {"u": "done", "v": "done"}
    assert loaded.isolation is not None  # the config came from the main transcript


def test_one_bad_count_keeps_the_other_agents_branches_and_merge_merges_them(
    repo: Path, tmp_path: Path
) -> None:
    run = worktree_run(
        repo,
        tmp_path,
        {"u": "one", "v": "two"},
        [write("a.txt", "1"), "ok", write("b.txt", "2"), "ok"],
        concurrency=1,
    )
    bad_counts(tmp_path, "v", denials="3")
    loaded = load(tmp_path)
    assert loaded.records["u"].commit == run.records["u"].commit
    assert loaded.records["u"].branch == run.records["u"].branch
    assert len(loaded.merge("combined").merged) == 2


def test_a_lost_run_json_still_merges_the_agents_branches(repo: Path, tmp_path: Path) -> None:
    worktree_run(repo, tmp_path, {"u": "one"}, [write("a.txt", "1"), "ok"])
    (tmp_path / "run" / "run.json").unlink()
    report = load(tmp_path).merge("combined")
    assert report.merged == ["agentbook/run/u"], report


@pytest.mark.parametrize(
    "counts",
    [{"denials": True}, {"last_tool": 7}, {"files_changed": -4}],
    ids=["bool", "tool-int", "negative"],
)
def test_counts_of_the_wrong_kind_are_refused(tmp_path: Path, counts: dict[str, Any]) -> None:
    run = run_parallel({"a": "one"}, model=ScriptedModel(["x"]), run_dir=tmp_path / "run", interactive=False)
    run.wait(timeout=10)
    bad_counts(tmp_path, "a", **counts)
    with pytest.warns(UserWarning, match=r"run\.json: agent 'a'"):
        load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)


def test_a_manifest_and_main_transcript_from_before_counts_and_config_load(tmp_path: Path) -> None:
    run = run_parallel({"a": "one"}, model=ScriptedModel(["x"]), run_dir=tmp_path / "run", interactive=False)
    run.wait(timeout=10)
    path = tmp_path / "run" / "run.json"
    data = json.loads(path.read_text())
    for entry in data["agents"].values():
        del entry["counts"]
    path.write_text(json.dumps(data))
    assert load(tmp_path).status == {"a": "done"}
    # The main transcript as it was before: no config in its agentbook_run line; run.json lost.
    main = tmp_path / "run" / f"{run.session_id}.jsonl"
    line = json.loads(main.read_text())
    del line["agentbook"]["config"]
    main.write_text(json.dumps(line) + "\n")
    path.unlink()
    with pytest.warns(UserWarning, match="rebuilt from its transcripts"):
        loaded = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    assert (loaded.status, loaded.records["a"].task.prompt) == ({"a": "done"}, "one")


def test_two_handles_resuming_different_agents_keep_each_others_records(repo: Path, tmp_path: Path) -> None:
    worktree_run(
        repo,
        tmp_path,
        {"a": "one", "b": "two"},
        [write("a.txt", "1"), "ok", write("b.txt", "1"), "ok"],
        concurrency=1,
        permissions=Permissions(deny=["Write(no.txt)"]),
    )
    one = load(tmp_path, [[write("a2.txt", "2", "w2"), write("no.txt", "x", "w3")], "a again"])
    two = load(tmp_path, ["b again"])
    one.resume("a", prompt="more").wait(timeout=10)
    ours = one.records["a"]
    assert (ours.denials, ours.files_changed) == (1, 2)
    two.resume("b", prompt="more").wait(timeout=10)
    back = load(tmp_path).records["a"]
    assert (back.denials, back.files_changed, back.commit) == (1, 2, ours.commit)


# ==== the base and the config in the main transcript


def test_a_run_whose_base_commit_is_gone_still_loads(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worktree_run(repo, tmp_path, {"u": "unit"}, [write("a.txt", "1"), "ok"])
    shutil.rmtree(repo)
    new_repo(repo, monkeypatch, {"other.py": "x\n"})  # the same folder, another history
    with pytest.warns(UserWarning, match="its worktrees cannot be used"):
        loaded = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    assert (loaded.status, loaded.results) == ({"u": "done"}, {"u": "ok"})
    with pytest.raises(RuntimeError, match="worktrees cannot be used now"):
        loaded.resume("u")
    with pytest.raises(RuntimeError, match="used no worktrees"):
        loaded.merge("main")


def test_secrets_never_reach_the_main_transcript_or_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-ant-api03-" + "Zq9" * 12
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    run = run_parallel(
        {"u": f"use {key}"},
        model=ScriptedModel(["ok"]),
        system=f"system {key} {{root}}",
        shared_context=f"context {key}",
        hidden_paths=[f"/x/{key}"],
        run_dir=tmp_path / "run",
        interactive=False,
    )
    run.wait(timeout=10)
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert len(files) >= 3
    assert [p for p in files if key in p.read_text()] == []
    line = json.loads((tmp_path / "run" / f"{run.session_id}.jsonl").read_text())
    assert line["agentbook"]["config"]["system"] == "system [REDACTED] {root}"


def test_a_run_folder_copied_elsewhere_loads_and_resumes_into_the_copy(tmp_path: Path) -> None:
    run = run_parallel({"a": "one"}, model=ScriptedModel(["x"]), run_dir=tmp_path / "run", interactive=False)
    run.wait(timeout=10)
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(tmp_path / "run", copy)
    original = next((tmp_path / "run").rglob("agent-*.jsonl")).read_bytes()
    loaded = load_run(copy, model=ScriptedModel(["again"]), interactive=False)
    assert loaded.run_dir == copy and loaded.status == {"a": "done"}
    loaded.resume("a", prompt="more").wait(timeout=10)
    assert loaded.records["a"].transcript.is_relative_to(copy)
    assert next((tmp_path / "run").rglob("agent-*.jsonl")).read_bytes() == original
    assert load_run(copy, model=ScriptedModel([]), interactive=False).records["a"].text == "again"


def test_a_sub_agent_of_a_lost_run_json_resumes_in_its_parents_worktree(repo: Path, tmp_path: Path) -> None:
    spawn = ToolUse("s1", "Agent", {"description": "child", "prompt": "write", "subagent_type": "w"})
    run = worktree_run(
        repo,
        tmp_path,
        {"t": "go"},
        [spawn, write("c.txt", "c"), RuntimeError("parent broke")],
        permission_mode="acceptEdits",
        agents={"w": AgentSpec("w", description="d", max_turns=1, prompt="W.")},
    )
    child = next(n for n in run.records if n.startswith("t/"))
    parent_branch = run.records["t"].branch
    (tmp_path / "run" / "run.json").unlink()
    loaded = load(tmp_path, [write("d.txt", "d", "w2"), "child done"])
    assert loaded.records[child].parent == "t"
    loaded.resume(child, prompt="finish").wait(timeout=10)
    assert loaded.records[child].state == "done", loaded.records[child].error
    assert branches(repo) == [parent_branch]
    assert git(repo, "show", f"{parent_branch}:d.txt") == "d"


# ==== worktrees under a running agent


def test_cleanup_keeps_the_worktree_of_an_agent_running_in_another_process(
    repo: Path, tmp_path: Path
) -> None:
    worktree_run(repo, tmp_path, {"u": "unit"}, [write("a.txt", "1"), RuntimeError("boom")])
    gate = threading.Event()
    first = load_run(
        tmp_path / "run", model=held_model(gate, write("b.txt", "2", "w2"), "done"), interactive=False
    )
    first.resume("u", prompt="more")
    try:
        assert until(lambda: being_written(first.records["u"].transcript))
        tree = first.records["u"].worktree
        assert tree is not None
        load(tmp_path).cleanup()
        assert (tree / ".git").exists()
    finally:
        gate.set()
        first.wait(timeout=10)
    assert first.records["u"].state == "done", first.records["u"].error


def test_finishing_a_folder_that_is_no_longer_a_worktree_never_touches_the_users_index(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "notes.txt").write_text("the user's, untracked\n")
    gate = threading.Event()
    model = held_model(gate, write("b.txt", "2"), "done")
    run = run_parallel(
        {"u": "unit"},
        model=model,
        cwd=repo,
        isolation="worktree",
        run_dir=tmp_path / "run",
        interactive=False,
    )
    try:
        assert until(
            lambda: run.records["u"].worktree is not None and being_written(run.records["u"].transcript)
        )
        tree = run.records["u"].worktree
        assert tree is not None
        git(repo, "worktree", "remove", "--force", "--force", str(tree))  # by hand, or another cleanup
    finally:
        gate.set()
        run.wait(timeout=10)
    assert git(repo, "status", "--porcelain") == "?? notes.txt"


def test_resuming_a_parent_and_its_borrowing_child_at_once_loses_no_work(repo: Path, tmp_path: Path) -> None:
    spawn = ToolUse("s1", "Agent", {"description": "child", "prompt": "write", "subagent_type": "w"})
    run = worktree_run(
        repo,
        tmp_path,
        {"t": "go"},
        [spawn, write("c.txt", "c"), RuntimeError("parent broke")],
        permission_mode="acceptEdits",
        agents={"w": AgentSpec("w", description="d", max_turns=1)},
    )
    child = next(n for n in run.records if n.startswith("t/"))
    parent = run.records["t"]
    folder = parent.worktree
    assert parent.state == "failed" and folder is not None and folder.is_dir()

    def is_child(request: Request) -> bool:
        return next(m.text for m in request.messages if m.role == "user" and m.text) == "write"

    def wrote(request: Request) -> bool:
        last = request.messages[-1].content[-1]
        return isinstance(last, ToolResult) and last.tool_use_id == "w9"

    def step(request: Request) -> Response:
        if not is_child(request):
            return model.reply(request, (Text("parent done"),))
        return model.reply(request, (Text("child done") if wrote(request) else write("d.txt", "d", "w9"),))

    refused = threading.Event()

    def ready(request: Request) -> bool:  # the child writes once the parent has ended and finished
        return refused.is_set() or not is_child(request) or wrote(request) or not (folder / ".git").exists()

    model = PacedModel([step, step, step], ready)
    run = load_run(tmp_path / "run", model=model, interactive=False)  # a new process resumes both
    parent = run.records["t"]
    run.resume(child, prompt="finish")
    try:
        run.resume("t", prompt="finish too")
    except RuntimeError as exc:  # refused while a sub-agent works in its worktree: fine
        assert "t/" in str(exc)
        refused.set()
        run.wait(timeout=10)
        assert run.records[child].state == "done", run.records[child].error
        assert parent.branch and git(repo, "show", f"{parent.branch}:d.txt") == "d"
        return
    run.wait(timeout=10)
    assert run.status == {"t": "done", child: "done"}, {n: r.error for n, r in run.records.items()}
    assert parent.branch and git(repo, "show", f"{parent.branch}:d.txt") == "d"


# ==== runs from a subfolder


def test_a_worktree_run_from_an_ignored_subfolder_keeps_the_agents_work(repo: Path, tmp_path: Path) -> None:
    (repo / ".gitignore").write_text("build/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore build")
    (repo / "build").mkdir()
    try:
        run = run_parallel(
            {"u": "unit"},
            model=ScriptedModel([write("out.txt", "1"), "ok"]),
            cwd=repo / "build",
            isolation="worktree",
            permission_mode="acceptEdits",
            run_dir=tmp_path / "run",
            interactive=False,
        )
    except ValueError as exc:
        assert "ignore" in str(exc)
        return
    run.wait(timeout=10)
    record = run.records["u"]
    assert record.state == "done" and record.commit is not None, (record.state, record.error)
    assert git(repo, "show", f"{record.branch}:build/out.txt") == "1"


def test_a_worktree_run_from_an_untracked_subfolder_commits_there(repo: Path, tmp_path: Path) -> None:
    (repo / "scratch").mkdir()
    (repo / "scratch" / "mine.txt").write_text("the user's\n")
    run = run_parallel(
        {"u": "unit"},
        model=ScriptedModel([write("out.txt", "1"), "ok"]),
        cwd=repo / "scratch",
        isolation="worktree",
        permission_mode="acceptEdits",
        run_dir=tmp_path / "run",
        interactive=False,
    )
    run.wait(timeout=10)
    record = run.records["u"]
    assert record.state == "done", record.error
    files = git(repo, "ls-tree", "-r", "--name-only", str(record.branch)).split()
    assert "scratch/out.txt" in files and "scratch/mine.txt" not in files
    assert git(repo, "status", "--porcelain") == "?? scratch/"


@pytest.mark.parametrize("sub", ["my pkg", "pkgé", "a b/ü c"], ids=["space", "unicode", "nested"])
def test_a_subfolder_with_spaces_or_unicode_works_for_files_and_bash(
    repo: Path, tmp_path: Path, sub: str
) -> None:
    from agentbook.tools.sandbox import unavailable_reason

    (repo / sub).mkdir(parents=True)
    (repo / sub / "mod.py").write_text("x = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "pkg")
    calls: list[Any] = [write("w.txt", "w")]
    bash = unavailable_reason() is None
    if bash:
        calls.append(ToolUse("b1", "Bash", {"command": "git rev-parse --show-prefix; echo made > new.txt"}))
    model = ScriptedModel([calls, "ok"])
    run = run_parallel(
        {"u": "unit"},
        model=model,
        cwd=repo / sub,
        isolation="worktree",
        permission_mode="acceptEdits",
        run_dir=tmp_path / "run",
        interactive=False,
    )
    run.wait(timeout=10)
    record = run.records["u"]
    assert record.state == "done", record.error
    files = git(
        repo, "-c", "core.quotepath=off", "ls-tree", "-r", "--name-only", str(record.branch)
    ).splitlines()
    assert f"{sub}/w.txt" in files, files
    if bash:
        result = model.requests[-1].messages[-1].content[1]
        assert isinstance(result, ToolResult) and f"{sub}/" in str(result.content), result
        assert f"{sub}/new.txt" in files


# ==== run names, never-started agents


def test_a_plan_rerunning_a_worktree_phase_in_its_run_dir_is_not_refused(repo: Path, tmp_path: Path) -> None:
    from agentbook.plans import Plan

    plan = Plan({"a": "one"})
    plan.approve()
    model = ScriptedModel([write("a.txt", "1"), "ok", write("b.txt", "2", "w2"), "ok again"])
    options = {"model": model, "cwd": repo, "isolation": "worktree", "interactive": False}
    first = plan.run_phase(0, run_dir=tmp_path / "plan", name="exp", **options)
    first.wait(timeout=10)
    second = plan.run_phase(0, run_dir=tmp_path / "plan", name="exp", **options)
    second.wait(timeout=10)
    assert (first.status, second.status) == ({"a": "done"}, {"a": "done"})
    assert first.name != second.name and len(branches(repo)) == 2


def test_a_named_run_whose_branches_are_gone_may_be_reused(repo: Path, tmp_path: Path) -> None:
    first = run_parallel(
        {"t": "one"},
        model=ScriptedModel(["nothing changed"]),
        cwd=repo,
        isolation="worktree",
        name="exp",
        run_dir=tmp_path / "r1",
        interactive=False,
    )
    first.wait(timeout=10)
    assert branches(repo) == []  # no change: its branch was deleted
    second = run_parallel(
        {"t": "two"},
        model=ScriptedModel(["again"]),
        cwd=repo,
        isolation="worktree",
        name="exp",
        run_dir=tmp_path / "r2",
        interactive=False,
    )
    second.wait(timeout=10)
    assert second.status == {"t": "done"}


def test_an_agent_that_never_started_resumes_with_shared_context_task_then_prompt(tmp_path: Path) -> None:
    run = run_parallel(
        {"a": "the task"},
        model=ScriptedModel(["x"]),
        run_dir=tmp_path / "run",
        interactive=False,
        shared_context="SHARED " * 10,
    )
    run.wait(timeout=10)
    record = run.records["a"]
    record.transcript.unlink()  # as if killed before its first line
    model = ScriptedModel(["resumed"])
    loaded = load_run(tmp_path / "run", model=model, interactive=False)
    assert loaded.records["a"].state == "failed"
    loaded.resume("a", prompt="the resume prompt").wait(timeout=10)
    assert loaded.records["a"].state == "done", loaded.records["a"].error
    first = model.requests[0].messages[0]
    texts = [getattr(b, "text", None) for b in first.content]
    assert texts == ["SHARED " * 10, "the task", "the resume prompt"]
    back = read_transcript(loaded.records["a"].transcript)
    assert back.end.get("state") == "done"
