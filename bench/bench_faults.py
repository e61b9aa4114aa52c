"""agentbook against a raw SDK loop when the API fails: same fake server, same faults, same seed.

The fake Messages API (`agentbook.testing.FakeAnthropic`, in a child process) answers as in
`bench_parallel.py` (Glob tool calls, then text, after `--latency` seconds), with a fraction
`--rate` of requests failing, each drawn from the seed and the request's arrival number: a 429
with `retry-after: 1`, a 529, a 500 or a reset connection (`--kinds`).  Both sides retry:

A. agentbook: `run_parallel` with its default retry policy (full jitter, retry-after honoured,
   the shared rate gate pausing siblings only for a 429's retry-after);
B. the raw SDK: one `AsyncAnthropic` with the SDK's own retries (`max_retries=--attempts - 1`),
   `asyncio.gather` over the agents, reading `messages.create` responses.

Printed: each side's makespan, agents not done, requests the server saw, and the ratio A/B (the
issue's target at 20% faults: at most 1.1).  Run: `python bench/bench_faults.py` (about a
minute); `--help` for the knobs.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import multiprocessing.connection
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anthropic

sys.path.insert(0, str(Path(__file__).parent))
from bench_parallel import API_KEY, PROMPT, raw_agent, reply_for, run_agentbook

from agentbook.scheduler.ratelimit import reset_gates
from agentbook.testing import FakeAnthropic, ReportedRateLimits, faults
from agentbook.tools import tools_named
from agentbook.tools.base import schema


def serve(conn: multiprocessing.connection.Connection, latency: float, rate: float, seed: int,
          kinds: tuple[str, ...]) -> None:  # fmt: skip
    """Child process: the faulty fake API, until told to stop; counts requests when asked."""
    limits = ReportedRateLimits(requests=10_000_000, input_tokens=10**10, output_tokens=10**10)
    base = functools.partial(reply_for, latency=latency)
    handler = faults(rate, seed, base, kinds=kinds, retry_after=1.0)  # type: ignore[arg-type]
    with FakeAnthropic(handler, rate_limits=limits) as fake:
        conn.send(fake.base_url)
        while conn.recv() != "stop":
            conn.send(len(fake.message_requests))


def with_server(args: argparse.Namespace, work: Any) -> tuple[float, int, int]:
    """Run `work(base_url)` against a fresh faulty server: (makespan, not done, requests)."""
    ctx = multiprocessing.get_context("spawn")
    mine, child = ctx.Pipe()
    process = ctx.Process(target=serve, args=(child, args.latency, args.rate, args.seed, tuple(args.kinds)))
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


def agentbook_side(args: argparse.Namespace, root: Path, base_url: str) -> int:
    reset_gates()
    with tempfile.TemporaryDirectory() as run_dir:
        failed, _ = run_agentbook(base_url, root, Path(run_dir), args.agents, args.turns, stream=True)
    return failed


def raw_side(args: argparse.Namespace, root: Path, base_url: str) -> int:
    tools = [schema(tool).to_api() for tool in tools_named(["Glob"])]

    async def main() -> int:
        retries = args.attempts - 1
        client = anthropic.AsyncAnthropic(
            base_url=base_url, api_key=API_KEY, max_retries=retries, timeout=600.0
        )
        async with client:
            outcomes = await asyncio.gather(
                *(raw_agent(client, i, args.turns, root, tools, False) for i in range(args.agents)),
                return_exceptions=True,
            )
        return sum(1 for o in outcomes if o is not True)

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rate", type=float, default=0.2, help="fraction of requests that fail")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--attempts", type=int, default=6, help="attempts per call, both sides")
    parser.add_argument("--kinds", nargs="+", default=["rate_limit", "overloaded", "api_error", "reset"])
    args = parser.parse_args()
    assert PROMPT  # the prompt format both sides share (it tells the server the turns)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("a.txt", "b.txt", "c.txt"):
            (root / name).write_text("x\n")
        print(f"{args.agents} agents x {args.turns} turns at {args.latency:g} s, {args.rate:.0%} faults "
              f"({', '.join(args.kinds)}), seed {args.seed}, {args.attempts} attempts a call")  # fmt: skip
        a = with_server(args, functools.partial(agentbook_side, args, root))
        b = with_server(args, functools.partial(raw_side, args, root))
    for label, (makespan, failed, requests) in (("A agentbook", a), ("B raw SDK", b)):
        print(f"  {label:<12} makespan {makespan:6.2f} s   not done {failed:3d}   requests {requests}")
    print(f"  A/B makespan = {a[0] / b[0]:.2f}")


if __name__ == "__main__":
    main()
