"""Attacks on the Bash sandbox, review round 3: what the host does after a call with what the box left
in a worktree's writable admin folder and working tree (`Worktrees.finish` runs git there, outside
the box), the descriptors bwrap is given (`--ro-bind-fd`), the per-call object folder in the system's
temporary folder, and the walk's masks as a way to stop every later call of a root.

Everything is real: real bwrap, real git, real `Worktrees` and real `Bash().run` calls through one
`Sandbox` per agent; canaries and markers only in tmp_path.  A finding is an
`xfail(strict=True, reason="OPEN: ...")` test asserting what should hold; what held is a plain test.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support import git, new_repo
from support import sandboxed_bash as bash

from agentbook.tools.sandbox import Sandbox, unavailable_reason
from agentbook.worktrees import Worktrees

pytestmark = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"no sandbox: {unavailable_reason()}"
)

BRANCH = "agentbook/r/a"
CANARY = "CANARY-OUTSIDE-3c11\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = new_repo(tmp_path / "repo", monkeypatch, {"a.txt": "a\n"})
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("print(1)\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "src")
    return repo


def fsmonitor(marker: Path) -> str:
    """A config section that runs a command of the box's choosing wherever git reads it (outside
    the box: the host's git at finish)."""
    return f"printf '[core]\\n\\tfsmonitor = \"touch {marker}; false\"\\n'"


# ---------------------------------------------------------------------------------------------
# Host-side git in the agent's worktree after its calls (Worktrees.finish: add --all, diff,
# write-tree, commit-tree, update-ref)


def test_config_worktree_written_in_the_box_runs_nothing_on_the_host(repo: Path, tmp_path: Path) -> None:
    trees = Worktrees(repo, "r", sparse=["src"])
    tree = trees.create("t")
    agent = Sandbox(tree.path, branch=tree.branch)
    marker = tmp_path / "PWNED-config-worktree"
    out = bash(agent, f'{fsmonitor(marker)} >> "$(git rev-parse --git-dir)/config.worktree" && echo wrote')
    assert "config.worktree: Read-only file system" in out, out  # refused (it was written before)
    assert not marker.exists()  # the box's own git ran it in the box: the box's /tmp is not tmp_path
    (tree.path / "src" / "app.py").write_text("print(2)\n")
    trees.finish(tree, message="t")
    assert not marker.exists(), "the host's git ran a command the box wrote into config.worktree"


def test_a_nested_repository_made_in_the_box_runs_nothing_at_finish(repo: Path, tmp_path: Path) -> None:
    trees = Worktrees(repo, "r")
    tree = trees.create("t")
    agent = Sandbox(tree.path, branch=tree.branch)
    marker = tmp_path / "PWNED-nested"
    out = bash(agent, (
        "(unset GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES; git init -q sub && cd sub && "
        f"git commit -q --allow-empty -m x && {fsmonitor(marker)} >> .git/config) && "
        "git add sub 2>/dev/null; echo x > sub/f; echo staged"
    ))  # fmt: skip
    assert out.endswith("staged"), out
    trees.finish(tree, message="t")
    assert not marker.exists(), "finish's git ran the nested repository's core.fsmonitor on the host"


def test_a_link_as_the_worktree_head_reflog_writes_nothing_outside(repo: Path, tmp_path: Path) -> None:
    trees = Worktrees(repo, "r")
    tree = trees.create("t")
    agent = Sandbox(tree.path, branch=tree.branch)
    victim = tmp_path / "victim.txt"  # ~/.bashrc, a .pth, authorized_keys...
    victim.write_text(CANARY)
    out = bash(
        agent, f'ln -sf {victim} "$(git rev-parse --git-dir)/logs/HEAD"; echo changed > a.txt; echo ok'
    )
    assert out.endswith("ok"), out
    outcome = trees.finish(tree, message="t")
    assert outcome.commit is not None
    assert victim.read_text() == CANARY, "the host's git wrote through the box's link"


