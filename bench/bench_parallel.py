"""What running agents through agentbook costs, next to a bare loop on the Anthropic SDK.

Both sides talk to the same local fake Messages API (`agentbook.testing.FakeAnthropic`), which
answers every request after a fixed latency (200 ms by default): every turn but an agent's last
asks for a cheap tool call (`Glob`), the last answers with text.  Measured:

A. agentbook: `run_parallel` of N agents x T turns on `AnthropicModel`, running the real `Glob`
   tool on a tiny folder, writing transcripts, keeping records;
B. the raw SDK: one `anthropic.AsyncAnthropic`, `asyncio.gather` over N agents that make the
   same T calls (same system prompt, tool schema and max_tokens) through the SDK's streaming
   helper and answer each tool_use with a fixed string;
B2. for reference, B reading the raw stream events instead of the helper, as agentbook does: the
   cheapest SDK loop we know, so A/B2 is what agentbook's own work costs;

then agentbook at a larger scale (1,000 agents x 3 turns by default), against the ideal
makespan T x latency and, for reference, B on the same workload.  Figures: makespan (wall clock
from start to the last agent's end), CPU time of this process (the fake server runs in a child
process, so its work is not counted, but its own CPU is shown), and memory per agent
(tracemalloc peak above the baseline, in a separate untimed pass because tracing slows Python
down).  See bench/README.md.

Run: `python bench/bench_parallel.py` (about two minutes on 2 idle cores); `--help` for the knobs.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import multiprocessing
import multiprocessing.connection
import os
import re
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anthropic

from agentbook import messages as ab
from agentbook.models import AnthropicModel
from agentbook.models.retry import RetryPolicy
from agentbook.scheduler import background
from agentbook.scheduler.launch import run_parallel
from agentbook.testing import (
    FakeAnthropic,
    FakeRequest,
    MessageReply,
    ReplyUsage,
    ReportedRateLimits,
    ToolUseBlock,
)
from agentbook.tools import tools_named
from agentbook.tools.base import schema

MODEL = "claude-sonnet-4-5"
API_KEY = "bench-key"
MAX_TOKENS = 1024
SYSTEM = "You are a benchmark agent working in {root}. List files with Glob when asked."
TOOL_RESULT = "a.txt\nb.txt\nc.txt"
# The prompt tells the fake server how many turns this agent takes: requests of different agents
# interleave, so the server must read each request's own conversation to know where it is.
PROMPT = "Agent {index}: take {turns} turns."
_TURNS = re.compile(r"take (\d+) turns")


# --------------------------------------------------------------------------------------------
# The fake server, in a child process


def reply_for(request: FakeRequest, *, latency: float) -> MessageReply:
    """Tool calls until the agent's last turn, then text; each after `latency` seconds."""
    first = request.messages[0]["content"] if request.messages else ""
    text = first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)
    found = _TURNS.search(text)
    turns = int(found.group(1)) if found else 1
    done = sum(1 for m in request.messages if m.get("role") == "assistant")
    # Fixed usage: estimating it would cost the server a JSON dump of every request.
    usage = ReplyUsage(input_tokens=200 + 50 * done, output_tokens=20)
    if done + 1 < turns:
        return MessageReply([ToolUseBlock("Glob", {"pattern": "*.txt"})], usage=usage, delay=latency)
    return MessageReply(f"finished after {turns} turns", usage=usage, delay=latency)


def serve(conn: multiprocessing.connection.Connection, latency: float) -> None:
    """Child process: run the fake API until told to stop; report CPU time when asked.

    A separate process keeps the server's threads off this process's GIL, CPU clock and
    tracemalloc, so the figures are the client's alone.
    """
    # Limits far above what the benchmark sends: agentbook's rate gate learns them from the
    # response headers, and the fake's defaults (400k output tokens a minute) would make it
    # throttle, which would measure the limits rather than the runtime.
    limits = ReportedRateLimits(
        requests=10_000_000, input_tokens=10_000_000_000, output_tokens=10_000_000_000
    )
    with FakeAnthropic(functools.partial(reply_for, latency=latency), rate_limits=limits) as fake:
        conn.send(fake.base_url)
        while (command := conn.recv()) != "stop":
            if command == "cpu":
                conn.send(time.process_time())
            elif command == "requests":
                conn.send(len(fake.message_requests))


