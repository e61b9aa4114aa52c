"""Attacks on the Bash sandbox's newest parts (review 11): the hard-link masks (`_hardlinks.LinkScan`),
the private ref view of a worktree agent's branch (`_gitrefs.RefView`), the import of new objects
(`_gitbox.GitBox.settle`) and the tool folders bound again read-only over the root.

Everything is real: real bwrap, real git repositories, real `Bash().run` calls through one
`Sandbox` per agent (as `agentbook.scheduler.sandboxing.sandbox_for` makes one), canaries only in
tmp_path.  A finding is an `xfail(strict=True, reason="OPEN: ...")` test, asserting what should
hold; what held is a plain test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
from support import git, new_repo
from support import sandboxed_bash as bash

from agentbook.tools import Bash, ToolContext
from agentbook.tools import sandbox as sandbox_module
from agentbook.tools.sandbox import Sandbox, sandbox_env, unavailable_reason
from agentbook.tools.shell import run_command

pytestmark = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"no sandbox: {unavailable_reason()}"
)

BRANCH = "agentbook/r/a"
CANARY = "CANARY-OUTSIDE-7f3a\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with the worktree `wa` on agentbook/r/a."""
    repo = new_repo(tmp_path / "repo", monkeypatch, {"a.txt": "a\n"})
    git(repo, "worktree", "add", "-q", "-b", BRANCH, str(tmp_path / "wa"))
    return repo


@pytest.fixture
def agent(repo: Path, tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path / "wa", branch=BRANCH)


def settled(*folders: Path) -> None:
    """Give `folders` an mtime a minute old, as a user's folders have (`LinkScan` keeps those)."""
    old = time.time() - 60
    for folder in folders:
        os.utime(folder, (old, old))


# ---------------------------------------------------------------------------------------------
# settle() on the host, reading what the box left in the writable admin folder


