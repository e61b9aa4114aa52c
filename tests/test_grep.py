"""Grep on ripgrep: what running rg as a subprocess must guarantee, with the real rg (no mocks).

Linear-time matching outside this process (a catastrophic pattern neither hangs nor stalls the
event loop), a time limit and cancellation that leave no rg behind, rg's walk (.gitignore, no
symlinks followed), and arguments no pattern or file name can subvert.  Grep's formats are in
test_tools.py, its escapes in test_tool_escapes.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support import child_processes, deadline, new_repo

from agentbook.messages import Request, Response, Text, ToolResult, ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.tools import Grep, ToolContext, ToolError
from agentbook.tools._ripgrep import find_rg

CATASTROPHIC = "(a+)+$"  # exponential for a backtracking engine on a line of `a`s and then `b`


def run(input: dict[str, Any], ctx: ToolContext) -> str:
    return asyncio.run(Grep().run(input, ctx))


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    root = tmp_path / "root"
    root.mkdir()
    return ToolContext(root=root)


def test_a_catastrophic_pattern_returns_promptly(ctx: ToolContext) -> None:
    (ctx.root / "f.txt").write_text("a" * 40 + "\n" + "a" * 40 + "b\n")
    started = time.perf_counter()
    with deadline(10):  # Python's re would take hours on the second line
        out = run({"pattern": CATASTROPHIC, "output_mode": "content"}, ctx)
    assert out == "f.txt:1:" + "a" * 40
    assert time.perf_counter() - started < 2


def test_a_search_past_its_time_limit_is_stopped_and_rg_reaped(ctx: ToolContext) -> None:
    os.mkfifo(ctx.root / "fifo")  # rg blocks opening it: nobody ever writes
    ctx.grep_timeout_s = 0.3
    started = time.perf_counter()
    with pytest.raises(ToolError, match=r"took too long \(over 0.3 s\)"):
        run({"pattern": "x", "path": "fifo"}, ctx)
    assert time.perf_counter() - started < 5
    assert child_processes("rg") == []


def test_cancelling_grep_kills_and_reaps_rg_which_never_saw_secrets(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    os.mkfifo(ctx.root / "fifo")

    async def scenario() -> tuple[list[str], list[int]]:
        task = asyncio.create_task(Grep().run({"pattern": "x", "path": "fifo"}, ctx))
        while not (pids := child_processes("rg")):
            await asyncio.sleep(0.01)
        environ = Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return [e.decode() for e in environ if e], child_processes("rg")

    with deadline(20):
        environ, left = asyncio.run(scenario())
    assert environ == []  # no ANTHROPIC_API_KEY, no HOME, no RIPGREP_CONFIG_PATH
    assert left == []


def test_concurrent_catastrophic_greps_do_not_stall_the_event_loop(ctx: ToolContext) -> None:
    lines = 100_000
    (ctx.root / "big.txt").write_text(("a" * 40 + "\n") * lines)

    async def scenario() -> tuple[list[str], float, float]:
        gaps: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        started = time.perf_counter()
        calls = [Grep().run({"pattern": CATASTROPHIC, "output_mode": "count"}, ctx) for _ in range(20)]
        results = await asyncio.gather(*calls)
        elapsed = time.perf_counter() - started
        stop.set()
        await ticking
        return results, max(gaps), elapsed

    with deadline(60):
        results, max_gap, elapsed = asyncio.run(scenario())
    print(f"20 concurrent Greps: {elapsed:.3f} s; the loop's longest gap: {max_gap * 1000:.1f} ms")
    assert all(r.startswith(f"big.txt:{lines}\n") for r in results)
    assert max_gap < 0.5


def test_gitignored_files_are_skipped_in_a_git_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {".gitignore": "ignored.txt\nbuild/\n", "kept.txt": "needle\n"}
    repo = new_repo(tmp_path / "repo", monkeypatch, files)
    (repo / "ignored.txt").write_text("needle\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.txt").write_text("needle\n")
    (repo / ".hidden.txt").write_text("needle\n")  # hidden but not ignored: searched
    (repo / ".git" / "needle.txt").write_text("needle\n")  # VCS metadata: never searched
    ctx = ToolContext(root=repo)
    assert sorted(run({"pattern": "needle"}, ctx).splitlines()[1:]) == [".hidden.txt", "kept.txt"]
    # A file named explicitly is searched, ignored or not (as rg and Claude Code do).
    assert run({"pattern": "needle", "path": "ignored.txt"}, ctx) == "Found 1 file\nignored.txt"


def test_symlinks_are_not_followed_out_of_the_root(ctx: ToolContext, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("needle\n")
    (ctx.root / "link_dir").symlink_to(outside)
    (ctx.root / "link_file").symlink_to(outside / "secret.txt")
    (ctx.root / "inside.txt").write_text("needle\n")
    assert run({"pattern": "needle"}, ctx) == "Found 1 file\ninside.txt"
    assert run({"pattern": "needle", "output_mode": "content"}, ctx) == "inside.txt:1:needle"
    with pytest.raises(ToolError, match="outside the agent's root"):
        run({"pattern": "needle", "path": "link_dir"}, ctx)


def test_patterns_and_file_names_cannot_pass_for_options(ctx: ToolContext) -> None:
    (ctx.root / "--files").write_text("-e x\n")
    (ctx.root / "a:2:b\nc.txt").write_text("--version\n")
    assert run({"pattern": "--version", "output_mode": "content"}, ctx) == "a:2:b\nc.txt:1:--version"
    assert run({"pattern": "-e x", "path": "--files"}, ctx) == "Found 1 file\n--files"
    assert run({"pattern": "x", "glob": "--version"}, ctx) == "No files found"
    with pytest.raises(ToolError, match="unknown file type '--version'"):
        run({"pattern": "x", "type": "--version"}, ctx)


def test_a_user_ripgrep_config_changes_nothing(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ripgreprc"
    config.write_text("--ignore-case\n--no-hidden\n")
    monkeypatch.setenv("RIPGREP_CONFIG_PATH", str(config))
    (ctx.root / ".f.txt").write_text("Needle\n")
    assert run({"pattern": "needle"}, ctx) == "No files found"
    assert run({"pattern": "Needle"}, ctx) == "Found 1 file\n.f.txt"


def test_rg_is_found_next_to_the_interpreter_without_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert find_rg() == os.path.join(os.path.dirname(sys.executable), "rg")


def test_a_missing_rg_says_how_to_install_it(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path / "scripts"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolError, match="pip install ripgrep"):
        run({"pattern": "x"}, ctx)


def test_a_pattern_rg_rejects_comes_back_with_rgs_message(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="look-around") as info:
        run({"pattern": "(?<=a)b"}, ctx)  # Python's re accepts it; Rust's regex does not
    assert str(info.value).startswith("Invalid regular expression '(?<=a)b'")
    with pytest.raises(ToolError, match="error parsing glob"):
        run({"pattern": "x", "glob": "a["}, ctx)


def test_a_large_output_is_read_as_it_comes_and_counted_exactly(ctx: ToolContext) -> None:
    ctx.max_output_chars = 1_000
    (ctx.root / "f.txt").write_text("hit\n" * 50_000)
    out = run({"pattern": "hit", "output_mode": "content"}, ctx)
    assert out.startswith("f.txt:1:hit\nf.txt:2:hit\n")
    shown = len(out[: out.index("\n\n[Output truncated")])
    total = sum(len(f"f.txt:{i}:hit\n") for i in range(1, 50_001)) - 1
    assert out.endswith(f"[Output truncated: {total - shown} more characters not shown]")
    out = run({"pattern": "hit", "output_mode": "content", "head_limit": 2, "offset": 49_998}, ctx)
    assert out.splitlines()[:2] == ["f.txt:49999:hit", "f.txt:50000:hit"]
    assert "Showing 2 of 50000 entries" in out


class Paced(ScriptedModel):
    """Each agent (by its first message) takes `turns` Glob turns of `delay` seconds, then ends;
    the agent whose message is `grep` first runs one catastrophic Grep over a big file."""

    def __init__(self, turns: int, delay: float) -> None:
        super().__init__()  # named "scripted", which has no price on purpose
        self.turns, self.delay = turns, delay
        self.ended: dict[str, float] = {}

    async def respond(self, request: Request) -> Response:
        await asyncio.sleep(self.delay)
        self.requests.append(request)
        agent = request.messages[0].text
        turn = sum(1 for m in request.messages if m.role == "assistant")
        if agent == "grep" and turn == 0:
            call = ToolUse("g", "Grep", {"pattern": "(a+)+$", "output_mode": "count"})
            return self.reply(request, (call,))
        if agent != "grep" and turn < self.turns:
            return self.reply(request, (ToolUse(f"t{turn}", "Glob", {"pattern": "*.py"}),))
        self.ended[agent] = time.monotonic()
        return self.reply(request, (Text("done"),))


def test_a_catastrophic_grep_does_not_slow_twenty_sibling_agents(tmp_path: Path) -> None:
    """Python's `re` would hold the GIL on `(a+)+$` for hours and freeze every agent; ripgrep
    matches in linear time in another process.  The siblings' makespan is measured twice in one
    test, with and without that Grep beside them."""
    # Lines that backtrack for ever in `re` (40 `a` then `!`), and one that matches.
    (tmp_path / "big.txt").write_text(("a" * 40 + "!\n") * 50_000 + "a" * 40 + "\n")
    siblings = {f"s{i}": f"s{i}" for i in range(20)}
    makespans = {}
    for label, tasks in (("alone", siblings), ("with grep", {**siblings, "grep": "grep"})):
        model = Paced(turns=8, delay=0.05)
        start = time.monotonic()
        run = run_parallel(tasks, model=model, cwd=tmp_path, run_dir=tmp_path / label, interactive=False)
        run.wait(timeout=60)
        assert set(run.status.values()) == {"done"}
        makespans[label] = max(t for name, t in model.ended.items() if name != "grep") - start
        if label == "with grep":  # the Grep answered, and found the one matching line
            results = [b for r in model.requests for m in r.messages for b in m.content
                       if isinstance(b, ToolResult) and b.tool_use_id == "g"]  # fmt: skip
            assert results and not results[0].is_error and str(results[0].content).startswith("big.txt:1\n")
    assert makespans["with grep"] < 1.5 * makespans["alone"] + 0.2, makespans
