"""What the bubblewrap sandbox costs per Bash call, next to the same call without it, in one run.

Both sides go through agentbook's `Bash` tool on one event loop, with the same commands in the same
folder, interleaved call by call (so machine noise falls on both alike):

A. sandboxed: `ToolContext(sandbox=Sandbox(root))`, i.e. `bwrap ... bash -c COMMAND`;
B. baseline: the unsandboxed tool (`bash -c COMMAND` behind the path guard), the cheapest honest
   way to run the same command through the tool;
B0. for reference, a bare `asyncio.create_subprocess_exec("bash", "-c", COMMAND)` and wait.

Commands: `true` (pure start-up cost) and `git status --short` in a small repository (what agents
run most).  Printed: median and p90 milliseconds per call of each, the sandbox's added median
milliseconds (A - B; the issue's target: under 10 ms on this machine) and the ratio A/B.

Run: `python bench/bench_sandbox.py [--calls 200]` (about 10 s on 2 idle cores).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from agentbook.tools import Bash, ToolContext
from agentbook.tools.sandbox import Sandbox, unavailable_reason


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await call()
    return (time.perf_counter() - start) * 1000


async def bare(command: str, cwd: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    await process.wait()


async def measure(command: str, root: Path, calls: int) -> dict[str, list[float]]:
    boxed, plain, tool = ToolContext(root=root, sandbox=Sandbox(root)), ToolContext(root=root), Bash()
    sides: dict[str, Callable[[], Awaitable[object]]] = {
        "A sandboxed": lambda: tool.run({"command": command}, boxed),
        "B unsandboxed": lambda: tool.run({"command": command}, plain),
        "B0 bare subprocess": lambda: bare(command, root),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for call in sides.values():  # warm-up: the page cache, the sandbox probe, the git identity
        await call()
    for _ in range(calls):
        for name, call in sides.items():
            times[name].append(await timed(call))
    return times


def report(command: str, times: dict[str, list[float]]) -> None:
    print(f"\n`{command}`, {len(times['A sandboxed'])} calls each, interleaved")
    for name, values in times.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"  {name:<20} median {statistics.median(values):6.2f} ms   p90 {p90:6.2f} ms")
    a, b = statistics.median(times["A sandboxed"]), statistics.median(times["B unsandboxed"])
    print(f"  sandbox adds {a - b:+.2f} ms a call (median); A/B = {a / b:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per side and command (default 200)")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason is not None:
        sys.exit(f"no sandbox here: {reason}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        for i in range(20):
            (root / f"f{i}.py").write_text(f"x = {i}\n")
        for command in ("true", "git status --short"):
            report(command, asyncio.run(measure(command, root, args.calls)))


if __name__ == "__main__":
    main()
