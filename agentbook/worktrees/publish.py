"""Offering a branch for review: a pull request where `gh` and a remote exist, else a patch file.

`Worktrees.publish` comes here (through `Run.publish` and `Batch.publish`).  `gh` never prompts;
a patch goes to `<repo>/.agentbook/patches/<run>/<task>.patch`, hidden from `git status`, with the
title and body beside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from agentbook.worktrees.gitcmd import out_text, run_git
from agentbook.worktrees.repo import STATE_DIR, RunRepo
from agentbook.worktrees.values import WorktreeError

__all__ = ["publish_branch"]


def publish_branch(repo: RunRepo, branch: str, *, title: str, body: str) -> str:
    """A pull request's URL or a patch file's path for `branch`; see `Worktrees.publish`."""
    repo.check_branch_exists(branch)
    ahead = int(out_text(run_git(repo.repo, "rev-list", "--count", f"{repo.base}..refs/heads/{branch}")))
    if ahead == 0:
        raise ValueError(f"branch {branch!r} has no commits past the base {repo.base[:12]}: nothing to do")
    gh = shutil.which("gh")
    remote = _remote(repo)
    if gh is not None and remote is not None:
        return _pull_request(repo, gh, remote, branch, title, body)
    return str(_write_patch(repo, branch, title, body))


def _remote(repo: RunRepo) -> str | None:
    names = out_text(run_git(repo.repo, "remote")).split()
    return "origin" if "origin" in names else next(iter(names), None)


def _pull_request(repo: RunRepo, gh: str, remote: str, branch: str, title: str, body: str) -> str:
    run_git(repo.repo, "push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}")
    created = subprocess.run(
        [gh, "pr", "create", "--head", branch, "--title", title, "--body", body],
        cwd=repo.repo, capture_output=True, text=True, check=False, timeout=300,
        env={**os.environ, "GH_PROMPT_DISABLED": "1"},
    )  # fmt: skip
    if created.returncode != 0:
        raise WorktreeError(f"gh pr create failed (exit {created.returncode}): {created.stderr.strip()}")
    lines = created.stdout.strip().splitlines()
    if not lines:
        raise WorktreeError("gh pr create printed no pull request URL")
    return lines[-1]  # gh prints the new pull request's URL last


def _write_patch(repo: RunRepo, branch: str, title: str, body: str) -> Path:
    prefix = repo.branch("")
    name = branch.removeprefix(prefix) if branch.startswith(prefix) else branch
    target = repo.repo / STATE_DIR / "patches" / repo.run / f"{name.replace('/', '-')}.patch"
    with repo.lock:
        repo.hide(repo.repo / STATE_DIR)
    patch = run_git(repo.repo, "format-patch", "--stdout", f"{repo.base}..refs/heads/{branch}").out
    target.parent.mkdir(parents=True, exist_ok=True)
    if Path(os.path.realpath(target.parent)) != target.parent:  # a link on the way: written elsewhere
        raise WorktreeError(f"{target.parent} is not a plain folder of the checkout: no patch written")
    _replace(target, patch)
    _replace(target.with_suffix(".md"), f"# {title}\n\n{body}\n".encode())
    return target


def _replace(path: Path, data: bytes) -> None:
    """`path` holding `data`, by renaming a new file over it: a link there is replaced, never
    written through."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(temporary, path)
