"""Helpers shared by several test modules (imported as `support`; conftest names collide)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def ccusage_bin() -> str:
    """The ccusage 20.0.24 command; skipped when missing, but a failure in CI (which installs it)."""
    candidates = [
        os.environ.get("CCUSAGE_BIN"),
        str(REPO / ".ci/node/node_modules/.bin/ccusage"),
        shutil.which("ccusage"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    if os.environ.get("CI"):
        pytest.fail("ccusage is not installed: .ci/run installs it with npm (ccusage@20.0.24)")
    pytest.skip("ccusage not installed: npm install --prefix .ci/node ccusage@20.0.24")


def git(repo: Path, *args: str) -> str:
    """`git args` in `repo`; its stripped output, raising on failure."""
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def new_repo(path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> Path:
    """A git repository at `path` on branch main, one commit of `files`, with a committer
    identity in the environment (tests never read the user's git config)."""
    for key, value in {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                       "GIT_COMMITTER_EMAIL": "t@x"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).write_text(text)
    git(path, "add", ".")
    git(path, "commit", "-qm", "start")
    return path


def processes_with(marker: str) -> list[int]:
    """The pids of this machine's processes whose command line holds `marker` (from `/proc`, so
    sandboxed ones are seen from outside their PID namespace), this process excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        if marker in cmdline and "bwrap" not in cmdline.split(" ", 1)[0]:
            found.append(int(entry.name))
    return found


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise `TimeoutError` in the block if it runs past `seconds` (main thread only).

    A timer signal rather than a watching thread: a backtracking `re` match holds the GIL, so no
    other thread could even notice, but `re` checks for signals as it goes.
    """

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def child_processes(name: str) -> list[int]:
    """Pids of this process's children called `name`, zombies (exited, not reaped) included."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == os.getpid() and comm == name:
            found.append(int(entry))
    return found


def first_prompt(request: Any) -> str:
    """A fake API request's task prompt: its first message's first text after the run's shared
    context, a first block with a breakpoint before others (a resume's prompt may follow it)."""
    content = request.json["messages"][0]["content"]
    if isinstance(content, str):
        return content
    found = [b for b in content if b.get("type") == "text"]
    if len(found) > 1 and "cache_control" in found[0]:
        found = found[1:]
    return str(found[0]["text"]) if found else ""


def texts(request: Any) -> str:
    """Everything a fake API request's messages say, as one string (tool results, notifications)."""
    return json.dumps(request.json["messages"])


def sandboxed_bash(sandbox: Any, command: str) -> str:
    """One Bash call of the agent whose `Sandbox` is `sandbox` (the same object across its calls)."""
    import asyncio

    from agentbook.tools import Bash, ToolContext

    ctx = ToolContext(root=sandbox.root, sandbox=sandbox)
    return asyncio.run(Bash().run({"command": command, "timeout": 30_000}, ctx))


@contextlib.contextmanager
def dask_client(folders: pytest.TempPathFactory, workers: int = 2, **env: str) -> Iterator[Any]:
    """A `LocalCluster` of `workers` processes (4 threads each) and its `Client`: the workers in
    a scratch folder of their own, with an agentbook home of their own (`env` on top)."""
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=4, processes=True, dashboard_address=":0",
        local_directory=str(folders.mktemp("dask")),
        env={"AGENTBOOK_HOME": str(folders.mktemp("worker-home")), **env},
    )  # fmt: skip
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        yield client


@contextlib.contextmanager
def fake_api(handler: Any, monkeypatch: pytest.MonkeyPatch, key: str) -> Iterator[Any]:
    """The local fake Messages API answering with `handler`, named by this process's
    `ANTHROPIC_*` variables (a cluster's workers get them with their shares)."""
    from agentbook.testing import FakeAnthropic

    with FakeAnthropic(handler, api_key=key) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield fake
