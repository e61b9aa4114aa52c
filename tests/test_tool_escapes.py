"""The escape catalogue: every way out of the root that every path-taking tool must refuse.

Each case asserts a `ToolError` AND that nothing outside the root changed: the files there keep
their content and modification time, and no file appeared or vanished.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentbook.tools import Bash, Edit, Glob, Grep, Read, Tool, ToolContext, ToolError, Write

SECRET = "TOP SECRET\n"

Snapshot = dict[str, tuple[bytes, int] | str]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tmp_path/root is the agent's root; around it, secrets and links that lead out of it.

    tmp_path/x, tmp_path/secret, tmp_path/outside/secret.txt and tmp_path/home/.bashrc (HOME) are
    outside.  Inside the root: link_etc -> /etc, link_parent -> .., chain1 -> chain2 -> outside,
    link_secret -> outside/secret.txt, dangling -> outside/new.txt (missing), sub/ (a real dir).
    """
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub/inside.txt").write_text("inside\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (tmp_path / "x").write_text(SECRET)
    (tmp_path / "secret").write_text(SECRET)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text(SECRET)
    monkeypatch.setenv("HOME", str(home))
    (root / "link_etc").symlink_to("/etc")
    (root / "link_parent").symlink_to("..")
    (root / "chain2").symlink_to(outside)
    (root / "chain1").symlink_to("chain2")
    (root / "link_secret").symlink_to(outside / "secret.txt")
    (root / "dangling").symlink_to(outside / "new.txt")
    yield root


def snapshot(tmp_path: Path) -> Snapshot:
    """Content and mtime of every file outside the root (plus /etc/passwd and /tmp/x)."""
    state: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        if Path(dirpath) == tmp_path:
            dirnames.remove("root")
        for name in filenames:
            path = Path(dirpath) / name
            state[str(path)] = (path.read_bytes(), path.stat().st_mtime_ns)
    for extra in (Path("/etc/passwd"), Path("/tmp/x")):
        state[str(extra)] = (extra.read_bytes(), extra.stat().st_mtime_ns) if extra.exists() else "absent"
    return state


def run(tool: Tool, input: dict[str, Any], root: Path) -> str:
    return asyncio.run(tool.run(input, ToolContext(root=root)))


ESCAPING_PATHS = [
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "~/.bashrc",
    "link_etc/passwd",  # a symlink inside the root pointing to /etc
    "link_etc",
    "link_parent/x",  # a symlink to the parent directory
    "link_parent",
    "chain1/secret.txt",  # a chain of directory symlinks
    "chain1",
    "sub/../../x",
    "sub/../../outside/secret.txt",
    "sub/\x00/x",  # NUL byte
    "link_secret",  # a file symlink pointing outside
    "dangling",  # a dangling symlink whose target would be created outside
    "OUTSIDE_ABS",  # replaced by the absolute path of outside/secret.txt
    "ROOT_DOTDOT",  # replaced by <root>/../x: absolute, but climbing out
]


def _path(case: str, root: Path) -> str:
    if case == "OUTSIDE_ABS":
        return str(root.parent / "outside" / "secret.txt")
    if case == "ROOT_DOTDOT":
        return f"{root}/../x"
    return case


def _inputs(path: str) -> list[tuple[Tool, dict[str, Any]]]:
    return [
        (Read(), {"file_path": path}),
        (Write(), {"file_path": path, "content": "PWNED"}),
        (Edit(), {"file_path": path, "old_string": "TOP", "new_string": "PWNED"}),
        (Edit(), {"file_path": path, "old_string": "", "new_string": "PWNED"}),
        (Glob(), {"pattern": "*", "path": path}),
        (Glob(), {"pattern": "**/*", "path": path}),
        (Grep(), {"pattern": "SECRET", "path": path}),
        (Grep(), {"pattern": "SECRET", "path": path, "output_mode": "content"}),
    ]


CASES = [(case, i) for case in ESCAPING_PATHS for i in range(len(_inputs("p")))]


@pytest.mark.parametrize(
    ("case", "which"), CASES, ids=[f"{c!r}-{_inputs('p')[i][0].name}{i}" for c, i in CASES]
)
def test_path_tools_refuse_escapes(case: str, which: int, world: Path) -> None:
    before = snapshot(world.parent)
    tool, input = _inputs(_path(case, world))[which]
    with pytest.raises(ToolError) as info:
        run(tool, input, world)
    assert "SECRET" not in str(info.value)
    assert snapshot(world.parent) == before


GLOB_PATTERNS = ["../*", "../**/secret.txt", "/etc/*", "/*", "link_etc/*", "link_parent/x", "chain1/*", "~/*"]


@pytest.mark.parametrize("pattern", GLOB_PATTERNS)
def test_glob_patterns_cannot_lead_out(pattern: str, world: Path) -> None:
    # "~/*" has no special meaning to a glob: it names a directory "~" inside the root.
    if pattern == "~/*":
        assert run(Glob(), {"pattern": pattern}, world) == "No files found"
        return
    with pytest.raises(ToolError):
        run(Glob(), {"pattern": pattern}, world)


