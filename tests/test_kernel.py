"""Runs inside a real Jupyter kernel: what a notebook user sees, not what a thread test sees.

Each test starts its own IPython kernel (ipykernel, on this interpreter: `sys.executable`, so no
installed kernelspec is needed or used), sends it cells as a notebook front end would, and shuts
it down.  Three promises are checked there:

* agents keep working while a cell blocks the kernel (`time.sleep`), because they run on
  agentbook's background loop and not on the kernel's;
* a cell can `await run` (ipykernel's top-level await) and finds every agent done afterwards;
* interrupting the kernel while a cell waits in `run.wait()` ends that cell with
  `KeyboardInterrupt` and cancels the run's agents within a second or two; so does interrupting
  any other busy cell, or the idle kernel (`agentbook.notebook.kernel`).

The conftest network guard only patches this process's sockets; the kernel is another process.
So the kernel gets no `ANTHROPIC_*` variables and its agents use `Pacer`, a model defined in a
cell that never opens a socket.
"""

from __future__ import annotations

import ast
import os
import queue
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from support import processes_with

from agentbook.scheduler.transcripts import read_transcript

pytestmark = pytest.mark.timeout(120)

KERNEL_NAME = "agentbook-test-python"
STARTUP_TIMEOUT = 60.0

# Defined in the kernel before each test.  `Pacer` answers `turns` times, each after `delay`
# seconds of (asynchronous) thinking; every answer but the last has stop_reason "pause_turn", which
# the agent loop answers by asking again, so an agent takes exactly `turns` turns without any tool
# call (no permissions, no files, no sockets).
PRELUDE = textwrap.dedent(
    """
    import asyncio
    import time

    from agentbook.messages import Response, Text, Usage
    from agentbook.scheduler.launch import run_parallel


    class Pacer:
        name = "scripted"
        description = "paced test model"

        def __init__(self, turns, delay):
            self.turns, self.delay = turns, delay

        async def aclose(self):
            return None

        async def respond(self, request):
            await asyncio.sleep(self.delay)
            turn = sum(m.role == "assistant" for m in request.messages) + 1
            stop = "pause_turn" if turn < self.turns else "end_turn"
            blocks = (Text(f"turn {turn}"),)
            return Response(f"msg_{id(request)}_{turn}", self.name, blocks, stop, Usage(10, 2))


    def start(n, turns, delay):
        return run_parallel(
            {f"a{i}": f"agent {i}" for i in range(n)},
            model=Pacer(turns, delay),
            cwd=RUN_ROOT,
            run_dir=RUN_ROOT + "/run",
            max_turns=turns + 5,
            interactive=False,
        )


    def total_turns(run):
        return sum(r.turns for r in run.records.values())
    """
)


class _ThisPython(KernelSpecManager):
    """Serves one kernelspec: ipykernel on the interpreter running the tests.

    A globally installed `python3` spec may point at another Python without agentbook; this one
    cannot.
    """

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="agentbook tests",
            language="python",
            interrupt_mode="signal",
        )


@dataclass
class Cell:
    """What one executed cell produced."""

    status: str
    stdout: str = ""
    ename: str | None = None
    evalue: str | None = None
    ended_at: float = 0.0
    outputs: list[dict[str, Any]] = field(default_factory=list)

    def value(self) -> Any:
        """The cell's stdout as a Python literal (cells here end with `print(repr(...))`)."""
        return ast.literal_eval(self.stdout.strip().splitlines()[-1])


