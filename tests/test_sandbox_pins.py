"""The pins over the root (`agentbook.tools._pins`) and the turns of a guarded root
(`agentbook.tools._rootgate`), against the moves the review-11 fixes had to think about: renaming
the parent of a read-only folder, a symbolic link put where a `.git` was, parallel calls in a root
whose calls take turns.  Real bwrap, real `Bash().run` calls through one `Sandbox` per agent."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from support import new_repo

from agentbook.tools import Bash, ToolContext
from agentbook.tools import sandbox as sandbox_module
from agentbook.tools._rootgate import RootGate
from agentbook.tools.sandbox import Sandbox, unavailable_reason

pytestmark = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"no sandbox: {unavailable_reason()}"
)
CANARY = "CANARY-OUTSIDE-51c2\n"


def bash(sandbox: Sandbox, command: str) -> str:
    ctx = ToolContext(root=sandbox.root, sandbox=sandbox)
    return asyncio.run(Bash().run({"command": command, "timeout": 30_000}, ctx))


def test_a_link_put_where_a_nested_git_was_binds_nothing_from_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bound by path, `--ro-bind vendor/.git vendor/.git` would follow the link and show the
    # outside folder in the box.
    root = tmp_path / "root"
    root.mkdir()
    new_repo(root / "vendor", monkeypatch, {"v.txt": "v\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(CANARY)
    agent = Sandbox(root)
    out = bash(agent, f"mv vendor v2 && mkdir vendor && ln -s {outside} vendor/.git && echo moved")
    assert out.endswith("moved"), out
    out = bash(agent, f"cat {outside}/secret.txt 2>&1; cat vendor/.git/secret.txt 2>&1; echo end")
    assert "CANARY" not in out and out.endswith("end"), out


def test_a_path_folder_inside_the_root_cannot_be_renamed_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Binding only `.venv/bin` read-only left `.venv` renamable: `mv .venv x; mkdir -p .venv/bin`.
    root = tmp_path / "root"
    tools = root / ".venv" / "bin"
    tools.mkdir(parents=True)
    (tools / "tool").write_text("#!/bin/sh\necho tool\n")
    (tools / "tool").chmod(0o755)
    (root / ".venv" / "lib.py").write_text("ok = True\n")
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    sandbox_module._tool_dirs.cache_clear()
    try:
        out = bash(Sandbox(root), (
            "mv .venv old 2>&1; echo 'ok = False' > .venv/lib.py 2>&1; mkdir -p .venv/bin 2>&1; "
            "echo evil > .venv/bin/tool 2>&1; echo made > mine.txt; echo end"
        ))  # fmt: skip
    finally:
        sandbox_module._tool_dirs.cache_clear()
    assert out.endswith("end") and "Device or resource busy" in out, out
    assert (tools / "tool").read_text() == "#!/bin/sh\necho tool\n"
    assert (root / ".venv" / "lib.py").read_text() == "ok = True\n"
    assert (root / "mine.txt").read_text() == "made\n"
    assert shutil.which("tool", path=str(tools)) == str(tools / "tool")


def test_parallel_calls_in_a_root_that_takes_turns_all_run(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text(CANARY)
    os.link(tmp_path / "outside.txt", root / "d" / "hl")
    agent = Sandbox(root)

    async def calls() -> list[str]:
        ctx = ToolContext(root=root, sandbox=agent)
        move = "sleep 0.2; mv d e{0} 2>/dev/null; mv e{0} d 2>/dev/null; echo {0}"
        jobs = [Bash().run({"command": move.format(i)}, ctx) for i in range(4)]
        return await asyncio.gather(*jobs)

    assert asyncio.run(calls()) == ["0", "1", "2", "3"]
    assert RootGate.of(os.path.realpath(root)).guarded
    assert "CANARY" not in bash(agent, "cat d/hl 2>&1")
