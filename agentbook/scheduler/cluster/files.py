"""A repository for workers that do not share the notebook's filesystem, shipped as git bundles.

A worker says whether it sees the run's folder (`sees`; a worker started with
`AGENTBOOK_CLUSTER_FILES=bundle` never does).  One that does not gets the repository's base
commit as a bundle (`pack_repo`), clones it into its own folder (`unpack_repo`) and runs its
worktree agents there; each agent's branch comes back as a bundle of its own (`pack_branch`),
fetched into the user's repository (`fetch_branch`), so `merge`, `publish` and a batch's report
work as they do in-process.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agentbook.worktrees.gitcmd import run_git

__all__ = ["RepoBundle", "fetch_branch", "pack_branch", "pack_repo", "sees", "unpack_repo"]

_BASE_REF = "refs/agentbook/bundle-base"


@dataclass(frozen=True)
class RepoBundle:
    """The repository at `base`, and where the run's folder is inside it (`subdir`)."""

    data: bytes
    base: str
    subdir: str


def sees(path: str, token: str) -> bool:
    """(On a worker) whether `path` holds `token`: the worker shares the notebook's files."""
    if os.environ.get("AGENTBOOK_CLUSTER_FILES") == "bundle":
        return False
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


def pack_repo(repo: Path, base: str, cwd: Path) -> RepoBundle:
    """`repo`'s history up to `base` as a bundle, for a worker's clone."""
    run_git(repo, "update-ref", _BASE_REF, base)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "repo.bundle"
            run_git(repo, "bundle", "create", str(path), _BASE_REF)
            data = path.read_bytes()
    finally:
        run_git(repo, "update-ref", "-d", _BASE_REF, check=False)
    subdir = Path(os.path.realpath(cwd)).relative_to(Path(os.path.realpath(repo))).as_posix()
    return RepoBundle(data, base, subdir)


def unpack_repo(bundle: RepoBundle, into: Path) -> Path:
    """(On a worker) a clone of `bundle` in `into` (once), checked out at its base; the folder
    the run's agents start in."""
    if not (into / ".git").exists():
        into.mkdir(parents=True, exist_ok=True)
        path = into.parent / f"{into.name}.bundle"
        path.write_bytes(bundle.data)
        run_git(into, "init", "-q")
        run_git(into, "fetch", "-q", str(path), f"{_BASE_REF}:refs/heads/agentbook-base")
        run_git(into, "checkout", "-q", bundle.base)
        path.unlink()
    return into / bundle.subdir


def pack_branch(repo: Path, branch: str) -> bytes:
    """(On a worker) `branch` of the worker's clone as a bundle."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "branch.bundle"
        run_git(repo, "bundle", "create", str(path), f"refs/heads/{branch}")
        return path.read_bytes()


def fetch_branch(repo: Path, branch: str, data: bytes) -> None:
    """Fetch `branch` from a worker's bundle into the user's repository `repo`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "branch.bundle"
        path.write_bytes(data)
        run_git(repo, "fetch", "-q", "--force", str(path), f"refs/heads/{branch}:refs/heads/{branch}")