class Server:
    """Handle on the child process running the fake API."""

    def __init__(self, latency: float) -> None:
        # spawn, not fork: a fork would copy this process's threads' locks in whatever state.
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=serve, args=(child, latency), daemon=True)
        self._process.start()
        self.base_url: str = self._conn.recv()

    def ask(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


# --------------------------------------------------------------------------------------------
# The two contenders


class InstantModel:
    """Answers at once what the fake server would (tool calls, then text), with limits as high:
    agentbook on it does all of its own work per turn and no HTTP at all."""

    name = MODEL
    description = "instant answers, no HTTP (benchmark)"

    def __init__(self) -> None:
        self._ids = itertools.count()

    async def respond(self, request: ab.Request) -> ab.Response:
        first = request.messages[0].text
        found = _TURNS.search(first)
        turns = int(found.group(1)) if found else 1
        done = sum(1 for m in request.messages if m.role == "assistant")
        n = next(self._ids)
        content: tuple[ab.Block, ...] = (ab.Text(f"finished after {turns} turns"),)
        if done + 1 < turns:
            content = (ab.ToolUse(f"toolu_{n}", "Glob", {"pattern": "*.txt"}),)
        usage = ab.Usage(input_tokens=200 + 50 * done, output_tokens=20)
        stop = "tool_use" if done + 1 < turns else "end_turn"
        return ab.Response(f"msg_{n}", MODEL, content, stop, usage, f"req_{n}", dict(_INSTANT_LIMITS))

    async def aclose(self) -> None:
        return None


_INSTANT_LIMITS = {"requests-limit": "10000000", "input-tokens-limit": "10000000000",
                   "output-tokens-limit": "10000000000"}  # fmt: skip


def run_agentbook(
    base_url: str,
    root: Path,
    run_dir: Path,
    agents: int,
    turns: int,
    stream: bool | Literal["auto"],
    instant: bool = False,
    retry: RetryPolicy | None = None,
) -> tuple[int, float]:
    """A: agentbook; returns how many agents did not end `done`, and how long `run_parallel`
    took to return (it should return at once: the agents start on the background loop).
    `instant` puts `InstantModel` in place of the API (and `base_url` is not used)."""
    # A new model per run, as `run_parallel(model="sonnet")` makes one: its clients' creation is
    # part of what a run costs (B creates its client inside the timed part too).
    model: AnthropicModel | InstantModel = InstantModel()
    if not instant:
        model = AnthropicModel(MODEL, base_url=base_url, api_key=API_KEY, stream=stream)
    started = time.perf_counter()
    run = run_parallel(
        {f"a{i}": PROMPT.format(index=i, turns=turns) for i in range(agents)},
        model=model,
        cwd=root,
        tools=["Glob"],
        system=SYSTEM,
        max_tokens=MAX_TOKENS,
        max_turns=turns + 5,
        permission_mode="bypassPermissions",
        interactive=False,
        run_dir=run_dir,
        retry=retry,
    )
    startup = time.perf_counter() - started
    run.wait(timeout=600)
    failed = sum(1 for state in run.status.values() if state != "done")
    # Close the model's client on the loop that opened it, so its keep-alive connections (and the
    # server threads behind them) do not linger into the next measurement.
    background.submit(model.aclose()).result(timeout=30)
    return failed, startup


def first_request(index: int, turns: int, root: Path, tools: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    """A raw agent's conversation so far and the rest of its request: what agentbook sends too."""
    messages: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": PROMPT.format(index=index, turns=turns)}]}
    ]
    kwargs = {"model": MODEL, "max_tokens": MAX_TOKENS, "system": SYSTEM.format(root=root), "tools": tools}
    return messages, kwargs


async def raw_agent(
    client: anthropic.AsyncAnthropic, index: int, turns: int, root: Path, tools: list[Any], stream: bool
) -> bool:
    """One agent of B; whether it ended with text within its turns."""
    messages, kwargs = first_request(index, turns, root, tools)
    for _ in range(turns + 5):
        if stream:
            async with client.messages.stream(messages=messages, **kwargs) as events:
                message = await events.get_final_message()
        else:
            message = await client.messages.create(messages=messages, **kwargs)
        messages.append({"role": "assistant", "content": message.content})
        calls = [b for b in message.content if b.type == "tool_use"]
        if not calls:
            return True
        results = [{"type": "tool_result", "tool_use_id": c.id, "content": TOOL_RESULT} for c in calls]
        messages.append({"role": "user", "content": results})
    return False


async def raw_events_agent(
    client: anthropic.AsyncAnthropic, index: int, turns: int, root: Path, tools: list[Any], stream: bool
) -> bool:
    """One agent of B2: as `raw_agent`, but reading the raw event stream
    (`messages.create(stream=True)`) and keeping only what the next request needs, as agentbook
    does; the cheapest way to drive the SDK that we know of."""
    messages, kwargs = first_request(index, turns, root, tools)
    for _ in range(turns + 5):
        blocks: list[dict[str, Any]] = []
        inputs: dict[int, str] = {}
        async with await client.messages.create(messages=messages, stream=True, **kwargs) as events:
            async for event in events:
                if event.type == "content_block_start":
                    blocks.append(event.content_block.to_dict())
                elif event.type == "content_block_delta":
                    if event.delta.type == "text_delta":
                        blocks[event.index]["text"] += event.delta.text
                    elif event.delta.type == "input_json_delta":
                        inputs[event.index] = inputs.get(event.index, "") + event.delta.partial_json
        for i, text in inputs.items():
            blocks[i]["input"] = json.loads(text) if text else {}
        messages.append({"role": "assistant", "content": blocks})
        calls = [b for b in blocks if b["type"] == "tool_use"]
        if not calls:
            return True
        results = [{"type": "tool_result", "tool_use_id": c["id"], "content": TOOL_RESULT} for c in calls]
        messages.append({"role": "user", "content": results})
    return False


def run_raw(
    base_url: str, root: Path, agents: int, turns: int, stream: bool, agent: Any = raw_agent
) -> tuple[int, float]:
    """B (or B2, with `agent=raw_events_agent`): the raw SDK; returns how many agents failed
    (and 0.0: it has no separate start-up)."""
    tools = [schema(tool).to_api() for tool in tools_named(["Glob"])]

    async def main() -> int:
        # Same client settings as AnthropicModel's: no SDK retries, same timeout.
        async with anthropic.AsyncAnthropic(
            base_url=base_url, api_key=API_KEY, max_retries=0, timeout=600.0
        ) as client:
            outcomes = await asyncio.gather(
                *(agent(client, i, turns, root, tools, stream) for i in range(agents)),
                return_exceptions=True,
            )
        return sum(1 for o in outcomes if o is not True)

    return asyncio.run(main()), 0.0


# --------------------------------------------------------------------------------------------
# Measuring


Work = Callable[[], tuple[int, float]]
"""Runs one workload; returns (agents not done, seconds before the agents were started)."""
Scenario = Callable[[int, int], Work]
"""(agents, turns) -> the work of one side, A or B."""


@dataclass
class Measure:
    makespan_s: float
    cpu_s: float
    server_cpu_s: float
    failed: int
    startup_s: float


def timed(server: Server, work: Work) -> Measure:
    server_cpu = server.ask("cpu")
    cpu, wall = time.process_time(), time.perf_counter()
    failed, startup = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Measure(wall, cpu, server.ask("cpu") - server_cpu, failed, startup)


def traced_peak_per_agent(work: Work, agents: int) -> float:
    """Bytes of Python memory at the peak of `work`, above what was allocated before, per agent."""
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        work()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - baseline) / agents


