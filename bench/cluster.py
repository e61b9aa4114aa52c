"""What `run_parallel(..., cluster=...)` gains over agentbook's own background thread.

Both sides run the same agents in the same process start: in-process (`cluster=None`, the agents
on agentbook's background loop) against a `distributed.LocalCluster` of `--workers` worker
processes (4 threads each) and its `Client`, started and warmed up before anything is timed
(its start-up is printed on its own line).  Two workloads:

1. `--agents` agents x `--turns` turns on `PacedModel`, which answers every request after
   `--latency` seconds (200 ms): a `Glob` and a `Read` of a small temporary folder, then a final
   answer.  The ideal makespan is turns x latency; the question is how much of the notebook's
   per-turn work (records, events, transcripts) the workers take off its one core.
2. `--tree-agents` worktree agents (`isolation="worktree"`) of a temporary git repository, each
   running one CPU-bound command through Bash (`--cpu` iterations of a sum of squares, about
   1-2 s of CPU), then answering.  The workers share the filesystem: they see the same repository.

Figures: the wall time of each side (median of `--repeat`), its ratio (in-process / cluster;
the issue's goal for 1: at least 1.6 on 2 cores), agents not `done`, and the notebook process's
CPU time during each run.  No network, no API key: the model is local, `AGENTBOOK_HOME`, the run
folders and the workers' folders are temporary.  It prints figures and asserts nothing.

Run: `python bench/cluster.py` (about two minutes on 2 idle cores); `--quick` for a short look;
`--only agents` or `--only trees` for one workload; `--help` for the knobs.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import agentbook as ab
from agentbook import messages as m
from agentbook.models.base import estimate_request_tokens
from agentbook.tools.sandbox import unavailable_reason

IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
CPU_COMMAND = "python3 -c 'sum(i*i for i in range({n}))'"
Workload = tuple[dict[str, str], dict[str, Any]]  # tasks, run_parallel's options
Result = tuple[float, float, int]  # wall s, notebook CPU s, agents not done
Side = Callable[[], Result]


class PacedModel:
    """Answers every request after `pace_s` seconds: `calls[k]` (a tool name and its input) on
    the k-th turn, then `answer`.  Picklable (it travels to the workers with cloudpickle)."""

    def __init__(self, pace_s: float, calls: tuple[tuple[str, dict[str, Any]], ...], answer: str) -> None:
        self.name, self.pace_s, self.calls, self.answer = "paced", pace_s, calls, answer
        self._ids = itertools.count(1)

    @property
    def description(self) -> str:
        return f"paced scripted model ({self.pace_s:g} s a response, benchmark)"

    def __getstate__(self) -> dict[str, Any]:
        return {"pace_s": self.pace_s, "calls": self.calls, "answer": self.answer}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["pace_s"], state["calls"], state["answer"])  # type: ignore[misc]

    async def aclose(self) -> None:
        return None

    async def respond(self, request: m.Request) -> m.Response:
        await asyncio.sleep(self.pace_s)
        turn = sum(1 for message in request.messages if message.role == "assistant")
        n = next(self._ids)
        content: tuple[m.Block, ...] = (m.Text(self.answer),)
        stop = "end_turn"
        if turn < len(self.calls):
            name, args = self.calls[turn]
            content, stop = (m.ToolUse(f"toolu_{os.getpid()}_{n}", name, args),), "tool_use"
        usage = m.Usage(input_tokens=estimate_request_tokens(request), output_tokens=20, estimated=True)
        return m.Response(f"msg_{os.getpid()}_{n}", self.name, content, stop, usage)


# --------------------------------------------------------------------------------------------
# The workloads


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_folder(path: Path) -> Path:
    """The small folder the agents of workload 1 Glob and Read."""
    path.mkdir(parents=True)
    for name in ("a", "b", "c", "d"):
        (path / f"{name}.txt").write_text(f"file {name}\n" * 20)
    return path


def make_repo(path: Path) -> Path:
    """The repository of workload 2: a few files, one commit."""
    make_folder(path)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, *IDENTITY, "commit", "-q", "-m", "generated")
    return path


def agents_workload(args: argparse.Namespace, root: Path, count: int) -> Workload:
    """Workload 1: `count` agents, each a Glob, a Read, then (`--turns` in all) the answer."""
    steps = [("Glob", {"pattern": "*.txt"}), ("Read", {"file_path": str(root / "a.txt")})]
    calls = tuple(itertools.islice(itertools.cycle(steps), args.turns - 1))
    model = PacedModel(args.latency, calls, "done: 4 files")
    tasks = {f"a{i}": f"Agent {i}: list the files, read a.txt, answer." for i in range(count)}
    options = {"model": model, "cwd": root, "tools": ["Glob", "Read"], "max_turns": args.turns + 2,
               "permission_mode": "bypassPermissions"}  # fmt: skip
    return tasks, options


def trees_workload(args: argparse.Namespace, repo: Path, count: int) -> Workload:
    """Workload 2: `count` worktree agents, each one CPU-bound Bash call, then the answer."""
    calls = (("Bash", {"command": CPU_COMMAND.format(n=args.cpu), "timeout": 600_000}),)
    model = PacedModel(0.0, calls, "the tests pass")
    tasks = {f"t{i}": f"Agent {i}: run the tests." for i in range(count)}
    # Without bubblewrap, sandbox="auto" makes Bash ask (headless: denied): opt out explicitly,
    # as a user on such a machine must; with it, a sandboxed Bash in a worktree needs no approval.
    sandbox = "auto" if unavailable_reason() is None else False
    options = {"model": model, "cwd": repo, "tools": ["Bash"], "max_turns": 4, "isolation": "worktree",
               "sandbox": sandbox, "permission_mode": "bypassPermissions"}  # fmt: skip
    return tasks, options


# --------------------------------------------------------------------------------------------
# Measuring

_runs = itertools.count(1)


def timed(tasks: dict[str, str], options: dict[str, Any], runs: Path, cluster: Any) -> Result:
    """One run to its end: (wall seconds, this process's CPU seconds, agents not done)."""
    run_dir = runs / f"run{next(_runs)}"
    cpu, start = time.process_time(), time.perf_counter()
    run = ab.run_parallel(tasks, run_dir=run_dir, interactive=False, cluster=cluster, **options)
    run.wait(timeout=1800)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall, cpu, sum(1 for state in run.status.values() if state != "done")


def compare(sides: dict[str, Side], repeat: int) -> dict[str, list[Result]]:
    """Each side `repeat` times, alternating (the order flips each time)."""
    results: dict[str, list[Result]] = {side: [] for side in sides}
    for rep in range(repeat):
        for side in list(sides) if rep % 2 == 0 else reversed(sides):
            results[side].append(sides[side]())
    return results


def report(title: str, results: dict[str, list[Result]], ideal: float | None) -> None:
    print(title)
    walls = {}
    for side, runs in results.items():
        walls[side] = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        failed = sum(r[2] for r in runs)
        each = ", ".join(f"{r[0]:.2f}" for r in runs)
        print(f"  {side:<11} wall {walls[side]:7.2f} s  notebook CPU {cpu:7.2f} s  not done {failed}"
              f"  (runs: {each})")  # fmt: skip
    ratio = walls["in-process"] / walls["cluster"]
    print(f"  in-process / cluster  {ratio:.2f}")
    if ideal is not None:
        print(f"  ideal (turns x latency) {ideal:.2f} s: in-process {walls['in-process'] / ideal:.1f}x, "
              f"cluster {walls['cluster'] / ideal:.1f}x")  # fmt: skip


def bench(args: argparse.Namespace, name: str, make: Callable[..., Any], place: Path, client: Any) -> None:
    """Warm both sides up on a few agents (untimed), then compare them."""
    runs = place.parent / f"runs-{name}"
    count = args.agents if name == "agents" else args.tree_agents
    tasks, options = make(args, place, count)
    warm_tasks, _ = make(args, place, 4)
    for cluster in (None, client):
        timed(warm_tasks, options, runs, cluster)
    sides: dict[str, Side] = {
        "in-process": lambda: timed(tasks, options, runs, None),
        "cluster": lambda: timed(tasks, options, runs, client),
    }
    results = compare(sides, args.repeat)
    if name == "agents":
        title = f"1. {count} agents x {args.turns} turns, {args.latency * 1000:.0f} ms a response"
        report(title, results, args.turns * args.latency)
    else:
        title = f"2. {count} worktree agents, one Bash call of {args.cpu:,} iterations each"
        report(title, results, None)


def start_cluster(workers: int, scratch: Path) -> tuple[Any, Any, float]:
    """A LocalCluster of `workers` processes and its client, with the seconds it took to start."""
    import distributed

    start = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=4, processes=True, dashboard_address=":0",
        local_directory=str(scratch), env={"AGENTBOOK_HOME": os.environ["AGENTBOOK_HOME"]},
    )  # fmt: skip
    client = distributed.Client(cluster, set_as_default=False)
    client.wait_for_workers(workers)
    return cluster, client, time.perf_counter() - start


