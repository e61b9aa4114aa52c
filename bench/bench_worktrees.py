"""What agentbook's worktrees cost, next to bare `git worktree add` / `git worktree remove` calls.

A repository of `--files` small text files in `--dirs` folders (one commit) is generated in a
temporary folder.  Measured, on the same repository in the same process:

A. agentbook: `Worktrees(repo, run)`; `create` `--agents` worktrees, then `finish` each (every
   other one after a small change, so half commit and keep their branch, half are removed with
   their branch), then `cleanup`;
B. raw git: `git worktree add -b <branch> <path> <base>` for the same number of worktrees, the same
   small change in every other one, then `git worktree remove` (`--force` where changed), each a
   subprocess call.

A does more than B for its time: it locks each worktree, checks it out in a second step (so that
the per-repository lock is not held while files are written), commits, computes diff stats and
deletes unused branches.  So a third side, C, is B plus that git work done by hand: `git add -A`
and `git commit` in the changed worktrees, `git branch -D` for the others.  A, B and C alternate
(`--repeat` times, 3 by default, the order flipping each time); medians are printed, with A/B
(the goal: at most 1.2) and A/C.  Then A again with `sparse=[one folder]`, and A with `--threads`
threads creating and finishing at once.

Run: `python bench/bench_worktrees.py` (half a minute on tmpfs: `--tmp /dev/shm`; minutes on a
slow disk); `--help` for the knobs.  It prints figures and asserts nothing.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agentbook.worktrees import Worktrees

IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(path: Path, files: int, dirs: int) -> str:
    """A repository of `files` small files spread over `dirs` folders, in one commit; its sha."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for i in range(files):
        folder = path / f"pkg{i % dirs:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"module{i // dirs:03d}.py").write_text(f'"""Module {i}."""\n\nVALUE = {i}\n' * 4)
    git(path, "add", "-A")
    git(path, *IDENTITY, "commit", "-q", "-m", "generated")
    return git(path, "rev-parse", "HEAD")


def change(path: Path, i: int) -> None:
    """The small change an agent makes: one file edited, one added."""
    target = path / "pkg00" / "module000.py"
    target.write_text(target.read_text() + f"EXTRA = {i}\n")
    (path / f"agent{i}.txt").write_text(f"agent {i}\n")


def run_agentbook(repo: Path, run: str, agents: int, sparse: list[str] | None = None) -> float:
    start = time.perf_counter()
    trees = Worktrees(repo, run, sparse=sparse)
    created = [trees.create(f"t{i}") for i in range(agents)]
    for i, tree in enumerate(created):
        if i % 2 == 0:
            change(tree.path, i)
        trees.finish(tree, message=f"t{i}: bench")
    trees.cleanup()
    elapsed = time.perf_counter() - start
    drop_branches(repo, f"agentbook/{run}")
    return elapsed


def run_agentbook_threads(repo: Path, run: str, agents: int, threads: int) -> float:
    trees = Worktrees(repo, run)

    def agent(i: int) -> None:
        tree = trees.create(f"t{i}")
        if i % 2 == 0:
            change(tree.path, i)
        trees.finish(tree, message=f"t{i}: bench")

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(agent, range(agents)))
    trees.cleanup()
    elapsed = time.perf_counter() - start
    drop_branches(repo, f"agentbook/{run}")
    return elapsed


def run_raw(repo: Path, run: str, agents: int, base: str, root: Path) -> float:
    start = time.perf_counter()
    paths = [root / run / f"t{i}" for i in range(agents)]
    for i, path in enumerate(paths):
        git(repo, "worktree", "add", "-q", "-b", f"raw/{run}/t{i}", str(path), base)
    for i, path in enumerate(paths):
        if i % 2 == 0:
            change(path, i)
        git(repo, "worktree", "remove", *(["--force"] if i % 2 == 0 else []), str(path))
    elapsed = time.perf_counter() - start
    drop_branches(repo, f"raw/{run}")
    return elapsed


def run_raw_commit(repo: Path, run: str, agents: int, base: str, root: Path) -> float:
    """B plus the git work `finish` does: commit the changed ones, delete the others' branches."""
    start = time.perf_counter()
    paths = [root / run / f"t{i}" for i in range(agents)]
    for i, path in enumerate(paths):
        git(repo, "worktree", "add", "-q", "-b", f"raw/{run}/t{i}", str(path), base)
    for i, path in enumerate(paths):
        if i % 2 == 0:
            change(path, i)
            git(path, "add", "-A")
            git(path, *IDENTITY, "commit", "-q", "-m", f"t{i}: bench")
        git(repo, "worktree", "remove", str(path))
        if i % 2:
            git(repo, "branch", "-D", f"raw/{run}/t{i}")
    elapsed = time.perf_counter() - start
    drop_branches(repo, f"raw/{run}")
    return elapsed


