"""agentbook.worktrees on real git repositories made in tmp_path.

Every repository comes from the `repo` fixture with a dirty user checkout (a modified tracked
file, a staged new file, an untracked file); the fixture checks at teardown that HEAD, index,
working files and `git status` there are exactly as before, so every test also tests that the
user's checkout is never touched.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agentbook.worktrees import MergeConflict, Worktree, WorktreeError, Worktrees

FILES = {
    "README.md": "# demo\n",
    "src/app.py": "def main():\n    return 1\n",
    "src/util.py": "X = 1\n",
    "docs/guide.md": "guide\n",
    "lib/core/engine.py": "ENGINE = 1\n",
    ".gitignore": ".env*\nbuild/\n*.log\n",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test identity and no global or system git config (the machine's own is never read)."""
    empty = tmp_path / "empty-gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test Person")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


def make_repo(path: Path, files: dict[str, str] = FILES) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def snapshot(repo: Path) -> dict[str, str]:
    """What must not change in the user's checkout."""
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "branch": git(repo, "symbolic-ref", "HEAD"),
        "status": git(repo, "status", "--porcelain=v1", "--untracked-files=all"),
        "staged": git(repo, "diff", "--cached"),
        "unstaged": git(repo, "diff"),
        "readme": (repo / "README.md").read_text(),
        "untracked": (repo / "scratch.txt").read_text(),
        "stash": git(repo, "stash", "list"),
    }


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """A repository whose user checkout is dirty, and is checked unchanged at teardown."""
    path = make_repo(tmp_path / "repo")
    (path / "README.md").write_text("# demo\nwork in progress\n")  # modified, not staged
    (path / "staged.txt").write_text("staged\n")
    git(path, "add", "staged.txt")
    (path / "scratch.txt").write_text("untracked notes\n")
    before = snapshot(path)
    yield path
    assert snapshot(path) == before


def worktree_list(repo: Path) -> list[dict[str, str]]:
    entries = []
    for block in git(repo, "worktree", "list", "--porcelain").split("\n\n"):
        entry = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            entry[key] = value
        entries.append(entry)
    return entries


def branches(repo: Path) -> set[str]:
    return set(git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split())


# ------------------------------------------------------------------------------------ create


def test_create_checks_out_a_locked_worktree_on_the_task_branch(repo: Path) -> None:
    trees = Worktrees(repo, "run1")
    tree = trees.create("fix-login")

    assert tree.branch == "agentbook/run1/fix-login"
    assert tree.path == repo.resolve() / ".agentbook" / "worktrees" / "run1" / "fix-login"
    assert tree.base == git(repo, "rev-parse", "HEAD")
    assert (tree.path / "src" / "app.py").read_text() == FILES["src/app.py"]
    assert not (tree.path / "scratch.txt").exists()  # the user's untracked file stays theirs
    assert (tree.path / "README.md").read_text() == FILES["README.md"]  # the base, not the dirty copy
    assert git(tree.path, "status", "--porcelain") == ""
    listed = {entry["worktree"]: entry for entry in worktree_list(repo)}
    entry = listed[str(tree.path)]
    assert entry["branch"] == "refs/heads/agentbook/run1/fix-login"
    assert entry["locked"] == "agentbook run run1: fix-login"


def test_create_from_a_subfolder_and_another_base(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "branch", "older", first)
    trees = Worktrees(repo / "src", "r", base="older")
    assert trees.repo == repo.resolve()
    assert trees.base == first


def test_worktrees_are_hidden_from_the_users_git_status(repo: Path) -> None:
    Worktrees(repo, "r").create("t")
    exclude = (repo / ".git" / "info" / "exclude").read_text()
    assert "/.agentbook/" in exclude
    # The teardown of `repo` checks that `git status` there did not change.


def test_nothing_is_written_to_exclude_when_gitignore_covers_it(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "repo", {**FILES, ".gitignore": ".agentbook/\n"})
    exclude = path / ".git" / "info" / "exclude"
    before = exclude.read_text()
    Worktrees(path, "r").create("t")
    assert exclude.read_text() == before
    assert git(path, "status", "--porcelain") == ""


