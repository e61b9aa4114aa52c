"""How responsive a Jupyter kernel stays while agentbook's agents run in its own process.

A real kernel (ipykernel on this interpreter, started through `jupyter_client`) is sent a trivial
cell (`1`) again and again, as a front end would, and each round trip is timed from outside: from
sending the `execute_request` to having both its `execute_reply` (shell) and the kernel's `idle`
status for it (iopub).  Two sides, in one kernel, one after the other:

A. loaded: `--agents` agents running in the kernel's process, started with `ab.run_parallel` and
   displayed, so the live board (ipywidgets) is shown and updated from agentbook's background
   thread while the cells run.  Each agent's model is `Pacer`, defined in the kernel: every turn
   it thinks `--delay` seconds (an asyncio sleep, as an API call would wait) and asks for a `Glob`
   of a tiny folder, which really runs; transcripts and records are really written.  It takes
   far more turns than the measurement lasts, so every agent works from the first sample to the
   last (checked: the agents still running at the end are printed).
B. idle: the same kernel before the agents start (the baseline).

`--model offline` runs `OfflineModel(pace_s=--delay)` instead, each agent summarising one of
agentbook's packages (Glob, Grep, Read, then an answer: three turns, so take `--delay 3` for the
agents to last the measurement); its turns come in bursts, all agents at once.  `--no-board`
starts the same agents without displaying the run, to see what the board costs.

`--cluster N` runs the same agents on a Dask cluster instead (`run_parallel(cluster=...)`): a
scheduler and N worker processes started by this script as `dask scheduler` and `dask worker`
subprocesses, so the kernel's process holds only its `Client` and the run's mirror.

Printed: median, p95 and max milliseconds of each side, and A/B of each.  No network, no API
key: the kernel gets no `ANTHROPIC_*` variables, and `AGENTBOOK_HOME`, `IPYTHONDIR` and the run
folder are in a temporary folder, so nothing is written to the user's home.  It asserts nothing.

Run: `python bench/kernel_responsiveness.py` (about 30 s); `--help` for the knobs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager

SETUP = textwrap.dedent(
    """
    import asyncio, itertools
    import agentbook as ab
    from agentbook.messages import Response, Text, ToolUse, Usage
    from agentbook.models import OfflineModel

    %load_ext agentbook

    class Pacer:
        name = "scripted"
        description = "paced bench model"
        ids = itertools.count()

        def __init__(self, turns, delay):
            self.turns, self.delay = turns, delay

        async def aclose(self):
            return None

        async def respond(self, request):
            await asyncio.sleep(self.delay)
            turn = sum(m.role == "assistant" for m in request.messages) + 1
            n = next(self.ids)
            if turn < self.turns:
                blocks, stop = (ToolUse(f"toolu_{n}", "Glob", {"pattern": "*.txt"}),), "tool_use"
            else:
                blocks, stop = (Text(f"done after {turn} turns"),), "end_turn"
            return Response(f"msg_{n}", self.name, blocks, stop, Usage(100, 20))

    for name in "abcd":
        with open(f"{ROOT}/files/{name}.txt", "w") as f:
            f.write(name)
    """
)

START = textwrap.dedent(
    """
    run = ab.run_parallel(
        {{f"a{{i}}": {prompt} for i in range({agents})}},
        model={model},
        cwd={cwd!r},
        run_dir="{root}/run",
        tools={tools},
        permission_mode="bypassPermissions",
        max_turns={turns} + 5,
        interactive=False,
        cluster={cluster},
    )
    {show}
    """
)


SUBPACKAGES = ("models", "tools", "agent", "scheduler", "notebook", "plans", "worktrees", "analysis")


class _ThisPython(KernelSpecManager):
    """One kernelspec: ipykernel on this interpreter (so agentbook is importable in the kernel)."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="agentbook bench",
            language="python",
            interrupt_mode="signal",
        )