@pytest.mark.parametrize("target", ["victim", "store"])
def test_a_link_in_place_of_the_private_object_folder_deletes_nothing(
    agent: Sandbox, repo: Path, tmp_path: Path, target: str
) -> None:
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "keep.txt").write_text(CANARY)
    (victim / "sub" / "deep.txt").write_text(CANARY)
    aim = str(victim) if target == "victim" else "../../objects"  # the user's shared object store
    bash(agent, f'rm -rf "$GIT_OBJECT_DIRECTORY" && ln -s {aim} "$GIT_OBJECT_DIRECTORY"; echo swapped')
    assert (victim / "keep.txt").read_text() == CANARY
    assert (victim / "sub" / "deep.txt").read_text() == CANARY
    done = subprocess.run(["git", "cat-file", "-e", "HEAD:a.txt"], cwd=repo, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_link_in_place_of_the_worktree_head_changes_no_other_head(agent: Sandbox, repo: Path) -> None:
    sibling = repo / ".git" / "HEAD"
    out = bash(
        agent, 'd=$(git rev-parse --git-dir); ln -sf ../../HEAD "$d/H" && mv -f "$d/H" "$d/HEAD"; echo ok'
    )
    assert out.endswith("ok"), out
    assert sibling.read_text() == "ref: refs/heads/main\n"
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"


def _fifos(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if stat.S_ISFIFO(os.lstat(p).st_mode)]


def _release(folder: Path) -> None:
    """Give every FIFO below `folder` a writer that closes at once: its reader gets end of file."""
    for fifo in _fifos(folder):
        with contextlib.suppress(OSError):  # no reader (yet)
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.parametrize(
    "command",
    [
        'mkdir -p $GIT_OBJECT_DIRECTORY/ab; mkfifo $GIT_OBJECT_DIRECTORY/ab/$(printf "%038d" 0); echo made',
        "mkdir -p $GIT_OBJECT_DIRECTORY/pack; mkfifo $GIT_OBJECT_DIRECTORY/pack/x.pack; echo made",
        'd=$(git rev-parse --git-dir); rm "$d/HEAD"; mkfifo "$d/HEAD"; echo made',
    ],
    ids=["loose", "pack", "head"],
)
def test_a_fifo_left_in_the_admin_folder_does_not_hang_the_call(
    agent: Sandbox, repo: Path, command: str
) -> None:
    admin = repo / ".git" / "worktrees" / "wa"
    out: list[str] = []
    call = threading.Thread(target=lambda: out.append(bash(agent, command)), daemon=True)
    call.start()
    try:
        call.join(5)
        assert not call.is_alive(), "the Bash call still runs 5 s after its command ended"
    finally:
        for _ in range(50):  # unblock the reader so that the thread ends
            _release(admin)
            call.join(0.1)
            if not call.is_alive():
                break
    assert out and out[0].endswith("made")


# ---------------------------------------------------------------------------------------------
# The branch moved by settle


def test_the_branch_never_names_a_commit_whose_tree_is_missing(agent: Sandbox, repo: Path) -> None:
    before = git(repo, "rev-parse", BRANCH)
    out = bash(agent, (
        "c=$(printf 'tree %s\\nparent %s\\nauthor a <a@x> 1 +0000\\ncommitter a <a@x> 1 +0000\\n\\nx\\n' "
        "0123456789012345678901234567890123456789 $(git rev-parse HEAD) | "
        "git hash-object -t commit -w --stdin); "
        'echo $c > "$(git rev-parse --git-path refs/heads/agentbook/r/a)"; echo $c'
    ))  # fmt: skip
    forged = out.strip().splitlines()[-1]
    assert git(repo, "cat-file", "-t", forged) == "commit"  # imported
    walk = subprocess.run(
        ["git", "rev-list", "--objects", BRANCH], cwd=repo, capture_output=True, check=False
    )
    assert walk.returncode == 0, walk.stderr
    assert git(repo, "rev-parse", BRANCH) == before


TREE_WITH_DOTGIT = r"""
import subprocess, sys
def put(kind, data):
    return subprocess.run(["git", "hash-object", "--literally", "-t", kind, "-w", "--stdin"], input=data,
                          capture_output=True, check=True).stdout.strip().decode()
def tree(name, mode, oid):
    return mode + b" " + name + b"\0" + bytes.fromhex(oid)
hook = put("blob", b"#!/bin/sh\ntouch " + sys.argv[1].encode() + b"\n")
hooks = put("tree", tree(b"post-checkout", b"100755", hook))
dotgit = put("tree", tree(b"hooks", b"40000", hooks))
top = put("tree", tree(b".git", b"40000", dotgit) + tree(b"a.txt", b"100644", put("blob", b"a\n")))
print(subprocess.run(["git", "commit-tree", top, "-p", "HEAD", "-m", "dotgit"], capture_output=True,
                     check=True).stdout.strip().decode())
"""


def test_a_forged_tree_with_a_dotgit_entry_is_never_checked_out_on_the_host(
    agent: Sandbox, repo: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    (tmp_path / "wa" / "forge.py").write_text(TREE_WITH_DOTGIT)
    out = bash(agent, f"c=$(python forge.py {marker}) && git update-ref HEAD $c && git log -1 --format=%s")
    assert out.endswith("dotgit"), out
    assert git(repo, "log", "-1", "--format=%s", BRANCH) == "dotgit"  # the branch moved (a commit)
    # What the host does with an agent's branch: check it out elsewhere, merge it.
    check = subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tmp_path / "check"), BRANCH],
                           cwd=repo, capture_output=True, text=True, check=False)  # fmt: skip
    assert "invalid path" in check.stderr or check.returncode != 0, check
    merged = subprocess.run(["git", "merge", "--no-edit", BRANCH], cwd=repo, capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert merged.returncode != 0 and "invalid path" in merged.stderr + merged.stdout, merged
    assert not marker.exists() and not (repo / ".git" / "hooks" / "post-checkout").exists()


def test_a_symbolic_ref_in_the_copy_never_moves_the_ref_it_names(agent: Sandbox, repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "main-ahead")
    main = git(repo, "rev-parse", "main")
    out = bash(agent, (
        "git commit -q --allow-empty -m mine; m=$(git rev-parse --git-path refs/heads/agentbook/r/a); "
        'echo "ref: refs/heads/main" > $m; git update-ref refs/heads/main HEAD 2>&1; '
        'printf "ref: refs/heads/main\\n" > "$(git rev-parse --git-path refs/heads/agentbook/r/b)"; echo done'
    ))  # fmt: skip
    assert out.endswith("done"), out
    assert git(repo, "rev-parse", "main") == main
    listed = git(repo, "for-each-ref", "--format=%(refname) %(symref)")
    assert sorted(line.strip() for line in listed.splitlines()) == [f"refs/heads/{BRANCH}", "refs/heads/main"]


def test_a_nul_byte_in_the_box_reflog_does_not_break_settle(
    agent: Sandbox, repo: Path, tmp_path: Path
) -> None:
    out = bash(agent, (
        "git commit -q --allow-empty -m x; c=$(git rev-parse HEAD); "
        "l=$(git rev-parse --git-path logs/refs/heads/agentbook/r/a); "
        'printf "0000000000000000000000000000000000000000 $c a <a@x> 1 +0000\\tevil\\000nul\\n" >> $l; '
        "git symbolic-ref HEAD refs/heads/main; echo done"
    ))  # fmt: skip
    assert out.endswith("done"), out
    assert git(tmp_path / "wa", "symbolic-ref", "HEAD") == f"refs/heads/{BRANCH}"
    assert git(repo, "log", "-1", "--format=%s", BRANCH) == "x"


def test_a_parallel_call_settling_leaves_the_other_calls_objects_alone(agent: Sandbox, repo: Path) -> None:
    async def both() -> list[str]:
        ctx = ToolContext(root=agent.root, sandbox=agent)
        writer = Bash().run({"command": (
            "{ printf 'blob\\nmark :1\\ndata 7\\nslow-in\\n'; sleep 2; } | "
            "git -c fastimport.unpackLimit=0 fast-import --quiet 2>&1; echo rc=$?"
        )}, ctx)  # fmt: skip
        other = Bash().run({"command": "sleep 0.5; echo other"}, ctx)
        return await asyncio.gather(writer, other)

    written, other = asyncio.run(both())
    assert other == "other"
    assert written.endswith("rc=0"), written
    blob = subprocess.run(["git", "hash-object", "--stdin"], input="slow-in", cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    assert git(repo, "cat-file", "-p", blob) == "slow-in"


def test_the_views_and_the_worktree_dotgit_cannot_be_changed_from_the_box(
    agent: Sandbox, repo: Path, tmp_path: Path
) -> None:
    dotgit = (tmp_path / "wa" / ".git").read_text()
    out = bash(agent, (
        "v=$(dirname $(git rev-parse --git-dir))/wa/sandbox-views; for i in $(seq 1 50); do "
        "mkdir $v/x$i 2>/dev/null || touch $v/x$i 2>/dev/null; done; ls $v | wc -l; "
        "rm -f .git 2>&1; mv .git g 2>&1; echo 'gitdir: /tmp' > .git 2>&1; echo end"
    ))  # fmt: skip
    assert "Read-only file system" in out or "Device or resource busy" in out, out
    assert (tmp_path / "wa" / ".git").read_text() == dotgit
    assert list((repo / ".git/worktrees/wa/sandbox-views").iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Hard links: the walk and its cache


def test_a_folder_whose_mtime_is_put_back_is_walked_again(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "P").mkdir(parents=True)
    (root / "F").mkdir()
    (tmp_path / "outside.txt").write_text(CANARY)
    os.link(tmp_path / "outside.txt", root / "P" / "hl")  # a uv hardlink-mode file, say
    settled(root / "F", root / "P", root)
    agent = Sandbox(root)
    first = bash(agent, (
        "cat P/hl; python -c \"import os; s = os.stat('F'); os.rename('P', 'F/P'); "
        "os.utime('F', ns=(s.st_atime_ns, s.st_mtime_ns))\"; ls F"
    ))  # fmt: skip
    assert "Permission denied" in first and CANARY not in first, first
    assert "CANARY" not in bash(agent, "cat F/P/hl 2>&1")


def test_a_link_moved_between_the_walk_and_the_mounts_stays_masked(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text(CANARY)
    os.link(tmp_path / "outside.txt", root / "d" / "hl")
    agent = Sandbox(root)
    # Call B: what Bash.run does first (the walk and the command line) ...
    launch = agent.launch(["bash", "-c", "cat d2/hl 2>&1"])
    try:
        # ... then call A, running beside it, moves the folder ...
        assert bash(agent, "mv d d2 && echo moved") == "moved"
        # ... and B's bwrap starts.
        env = sandbox_env(os.environ)
        _, out = asyncio.run(run_command(launch, root, env, 20, 30_000))
    finally:
        launch.close()
    assert "CANARY" not in out, out


def test_odd_names_fifos_and_links_to_inside_do_not_break_the_walk(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text(CANARY)
    odd = os.fsencode(root / "sub") + b"/bad\xff\nname -x"
    os.link(tmp_path / "outside.txt", odd)
    os.mkfifo(root / "fifo")
    (root / "mine").write_text("mine\n")
    os.link(root / "mine", root / "sub" / "mine-too")
    agent = Sandbox(root)
    out = bash(agent, "cat sub/bad* 2>&1; cat sub/mine-too; ln mine sub/third; mv sub sub2; echo ok")
    assert "Permission denied" in out and "CANARY" not in out and out.endswith("mine\nok"), out
    out = bash(agent, "cat sub2/bad* 2>&1; cat sub2/third")  # moved: walked again, still masked
    assert "Permission denied" in out and "CANARY" not in out and out.endswith("mine"), out


def test_a_very_deep_folder_does_not_break_later_calls(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    agent = Sandbox(root)
    out = bash(agent, (
        "python -c \"import os\nfor _ in range(80): os.mkdir('d' * 60); os.chdir('d' * 60)\"; echo made"
    ))  # fmt: skip
    assert out == "made", out
    try:
        assert bash(agent, "echo next") == "next"
        assert bash(Sandbox(root), "echo other agent") == "other agent"
    finally:
        subprocess.run(["rm", "-rf", str(root / ("d" * 60))], check=False)


# ---------------------------------------------------------------------------------------------
# Nested repositories and tool folders: bound by a path found once


def test_a_nested_repository_moved_between_calls_stays_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    vendor = new_repo(root / "vendor", monkeypatch, {"v.txt": "v\n"})
    config = (vendor / ".git" / "config").read_text()
    agent = Sandbox(root)
    first = bash(
        agent, "echo x >> vendor/.git/config 2>&1; mv vendor v2 && mkdir -p vendor/.git && echo moved"
    )
    assert "Read-only file system" in first and first.endswith("moved"), first
    bash(agent, (
        "printf '[core]\\n\\tfsmonitor = \"touch PWNED; false\"\\n' >> v2/.git/config 2>&1; "
        "mv vendor junk && mv v2 vendor; echo done"
    ))  # fmt: skip
    assert (vendor / ".git" / "config").read_text() == config


@pytest.mark.parametrize("how", ["through-a-link", "not-made-yet"])
def test_what_the_host_runs_from_a_path_folder_inside_the_root_stays_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    root = tmp_path / "root"
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    (root / ".venv" / "bin" / "tool").chmod(0o755)
    if how == "through-a-link":
        os.symlink(".venv", root / "env")
        entry = root / "env" / "bin"
        command = "rm env; mkdir -p evil/bin; printf '#!/bin/sh\\necho evil\\n' > evil/bin/tool; "
        command += "chmod +x evil/bin/tool; ln -s evil env; echo done"
    else:
        entry = root / "node_modules" / ".bin"
        command = "mkdir -p node_modules/.bin; printf '#!/bin/sh\\necho evil\\n' > node_modules/.bin/tool; "
        command += "chmod +x node_modules/.bin/tool; echo done"
    monkeypatch.setenv("PATH", f"{entry}{os.pathsep}{os.environ['PATH']}")
    sandbox_module._tool_dirs.cache_clear()  # read once per process: read again with this PATH
    try:
        out = bash(Sandbox(root), command)
    finally:
        sandbox_module._tool_dirs.cache_clear()
    assert out == "done", out
    found = shutil.which("tool", path=str(entry))
    assert found is None or "evil" not in Path(found).read_text()
