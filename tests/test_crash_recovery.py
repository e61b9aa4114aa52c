"""Crash recovery never repeats a side effect: a process running 20 agents is killed with SIGKILL
mid-run, and a new process resumes them from `load_run`.  Each agent's Bash calls append a unique
line to a shared log; after the resume no line is there twice, every agent is done, and each call
that was in flight at the kill was answered as interrupted instead of being run again."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from support import REPO

from agentbook.scheduler.transcripts import read_transcript

AGENTS, CALLS = 20, 3

SCRIPT = textwrap.dedent("""
    import sys, time
    from agentbook.messages import Text, ToolUse
    from agentbook.models import ScriptedModel
    from agentbook.scheduler.launch import run_parallel
    from agentbook.scheduler.restore import load_run

    class Steady(ScriptedModel):
        # Turn k of agent A: append "A-k" to the log (slowly), then answer once all calls are made.
        async def respond(self, request):
            self.requests.append(request)
            agent = request.messages[0].text
            turn = sum(1 for m in request.messages if m.role == "assistant")
            if turn < CALLS:
                command = f"echo {agent}-{turn} >> log.txt; sleep 0.2"
                return self.reply(request, (ToolUse(f"{agent}-{turn}", "Bash", {"command": command}),))
            interrupted = sum("was interrupted" in str(getattr(b, "content", ""))
                              for m in request.messages for b in m.content)
            return self.reply(request, (Text(f"done, {interrupted} interrupted"),))

    CALLS = int(sys.argv[3])
    root, mode = sys.argv[1], sys.argv[2]
    if mode == "start":
        run_parallel({f"a{i}": f"a{i}" for i in range(int(sys.argv[4]))}, model=Steady(), cwd=root,
                     run_dir=root + "/../run", permission_mode="bypassPermissions", interactive=False)
        print("started", flush=True)
        time.sleep(60)
    else:
        run = load_run(root + "/../run", model=Steady(), interactive=False)
        for name, state in run.status.items():
            if state != "done":
                run.resume(name)
        run.wait(timeout=60)
        print(repr(run.status), flush=True)
        print(repr(run.results), flush=True)
""")


def python(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *args], env=env, stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize("kill_after", [0.15, 0.4, 0.7])
def test_a_killed_run_resumes_without_running_a_call_twice(tmp_path: Path, kill_after: float) -> None:
    root = tmp_path / "work"
    root.mkdir()
    first = python(str(root), "start", str(CALLS), str(AGENTS))
    assert first.stdout is not None and first.stdout.readline() == "started\n"
    time.sleep(kill_after)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    log = root / "log.txt"
    before = log.read_text().split() if log.exists() else []
    second = python(str(root), "resume", str(CALLS))
    out, _ = second.communicate(timeout=120)
    status_line, results_line = out.strip().splitlines()[-2:]
    assert set(ast.literal_eval(status_line).values()) == {"done"}, out
    lines = Counter(log.read_text().split())
    assert [line for line, n in lines.items() if n > 1] == []  # no call ran twice
    results = ast.literal_eval(results_line)
    interrupted = sum(int(text.split(", ")[1].split()[0]) for text in results.values())
    missing = AGENTS * CALLS - len(lines)
    # Every call missing from the log is one reported as interrupted (it died before its echo);
    # the others reported so had run their echo before the kill, and were not run again.
    assert missing <= interrupted
    assert len(before) <= len(lines)
    for path in (tmp_path / "run").rglob("agent-*.jsonl"):
        back = read_transcript(path)
        assert back.bad_lines == 0 or back.problems, path  # a line cut by the kill is reported
        assert json.loads(path.read_text().splitlines()[-1])["subtype"] == "agentbook_end"
