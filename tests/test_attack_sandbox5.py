"""Attacks on the in-process file tools, review round 5: Read, Write, Edit and Grep run in
agentbook's own process, unsandboxed, behind `ToolContext.resolve`; a Bash call in the same root
runs at the same time (another agent's: one agent's Bash and edits run alone, `gates.run_tools`) and
swaps a path component between the check and the open.  And files an agent leaves in its root
that agentbook reads on the host later (`.claude/settings.json`: its hooks run on the host).

Everything is real: real bwrap, a real `Bash().run` call running concurrently with real
`Write`/`Edit`/`Read`/`Grep` calls on one `ToolContext`; canaries only in tmp_path.  A finding is an
`xfail(strict=True, reason="OPEN: ...")` test asserting what should hold; what held is a plain test.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from agentbook.settings import read_settings
from agentbook.tools import Bash, Edit, Grep, Read, ToolContext, Write
from agentbook.tools.base import ToolError
from agentbook.tools.sandbox import Sandbox, unavailable_reason

pytestmark = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"no sandbox: {unavailable_reason()}"
)

# A Bash call that swaps two names of the root atomically (renameat2 RENAME_EXCHANGE) until told
# to stop: a folder (or file) the file tool's check sees, and a link out of the root the open
# then goes through.  Any agent can run this: the box's Python has ctypes.
SWAP = r"""python3 - <<'PY'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
open("ready", "w").close()
n = 0
while not os.path.exists("stop") and n < 20_000_000:
    libc.renameat2(-100, b"{a}", -100, b"{b}", 2)
    n += 1