def run_cell(
    kc: BlockingKernelClient,
    code: str,
    *,
    timeout: float = 30.0,
    during: Callable[[], None] | None = None,
) -> Cell:
    """Execute `code` and collect its output until the kernel is idle again.

    `during` is called right after the request is sent, while the cell runs (to interrupt it).
    `stop_on_error=False`: an interrupted cell must not make the kernel drop the cells after it.
    """
    msg_id = kc.execute(code, allow_stdin=False, stop_on_error=False)
    if during is not None:
        during()
    deadline = time.monotonic() + timeout
    cell = Cell(status="unknown")
    stdout: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"cell still running after {timeout} s:\n{code}")
        try:
            msg = kc.get_iopub_msg(timeout=remaining)
        except queue.Empty:
            raise TimeoutError(f"cell still running after {timeout} s:\n{code}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        cell.outputs.append({"type": kind, **content})
        if kind == "stream" and content.get("name") == "stdout":
            stdout.append(content["text"])
        elif kind == "error":
            cell.ename, cell.evalue = content["ename"], content["evalue"]
        elif kind == "status" and content["execution_state"] == "idle":
            break
    cell.ended_at = time.monotonic()
    cell.stdout = "".join(stdout)
    while True:
        reply = kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            cell.status = reply["content"]["status"]
            return cell


def ok(kc: BlockingKernelClient, code: str, *, timeout: float = 30.0) -> Cell:
    """Run a cell that must succeed; its traceback is the failure message otherwise."""
    cell = run_cell(kc, code, timeout=timeout)
    assert cell.status == "ok", f"cell failed: {cell.ename}: {cell.evalue}\n{code}\n{cell.outputs}"
    return cell


def wait_for_states(kc: BlockingKernelClient, wanted: list[str], since: float, within: float) -> list[str]:
    """Poll the kernel's `run.status` until its set of states is `wanted` or `within` s pass."""
    while True:
        states: list[str] = ok(kc, "print(repr(sorted(set(run.status.values()))))").value()
        if states == wanted or time.monotonic() > since + within:
            return states
        time.sleep(0.1)


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    """A fresh kernel with `PRELUDE` run in it, and no way to reach the Anthropic API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_") and k != "AGENTBOOK_MODEL"}
    # Keep IPython's profile and history out of the user's home.
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    km = KernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=_ThisPython(),
        connection_file=str(tmp_path / "kernel.json"),
    )
    km.start_kernel(env=env, cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=STARTUP_TIMEOUT)
        ok(kc, f"RUN_ROOT = {str(tmp_path)!r}\n{PRELUDE}", timeout=STARTUP_TIMEOUT)
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_agents_progress_while_a_cell_blocks_the_kernel(
    kernel: tuple[KernelManager, BlockingKernelClient],
) -> None:
    _, kc = kernel
    agents, turns = 20, 10
    ok(kc, f"run = start({agents}, {turns}, 0.2)")
    # The blocking cell notes the turn count on both sides of its sleep, so the progress measured
    # is progress made while the kernel's main thread (and its event loop) was stuck in it.
    ok(kc, "before = total_turns(run)\ntime.sleep(3)\nafter = total_turns(run)", timeout=30)
    cell = ok(kc, "print(repr((before, after, total_turns(run), sorted(set(run.status.values())))))")
    before, after, now, _ = cell.value()
    # 10 turns of 0.2 s take 2 s, so all 200 turns fit in the 3 s sleep; allow for a slow machine.
    assert after - before >= 0.75 * agents * turns, (before, after, now)
    ok(kc, "run.wait(30)", timeout=40)
    cell = ok(kc, "print(repr((total_turns(run), sorted(set(run.status.values())))))")
    assert cell.value() == (agents * turns, ["done"])


def test_a_cell_can_await_the_run(kernel: tuple[KernelManager, BlockingKernelClient]) -> None:
    _, kc = kernel
    agents, turns = 10, 5
    ok(kc, f"run = start({agents}, {turns}, 0.1)")
    # Top-level await runs on the kernel's own event loop; `await run` must wait there for agents
    # that run on agentbook's loop, and not return early.
    cell = ok(
        kc,
        "awaited = await run\n"
        "print(repr((awaited is run, run.done, sorted(set(run.status.values())), total_turns(run))))",
        timeout=30,
    )
    same, done, states, total = cell.value()
    assert same and done
    assert states == ["done"]
    assert total == agents * turns


def test_interrupting_a_waiting_cell_cancels_the_agents(
    kernel: tuple[KernelManager, BlockingKernelClient],
) -> None:
    km, kc = kernel
    # Agents that would think for 30 s: only the cancel can end them in time.
    ok(kc, "run = start(8, 3, 30.0)")
    interrupted: list[float] = []

    def interrupt_soon() -> None:
        time.sleep(1.0)  # the cell is inside run.wait() by now
        interrupted.append(time.monotonic())
        km.interrupt_kernel()

    cell = run_cell(kc, "run.wait()", timeout=30, during=interrupt_soon)
    assert cell.status == "error" and cell.ename == "KeyboardInterrupt", cell.outputs
    # The user gets the prompt back at once, not after the agents' 30 s turns.
    assert cell.ended_at - interrupted[0] < 2.0
    # Polled rather than looked at once: a slow machine may need a moment more to mark them.
    states = wait_for_states(kc, ["cancelled"], interrupted[0], 2.0)
    assert states == ["cancelled"], f"{states} {time.monotonic() - interrupted[0]:.2f} s after the interrupt"
    # Cancelled mid-turn: no agent got a single answer, and the run counts as over.
    assert ok(kc, "print(repr((run.done, total_turns(run))))").value() == (True, 0)


def test_interrupting_any_busy_cell_cancels_the_agents(
    kernel: tuple[KernelManager, BlockingKernelClient],
) -> None:
    km, kc = kernel
    ok(kc, "run = start(8, 3, 30.0)")
    interrupted: list[float] = []

    def interrupt_soon() -> None:
        time.sleep(1.0)
        interrupted.append(time.monotonic())
        km.interrupt_kernel()

    # Not `run.wait()`: any cell the user stops with the stop button means "stop everything".
    cell = run_cell(kc, "time.sleep(30)", timeout=30, during=interrupt_soon)
    assert cell.status == "error" and cell.ename == "KeyboardInterrupt", cell.outputs
    states = wait_for_states(kc, ["cancelled"], interrupted[0], 2.0)
    assert states == ["cancelled"], f"{states} {time.monotonic() - interrupted[0]:.2f} s after the interrupt"


def test_interrupting_an_idle_kernel_cancels_the_agents(
    kernel: tuple[KernelManager, BlockingKernelClient],
) -> None:
    km, kc = kernel
    ok(kc, "run = start(8, 3, 30.0)")
    time.sleep(0.5)  # the kernel is idle; the agents think on the background loop
    interrupted = time.monotonic()
    km.interrupt_kernel()
    states = wait_for_states(kc, ["cancelled"], interrupted, 2.0)
    assert states == ["cancelled"], f"{states} {time.monotonic() - interrupted:.2f} s after the interrupt"
    # The kernel itself survives an idle interrupt and goes on running cells.
    assert ok(kc, "print(repr(1 + 1))").value() == 2


def test_shutting_the_kernel_down_ends_every_agent_and_its_processes(
    kernel: tuple[KernelManager, BlockingKernelClient], tmp_path: Path
) -> None:
    km, kc = kernel
    marker = f"7{os.getpid() % 1000}.{time.time_ns() % 10**6}"
    command = f"setsid sleep {marker} & nohup sleep {marker} >/dev/null 2>&1 & disown; sleep {marker}"
    ok(kc, textwrap.dedent(f"""
        from agentbook.messages import ToolUse
        from agentbook.models import ScriptedModel
        calls = [ToolUse(f"c{{i}}", "Bash", {{"command": {command!r}}}) for i in range(2)]
        run = run_parallel({{"a": "x", "b": "y"}}, model=ScriptedModel([*calls, "done", "done"]),
                           cwd=RUN_ROOT, run_dir=RUN_ROOT + "/run", permission_mode="bypassPermissions")
    """))  # fmt: skip
    deadline = time.monotonic() + 20
    while len(processes_with(marker)) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(processes_with(marker)) >= 6
    km.shutdown_kernel(now=False)  # a shutdown request, as JupyterLab sends: the kernel exits itself
    assert processes_with(marker) == []
    ends = [read_transcript(p).end for p in (tmp_path / "run").rglob("agent-*.jsonl")]
    assert [e["state"] for e in ends] == ["cancelled", "cancelled"]