def test_a_root_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    trees = Worktrees(repo, "r", root=tmp_path / "trees")
    tree = trees.create("t")
    assert tree.path == (tmp_path / "trees" / "r" / "t").resolve()
    assert "agentbook" not in (repo / ".git" / "info" / "exclude").read_text()
    assert trees.finish(tree, message="t: nothing").kept is False


# ------------------------------------------------------------------------------------ finish


def test_finish_commits_every_change_on_the_branch(repo: Path) -> None:
    trees = Worktrees(repo, "run1")
    tree = trees.create("add-cli")
    (tree.path / "src" / "app.py").write_text("def main():\n    return 2\n\n\ndef cli():\n    pass\n")
    (tree.path / "src" / "cli.py").write_text("import app\n")
    (tree.path / "docs" / "guide.md").unlink()
    (tree.path / "debug.log").write_text("ignored by .gitignore\n")

    outcome = trees.finish(tree, message="Add a command line (add-cli)")

    assert outcome.commit is not None
    assert (outcome.files_changed, outcome.insertions, outcome.deletions) == (3, 6, 2)
    shortstat = git(repo, "diff", "--shortstat", tree.base, outcome.commit)
    assert shortstat == "3 files changed, 6 insertions(+), 2 deletions(-)"
    assert outcome.kept is False and not tree.path.exists()
    assert "agentbook/run1/add-cli" in branches(repo)
    assert git(repo, "rev-parse", "agentbook/run1/add-cli") == outcome.commit
    assert git(repo, "rev-parse", f"{outcome.commit}^") == tree.base
    assert git(repo, "log", "-1", "--format=%s", outcome.commit) == "Add a command line (add-cli)"
    assert git(repo, "log", "-g", "-1", "--format=%gs", tree.branch) == "commit: Add a command line (add-cli)"
    assert git(repo, "log", "-1", "--format=%an <%ae>", outcome.commit) == "Test Person <test@example.com>"
    committed = git(repo, "show", "--name-status", "--format=", outcome.commit).splitlines()
    assert sorted(committed) == ["A\tsrc/cli.py", "D\tdocs/guide.md", "M\tsrc/app.py"]
    assert str(tree.path) not in {entry["worktree"] for entry in worktree_list(repo)}