def test_a_link_as_the_worktree_index_or_orig_head_is_not_written_through(repo: Path, tmp_path: Path) -> None:
    # git writes the index and ORIG_HEAD through a lock file renamed over them: a link is replaced.
    trees = Worktrees(repo, "r")
    tree = trees.create("t")
    agent = Sandbox(tree.path, branch=tree.branch)
    victim = tmp_path / "victim.txt"
    victim.write_text(CANARY)
    out = bash(agent, (
        f'd=$(git rev-parse --git-dir); cp "$d/index" i && ln -sf {victim} "$d/ORIG_HEAD" && '
        'echo changed > a.txt; echo ok'
    ))  # fmt: skip
    assert out.endswith("ok"), out
    trees.finish(tree, message="t")
    assert victim.read_text() == CANARY


# ---------------------------------------------------------------------------------------------
# Descriptors: what bwrap is given must not reach the command, nor stay open in agentbook


def test_no_descriptor_of_the_pins_reaches_the_box_or_stays_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    (root / ".venv" / "bin").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root / "vendor")], check=True)
    monkeypatch.setenv("PATH", f"{root / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    agent = Sandbox(root)
    bash(agent, "true")
    before = len(os.listdir("/proc/self/fd"))
    out = bash(agent, "for p in /proc/[0-9]*; do ls -l $p/fd/; done 2>/dev/null | grep -- '->'")
    for _ in range(10):
        bash(agent, "true")
    # Only stdin, stdout, stderr (ls's own listing, the init's eventfd): no O_PATH descriptor of a
    # `.git` or `.venv`, which /proc/self/fd/N/... would open through the host's writable mount.
    targets = {line.split(" -> ")[1] for line in out.splitlines()}
    assert all(t == "/dev/null" or t.startswith(("pipe:", "anon_inode:", "/proc/")) for t in targets), out
    assert len(os.listdir("/proc/self/fd")) == before


def test_the_descriptors_bwrap_reads_point_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    subprocess.run(["git", "init", "-q", str(root / "vendor")], check=True)
    launch = Sandbox(root).launch(["true"])
    try:
        targets = [os.readlink(f"/proc/self/fd/{fd}") for fd in launch.fds]
    finally:
        launch.close()
        Sandbox(root).settle(launch)
    assert any(t.endswith("/vendor/.git") for t in targets), targets
    assert all(t.startswith(str(root)) or t.startswith("pipe:") for t in targets), targets


# ---------------------------------------------------------------------------------------------
# The per-call object folder (the system's temporary folder, bound into the box's /tmp)


def test_links_in_the_private_object_folder_import_and_delete_nothing(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(repo, "worktree", "add", "-q", "-b", BRANCH, str(tmp_path / "wa"))
    other = new_repo(tmp_path / "other", monkeypatch, {"secret.txt": CANARY})
    blob = git(other, "rev-parse", "HEAD:secret.txt")
    loose = other / ".git" / "objects" / blob[:2] / blob[2:]
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text(CANARY)
    agent = Sandbox(tmp_path / "wa", branch=BRANCH)
    out = bash(agent, (
        f'o=$GIT_OBJECT_DIRECTORY; mkdir -p $o/{blob[:2]} && ln -s {loose} $o/{blob[:2]}/{blob[2:]}; '
        f"ln -s {victim} $o/pack; ln -s {victim} $o/zz; ln -s {victim}/keep.txt $o/info; echo ok"
    ))  # fmt: skip
    assert out.endswith("ok"), out
    found = subprocess.run(["git", "cat-file", "-e", blob], cwd=repo, capture_output=True, check=False)
    assert found.returncode != 0  # another repository's object not imported through the link
    assert (victim / "keep.txt").read_text() == CANARY


# ---------------------------------------------------------------------------------------------
# The walk's masks: a root a call can make unusable for every agent that shares it


def test_many_masks_do_not_stop_the_later_calls_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    agent = Sandbox(root)
    out = bash(agent, (
        "python3 - <<'P'\nimport os\nos.makedirs('d'); os.chdir('d')\n"
        "for _ in range(16):\n    os.mkdir('x' * 250); os.chdir('x' * 250)\n"
        "open('f', 'w').close(); f = os.getcwd() + '/f'; os.chdir(os.environ['R'])\nos.mkdir('m')\n"
        "for i in range(30000):\n    os.link(f, 'm/%06d' % i)\nprint('made')\nP"
    ).replace("os.environ['R']", repr(str(root))))  # fmt: skip
    assert out.endswith("made"), out
    sibling = Sandbox(root)  # another agent of the same folder (a plain-folder run, a sub-agent)
    assert bash(sibling, "echo alive") == "alive"