def execute(kc: BlockingKernelClient, code: str, timeout: float = 60.0) -> tuple[float, list[dict[str, Any]]]:
    """Run `code`; the round trip in ms (request sent to reply and idle both received) and the
    cell's own iopub messages (everything else on iopub, the board's updates, is dropped).

    Both sockets are polled together (no busy loop: the client must not take the CPU the
    kernel needs on a small machine)."""
    poller = zmq.Poller()
    shell, iopub = kc.shell_channel, kc.iopub_channel
    poller.register(shell.socket, zmq.POLLIN)
    poller.register(iopub.socket, zmq.POLLIN)
    start = time.perf_counter()
    msg_id = kc.execute(code, allow_stdin=False, stop_on_error=False)
    deadline = start + timeout
    replied = idle = False
    outputs: list[dict[str, Any]] = []
    while not (replied and idle):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"cell still running after {timeout} s:\n{code}")
        ready = dict(poller.poll(1000))
        if shell.socket in ready:
            replied = _shell_reply(shell.get_msg(timeout=0), msg_id, outputs) or replied
        while iopub.msg_ready():
            idle = _iopub_idle(iopub.get_msg(timeout=0), msg_id, outputs) or idle
    return (time.perf_counter() - start) * 1000, outputs


def _shell_reply(reply: dict[str, Any], msg_id: str, outputs: list[dict[str, Any]]) -> bool:
    if reply["parent_header"].get("msg_id") != msg_id:
        return False
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"cell failed: {reply['content']}\n{outputs}")
    return True


def _iopub_idle(msg: dict[str, Any], msg_id: str, outputs: list[dict[str, Any]]) -> bool:
    if msg["parent_header"].get("msg_id") != msg_id:
        return False  # the board's comm messages, mostly
    outputs.append({"type": msg["msg_type"], **msg["content"]})
    return msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"


def value(kc: BlockingKernelClient, code: str) -> str:
    """The text of `code`'s last expression."""
    _, outputs = execute(kc, code)
    results = [o for o in outputs if o["type"] in ("execute_result", "error", "stream")]
    for o in results:
        if o["type"] == "error":
            raise RuntimeError(f"{o['ename']}: {o['evalue']}")
    return str(next(o["data"]["text/plain"] for o in results if o["type"] == "execute_result"))


def samples(kc: BlockingKernelClient, n: int, gap: float) -> list[float]:
    times = []
    for _ in range(n):
        times.append(execute(kc, "1")[0])
        time.sleep(gap)
    return times