print("swapped", n)
PY"""


def race(
    ctx: ToolContext, a: str, b: str, attempt: Callable[[], Awaitable[bool]], seconds: float = 4.0
) -> bool:
    """Run the swapping Bash call and, while it runs, `attempt` (one file-tool call; True when it
    reached outside the root) until it does or `seconds` pass.  Whether one did."""

    async def main() -> bool:
        bash = asyncio.create_task(Bash().run({"command": SWAP.format(a=a, b=b), "timeout": 30_000}, ctx))
        try:
            start = time.monotonic()
            while not (ctx.root / "ready").exists():
                assert time.monotonic() - start < 5, "the swapping call did not start"
                await asyncio.sleep(0.01)
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                try:
                    if await attempt():
                        return True
                except (ToolError, OSError):
                    pass  # refused: the check saw the link this time (OSError: realpath mid-swap)
            return False
        finally:
            (ctx.root / "stop").touch()
            await bash

    return asyncio.run(main())


@pytest.fixture
def world(tmp_path: Path) -> tuple[ToolContext, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return ToolContext(root=root, sandbox=Sandbox(root)), outside


def test_write_cannot_land_outside_through_a_parent_swapped_mid_call(world: tuple[ToolContext, Path]) -> None:
    ctx, outside = world
    (ctx.root / "d").mkdir()
    os.symlink(outside, ctx.root / "l")
    victim = outside / "f"  # think ~/.bashrc

    async def attempt() -> bool:
        await Write().run({"file_path": "d/f", "content": "PWNED\n"}, ctx)
        return victim.exists()

    assert not race(ctx, "d", "l", attempt), "Write wrote a file outside the agent's root"


def test_edit_cannot_change_a_file_outside_through_a_parent_swapped_mid_call(
    world: tuple[ToolContext, Path],
) -> None:
    ctx, outside = world
    (ctx.root / "d").mkdir()
    (ctx.root / "d" / "f").write_text("OLD\n")
    os.symlink(outside, ctx.root / "l")
    victim = outside / "f"
    victim.write_text("OLD\n")

    async def attempt() -> bool:
        await Edit().run({"file_path": "d/f", "old_string": "OLD", "new_string": "PWNED"}, ctx)
        if "PWNED" in victim.read_text():
            return True
        for inside in (ctx.root / "d" / "f", ctx.root / "l" / "f"):  # put the inside file back
            if inside.parent.is_dir() and not inside.parent.is_symlink():
                inside.write_text("OLD\n")
        return False

    assert not race(ctx, "d", "l", attempt), "Edit changed a file outside the agent's root"


def test_read_cannot_show_a_file_outside_swapped_in_mid_call(world: tuple[ToolContext, Path]) -> None:
    ctx, outside = world
    (ctx.root / "f").write_text("inside\n")
    (outside / "secret").write_text("SECRET-OUTSIDE\n")  # think ~/.ssh/id_ed25519
    os.symlink(outside / "secret", ctx.root / "l")

    async def attempt() -> bool:
        return "SECRET-OUTSIDE" in await Read().run({"file_path": "f"}, ctx)

    assert not race(ctx, "f", "l", attempt), "Read showed a file outside the agent's root"


def test_grep_cannot_search_outside_through_a_folder_swapped_mid_call(
    world: tuple[ToolContext, Path],
) -> None:
    ctx, outside = world
    (ctx.root / "d").mkdir()
    (outside / "secret.txt").write_text("SECRET-OUTSIDE\n")
    os.symlink(outside, ctx.root / "l")

    async def attempt() -> bool:
        out = await Grep().run({"pattern": "SECRET-OUTSIDE", "path": "d", "output_mode": "content"}, ctx)
        return "SECRET-OUTSIDE" in out

    assert not race(ctx, "d", "l", attempt), "Grep searched a folder outside the agent's root"


# ---------------------------------------------------------------------------------------------
# What an agent leaves in its root that agentbook reads on the host: with `settings="project"`,
# `<cwd>/.claude/settings.json` and `settings.local.json` (read by the next run in that folder
# and again by `load_run`); their command hooks run on the host, unsandboxed.

HOOK = {"type": "command", "command": "touch PWNED"}
HOOKS = {"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [HOOK]}]}}


def _commands(root: Path) -> list[str]:
    settings = read_settings("project", root, home=root / "no-home")
    return [h.command for groups in settings.hooks.values() for g in groups for h in g.commands]


@pytest.mark.parametrize("mode", ["acceptEdits", "bypassPermissions"])
def test_write_cannot_plant_project_settings_hooks(world: tuple[ToolContext, Path], mode: str) -> None:
    # The Write tool alone writes anywhere in its root; in a run, the permissions guard .claude
    # (Claude Code's protected folders): a write there asks in every mode, and is denied headless.
    from agentbook.messages import ToolUse
    from agentbook.models import ScriptedModel
    from agentbook.scheduler.launch import run_parallel

    ctx, _ = world
    calls = [ToolUse(f"w{i}", "Write", {"file_path": f".claude/{name}", "content": json.dumps(HOOKS)})
             for i, name in enumerate(("settings.json", "settings.local.json"))]  # fmt: skip
    run = run_parallel({"a": "plant"}, model=ScriptedModel([calls, "ok"]), cwd=ctx.root,
                       run_dir=ctx.root.parent / "run", permission_mode=mode, interactive=False)  # fmt: skip
    run.wait(timeout=30)
    assert run.records["a"].denials == 2
    assert _commands(ctx.root) == [], "agent-written hooks would run on the host"


def test_bash_cannot_plant_project_settings_hooks(world: tuple[ToolContext, Path]) -> None:
    ctx, _ = world
    command = f"mkdir -p .claude && echo '{json.dumps(HOOKS)}' > .claude/settings.local.json; echo ok"
    asyncio.run(Bash().run({"command": command, "timeout": 30_000}, ctx))
    assert _commands(ctx.root) == [], "agent-written hooks would run on the host"


# ---------------------------------------------------------------------------------------------
# What held (without a race).


def test_grep_follows_no_link_out_of_the_root(world: tuple[ToolContext, Path]) -> None:
    ctx, outside = world
    (outside / "secret.txt").write_text("SECRET-OUTSIDE\n")
    os.symlink(outside, ctx.root / "l")
    os.symlink(outside / "secret.txt", ctx.root / "s.txt")
    out = asyncio.run(Grep().run({"pattern": "SECRET-OUTSIDE", "output_mode": "content"}, ctx))
    assert "SECRET-OUTSIDE" not in out
    with pytest.raises(ToolError):
        asyncio.run(Grep().run({"pattern": "SECRET", "path": "l"}, ctx))


def test_read_and_write_refuse_a_fifo_made_in_the_box(world: tuple[ToolContext, Path]) -> None:
    ctx, _ = world
    asyncio.run(Bash().run({"command": "mkfifo p; echo ok", "timeout": 30_000}, ctx))
    assert (ctx.root / "p").exists()
    for tool, args in ((Read(), {"file_path": "p"}), (Write(), {"file_path": "p", "content": "x"})):
        with pytest.raises(ToolError):
            asyncio.run(asyncio.wait_for(tool.run(args, ctx), 5))
