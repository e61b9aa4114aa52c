"""`agentbook run`, `resume` and `status` (issue 15, point 7): the command run as a subprocess, through
the real Anthropic SDK against the local fake Messages API; exit codes, JSON lines, resume, status."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import first_prompt, git, new_repo

from agentbook.cli import main
from agentbook.commands.progress import Progress, event_json
from agentbook.events import AgentStarted
from agentbook.messages import Message, Text
from agentbook.testing import ErrorReply, FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock

KEY = "sk-ant-test-cli-run-0123456789abcdef"

PLAN = """\
options:
  model: haiku
  max_turns: 4
  max_tokens: 256
  tools: [Glob]
survey: Survey the code
tests: Survey the tests
review:
  prompt: "Review. SURVEY={survey} TESTS={tests}"
  depends_on: [survey, tests]
"""


class Worker:
    """Each agent globs once, then answers `<prompt>: done`; a prompt with FLAKY fails its first
    request with a 400 (not retried: the agent fails), and succeeds after."""

    def __init__(self) -> None:
        self.lock, self.prompts, self.failed = threading.Lock(), [], False

    def __call__(self, request: FakeRequest) -> Reply:
        prompt = first_prompt(request)
        with self.lock:
            self.prompts.append(prompt)
            if "FLAKY" in prompt and not self.failed:
                self.failed = True
                return ErrorReply(400, message="the fake refuses this once")
        if not any(m["role"] == "assistant" for m in request.json["messages"]):
            return MessageReply([ToolUseBlock("Glob", {"pattern": "*"})])
        return MessageReply(f"{prompt.split('.')[0]}: done")


@contextlib.contextmanager
def serving(handler: Any = None) -> Iterator[Any]:
    """The fake Messages API answering with `handler` (a Worker by default), which learns its URL."""
    handler = handler or Worker()
    with FakeAnthropic(handler, api_key=KEY) as fake:
        handler.base_url = fake.base_url
        yield handler


def agentbook(worker: Any, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`agentbook args` in a subprocess (stdin not a terminal), talking HTTP to the fake."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    if worker is not None:
        env |= {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": worker.base_url}
    command = [sys.executable, "-m", "agentbook.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, timeout=120)  # fmt: skip


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_phase_plan_runs_to_the_end_with_json_events_and_status(tmp_path: Path, home: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    run_dir = tmp_path / "run"
    with serving() as worker:
        proc = agentbook(
            worker, "run", "plan.yaml", "--yes", "--json", "--run-dir", str(run_dir), cwd=tmp_path
        )
    assert proc.returncode == 0, proc.stderr
    events = lines(proc.stdout)
    for name in ("survey", "tests", "review"):
        kinds = [e["kind"] for e in events if e.get("agent") == name]
        assert kinds[0] == "agent_started" and kinds[-1] == "agent_ended" and "tool_started" in kinds
        ended = next(e for e in events if e.get("agent") == name and e["kind"] == "agent_ended")
        assert ended["state"] == "done"
    assert events[-1] == {**events[-1], "kind": "summary", "exit": 0, "not_done": []}
    assert KEY not in proc.stdout and KEY not in proc.stderr
    # Phase 1's prompt quotes phase 0's answers; one progress line per state change on stderr.
    assert any("SURVEY=Survey the code: done TESTS=Survey the tests: done" in p for p in worker.prompts)
    progress = [line for line in proc.stderr.splitlines() if line[:2].isdigit()]
    assert len(progress) == 6 and sum(": running, claude-haiku" in line for line in progress) == 3
    assert sum(": done after 2 turn(s)" in line for line in progress) == 3
    assert (run_dir / "phase-0" / "run.json").is_file() and (run_dir / "phase-1" / "run.json").is_file()

    status = agentbook(None, "status", str(run_dir), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    for name in ("survey", "tests", "review"):
        assert any(line.startswith(name) and " done " in line for line in status.stdout.splitlines())
    assert not (home / "runs").exists()  # --run-dir: nothing in agentbook's home


def test_a_failed_agent_exits_1_and_resume_finishes_the_plan(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN.replace("Survey the tests", "Survey the tests FLAKY"))
    run_dir = tmp_path / "run"
    with serving() as worker:
        proc = agentbook(worker, "run", "plan.yaml", "-y", "--run-dir", str(run_dir), cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        assert "plan stopped: phase 0: tests failed" in proc.stdout
        assert f"agentbook resume {run_dir}" in proc.stdout
        assert not (run_dir / "phase-1").exists()
        status = agentbook(None, "status", str(run_dir), "--json", cwd=tmp_path)
        assert json.loads(status.stdout)["not_started"] == [["review"]]

        resumed = agentbook(worker, "resume", str(run_dir), "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    events = lines(resumed.stdout)
    started = [e for e in events if e["kind"] == "agent_started"]
    assert [(e["agent"], e["resumed"]) for e in started] == [("tests", True), ("review", False)]
    assert events[-1]["exit"] == 0 and "plan: completed" in resumed.stderr
    status = agentbook(None, "status", str(run_dir), cwd=tmp_path)
    assert status.returncode == 0
    rows = [line.split() for line in status.stdout.splitlines()]
    assert {r[0]: r[1] for r in rows if r and r[0] in ("survey", "tests", "review")} == {
        "survey": "done", "tests": "done", "review": "done",
    }  # fmt: skip


def test_a_fan_out_needs_no_approval_and_a_failure_exits_1_then_resumes(tmp_path: Path) -> None:
    (tmp_path / "fan.yaml").write_text("options: {model: haiku, tools: [Glob]}\na: one\nb: two FLAKY\n")
    run_dir = tmp_path / "fan"
    with serving() as worker:
        proc = agentbook(worker, "run", "fan.yaml", "--run-dir", str(run_dir), cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        assert "b failed" in proc.stdout and "b: failed after" in proc.stderr
        again = agentbook(worker, "resume", str(run_dir), "b", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "2 done" in again.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [unclosed\n", "is not valid YAML"),
        (
            "a: {prompt: x, depends_on: [b]}\nb: {prompt: y, depends_on: [a]}\n",
            "dependency cycle: a -> b -> a",
        ),
        ("a: {prompt: x, depends_on: [nope]}\n", "nope"),
        ("options: {model: offline, colour: red}\na: x\n", "unknown run option(s) colour"),
        ("options: {cwd: no/such/folder}\na: x\n", "not a folder"),
        ("a: {prompt: x, agent: ghost}\n", "names agent 'ghost', which is not defined"),
        ("options: {model: offline}\n", "names no tasks"),
        ("a: {prompt: x, colour: red}\n", "unknown key(s) ['colour']"),
        ("a: {prompt: 'needs {zzz}', depends_on: [c]}\nc: y\n", "quotes {zzz}, which is not a task"),
    ],
)
def test_bad_input_exits_2_naming_the_problem_and_makes_no_run_folder(
    tmp_path: Path, home: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    assert main(["run", str(tmp_path / "bad.yaml"), "--yes"]) == 2
    assert message in capsys.readouterr().err
    assert not (home / "runs").exists()


def test_a_plan_without_yes_on_a_non_terminal_exits_2_and_starts_nothing(tmp_path: Path, home: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN.replace("haiku", "offline"))
    proc = agentbook(None, "run", "plan.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "needs approval and there is no terminal to ask on: pass --yes" in proc.stderr
    assert "phase 1: review" in proc.stderr  # the plan was shown
    assert not (home / "runs").exists() and proc.stdout == ""


def test_resume_and_status_name_a_folder_without_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", str(tmp_path)]) == 2
    assert "holds no run" in capsys.readouterr().err
    assert main(["resume", str(tmp_path / "none")]) == 2


def test_a_batch_without_yes_on_a_non_terminal_exits_2_before_any_research(tmp_path: Path) -> None:
    proc = agentbook(None, "batch", "rename everything", "--repo", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "pass --yes" in proc.stderr


def test_events_become_json_with_secrets_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    prompt = Message("user", (Text(f"the key is {KEY}"),))
    event = AgentStarted(agent="a", model="haiku", prompt=prompt, system="s", cwd="/x")
    data = json.loads(json.dumps(event_json(event)))
    assert list(data)[:3] == ["kind", "agent", "at"] and data["kind"] == "agent_started"
    assert KEY not in json.dumps(data) and "[REDACTED]" in data["prompt"]["content"][0]["text"]


def test_the_live_table_redraws_in_place(tmp_path: Path) -> None:
    import io

    import agentbook as ab

    run = ab.run_parallel({"a": "Summarise ."}, model="offline", cwd=tmp_path, run_dir=tmp_path / "r")
    run.wait()
    out = io.StringIO()
    progress = Progress(out, live=True, runs=lambda: [run])
    progress.draw()
    progress.draw()
    text = out.getvalue()
    assert text.count("run r") == 2 and "\x1b[" in text and " done " in text


class Splitter:
    """The batch's research agent answers with five units; each unit's agent writes the file its
    instructions name, then ends. The fifth unit's file does not import, so its test fails."""

    units = [
        {"name": f"add-mod-{n}", "files": [f"mod_{n}.py"],
         "instructions": f"create mod_{n}.py with VALUE = {n}",
         "test_command": f"{sys.executable} -c 'import mod_{n}; assert mod_{n}.VALUE == {n}'"}
        for n in range(4)
    ] + [{"name": "add-broken", "files": ["broken.py"], "instructions": "create broken.py with VALUE = (",
          "test_command": f"{sys.executable} -c 'import broken'"}]  # fmt: skip

    def __call__(self, request: FakeRequest) -> Reply:
        prompt = first_prompt(request)
        if prompt.startswith("Plan this change"):
            return MessageReply("The plan:\n```json\n" + json.dumps({"units": self.units}) + "\n```")
        if not any(m["role"] == "assistant" for m in request.json["messages"]):
            path, _, content = prompt.split("create ", 1)[1].split("\n", 1)[0].partition(" with ")
            return MessageReply([ToolUseBlock("Write", {"file_path": path, "content": content + "\n"})])
        return MessageReply("done")


def test_a_batch_runs_headless_end_to_end_through_the_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(tmp_path / "repo", monkeypatch, {"README.md": "demo\n"})
    with serving(Splitter()) as splitter:
        proc = agentbook(splitter, "batch", "add five modules", "--repo", str(repo), "--yes",
                         "--model", "haiku", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # one unit's test failed
    assert "batch: add five modules (5 units in" in proc.stderr
    assert "- add-mod-0: files mod_0.py" in proc.stderr  # the units, shown before they run
    for n in range(4):
        assert f"add-mod-{n}: done, branch agentbook/" in proc.stdout
    assert "add-broken: done, branch agentbook/" in proc.stdout and proc.stdout.count("test failed") == 1
    assert "a research agent splits" in proc.stderr
    branches = git(repo, "branch", "--list", "agentbook/*").split()
    assert len([b for b in branches if b != "*"]) == 5
    shown = git(repo, "show", next(b for b in branches if "add-mod-2" in b) + ":mod_2.py")
    assert shown.strip() == "VALUE = 2"
