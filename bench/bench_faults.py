"""agentbook against a raw SDK loop when the API fails or limits: same fake server, same seed.

The fake Messages API (`agentbook.testing.FakeAnthropic`, in a child process) answers as in
`bench_parallel.py` (Glob tool calls, then text, after `--latency` seconds).  Three scenarios,
each run against a fresh server for each side:

- `faults`: 100 agents x 5 turns, 20% of requests failing, each drawn from the seed and the
  request's arrival number: a 429 with `retry-after: 1`, a 529, a 500 or a reset connection.
  Target: A/B makespan at most 1.1 (goal 1.0: a shared gate should beat independent retries).
- `steady`: 40 agents x 3 turns against a limit of 60 requests a minute (a token bucket holding
  a minute's worth, as the API's does) that sends bare 429s: no `retry-after`, no
  `anthropic-ratelimit-*` headers.  Target: no failed agent, makespan within 10% of the floor
  (the requests beyond the first minute's burst, at one a second, plus one latency).
- `storm`: as `faults` at 50%, with a 5-minute deadline per call and no attempt count.
  Target: 100/100 done.

A. agentbook: `run_parallel` with its default retry policy (full jitter, retry-after honoured,
   a 429 using no attempt, the shared rate gate pausing siblings only for a real limit and
   learning one from bare 429s); in `storm`, `RetryPolicy(max_attempts=None, deadline_s=300)`;
B. the raw SDK: one `AsyncAnthropic` with the SDK's own retries (`max_retries=5`, 6 attempts;
   20 in `storm`), `asyncio.gather` over the agents, reading `messages.create` responses.

Printed per scenario: each side's median makespan over `--repeat` interleaved runs (5; one with
a limit, which is not noisy) and every run's, agents not done over all runs, requests the server
saw in the last run, and A/B.  The worst agent's luck decides a faulty run's makespan, so single
runs of either side spread by a factor of two.  Run: `python bench/bench_faults.py` (about seven
minutes), or `--scenario faults` for one.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import multiprocessing.connection
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic

sys.path.insert(0, str(Path(__file__).parent))
from bench_parallel import API_KEY, raw_agent, reply_for, run_agentbook

from agentbook.models.retry import RetryPolicy
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.testing import FakeAnthropic, ReportedRateLimits, faults, request_limit
from agentbook.tools import tools_named
from agentbook.tools.base import schema

KINDS = ("rate_limit", "overloaded", "api_error", "reset")


@dataclass(frozen=True)
class Scenario:
    name: str
    agents: int
    turns: int
    rate: float = 0.0  # fraction of requests failing
    rpm: float | None = None  # an enforced limit with no headers
    retry: RetryPolicy | None = None  # agentbook's (None: its default)
    raw_retries: int = 5

    def floor(self, latency: float) -> float | None:
        """The least makespan the limit allows (None: no limit)."""
        if self.rpm is None:
            return None
        beyond_burst = self.agents * self.turns - self.rpm
        return max(0.0, beyond_burst) * 60.0 / self.rpm + latency


SCENARIOS = {
    "faults": Scenario("faults", 100, 5, rate=0.2),
    "steady": Scenario("steady", 40, 3, rpm=60),
    "storm": Scenario(
        "storm", 100, 5, rate=0.5, retry=RetryPolicy(max_attempts=None, deadline_s=300), raw_retries=20
    ),
}


def serve(conn: multiprocessing.connection.Connection, scenario: Scenario, latency: float, seed: int) -> None:
    """Child process: the scenario's fake API, until told to stop; counts requests when asked."""
    handler: Any = functools.partial(reply_for, latency=latency)
    if scenario.rate:
        handler = faults(scenario.rate, seed, handler, kinds=KINDS, retry_after=1.0)
    if scenario.rpm is not None:
        handler = request_limit(scenario.rpm, handler)
    limits = ReportedRateLimits(requests=10_000_000, input_tokens=10**10, output_tokens=10**10)
    with FakeAnthropic(handler, rate_limits=limits, rate_headers=scenario.rpm is None) as fake:
        conn.send(fake.base_url)
        while conn.recv() != "stop":
            conn.send(len(fake.message_requests))


def with_server(scenario: Scenario, args: argparse.Namespace, work: Any) -> tuple[float, int, int]:
    """Run `work(base_url)` against a fresh server: (makespan, not done, requests)."""
    ctx = multiprocessing.get_context("spawn")
    mine, child = ctx.Pipe()
    process = ctx.Process(target=serve, args=(child, scenario, args.latency, args.seed))
    process.start()
    base_url = mine.recv()
    try:
        started = time.perf_counter()
        failed = work(base_url)
        makespan = time.perf_counter() - started
        mine.send("count")
        return makespan, failed, mine.recv()
    finally:
        mine.send("stop")
        process.join(timeout=10)


def agentbook_side(scenario: Scenario, root: Path, base_url: str) -> int:
    reset_gates()
    with tempfile.TemporaryDirectory() as run_dir:
        failed, _ = run_agentbook(
            base_url,
            root,
            Path(run_dir),
            scenario.agents,
            scenario.turns,
            stream="auto",
            retry=scenario.retry,
        )
    return failed


def raw_side(scenario: Scenario, root: Path, base_url: str) -> int:
    tools = [schema(tool).to_api() for tool in tools_named(["Glob"])]

    async def main() -> int:
        client = anthropic.AsyncAnthropic(
            base_url=base_url, api_key=API_KEY, max_retries=scenario.raw_retries, timeout=600.0
        )
        async with client:
            outcomes = await asyncio.gather(
                *(raw_agent(client, i, scenario.turns, root, tools, False) for i in range(scenario.agents)),
                return_exceptions=True,
            )
        return sum(1 for o in outcomes if o is not True)

    return asyncio.run(main())


def measure(scenario: Scenario, args: argparse.Namespace, root: Path) -> None:
    what = f"{scenario.rate:.0%} faults ({', '.join(KINDS)})" if scenario.rate else ""
    if scenario.rpm is not None:
        what = f"a {scenario.rpm:g} requests/minute limit, bare 429s"
    print(f"\n{scenario.name}: {scenario.agents} agents x {scenario.turns} turns at {args.latency:g} s, "
          f"{what}, seed {args.seed}")  # fmt: skip
    runs: dict[str, list[tuple[float, int, int]]] = {"A agentbook": [], "B raw SDK": []}
    for _ in range(args.repeat if scenario.rpm is None else 1):  # interleaved; a limit is not noisy
        runs["A agentbook"].append(
            with_server(scenario, args, functools.partial(agentbook_side, scenario, root))
        )
        runs["B raw SDK"].append(with_server(scenario, args, functools.partial(raw_side, scenario, root)))
    for label, measured in runs.items():
        spans = ", ".join(f"{m[0]:.2f}" for m in measured)
        print(f"  {label:<12} makespan {statistics.median(m[0] for m in measured):6.2f} s ({spans})   "
              f"not done {sum(m[1] for m in measured):3d}   requests {measured[-1][2]}")  # fmt: skip
    a, b = (statistics.median(m[0] for m in measured) for measured in runs.values())
    print(f"  A/B median makespan = {a / b:.2f}")
    floor = scenario.floor(args.latency)
    if floor is not None:
        print(
            f"  the limit's floor {floor:.1f} s: A/floor = {a[0] / floor:.2f}, B/floor = {b[0] / floor:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each side with faults (medians)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("a.txt", "b.txt", "c.txt"):
            (root / name).write_text("x\n")
        for name, scenario in SCENARIOS.items():
            if args.scenario in (name, "all"):
                measure(scenario, args, root)


if __name__ == "__main__":
    main()