def median(values: list[float]) -> float:
    return statistics.median(values)


def kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB"


def say(label: str, text: str) -> None:
    """One figure: a label column, then the values."""
    print(f"  {label:<12}  {text}")


def compare(
    server: Server,
    sides: dict[str, Scenario],
    pairs: list[tuple[str, str, str]],
    own: Scenario | None,
    n: int,
    t: int,
    latency: float,
    repeat: int,
) -> None:
    """Every side on the same workload (makespan, CPU, memory of the first two), then each pair's
    ratios `(a, b, what a/b should be)`, then agentbook's CPU with no HTTP (`own`, when given)."""
    results: dict[str, list[Measure]] = {key: [] for key in sides}
    for _ in range(repeat):  # interleaved, so drift in the machine hits every side alike
        for key, side in sides.items():
            results[key].append(timed(server, side(n, t)))

    def mid(key: str, figure: str) -> float:
        return median([getattr(m, figure) for m in results[key]])

    def per_turn(key: str) -> str:
        return f"{mid(key, 'cpu_s') / (n * t) * 1e3:.2f}"

    print(f"\n{n} agents x {t} turns, ideal makespan {t * latency:.2f} s; medians of {repeat} runs")
    for key in sides:
        runs = ", ".join(f"{m.makespan_s:.3f}" for m in results[key])
        say(key, f"makespan {mid(key, 'makespan_s'):6.3f} s   CPU {mid(key, 'cpu_s'):6.3f} s "
            f"({per_turn(key)} ms per turn)   server CPU {mid(key, 'server_cpu_s'):.3f} s")  # fmt: skip
        say("", f"runs {runs}")
    for a, b, target in pairs:
        ma, mb = mid(a, "makespan_s"), mid(b, "makespan_s")
        ca, cb = mid(a, "cpu_s"), mid(b, "cpu_s")
        say(f"{a}/{b}", f"makespan {ma / mb:.3f} ({target})   CPU {ca / cb:.2f}")
    first = next(iter(sides))
    say("", f"run_parallel took {mid(first, 'startup_s'):.3f} s to return (part of {first}'s makespan)")
    failed = {k: sum(m.failed for m in results[k]) for k in sides}
    say("not done", ", ".join(f"{k} {v}" for k, v in failed.items()) + "  (agents, over all runs)")
    a, b = list(sides)[:2]
    pa, pb = traced_peak_per_agent(sides[a](n, t), n), traced_peak_per_agent(sides[b](n, t), n)
    say("memory", f"{a} {kib(pa)}/agent   {b} {kib(pb)}/agent  (tracemalloc, untimed pass)")
    if own is not None:
        cpu, not_done = [], 0
        for _ in range(repeat):
            started = time.process_time()
            not_done += own(n, t)()[0]
            cpu.append((time.process_time() - started) / (n * t) * 1e3)
        say(
            "own work",
            f"agentbook on a model that answers at once (no HTTP): {median(cpu):.2f} ms CPU per turn "
            f"(not done {not_done})",
        )