def test_finish_names_the_task_in_the_message(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    tree = trees.create("fix")
    (tree.path / "new.txt").write_text("x\n")
    outcome = trees.finish(tree, message="fix-ups to the parser")
    assert git(repo, "log", "-1", "--format=%s", outcome.commit or "") == "fix: fix-ups to the parser"


def test_finish_without_changes_removes_the_worktree_and_its_branch(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    tree = trees.create("look")
    (tree.path / "build").mkdir()
    (tree.path / "build" / "out.o").write_text("ignored\n")

    outcome = trees.finish(tree, message="look: read only")

    assert outcome.commit is None
    assert (outcome.files_changed, outcome.insertions, outcome.deletions) == (0, 0, 0)
    assert outcome.kept is False and not tree.path.exists()
    assert "agentbook/r/look" not in branches(repo)
    assert len(worktree_list(repo)) == 1
    assert not (repo / ".agentbook" / "worktrees" / "r").exists()


def test_failed_worktree_is_kept_unlocked_with_its_work_committed(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    tree = trees.create("broken")
    (tree.path / "src" / "util.py").write_text("X = 2\n")

    outcome = trees.finish(tree, message="broken: half done", failed=True)

    assert outcome.kept is True and tree.path.is_dir()
    assert outcome.commit == git(repo, "rev-parse", "agentbook/r/broken")
    assert outcome.files_changed == 1
    assert (tree.path / "src" / "util.py").read_text() == "X = 2\n"
    entry = next(e for e in worktree_list(repo) if e["worktree"] == str(tree.path))
    assert "locked" not in entry

    # A resumed agent goes on in the kept folder; it can fail again, or end well.
    (tree.path / "src" / "util.py").write_text("X = 3\n")
    again = trees.finish(tree, message="broken: still failing", failed=True)
    assert again.kept and again.commit != outcome.commit
    done = trees.finish(tree, message="broken: fixed")
    assert done.commit == again.commit and not done.kept and not tree.path.exists()
    assert "agentbook/r/broken" in branches(repo)


def test_reopen_locks_a_kept_worktree_again(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    tree = trees.create("retry")
    trees.finish(tree, message="retry: first try", failed=True)

    again = Worktrees(repo, "r").reopen("retry")  # e.g. after a kernel restart

    assert again == tree
    entry = next(e for e in worktree_list(repo) if e["worktree"] == str(tree.path))
    assert entry["locked"] == "agentbook run r: retry"
    (tree.path / "fixed.txt").write_text("ok\n")
    assert trees.finish(again, message="retry: second try").commit is not None
    with pytest.raises(ValueError, match="no worktree to reopen"):
        trees.reopen("retry")
    with pytest.raises(ValueError, match="no worktree to reopen"):
        trees.reopen("never-made")


def test_commits_the_agent_made_itself_count(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    tree = trees.create("self")
    (tree.path / "a.txt").write_text("a\n")
    git(tree.path, "add", "a.txt")
    git(tree.path, "commit", "-q", "-m", "self: own commit")
    own = git(tree.path, "rev-parse", "HEAD")

    clean = trees.finish(tree, message="self: nothing left")
    assert clean.commit == own
    assert clean.files_changed == 1 and clean.insertions == 1

    tree = trees.create("more")
    (tree.path / "a.txt").write_text("a\n")
    git(tree.path, "add", "a.txt")
    git(tree.path, "commit", "-q", "-m", "more: own commit")
    (tree.path / "b.txt").write_text("b\nb\n")
    outcome = trees.finish(tree, message="more: the rest")
    assert outcome.commit is not None and outcome.commit != git(repo, "rev-parse", "agentbook/r/self")
    assert git(repo, "rev-list", "--count", f"{tree.base}..{outcome.commit}") == "2"
    assert (outcome.files_changed, outcome.insertions) == (2, 3)


def test_head_moved_off_the_branch_is_an_error(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    tree = trees.create("wander")
    git(tree.path, "checkout", "-q", "--detach")
    with pytest.raises(WorktreeError, match="moved HEAD"):
        trees.finish(tree, message="wander")
    assert tree.path.is_dir()
    trees.cleanup()


def test_author_falls_back_to_agentbook(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{role}_NAME")
        monkeypatch.delenv(f"GIT_{role}_EMAIL")
    trees = Worktrees(repo, "r")
    tree = trees.create("t")
    (tree.path / "n.txt").write_text("n\n")
    commit = trees.finish(tree, message="t: n").commit or ""
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", commit) == (
        "agentbook <agentbook@localhost>|agentbook <agentbook@localhost>"
    )


def test_author_from_git_config(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{role}_NAME")
        monkeypatch.delenv(f"GIT_{role}_EMAIL")
    git(repo, "config", "user.name", "Config Person")
    git(repo, "config", "user.email", "config@example.com")
    trees = Worktrees(repo, "r")
    tree = trees.create("t")
    (tree.path / "n.txt").write_text("n\n")
    commit = trees.finish(tree, message="t: n").commit or ""
    assert git(repo, "log", "-1", "--format=%an <%ae>", commit) == "Config Person <config@example.com>"


def test_finish_twice_or_from_another_run_is_refused(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    tree = trees.create("t")
    with pytest.raises(ValueError, match="does not belong"):
        Worktrees(repo, "other").finish(tree, message="t")
    trees.finish(tree, message="t")
    with pytest.raises(ValueError, match="finished or removed already"):
        trees.finish(tree, message="t")


# ----------------------------------------------------------------------------------- cleanup


def test_cleanup_removes_what_remains_and_keeps_branches_with_commits(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    idle = trees.create("idle")  # never finished, no change
    dirty = trees.create("dirty")  # never finished, uncommitted change: lost
    (dirty.path / "x.txt").write_text("x\n")
    failed = trees.create("failed")
    (failed.path / "y.txt").write_text("y\n")
    trees.finish(failed, message="failed: y", failed=True)
    other = Worktrees(repo, "other").create("t")  # another run: untouched

    removed = trees.cleanup()

    assert sorted(removed) == sorted([idle.path, dirty.path, failed.path])
    assert not any(path.exists() for path in removed)
    assert not (repo / ".agentbook" / "worktrees" / "r").exists()
    assert {entry["worktree"] for entry in worktree_list(repo)} == {str(repo.resolve()), str(other.path)}
    assert branches(repo) == {"main", "agentbook/r/failed", "agentbook/other/t"}
    assert Worktrees(repo, "r").cleanup() == []


def test_cleanup_leaves_the_users_own_worktrees_alone(repo: Path, tmp_path: Path) -> None:
    trees = Worktrees(repo, "r")
    branch = _branch_with(trees, "done", {"src/d.py": "D\n"})
    inspect = tmp_path / "inspect"
    git(repo, "worktree", "add", "-q", str(inspect), branch)  # the user looks at an agent's branch
    trees.create("idle")

    assert trees.cleanup() == [repo.resolve() / ".agentbook" / "worktrees" / "r" / "idle"]
    assert (inspect / "src" / "d.py").read_text() == "D\n"
    assert branch in branches(repo)
    git(repo, "worktree", "remove", str(inspect))


def test_cleanup_from_a_new_instance_finds_the_runs_worktrees(repo: Path) -> None:
    tree = Worktrees(repo, "r").create("t")
    assert Worktrees(repo, "r").cleanup() == [tree.path]
    assert "agentbook/r/t" not in branches(repo)


# ---------------------------------------------------------------------------- .worktreeinclude


def test_worktreeinclude_copies_listed_ignored_files_only(repo: Path) -> None:
    (repo / ".worktreeinclude").write_text(".env.local\nconfig/*.json\nnotes.txt\n")
    (repo / ".env.local").write_text("API_KEY=local\n")  # listed and ignored: copied
    (repo / ".env.production").write_text("API_KEY=prod\n")  # ignored, not listed: not copied
    (repo / "notes.txt").write_text("mine\n")  # listed, not ignored: the user's own work, not copied
    (repo / "config").mkdir()
    (repo / "config" / "dev.json").write_text("{}\n")
    (repo / ".gitignore").write_text(FILES[".gitignore"] + "config/\n")

    try:
        tree = Worktrees(repo, "r").create("t")
        assert (tree.path / ".env.local").read_text() == "API_KEY=local\n"
        assert (tree.path / "config" / "dev.json").read_text() == "{}\n"
        assert not (tree.path / ".env.production").exists()
        assert not (tree.path / "notes.txt").exists()
        assert not (tree.path / ".worktreeinclude").exists()  # untracked in the user's checkout
    finally:
        for rel in (".worktreeinclude", ".env.local", ".env.production", "notes.txt", "config/dev.json"):
            (repo / rel).unlink()
        (repo / "config").rmdir()
        (repo / ".gitignore").write_text(FILES[".gitignore"])


def test_copied_files_are_not_committed(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "repo", {**FILES, ".worktreeinclude": ".env.local\n"})
    (path / ".env.local").write_text("SECRET=1\n")
    trees = Worktrees(path, "r")
    tree = trees.create("t")
    assert (tree.path / ".env.local").exists()
    assert trees.finish(tree, message="t").commit is None


# ------------------------------------------------------------------------------------- sparse


def test_sparse_checkout_has_only_the_listed_directories(repo: Path) -> None:
    trees = Worktrees(repo, "r", sparse=["src", "lib/core"])
    tree = trees.create("t")
    present = {
        p.relative_to(tree.path).as_posix() for p in tree.path.rglob("*") if p.is_file() and p.name != ".git"
    }
    # Cone mode: the listed directories, plus the files at the top level.
    assert present == {"README.md", ".gitignore", "src/app.py", "src/util.py", "lib/core/engine.py"}
    assert git(tree.path, "status", "--porcelain") == ""

    (tree.path / "src" / "util.py").write_text("X = 3\n")
    (tree.path / "docs").mkdir()
    (tree.path / "docs" / "new.md").write_text("outside the cone\n")
    outcome = trees.finish(tree, message="t: sparse work")
    changed = git(repo, "show", "--name-status", "--format=", outcome.commit or "").splitlines()
    assert sorted(changed) == ["A\tdocs/new.md", "M\tsrc/util.py"]  # no deletions of absent files


def test_sparse_worktrees_get_only_included_files_inside_the_cone(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "repo", {**FILES, ".worktreeinclude": ".env.local\n*.log\n"})
    (path / ".env.local").write_text("K=V\n")
    (path / "src" / "run.log").write_text("in the cone\n")
    (path / "docs" / "build.log").write_text("outside the cone\n")
    tree = Worktrees(path, "r", sparse=["src"]).create("t")
    assert (tree.path / ".env.local").exists()
    assert (tree.path / "src" / "run.log").exists()
    assert not (tree.path / "docs").exists()


# -------------------------------------------------------------------------------------- merge


def _branch_with(trees: Worktrees, task: str, files: dict[str, str]) -> str:
    tree = trees.create(task)
    for rel, text in files.items():
        (tree.path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree.path / rel).write_text(text)
    assert trees.finish(tree, message=f"{task}: edit").commit is not None
    return tree.branch


def test_merge_of_two_clean_branches(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    a = _branch_with(trees, "a", {"src/a.py": "A = 1\n"})
    b = _branch_with(trees, "b", {"docs/guide.md": "guide\nmore\n"})

    report = trees.merge([a, b], into="integration")

    assert report.ok and report.conflict is None
    assert report.merged == [a, b] and report.into == "integration"
    assert report.head == git(repo, "rev-parse", "integration")
    assert git(repo, "show", "integration:src/a.py") == "A = 1"
    assert git(repo, "show", "integration:docs/guide.md") == "guide\nmore"
    assert git(repo, "log", "--format=%s", "-2", "integration").splitlines() == [
        f"Merge branch '{b}' into integration",
        f"Merge branch '{a}' into integration",
    ]
    assert len(worktree_list(repo)) == 1  # the temporary worktree is gone
    assert not (repo / ".agentbook" / "worktrees" / "r").exists()


def test_merge_conflict_stops_with_a_report(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    a = _branch_with(trees, "a", {"src/app.py": "def main():\n    return 'a'\n"})
    b = _branch_with(trees, "b", {"src/app.py": "def main():\n    return 'b'\n", "src/b.py": "B\n"})
    c = _branch_with(trees, "c", {"src/c.py": "C = 1\n"})

    report = trees.merge([a, b, c], into="integration")

    assert not report.ok
    assert report.merged == [a]
    assert report.conflict == MergeConflict(branch=b, files=["src/app.py"])
    assert report.head == git(repo, "rev-parse", "integration")
    assert git(repo, "log", "-1", "--format=%s", "integration") == f"Merge branch '{a}' into integration"
    assert git(repo, "show", "integration:src/app.py") == "def main():\n    return 'a'"
    assert len(worktree_list(repo)) == 1
    # `into` existing already: merging goes on from where it is.
    again = trees.merge([c], into="integration")
    assert again.ok and git(repo, "rev-parse", "integration^") == report.head


def test_merge_refuses_a_branch_checked_out_somewhere(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    a = _branch_with(trees, "a", {"src/a.py": "A\n"})
    with pytest.raises(ValueError, match="checked out"):
        trees.merge([a], into="main")
    with pytest.raises(ValueError, match="does not exist"):
        trees.merge(["agentbook/r/nope"], into="integration")
    with pytest.raises(ValueError, match="not a valid branch name"):
        trees.merge([a], into="bad..name")
    with pytest.raises(ValueError, match="not a valid branch name"):
        trees.merge([a], into="@{-1}")


# ------------------------------------------------------------------------------------ publish


def test_publish_falls_back_to_a_patch_that_applies_on_the_base(repo: Path, tmp_path: Path) -> None:
    trees = Worktrees(repo, "r")
    branch = _branch_with(trees, "feature", {"src/feature.py": "F = 1\n", "README.md": "# demo\nmore\n"})

    published = Path(trees.publish(branch, title="Add feature", body="Adds F."))

    assert published == repo.resolve() / ".agentbook" / "patches" / "r" / "feature.patch"
    assert published.with_suffix(".md").read_text() == "# Add feature\n\nAdds F.\n"
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", trees.base)
    git(clone, "apply", "--check", str(published))
    git(clone, "am", "-q", str(published))
    assert (clone / "src" / "feature.py").read_text() == "F = 1\n"


def test_publish_opens_a_pull_request_with_gh_and_a_remote(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    calls = tmp_path / "gh-calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_gh = bin_dir / "gh"
    fake_gh.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {calls}\necho "Creating pull request"\n'
        'echo "https://github.com/example/demo/pull/7"\n'
    )
    fake_gh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    trees = Worktrees(repo, "r")
    branch = _branch_with(trees, "feature", {"src/feature.py": "F = 1\n"})

    url = trees.publish(branch, title="Add feature", body="Adds F.")

    assert url == "https://github.com/example/demo/pull/7"
    assert git(remote, "rev-parse", branch) == git(repo, "rev-parse", branch)
    assert calls.read_text().splitlines() == [
        "pr", "create", "--head", branch, "--title", "Add feature", "--body", "Adds F.",
    ]  # fmt: skip
    assert not (repo / ".agentbook" / "patches").exists()


def test_publish_refuses_a_branch_without_commits(repo: Path) -> None:
    trees = Worktrees(repo, "r")
    git(repo, "branch", "empty", trees.base)
    with pytest.raises(ValueError, match="no commits past the base"):
        trees.publish("empty", title="t", body="b")
    with pytest.raises(ValueError, match="does not exist"):
        trees.publish("missing", title="t", body="b")


# ------------------------------------------------------------------------------ errors, checkout


def test_bad_repositories_and_bases_give_clear_errors(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ValueError, match="not a git repository"):
        Worktrees(plain, "r")
    with pytest.raises(ValueError, match="not a git repository"):
        Worktrees(tmp_path / "missing", "r")
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    with pytest.raises(ValueError, match="bare repository"):
        Worktrees(bare, "r")
    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", str(empty))
    with pytest.raises(ValueError, match="needs a first commit"):
        Worktrees(empty, "r")
    repo = make_repo(tmp_path / "repo")
    for base in ("no-such-branch", "--all", "HEAD~5"):
        with pytest.raises(ValueError, match="does not resolve to a commit"):
            Worktrees(repo, "r", base=base)


@pytest.mark.parametrize(
    "name", ["", "a/b", "../x", "-x", ".hidden", "x.lock", "x.", "a..b", "a b", "é", "x" * 101]
)
def test_bad_run_and_task_names_give_clear_errors(repo: Path, name: str) -> None:
    with pytest.raises(ValueError, match=r"run name .* not usable as a branch component"):
        Worktrees(repo, name)
    with pytest.raises(ValueError, match=r"task name .* not usable as a branch component"):
        Worktrees(repo, "r").create(name)


def test_bad_sparse_and_duplicate_tasks_give_clear_errors(repo: Path) -> None:
    for sparse in (["../up"], ["/"], [], "src"):
        with pytest.raises(ValueError, match="sparse"):
            Worktrees(repo, "r", sparse=sparse)
    trees = Worktrees(repo, "r")
    trees.create("t")
    with pytest.raises(ValueError, match="already exists"):
        trees.create("t")
    assert len(worktree_list(repo)) == 2
    trees.cleanup()


def test_the_users_checkout_survives_everything(repo: Path, tmp_path: Path) -> None:
    """The `repo` fixture checks the checkout at teardown; this test runs every operation."""
    (repo / ".worktreeinclude").write_text(".env.local\n")
    (repo / ".env.local").write_text("K=V\n")
    before = snapshot(repo)
    trees = Worktrees(repo, "r")
    a = _branch_with(trees, "a", {"README.md": "# changed by a\n"})
    b = _branch_with(trees, "b", {"README.md": "# changed by b\n"})
    empty = trees.create("empty")
    trees.finish(empty, message="empty")
    failed = trees.create("failed")
    trees.finish(failed, message="failed", failed=True)
    trees.merge([a, b], into="integration")
    trees.publish(a, title="a", body="a")
    sparse = Worktrees(repo, "s", sparse=["src"])
    sparse.finish(sparse.create("t"), message="t")
    trees.create("left-over")
    trees.cleanup()
    sparse.cleanup()
    assert snapshot(repo) == before
    assert (repo / ".env.local").read_text() == "K=V\n"
    (repo / ".worktreeinclude").unlink()
    (repo / ".env.local").unlink()


# -------------------------------------------------------------------------------- concurrency


def test_ten_concurrent_creates_and_finishes(repo: Path) -> None:
    trees = Worktrees(repo, "r")

    def agent(i: int) -> str | None:
        tree = trees.create(f"t{i}")
        if i % 2 == 0:
            (tree.path / f"agent{i}.txt").write_text(f"{i}\n")
        return trees.finish(tree, message=f"t{i}: work").commit

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(agent, range(10)))

    assert len(worktree_list(repo)) == 1
    assert branches(repo) == {"main"} | {f"agentbook/r/t{i}" for i in range(0, 10, 2)}
    for i, commit in enumerate(results):
        assert (commit is not None) == (i % 2 == 0)
        if commit:
            assert git(repo, "show", f"{commit}:agent{i}.txt") == str(i)


def test_concurrent_sparse_creates_through_asyncio(repo: Path) -> None:
    trees = Worktrees(repo, "r", sparse=["src"])

    async def main() -> list[Worktree]:
        return list(await asyncio.gather(*(asyncio.to_thread(trees.create, f"t{i}") for i in range(10))))

    created = asyncio.run(main())
    assert all(
        (tree.path / "src" / "app.py").exists() and not (tree.path / "docs").exists() for tree in created
    )
    assert len(trees.cleanup()) == 10


def test_git_lock_held_by_another_process_is_waited_for(repo: Path) -> None:
    config_lock = repo / ".git" / "config.lock"
    config_lock.write_text("")  # as another git process writing the config would
    timer = threading.Timer(0.15, config_lock.unlink)
    timer.start()
    try:
        # The first sparse worktree turns on extensions.worktreeConfig in .git/config.
        tree = Worktrees(repo, "r", sparse=["src"]).create("t")
    finally:
        timer.join()
    assert (tree.path / "src" / "app.py").exists()


def test_a_same_size_edit_in_the_checkout_second_survives_the_index_refresh(tmp_path: Path) -> None:
    # `create` refreshes the index once a new second begins (so `finish` need not re-read every
    # file); an edit made before that, in the checkout's own second and keeping the size, is the
    # case git's racy-timestamp rules exist for: it must still be committed.
    path = make_repo(tmp_path / "repo", {f"f{i}.txt": f"line {i}\n" for i in range(200)})
    trees = Worktrees(path, "racy")
    tree = trees.create("t")
    (tree.path / "f7.txt").write_text("LINE 7\n")
    time.sleep(1.3)  # the scheduled refresh has run
    outcome = trees.finish(tree, message="t")
    assert outcome.commit is not None and outcome.files_changed == 1
    assert git(path, "show", f"{tree.branch}:f7.txt") == "LINE 7"


def test_four_processes_make_worktrees_of_one_repository_at_once(tmp_path: Path) -> None:
    """A cluster's workers on one machine share a repository: git's own locks would make one of
    two `git worktree add` at the same moment fail (2 runs in 3 without the lock); agentbook's
    repository lock makes it wait."""
    import sys

    repo = make_repo(tmp_path / "repo")
    go = tmp_path / "go"
    script = (
        "import os, sys, time\nfrom agentbook.worktrees import Worktrees\n"
        "trees = Worktrees(sys.argv[1], sys.argv[2])\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"  # all start at once
        "for n in range(15):\n    trees.create(f't{n}')\nprint('ok')\n"
    )
    makers = [subprocess.Popen([sys.executable, "-c", script, str(repo), f"run{i}"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for i in range(4)]  # fmt: skip
    time.sleep(1.5)  # their imports done
    go.touch()
    outcomes = [m.communicate(timeout=120) for m in makers]
    assert [o[0].strip() for o in outcomes] == ["ok"] * 4, [o[1][-500:] for o in outcomes]
    assert git(repo, "worktree", "list").count("\n") == 60  # the checkout and 60 worktrees
