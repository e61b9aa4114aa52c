"""What the hard-link scan costs a sandboxed Bash call in a root of about 10,000 files.

Before each sandboxed call, `Sandbox.launch` walks the root (`agentbook.tools._hardlinks.LinkScan`:
`os.scandir`, one `lstat` per file of a folder it lists, one per folder) and masks every file with
a name outside it; an agent's later calls list again only the folders that changed.  All sides go
through agentbook's `Bash` tool on one event loop, in the same root, interleaved call by call:

A. an agent's calls: one `Sandbox`, so after the first call only changed folders are listed
   (here: none but those changed in the last two seconds);
A1. a first call: a new `Sandbox` each time, so the whole tree is walked (and, as for any
    agent's first call, the root looked through for nested repositories);
B. an agent's calls without the scan (one `Sandbox` whose scan finds nothing).

The root: `--folders` folders of `--files` files each (default 100 x 100), a git repository (its
`.git` read-only, so not walked), and 10 files hard-linked from outside it (masked on A and A1).
Printed: the median and p90 milliseconds per call of each side, and A/B and A1/B.

Run: `python bench/bench_hardlinks.py [--calls 100]` (about 20 s on 2 idle cores).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from agentbook.tools import Bash, ToolContext
from agentbook.tools._hardlinks import LinkScan, Walk, linked_out
from agentbook.tools.sandbox import Sandbox, unavailable_reason


def make_tree(base: Path, folders: int, files: int) -> Path:
    root = base / "root"
    for i in range(folders):
        (root / f"d{i}").mkdir(parents=True)
        for j in range(files):
            (root / f"d{i}" / f"f{j}.py").write_text(f"x = {j}\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for k in range(10):
        (base / f"out{k}").write_text("outside\n")
        (root / f"d{k}" / f"linked{k}").hardlink_to(base / f"out{k}")
    return root


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await call()
    return (time.perf_counter() - start) * 1000


class _NoScan(LinkScan):
    """A scan that walks nothing and finds nothing."""

    def walk(self) -> Walk:
        return Walk([], [])


class Unscanned(Sandbox):
    """The sandbox without the hard-link scan: side B."""

    @functools.cached_property
    def _links(self) -> LinkScan:
        return _NoScan(self.root)


async def measure(root: Path, calls: int) -> dict[str, list[float]]:
    agent, tool = ToolContext(root=root, sandbox=Sandbox(root)), Bash()
    unscanned = ToolContext(root=root, sandbox=Unscanned(root))
    sides: dict[str, Callable[[], Awaitable[object]]] = {
        "A agent's calls": lambda: tool.run({"command": "true"}, agent),
        "A1 first calls": lambda: tool.run(
            {"command": "true"}, ToolContext(root=root, sandbox=Sandbox(root))
        ),
        "B without scan": lambda: tool.run({"command": "true"}, unscanned),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for call in sides.values():  # warm-up: the page cache, the sandbox probe, the git identity
        await call()
    await asyncio.sleep(LinkScan.SETTLED_NS / 1e9)  # the tree just made: settled now
    for _ in range(calls):
        for name, call in sides.items():
            times[name].append(await timed(call))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per side (default 100)")
    parser.add_argument("--folders", type=int, default=100, help="folders in the root (default 100)")
    parser.add_argument("--files", type=int, default=100, help="files per folder (default 100)")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason is not None:
        sys.exit(f"no sandbox here: {reason}")
    with tempfile.TemporaryDirectory() as folder:
        root = make_tree(Path(folder), args.folders, args.files)
        masked = len(linked_out(root, [root / ".git"]))
        times = asyncio.run(measure(root, args.calls))
    print(f"`true` in a root of {args.folders * args.files} files ({masked} masked), {args.calls} calls each")
    for name, values in times.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"  {name:<16} median {statistics.median(values):6.2f} ms   p90 {p90:6.2f} ms")
    b = statistics.median(times["B without scan"])
    for name in ("A agent's calls", "A1 first calls"):
        a = statistics.median(times[name])
        print(f"  {name.split()[0]}/B = {a / b:.2f} ({a - b:+.2f} ms a call, median)")


if __name__ == "__main__":
    main()
