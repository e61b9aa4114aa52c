"""Hard links in the sandbox: a file of the root with a name outside it is masked for every Bash
call, and only such a file (`agentbook.tools._hardlinks.linked_out`)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from support import git, new_repo

from agentbook.tools import Bash, ToolContext
from agentbook.tools._hardlinks import LinkScan, linked_out
from agentbook.tools.sandbox import Sandbox, unavailable_reason

needs_bwrap = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"no sandbox: {unavailable_reason()}"
)


def bash(root: Path, command: str) -> str:
    return asyncio.run(Bash().run({"command": command}, ToolContext(root=root, sandbox=Sandbox(root))))


@needs_bwrap
def test_a_file_linked_from_outside_is_masked_and_one_linked_inside_is_not(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside.txt"
    root.mkdir()
    outside.write_text("CANARY-LINKED\n")
    os.link(outside, root / "hl")
    (root / "deep/er").mkdir(parents=True)
    os.link(outside, root / "deep/er/hl2")
    (root / "a").write_text("mine\n")
    os.link(root / "a", root / "deep/b")  # both names in the root: the agent's own file
    seen = outside.stat()
    out = bash(root, "cat hl deep/er/hl2 2>&1; echo x >> hl 2>&1; touch hl 2>&1; cp a hl 2>&1; rm hl 2>&1; "
                     "ln hl hl3 2>&1; ln /etc/hostname mine 2>&1; echo more >> deep/b; cat a")  # fmt: skip
    assert "CANARY" not in out and out.count("Permission denied") >= 5, out
    assert "Invalid cross-device link" in out  # nor can a command link what is outside to inside
    assert out.endswith("mine\nmore"), out
    assert outside.read_text() == "CANARY-LINKED\n" and outside.stat().st_mtime_ns == seen.st_mtime_ns
    assert (root / "hl").exists() and not (root / "mine").exists()


@needs_bwrap
def test_a_local_clone_keeps_its_hard_linked_objects_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `git clone` of a local path hard-links the objects: in a read-only .git they are only ever
    # that repository's objects, and masking them would break git in the box.
    origin = new_repo(tmp_path / "origin", monkeypatch, {"a.txt": "from origin\n"})
    git(tmp_path, "clone", "-q", str(origin), "root")
    root = tmp_path / "root"
    assert any(p.stat().st_nlink > 1 for p in (root / ".git/objects").rglob("*") if p.is_file())
    assert bash(root, "git log -1 --format=%s; git cat-file -p HEAD:a.txt") == "start\nfrom origin"


def test_linked_out_lists_files_with_a_name_it_did_not_see(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "skipped").mkdir(parents=True)
    (tmp_path / "out").write_text("o")
    os.link(tmp_path / "out", root / "to-out")
    (root / "both-in").write_text("i")
    os.link(root / "both-in", root / "skipped/../both-in-too")
    (root / "skipped/s").write_text("s")
    os.link(root / "skipped/s", root / "with-skipped")  # its other name is in a folder not walked
    os.symlink(tmp_path / "out", root / "symlink")  # a link by name: resolved by whoever opens it
    assert sorted(linked_out(root, [root / "skipped"])) == [str(root / "to-out"), str(root / "with-skipped")]
    assert sorted(linked_out(root)) == [str(root / "to-out")]


def test_a_scan_walked_again_finds_a_link_added_to_a_folder_it_had_listed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a/b").mkdir(parents=True)
    (root / "a/b/f").write_text("f")
    (tmp_path / "out").write_text("o")
    old = time.time() - 60  # settled: listed once, then only looked at
    for folder in (root, root / "a", root / "a/b"):
        os.utime(folder, (old, old))
    scan = LinkScan(root)
    assert scan() == [] and scan() == []
    os.link(tmp_path / "out", root / "a/b/new")
    assert scan() == [str(root / "a/b/new")]
    os.link(tmp_path / "out", root / "a/b/f2")
    os.utime(root / "a/b", (old, old))  # even a folder whose mtime seems to be as it was: it is unsettled
    assert sorted(scan()) == [str(root / "a/b/f2"), str(root / "a/b/new")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists every folder")
def test_a_folder_the_scan_cannot_list_is_masked_whole(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "closed").mkdir(parents=True)
    (tmp_path / "out").write_text("o")
    os.link(tmp_path / "out", root / "closed/hl")
    (root / "closed").chmod(0o300)
    try:
        assert linked_out(root) == [str(root / "closed")]
    finally:
        (root / "closed").chmod(0o700)