def test_walks_do_not_follow_links_out(world: Path) -> None:
    before = snapshot(world.parent)
    assert run(Glob(), {"pattern": "**/*"}, world) == "sub/inside.txt"
    assert run(Glob(), {"pattern": "**/secret.txt"}, world) == "No files found"
    assert run(Grep(), {"pattern": "SECRET|root:"}, world) == "No files found"
    assert run(Grep(), {"pattern": "SECRET|root:", "output_mode": "content"}, world) == "No matches found"
    assert snapshot(world.parent) == before


BASH_ESCAPES = [
    "cat /etc/passwd",
    "cat ../secret",
    "ls ~",
    "cat ~/.bashrc",
    "cd .. && cat x",
    "echo hi > /tmp/x",
    "echo PWNED > ../x",
    "echo PWNED >> OUTSIDE/secret.txt",
    "cat sub/../../secret",
    "cat link_etc/passwd",
    "cat link_secret",
    "echo PWNED > link_secret",
    "echo PWNED > dangling",
    "cp link_parent/x sub/",
    "cat chain1/secret.txt",
    "cat $(echo /etc/passwd)",
    "sort --output=/tmp/x sub/inside.txt",
    "F=../x; cat $F",
    "tar -C / -cf sub/etc.tar etc",
]


@pytest.mark.parametrize("command", BASH_ESCAPES)
def test_bash_refuses_escapes_and_runs_nothing(command: str, world: Path) -> None:
    before = snapshot(world.parent)
    command = command.replace("OUTSIDE", str(world.parent / "outside"))
    # The marker proves nothing ran: the refused command would have created it first.
    with pytest.raises(ToolError, match="refused"):
        run(Bash(), {"command": f"touch ran_marker; {command}"}, world)
    assert not (world / "ran_marker").exists()
    assert snapshot(world.parent) == before


def test_the_root_itself_stays_usable(world: Path) -> None:
    """The guard refuses ways out, not the root: absolute paths inside it work everywhere."""
    inside = world / "sub" / "inside.txt"
    assert run(Read(), {"file_path": str(inside)}, world) == "     1\tinside"
    assert run(Glob(), {"pattern": "*.txt", "path": str(world / "sub")}, world) == "sub/inside.txt"
    assert run(Grep(), {"pattern": "inside", "path": str(world)}, world) == "Found 1 file\nsub/inside.txt"
    command = f"cat {inside} && ls {world}/sub && cat sub/../sub/inside.txt"
    assert run(Bash(), {"command": command}, world) == "inside\ninside.txt\ninside"


def test_bash_resolves_dotdot_against_the_root_not_a_cd(world: Path) -> None:
    """The guard does not follow `cd`: `..` after `cd sub` is judged from the root, so refused."""
    with pytest.raises(ToolError, match="refused"):
        run(Bash(), {"command": "cd sub && cat ../sub/inside.txt"}, world)


# ---------------------------------------------------------------------------------------------
# Hard links: the way out `resolve` cannot see (a second name of a file, outside the root)


@pytest.fixture
def linked(world: Path) -> Path:
    """root/linked.txt is a hard link to outside/secret.txt; root/linked_empty.txt to an empty
    outside/empty.txt."""
    outside = world.parent / "outside"
    (outside / "empty.txt").write_text("")
    os.link(outside / "secret.txt", world / "linked.txt")
    os.link(outside / "empty.txt", world / "linked_empty.txt")
    return world


def test_read_of_a_hard_linked_file_says_so(linked: Path) -> None:
    assert run(Read(), {"file_path": "linked.txt"}, linked).splitlines() == [
        "[note: this file has 2 hard links; it may also be reachable outside the root]",
        "     1\tTOP SECRET",
    ]


@pytest.mark.parametrize(
    ("tool", "input"),
    [
        (Write(), {"file_path": "linked.txt", "content": "PWNED"}),
        (Edit(), {"file_path": "linked.txt", "old_string": "TOP", "new_string": "PWNED"}),
        (Edit(), {"file_path": "linked.txt", "old_string": "SECRET", "new_string": "", "replace_all": True}),
        (Write(), {"file_path": "linked_empty.txt", "content": "PWNED"}),
        (Edit(), {"file_path": "linked_empty.txt", "old_string": "", "new_string": "PWNED"}),
    ],
    ids=["write", "edit", "edit-all", "write-empty", "edit-create"],
)
def test_write_and_edit_refuse_a_hard_linked_file(tool: Tool, input: dict[str, Any], linked: Path) -> None:
    before = snapshot(linked.parent)
    inside_before = (linked / input["file_path"]).read_bytes()
    with pytest.raises(ToolError, match=r"has 2 hard links: a change would also land in the other name"):
        run(tool, input, linked)
    assert snapshot(linked.parent) == before  # the outside name: same content, same mtime
    assert (linked / input["file_path"]).read_bytes() == inside_before


def test_grep_results_from_hard_linked_files_carry_a_note(linked: Path) -> None:
    out = run(Grep(), {"pattern": "SECRET", "output_mode": "content"}, linked)
    assert out.splitlines()[0] == "linked.txt:1:TOP SECRET"
    assert out.endswith(
        "[note: 1 of these files has more than one hard link, so it may also be reachable outside "
        "the root: linked.txt (2 links)]"
    )
    assert "linked.txt (2 links)" in run(Grep(), {"pattern": "SECRET"}, linked)
    assert run(Grep(), {"pattern": "inside"}, linked) == "Found 1 file\nsub/inside.txt"  # no note
