"""`agentbook costs` against `ccusage claude session --json --offline`: whole-process wall time.

Both read the same transcripts: a copy of the three real folders of data/claude-code-transcripts,
every line re-written as compact JSON (as Claude Code writes it, so ccusage skips none), under a
temporary `projects/` that `CLAUDE_CONFIG_DIR` points ccusage at.  Each command runs `--runs`
times, alternating, after one untimed warm-up each (the page cache); medians are printed, with
the ratio agentbook/ccusage (the goal: at most 1.0) and whether the token totals are equal.
A third command, C, does A's work without the eager imports of `agentbook/__init__.py` and
`agentbook/cli.py` (which load the whole model stack, anthropic included, for any subcommand):
its time is what A takes once those imports are lazy.  A profile follows: where A's time goes.

    python bench/bench_costs.py            # about 15 seconds
    python bench/bench_costs.py --runs 9

It asserts nothing: it prints figures.  Other work on the machine skews them (the first line shows
the load average), so compare runs made on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "claude-code-transcripts"
REAL = ("marot__spotter", "d-kimuson__claude-code-viewer", "daaain__claude-code-log")
TOKENS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
CCUSAGE_TOKENS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")


def find_agentbook() -> list[str]:
    """The installed `agentbook` command of the project's environment (`.venv`, else /work/venv)."""
    for bin_dir in (REPO / ".venv" / "bin", Path("/work/venv/bin"), Path(sys.executable).parent):
        if (bin_dir / "agentbook").exists():
            return [str(bin_dir / "agentbook")]
    return [sys.executable, "-m", "agentbook.cli"]


def find_ccusage() -> str:
    for candidate in (
        os.environ.get("CCUSAGE_BIN"),
        str(REPO / ".ci/node/node_modules/.bin/ccusage"),
        shutil.which("ccusage"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    sys.exit("ccusage not found: npm install --prefix .ci/node ccusage@20.0.24 (or set CCUSAGE_BIN)")


def compact_copy(target: Path) -> int:
    """The real folders under `target`, each line re-written compact; returns the bytes written."""
    written = 0
    for name in REAL:
        for file in (DATA / name).rglob("*.jsonl"):
            out = target / file.relative_to(DATA)
            out.parent.mkdir(parents=True, exist_ok=True)
            with file.open(encoding="utf-8") as lines:
                text = "".join(
                    json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False) + "\n"
                    for line in lines
                    if line.strip()
                )
            written += out.write_text(text, encoding="utf-8")
    return written


def timed(command: Sequence[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{command[0]} ... failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed, proc.stdout


def python_time(python: str, code: str, runs: int) -> float:
    """Median wall time of `python -c code`, a whole process."""
    return statistics.median(timed([python, "-c", code], dict(os.environ))[0] for _ in range(runs))


def import_profile(python: str, top: int) -> list[tuple[float, str]]:
    """The packages `import agentbook.cli` loads that take longest (cumulative seconds each)."""
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", "import agentbook.cli"], capture_output=True, text=True, check=True
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].strip()
            # Top-level packages (their cumulative time holds their submodules), and agentbook's modules.
            if "." not in name or (name.startswith("agentbook.") and name.count(".") == 1):
                rows.append((int(parts[1]) / 1e6, name))
    return sorted(rows, reverse=True)[:top]


# `agentbook costs`, minus the eager imports of agentbook/__init__.py and cli.py (the model stack,
# anthropic among it): claude_code is loaded under a stand-in package, and the command's work done
# as `_costs` in cli.py does it.  Its time is what `agentbook costs` takes once those imports are lazy.
LEAN_COSTS = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location(
    "agentbook", {init!r}, submodule_search_locations=[{package!r}]
)
sys.modules["agentbook"] = importlib.util.module_from_spec(spec)  # never executed
from agentbook.analysis.claude_code import format_summary, scan_claude_code, summarize
print(format_summary(summarize(scan_claude_code(sys.argv[1]))))
"""


def in_process_seconds(projects: Path, runs: int) -> float:
    """The work `agentbook costs` does once imported: scan, summarise, format."""
    from agentbook.analysis.claude_code import format_summary, scan_claude_code, summarize

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        format_summary(summarize(scan_claude_code(projects)))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command (5)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary transcripts")
    args = parser.parse_args(argv)
    agentbook, ccusage = find_agentbook(), find_ccusage()
    python = str(Path(agentbook[0]).parent / "python") if len(agentbook) == 1 else sys.executable
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.runs} runs each")

    config = Path(tempfile.mkdtemp(prefix="bench_costs_"))
    try:
        projects = config / "projects"
        size = compact_copy(projects)
        files = sum(1 for _ in projects.rglob("*.jsonl"))
        print(f"transcripts: {files} files, {size / 1e6:.1f} MB (compact JSON) under {projects}")
        env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config)}
        ours_cmd = [*agentbook, "costs", str(projects)]
        theirs_cmd = [ccusage, "claude", "session", "--json", "--offline"]
        lean_code = LEAN_COSTS.format(
            package=str(REPO / "agentbook"), init=str(REPO / "agentbook/__init__.py")
        )
        lean_cmd = [python, "-c", lean_code, str(projects)]
        print(f"A: {' '.join(ours_cmd)}\nB: CLAUDE_CONFIG_DIR={config} {' '.join(theirs_cmd)}")
        print("C: A without agentbook's eager package imports (see LEAN_COSTS)")

        runs: dict[str, list[float]] = {"A": [], "B": [], "C": []}
        commands = {"A": ours_cmd, "B": theirs_cmd, "C": lean_cmd}
        for command in commands.values():
            timed(command, env)  # warm-up: page cache, first exec, .pyc files
        for _ in range(args.runs):
            for name, command in commands.items():
                runs[name].append(timed(command, env)[0])
        a, b, c = (statistics.median(runs[name]) for name in "ABC")
        for name, label in (("A", "agentbook costs"), ("B", "ccusage session"), ("C", "lean costs     ")):
            times = ", ".join(f"{t:.3f}" for t in runs[name])
            print(f"{name} {label}  median {statistics.median(runs[name]):.3f} s   runs {times}")
        print(f"ratio agentbook/ccusage: {a / b:.2f} (goal <= 1.0); without the eager imports: {c / b:.2f}")

        ours = json.loads(timed([*ours_cmd, "--json"], env)[1])["totals"]
        theirs = json.loads(timed(theirs_cmd, env)[1])["totals"]
        ours_tokens = [ours[name] for name in TOKENS]
        theirs_tokens = [theirs[name] for name in CCUSAGE_TOKENS]
        equal = ours_tokens == theirs_tokens
        print(f"totals equal: {equal}  (agentbook {ours_tokens}, ${ours['cost_usd']:.4f}; ", end="")
        print(f"ccusage {theirs_tokens}, ${theirs['totalCost']:.4f})")

        print("\nwhere agentbook's time goes (medians, whole processes unless said):")
        start = python_time(python, "pass", args.runs)
        imports = python_time(python, "import agentbook.cli", args.runs)
        work = in_process_seconds(projects, args.runs)
        print(f"  python start                          {start:.3f} s")
        print(f"  import agentbook.cli                  {imports:.3f} s  (runs agentbook/__init__.py)")
        print(f"  scan + summarise + format, in process {work:.3f} s")
        print("  slowest imports of `import agentbook.cli` (cumulative):")
        for seconds, name in import_profile(python, 6):
            print(f"    {seconds:.3f} s  {name}")
    finally:
        if args.keep:
            print(f"kept {config}")
        else:
            shutil.rmtree(config, ignore_errors=True)


if __name__ == "__main__":
    main()
