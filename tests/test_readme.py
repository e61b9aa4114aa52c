"""Every example in README.md runs as written (issue 15, point 2): its Python and magic blocks in
order in one IPython shell, and its `agentbook` command lines, in a copy of this checkout (a git
repository, for the worktree examples), on the offline default; the blocks that name Claude
(`--model haiku`, `ANTHROPIC_API_KEY=...`) against the local fake Messages API.  Skipped: the
two install commands (CI runs the test one), `jupyter lab` and `npx`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from support import REPO, git

from agentbook.testing import FakeAnthropic, FakeRequest, MessageReply, Reply

KEY = "sk-ant-test-readme-0123456789abcdef"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
COPIED = ("agentbook", "docs", "data", "pyproject.toml", "README.md")

pytestmark = pytest.mark.timeout(600)


def blocks() -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in BLOCK.finditer((REPO / "README.md").read_text())]


def answer(request: FakeRequest) -> Reply:
    return MessageReply("Read it: the package holds models, tools and a scheduler.")


def checkout(tmp_path: Path) -> Path:
    work = tmp_path / "agentbook-checkout"
    work.mkdir()
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, work / name)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", ".")
    git(work, "-c", "user.name=readme", "-c", "user.email=readme@localhost", "commit", "-qm", "start")
    return work


def online(code: str) -> bool:
    return "--model haiku" in code or "ANTHROPIC_API_KEY=" in code


def test_every_readme_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = checkout(tmp_path)
    monkeypatch.chdir(work)
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    ip = InteractiveShell.instance()
    ran = 0
    with FakeAnthropic(answer, api_key=KEY) as fake:
        for lang, code in blocks():
            if lang == "python" or code.startswith("%%"):
                run_cell(ip, code, fake if online(code) else None, monkeypatch)
            elif lang == "bash" and ".venv/bin/agentbook" in code:
                run_command(code, fake if online(code) else None, work)
            else:
                continue
            ran += 1
    assert ran >= 11, f"only {ran} README blocks ran: the extraction missed some"


def run_cell(ip: object, code: str, fake: FakeAnthropic | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if fake is not None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    try:
        result = ip.run_cell(code)  # type: ignore[attr-defined]
        assert result.success, (
            f"README block failed:\n{code}\n{result.error_before_exec or result.error_in_exec!r}"
        )
        if code.startswith("%%parallel_agents"):
            ip.user_ns["run"].wait(60)  # type: ignore[attr-defined]
            assert set(ip.user_ns["run"].status.values()) == {"done"}  # type: ignore[attr-defined]
    finally:
        if fake is not None:
            monkeypatch.delenv("ANTHROPIC_API_KEY")
            monkeypatch.delenv("ANTHROPIC_BASE_URL")


def run_command(code: str, fake: FakeAnthropic | None, work: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    command = code.split("#")[0].strip()
    if fake is not None:
        env["ANTHROPIC_BASE_URL"] = fake.base_url
        command = command.replace("ANTHROPIC_API_KEY=...", f"ANTHROPIC_API_KEY={KEY}")
    # `python3 -m venv .venv && .venv/bin/pip install ... && .venv/bin/agentbook ...`: this process's
    # interpreter has agentbook installed already, so only the agentbook part is run.
    command = next(part for part in command.split("&&") if ".venv/bin/agentbook" in part)
    words = shlex.split(command)
    while words and "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    assert words[0] == ".venv/bin/agentbook", code
    done = subprocess.run([sys.executable, "-m", "agentbook.cli", *words[1:]], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, f"{code}\n{done.stderr[-2000:]}"
