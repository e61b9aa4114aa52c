"""The one shell reader (`agentbook.tools._shellwords`): the Bash path guard and the Bash
permission rules read a command through it, with one table of wrappers, so they agree on which
word a wrapper runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentbook.tools import ToolContext, ToolError
from agentbook.tools._shellwords import EXEC_WRAPPERS, PEELED_WRAPPERS, command_words
from agentbook.tools.permissions import Permissions
from agentbook.tools.shell import check_command_paths, shell_env

# The guard and the rules used to disagree on these four: the rules looked past them, the guard
# did not (it refused `doas /usr/bin/env true`, judging `/usr/bin/env` as a mere argument).
ONCE_DISAGREED = ("doas", "su", "chroot", "setsid")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "proj"
    path.mkdir()
    return Path(os.path.realpath(path))


@pytest.mark.parametrize("wrapper", ONCE_DISAGREED)
def test_the_guard_reads_the_word_after_a_wrapper_as_a_command(wrapper: str, root: Path) -> None:
    ctx = ToolContext(root=root)
    check_command_paths(f"{wrapper} /usr/bin/env true", ctx, shell_env(ctx))
    check_command_paths(f"{wrapper} -x /usr/bin/env true", ctx, shell_env(ctx))  # past its options
    with pytest.raises(ToolError, match="refused"):
        check_command_paths(f"{wrapper} cat /etc/passwd", ctx, shell_env(ctx))
    with pytest.raises(ToolError, match="refused"):
        check_command_paths(f"{wrapper} /etc/passwd", ctx, shell_env(ctx))  # not an executable


@pytest.mark.parametrize("wrapper", ONCE_DISAGREED)
def test_the_rules_read_the_word_after_a_wrapper_as_a_command(wrapper: str, root: Path) -> None:
    perms = Permissions(allow=["Bash(ls *)"], deny=["Bash(rm *)"], ask=["Bash(git push *)"])
    assert perms.decide("Bash", {"command": f"{wrapper} rm -rf build"}, root).decision == "deny"
    assert perms.decide("Bash", {"command": f"{wrapper} -u me rm -rf build"}, root).decision == "deny"
    assert perms.decide("Bash", {"command": f"{wrapper} git push origin"}, root).decision == "ask"
    # Allow rules do not look past a wrapper whose options they cannot read: it asks.
    assert perms.decide("Bash", {"command": f"{wrapper} ls"}, root).decision == "ask"


@pytest.mark.parametrize("wrapper", sorted(EXEC_WRAPPERS))
def test_guard_and_rules_share_every_wrapper(wrapper: str, root: Path) -> None:
    words = dict(command_words(f"{wrapper} /usr/bin/env true"))
    assert words["/usr/bin/env"] is True  # in command position
    perms = Permissions(deny=["Bash(rm *)"])
    assert perms.decide("Bash", {"command": f"{wrapper} rm x"}, root).decision == "deny"


def test_a_wrapper_named_by_its_path_is_a_wrapper(root: Path) -> None:
    ctx = ToolContext(root=root)
    check_command_paths("/usr/bin/env /usr/bin/env true", ctx, shell_env(ctx))
    perms = Permissions(deny=["Bash(rm *)"])
    assert perms.decide("Bash", {"command": "/usr/bin/doas rm x"}, root).decision == "deny"


@pytest.mark.parametrize(
    "prefix",
    ["nohup ", "time ", "nice ", "timeout 5 ", "stdbuf -oL ", "command ", "exec ", "builtin ", "env "],
)
def test_every_peeled_wrapper_is_in_the_table(prefix: str) -> None:
    assert PEELED_WRAPPERS.match(prefix) is not None
    assert prefix.split()[0] in EXEC_WRAPPERS
