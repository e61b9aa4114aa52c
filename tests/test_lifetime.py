"""Nothing outlives an agent: after cancel, SIGTERM or a normal interpreter exit no process of
any Bash call is left (`setsid`, `nohup ... & disown` and `trap '' TERM` children included), and
every transcript has its end record.  Processes are counted from outside, in `/proc`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support import REPO, processes_with

from agentbook.messages import ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.transcripts import read_transcript
from agentbook.tools.sandbox import unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason="the sandbox cannot run here")
AGENTS = 3


def stubborn(marker: str) -> str:
    """A command leaving children that a process-group kill alone would not reach."""
    return (
        f"mktemp -p . going.XXXXXX; setsid sleep {marker} & nohup sleep {marker} >/dev/null 2>&1 & "
        f"disown; (trap '' TERM; sleep {marker}) & sleep {marker}"
    )


def new_marker() -> str:
    return f"9{os.getpid() % 1000}.{time.time_ns() % 10**7}"


def wait_for(marker: str, at_least: int) -> None:
    deadline = time.monotonic() + 20
    while len(processes_with(marker)) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(processes_with(marker)) >= at_least


def end_states(run_dir: Path) -> list[str]:
    return sorted(read_transcript(p).end["state"] for p in run_dir.rglob("agent-*.jsonl"))


def test_cancel_leaves_no_process(tmp_path: Path) -> None:
    marker = new_marker()
    calls = [ToolUse(f"c{i}", "Bash", {"command": stubborn(marker)}) for i in range(AGENTS)]
    model = ScriptedModel([*calls, *["done"] * AGENTS])
    tasks = {f"a{i}": "x" for i in range(AGENTS)}
    run = run_parallel(tasks, model=model, cwd=tmp_path, run_dir=tmp_path / "run",
                       permission_mode="bypassPermissions", interactive=False)  # fmt: skip
    wait_for(marker, 4 * AGENTS)
    run.cancel()
    run.wait(timeout=10)
    assert processes_with(marker) == []
    assert end_states(tmp_path / "run") == ["cancelled"] * AGENTS


SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from agentbook.messages import ToolUse
    from agentbook.models import ScriptedModel
    from agentbook.scheduler.launch import run_parallel
    root, command, agents = sys.argv[1], sys.argv[2], int(sys.argv[3])
    calls = [ToolUse(f"c{i}", "Bash", {"command": command}) for i in range(agents)]
    run_parallel({f"a{i}": "x" for i in range(agents)}, model=ScriptedModel([*calls, *["done"] * agents]),
                 cwd=root, run_dir=root + "/run", permission_mode="bypassPermissions", interactive=False)
    while sys.argv[4] != "now" and len(list(Path(root).glob("going.*"))) < agents:  # all started
        time.sleep(0.02)
    print("started", flush=True)
    if sys.argv[4] == "stay":
        time.sleep(120)
""")


@pytest.mark.parametrize("ending", ["exit", "sigterm", "exit-at-once"])
def test_a_process_that_ends_leaves_no_process_and_closes_every_transcript(
    tmp_path: Path, ending: str
) -> None:
    marker = new_marker()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path), stubborn(marker), str(AGENTS),
         {"exit": "leave", "sigterm": "stay", "exit-at-once": "now"}[ending]],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert script.stdout is not None and script.stdout.readline() == "started\n"
    if ending == "sigterm":
        wait_for(marker, 4 * AGENTS)
        script.send_signal(signal.SIGTERM)
    returncode = script.wait(timeout=30)
    assert returncode == (-signal.SIGTERM if ending == "sigterm" else 0)
    assert processes_with(marker) == []
    if ending != "exit-at-once":  # there, agents may end before their first transcript line
        assert end_states(tmp_path / "run") == ["cancelled"] * AGENTS