def drop_branches(repo: Path, prefix: str) -> None:
    """Untimed: delete what a measured run left, so every run starts from the same repository."""
    names = git(repo, "for-each-ref", "--format=%(refname:short)", f"refs/heads/{prefix}").split()
    if names:
        git(repo, "branch", "-D", *names)


def median_of(runs: list[float]) -> str:
    return f"{statistics.median(runs):.3f} s  (runs: {', '.join(f'{r:.3f}' for r in runs)})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000, help="files in the generated repository")
    parser.add_argument("--dirs", type=int, default=40, help="folders they are spread over")
    parser.add_argument("--agents", type=int, default=30, help="worktrees per measured run")
    parser.add_argument("--repeat", type=int, default=3, help="A/B pairs (medians are printed)")
    parser.add_argument("--threads", type=int, default=8, help="threads for the concurrent run (0 skips)")
    parser.add_argument(
        "--tmp", default=None, help="where to make the repository (default: the system's temp)"
    )
    args = parser.parse_args(argv)

    load = os.getloadavg()
    version = git(Path.cwd(), "version")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; {version}")
    with tempfile.TemporaryDirectory(prefix="bench-worktrees-", dir=args.tmp) as tmp:
        repo = Path(tmp) / "repo"
        raw_root = Path(tmp) / "raw"
        base = make_repo(repo, args.files, args.dirs)
        print(f"repository: {args.files} files in {args.dirs} folders; {args.agents} worktrees per run")
        # Untimed warm-up of both paths: page cache, git's and Python's first-call costs.
        run_raw(repo, "warm", 2, base, raw_root)
        run_agentbook(repo, "warm", 2)

        sides: dict[str, Callable[[str], float]] = {
            "A": lambda run: run_agentbook(repo, run, args.agents),
            "B": lambda run: run_raw(repo, run, args.agents, base, raw_root),
            "C": lambda run: run_raw_commit(repo, run, args.agents, base, raw_root),
        }
        times: dict[str, list[float]] = {side: [] for side in sides}
        for rep in range(args.repeat):
            for side in list(sides) if rep % 2 == 0 else reversed(sides):
                # Untimed: write back the previous run's dirty pages, so that no run pays for another.
                os.sync()
                times[side].append(sides[side](f"{side.lower()}{rep}"))
        ours, raw, raw_commit = times["A"], times["B"], times["C"]
        sparse = []
        for rep in range(args.repeat):
            os.sync()
            sparse.append(run_agentbook(repo, f"s{rep}", args.agents, sparse=["pkg00"]))

        a, b, c = statistics.median(ours), statistics.median(raw), statistics.median(raw_commit)
        print(f"A agentbook  create+finish+cleanup      {median_of(ours)}")
        print(f"B raw git    worktree add+remove        {median_of(raw)}")
        print(f"C raw git    B + add/commit/branch -D   {median_of(raw_commit)}")
        each = f"A {a / args.agents * 1000:.1f} ms, B {b / args.agents * 1000:.1f} ms"
        print(f"A/B          {a / b:.2f}  (goal: at most 1.2); per worktree {each}")
        print(f"A/C          {a / c:.2f}  (the same git work done by hand)")
        s = statistics.median(sparse)
        print(f"A sparse=['pkg00'] ({args.files // args.dirs} files + top level)  {median_of(sparse)}; "
              f"{s / a:.2f} of A, {s / b:.2f} of B")  # fmt: skip
        if args.threads:
            threaded = []
            for rep in range(args.repeat):
                os.sync()
                threaded.append(run_agentbook_threads(repo, f"p{rep}", args.agents, args.threads))
            t = statistics.median(threaded)
            print(f"A with {args.threads} threads  {median_of(threaded)}; {t / a:.2f} of A sequential")
        leftover = git(repo, "worktree", "list", "--porcelain").count("worktree ")
        print(f"worktrees left: {leftover - 1}; branches left: {len(git(repo, 'branch').splitlines()) - 1}")
    shutil.rmtree(raw_root, ignore_errors=True)


if __name__ == "__main__":
    main()
