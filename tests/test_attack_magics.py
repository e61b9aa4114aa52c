"""Adversarial review of issue 10: the `%%parallel_agents` magic's validation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "agentbook")
    yield shell


def test_a_null_yaml_key_is_refused(ip: InteractiveShell, tmp_path: Path) -> None:
    # str(name) turns `~:` into a task named "None", and runs it.
    with pytest.raises(UsageError, match="task name"):
        ip.run_cell_magic("parallel_agents", f'--model offline --cwd "{tmp_path}"', "~: do it\n")
    assert not (tmp_path / "home" / "runs").exists()


@pytest.mark.parametrize("key", ["no", "on", "yes"])
def test_a_yaml_boolean_key_keeps_the_name_written_or_is_refused(
    ip: InteractiveShell, tmp_path: Path, key: str
) -> None:
    # YAML 1.1 reads `no:`, `on:`, `yes:` as booleans: the task the user named "no" runs as "False".
    try:
        run = ip.run_cell_magic(
            "parallel_agents", f'--model offline --cwd "{tmp_path}" --wait -o r', f"{key}: do it\n"
        )
    except UsageError as exc:
        assert key in str(exc)
        return
    assert run is None
    assert list(ip.user_ns["r"].records) == [key]


def test_a_prompt_that_is_not_text_is_refused(ip: InteractiveShell, tmp_path: Path) -> None:
    # `prompt: 5` (or a list) is str()-ed into the prompt "5" before as_tasks can refuse it.
    with pytest.raises(UsageError, match="prompt"):
        ip.run_cell_magic("parallel_agents", f'--model offline --cwd "{tmp_path}"', "t:\n  prompt: [1, 2]\n")
    assert not (tmp_path / "home" / "runs").exists()