def scale(server: Server, a: Scenario, b: Scenario | None, n: int, t: int, latency: float) -> None:
    """agentbook alone with many agents, against the ideal makespan (and B's, when given)."""
    ideal = t * latency
    big = timed(server, a(n, t))
    print(f"\nscale: {n} agents x {t} turns with agentbook, ideal makespan {ideal:.2f} s")
    say("makespan", f"{big.makespan_s:.3f} s = ideal x {big.makespan_s / ideal:.1f}")
    say("", f"run_parallel took {big.startup_s:.3f} s to return (part of the makespan)")
    per_turn = big.cpu_s / (n * t) * 1e3
    say("CPU", f"{big.cpu_s:.3f} s ({per_turn:.2f} ms per turn); server CPU {big.server_cpu_s:.3f} s")
    say("not done", str(big.failed))
    if b is not None:
        raw = timed(server, b(n, t))
        say("B raw SDK", f"makespan {raw.makespan_s:.3f} s, CPU {raw.cpu_s:.3f} s, not done {raw.failed}")
    say("memory", f"{kib(traced_peak_per_agent(a(n, t), n))}/agent  (tracemalloc, untimed pass)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=100, help="agents in the A/B comparison (100)")
    parser.add_argument("--turns", type=int, default=5, help="turns per agent in the A/B comparison (5)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server takes per reply (0.2)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each side; medians shown (5)")
    parser.add_argument(
        "--big-agents", type=int, default=1000, help="agents in the scale run (1000; 0 skips)"
    )
    parser.add_argument("--big-turns", type=int, default=3, help="turns per agent in the scale run (3)")
    parser.add_argument("--no-big-raw", action="store_true", help="skip the raw SDK in the scale run")
    args = parser.parse_args(argv)
    if min(args.agents, args.turns, args.repeat, args.big_turns) < 1 or args.big_agents < 0:
        parser.error("counts must be at least 1 (--big-agents may be 0)")
    began = time.perf_counter()

    server = Server(args.latency)
    try:
        with tempfile.TemporaryDirectory(prefix="agentbook-bench-") as tmp:
            # The agents' folder: Glob lists it every turn, so it stays tiny and holds no run dirs.
            root = Path(tmp) / "project"
            root.mkdir()
            for name in ("a.txt", "b.txt", "c.txt", "notes.md"):
                (root / name).write_text(f"{name}\n")
            run_dirs = (Path(tmp) / f"run-{i}" for i in itertools.count())

            def agentbook(stream: bool | Literal["auto"]) -> Scenario:
                return lambda n, t: lambda: run_agentbook(server.base_url, root, next(run_dirs), n, t, stream)

            def raw(stream: bool, agent: Any = raw_agent) -> Scenario:
                return lambda n, t: lambda: run_raw(server.base_url, root, n, t, stream, agent)

            def own(agents: int, turns: int) -> Work:
                return lambda: run_agentbook("", root, next(run_dirs), agents, turns, "auto", instant=True)

            # A: agentbook as a user gets it; B: the cheapest SDK loop (one client, create).
            # As: agentbook asked to stream; Bs: the SDK's streaming helper; Be: raw stream events.
            sides = {"A": agentbook("auto"), "B": raw(False), "As": agentbook(True), "Bs": raw(True),
                     "Be": raw(True, raw_events_agent)}  # fmt: skip
            pairs = [("A", "B", "target <= 1.0"), ("As", "Be", "agentbook's own work"),
                     ("As", "Bs", "against the usual streaming loop")]  # fmt: skip
            print(
                f"fake Messages API in a child process, {args.latency * 1000:.0f} ms per reply; "
                f"Python {sys.version.split()[0]}, anthropic {anthropic.__version__}, "
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other work skews the figures)"
            )
            for side in sides.values():  # warm up every path (imports, connections, the loop) untimed
                side(4, 2)()
            compare(server, sides, pairs, own, args.agents, args.turns, args.latency, args.repeat)
            if args.big_agents:
                big_raw = None if args.no_big_raw else sides["B"]
                scale(server, sides["A"], big_raw, args.big_agents, args.big_turns, args.latency)

        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        took = time.perf_counter() - began
        print(f"\npeak RSS of this process {maxrss / 1024:.0f} MiB; the benchmark took {took:.0f} s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