def cpu_seconds(n: int) -> float:
    """How long the CPU-bound command takes alone."""
    start = time.perf_counter()
    subprocess.run(CPU_COMMAND.format(n=n), shell=True, check=True)
    return time.perf_counter() - start


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000, help="agents of workload 1")
    parser.add_argument("--turns", type=int, default=3, help="turns of each agent of workload 1")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds a model response takes")
    parser.add_argument("--tree-agents", type=int, default=30, help="worktree agents of workload 2")
    parser.add_argument("--cpu", type=int, default=3 * 10**7, help="iterations of workload 2's command")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the LocalCluster")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side (medians are printed)")
    parser.add_argument("--only", choices=("agents", "trees"), help="one workload only")
    parser.add_argument("--quick", action="store_true", help="200 agents, 6 worktree agents, 10**7")
    parser.add_argument("--tmp", default=None, help="where the temporary folders go")
    args = parser.parse_args(argv)
    if args.quick:
        args.agents, args.tree_agents, args.cpu = 200, 6, 10**7
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    started = time.perf_counter()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; "
          f"bubblewrap: {unavailable_reason() or 'yes'}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-cluster-", dir=args.tmp) as tmp:
        place = Path(tmp)
        os.environ["AGENTBOOK_HOME"] = str(place / "home")
        cluster, client, startup = start_cluster(args.workers, place / "dask")
        print(f"LocalCluster of {args.workers} processes x 4 threads started in {startup:.2f} s (untimed)")
        try:
            if args.only in (None, "agents"):
                bench(args, "agents", agents_workload, make_folder(place / "folder"), client)
            if args.only in (None, "trees"):
                print(f"   the command alone takes {cpu_seconds(args.cpu):.2f} s")
                bench(args, "trees", trees_workload, make_repo(place / "repo"), client)
        finally:
            client.close()
            cluster.close()
            shutil.rmtree(place / "dask", ignore_errors=True)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
