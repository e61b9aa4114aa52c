"""A missing key is caught before anything starts (issue 15, point 3): an online model without
credentials raises naming the variables to set and the offline model, in Python, the magics and
the command line, and no run folder or transcript is made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from support import REPO

import agentbook as ab
from agentbook.models.base import MissingCredentials
from agentbook.scheduler.transcripts import agentbook_home


@pytest.fixture(autouse=True)
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def made() -> list[Path]:
    runs = agentbook_home() / "runs"
    return sorted(runs.rglob("*")) if runs.is_dir() else []


@pytest.mark.parametrize(
    "start",
    [
        lambda p: ab.run_parallel({"a": "x"}, model="haiku", cwd=p),
        lambda p: ab.run_parallel([ab.Task("a", "x", model="sonnet")], model="offline", cwd=p),
        lambda p: ab.explore(p, model="haiku"),
        lambda p: ab.Team("go", {"helper": "helps"}, ["t"], model="haiku", cwd=p).start(),
        lambda p: (plan := ab.Plan({"a": "x"}), plan.approve(), plan.run_phase(0, model="haiku", cwd=p)),
    ],
    ids=["run", "task-model", "explore", "team", "plan"],
)
def test_an_online_model_without_credentials_starts_nothing(tmp_path: Path, start: Any) -> None:
    with pytest.raises(MissingCredentials, match=r"ANTHROPIC_API_KEY.*model='offline'"):
        start(tmp_path)
    assert made() == []


def test_the_magic_says_it_as_a_usage_error(tmp_path: Path) -> None:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "agentbook")
    with pytest.raises(UsageError, match="--model offline"):
        ip.run_cell_magic("parallel_agents", f'--model haiku --cwd "{tmp_path}"', "a: say hi\n")
    assert made() == []


def test_the_command_line_says_it_and_exits_2(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "AGENTBOOK_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "agentbook.cli", "explore", str(tmp_path), "--model", "haiku"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and "ANTHROPIC_API_KEY" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "home").exists()


def test_a_given_key_or_client_needs_no_variable() -> None:
    from agentbook.models import AnthropicModel

    assert not AnthropicModel("haiku", api_key="sk-ant-test-given-0123").missing_credentials()
    assert AnthropicModel("haiku").missing_credentials()