def figures(times: list[float]) -> tuple[float, float, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


def start_kernel(root: Path) -> tuple[KernelManager, BlockingKernelClient]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_") and k != "AGENTBOOK_MODEL"}
    env["AGENTBOOK_HOME"] = str(root / "agentbook-home")
    env["IPYTHONDIR"] = str(root / "ipython")
    env["MPLCONFIGDIR"] = str(root / "mpl")
    km = KernelManager(
        kernel_name="agentbook-bench", kernel_spec_manager=_ThisPython(), connection_file=str(root / "k.json")
    )
    km.start_kernel(env=env, cwd=str(root))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def measure(args: argparse.Namespace, root: Path, kc: BlockingKernelClient) -> dict[str, list[float]]:
    (root / "files").mkdir()
    execute(kc, f"ROOT = {str(root)!r}\n{SETUP}")
    if args.address:  # connected before the idle side: a client's own threads are in both
        execute(kc, f"from distributed import Client\nclient = Client({args.address!r})")
    samples(kc, 20, args.gap)  # warm-up
    idle = samples(kc, args.samples, args.gap)
    # Enough turns that no agent ends before the last sample, whatever the machine's speed.
    turns = int(60 / args.delay) + 10
    execute(
        kc,
        START.format(
            agents=args.agents,
            turns=turns,
            root=root,
            show="None" if args.no_board else "run",
            cluster="client" if args.address else "None",
            **workload(args, root, turns),
        ),
    )
    time.sleep(args.settle)
    loaded = samples(kc, args.samples, args.gap)
    switch = value(kc, "import sys; sys.getswitchinterval()")
    running = value(kc, "sum(s == 'running' for s in run.status.values())")
    turns_done = value(kc, "sum(r.turns for r in run.records.values())")
    flushes = value(kc, "from agentbook.notebook.widgets import board_for; board_for(run).flushes")
    print(
        f"agents running after the last sample: {running}/{args.agents}; turns {turns_done}; "
        f"board flushes {flushes}; switch interval {float(switch) * 1000:g} ms"
    )
    execute(kc, "run.cancel(); run.wait(30); None", timeout=60)
    return {"B idle": idle, "A loaded": loaded}


def workload(args: argparse.Namespace, root: Path, turns: int) -> dict[str, Any]:
    """What `START` needs for `--model`: the model, the agents' folder, tools and prompt."""
    if args.model == "offline":  # each agent explores one of agentbook's packages, read-only
        return {
            "model": f"OfflineModel(pace_s={args.delay})",
            "cwd": str(Path(__file__).resolve().parents[1]),
            "tools": None,
            "prompt": f'"Summarise agentbook/" + {SUBPACKAGES!r}[i % {len(SUBPACKAGES)}]',
        }
    return {
        "model": f"Pacer({turns}, {args.delay})",
        "cwd": str(root / "files"),
        "tools": ["Glob"],
        "prompt": 'f"agent {i}"',
    }


@contextlib.contextmanager
def dask_cluster(workers: int, root: Path) -> Iterator[str | None]:
    """A scheduler and `workers` worker processes of their own (`None`: no cluster)."""
    if not workers:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "AGENTBOOK_HOME": str(root / "home")}
    dask = [sys.executable, "-m", "distributed.cli"]
    scheduler = subprocess.Popen([*dask[:2], "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--dashboard-address", ":0"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    worker = subprocess.Popen([*dask[:2], "distributed.cli.dask_worker", address, "--nworkers", str(workers),
                               "--nthreads", "4", "--local-directory", str(root / "dask")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=60)
        yield address
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200, help="agents running in the kernel (200)")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds each model response takes (0.5)")
    parser.add_argument(
        "--model",
        choices=["pacer", "offline"],
        default="pacer",
        help="pacer: a Glob every turn, endless (default); offline: OfflineModel(pace_s=delay)",
    )
    parser.add_argument("--no-board", action="store_true", help="do not display the run (no live board)")
    parser.add_argument("--samples", type=int, default=200, help="round trips timed per side (200)")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between two round trips (0.02)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after starting the agents (2)")
    parser.add_argument(
        "--cluster", type=int, default=0, metavar="N", help="run on N Dask workers (0: in-process)"
    )
    args = parser.parse_args()
    print(
        f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs; {args.agents} agents, "
        f"a response every {args.delay:g} s each; {args.samples} round trips per side"
    )
    with tempfile.TemporaryDirectory(prefix="agentbook-kernel-bench-") as tmp:
        root = Path(tmp)
        with dask_cluster(args.cluster, root) as args.address:
            km, kc = start_kernel(root)
            try:
                times = measure(args, root, kc)
            finally:
                kc.stop_channels()
                km.shutdown_kernel(now=True)
    stats = {side: figures(t) for side, t in times.items()}
    print(f"{'':10} {'median':>9} {'p95':>9} {'max':>9}   (ms, execute_request to reply + idle)")
    for side, (median, p95, top) in stats.items():
        print(f"{side:10} {median:9.1f} {p95:9.1f} {top:9.1f}")
    a, b = stats["A loaded"], stats["B idle"]
    print(f"{'A/B':10} {a[0] / b[0]:9.2f} {a[1] / b[1]:9.2f} {a[2] / b[2]:9.2f}")


if __name__ == "__main__":
    main()
