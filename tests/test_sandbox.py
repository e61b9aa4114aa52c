"""The Bash sandbox itself: what a sandboxed command sees, may write and reaches, and the run
options around it (`sandbox`, `network`, `hidden_paths`, the fallback where bwrap cannot run)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
from pathlib import Path

import pytest
from support import git, new_repo

from agentbook.messages import ToolResult, ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler import sandboxing
from agentbook.scheduler.launch import run_parallel
from agentbook.tools import Bash, ToolContext, sandbox
from agentbook.tools.sandbox import Sandbox, sandbox_env, unavailable_reason

pytestmark = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"no sandbox: {unavailable_reason()}"
)


def bash(root: Path, command: str, **sandbox: object) -> str:
    ctx = ToolContext(root=root, sandbox=Sandbox(root, **sandbox))  # type: ignore[arg-type]
    return asyncio.run(Bash().run({"command": command}, ctx))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path/root is the root; tmp_path/home (HOME) and tmp_path/outside hold canaries."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh/id_rsa").write_text("CANARY-SSH\n")
    (home / "x").write_text("CANARY-HOME\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/secret.txt").write_text("CANARY-OUT\n")
    monkeypatch.setenv("HOME", str(home))
    root = tmp_path / "root"
    root.mkdir()
    return root


def test_only_the_root_and_the_system_are_there(world: Path, tmp_path: Path) -> None:
    out = bash(world, f"ls {tmp_path}; cat {tmp_path}/outside/secret.txt ~/x 2>&1; echo hi > mine.txt; ls /")
    assert "CANARY" not in out and "No such file" in out
    assert sorted(out.split("\n")[0].split()) == ["root"]  # its siblings are not mounted at all
    assert (world / "mine.txt").read_text() == "hi\n"
    assert "usr" in out.split() and "home" not in out.split()


def test_writes_outside_the_root_fail_and_tmp_is_private(world: Path, tmp_path: Path) -> None:
    marker = f"agentbook-test-{os.getpid()}-{tmp_path.name}"
    out = bash(world, f"echo x > /tmp/{marker}; cat /tmp/{marker}; echo y > /usr/{marker} 2>&1; echo $HOME")
    assert out.startswith("x\n") and "Read-only file system" in out and out.endswith("/tmp")
    assert not Path("/tmp", marker).exists() and not Path("/usr", marker).exists()


def test_only_the_sandbox_processes_are_visible_and_none_has_secrets(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-sandbox-canary-0123456789")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_sandboxcanary0123456789")
    monkeypatch.setenv("INNOCENT", "holds ghp_sandboxcanary0123456789 inside")
    out = bash(world, f"ls /proc | grep -c '^[0-9]'; cat /proc/{os.getpid()}/environ; env; set; "
                      "cat /proc/*/environ | tr '\\0' '\\n'")  # fmt: skip
    assert "canary" not in out and "ANTHROPIC" not in out and "INNOCENT" not in out
    assert int(out.split("\n")[0]) <= 5  # bwrap's init, the shell, ls, grep
    env = sandbox_env(os.environ, ("ghp_sandboxcanary0123456789",))
    assert "GITHUB_TOKEN" not in env and "INNOCENT" not in env and env["HOME"] == "/tmp"


def test_secrets_are_masked_even_inside_the_root(world: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "notes").mkdir()
    (home / "notes/private.txt").write_text("CANARY-NOTES\n")
    out = bash(home, "cat .ssh/id_rsa notes/private.txt x 2>&1; ls -a .ssh", hidden=("~/notes",))
    assert "CANARY-SSH" not in out and "CANARY-NOTES" not in out and "CANARY-HOME" in out


def test_the_network_is_off_by_default_and_on_when_asked(world: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    probe = (
        f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2); print('reached')\""
    )
    try:
        assert "reached" not in bash(world, probe + " 2>&1")
        assert bash(world, probe, network=True) == "reached"
    finally:
        server.close()


def test_a_worktree_agent_tests_and_commits_on_its_own_branch_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(tmp_path / "repo", monkeypatch, {"test_it.py": "def test_it():\n    assert True\n"})
    (repo / "untracked.txt").write_text("CANARY-CHECKOUT\n")
    git(repo, "worktree", "add", "-q", "-b", "agentbook/r/a", str(tmp_path / "wa"))
    git(repo, "worktree", "add", "-q", "-b", "agentbook/r/b", str(tmp_path / "wb"))
    config, other = (repo / ".git/config").read_text(), git(repo, "rev-parse", "agentbook/r/b")
    out = bash(tmp_path / "wa", branch="agentbook/r/a",
               command="python -m pytest -q -p no:cacheprovider 2>&1 | tail -1; echo x > new.txt; "
               "git status --short; git add new.txt; git commit -qm mine; git diff HEAD~1 --stat; "
               "cat \"$(git rev-parse --path-format=absolute --git-common-dir)/../untracked.txt\" 2>&1; "
               "git config --local user.name EVIL 2>&1; git update-ref refs/heads/agentbook/r/b HEAD 2>&1; "
               "git branch -f main HEAD 2>&1; echo evil > .git 2>&1; "
               "echo evil > \"$(git rev-parse --git-common-dir)/hooks/pre-commit\" 2>&1")  # fmt: skip
    assert "1 passed" in out and "?? new.txt" in out and "new.txt | 1 +" in out
    assert "CANARY" not in out
    assert git(repo, "log", "-1", "--format=%s", "agentbook/r/a") == "mine"
    assert git(repo, "rev-parse", "agentbook/r/b") == other
    assert git(repo, "rev-parse", "main") == git(repo, "rev-parse", "agentbook/r/a~1")
    assert (repo / ".git/config").read_text() == config and not (repo / ".git/hooks/pre-commit").exists()
    assert (tmp_path / "wa/.git").read_text().startswith("gitdir: ")


def test_in_a_checkout_of_its_own_or_a_nested_one_dot_git_is_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(tmp_path / "repo", monkeypatch, {"a.txt": "a\n"})
    (repo / "vendor").mkdir()
    new_repo(repo / "vendor/lib", monkeypatch, {"b.txt": "b\n"})
    configs = {p: p.read_text() for p in (repo / ".git/config", repo / "vendor/lib/.git/config")}
    out = bash(repo, "git status --short; git config user.name EVIL 2>&1; "
                     "echo evil > .git/hooks/post-checkout 2>&1; mv .git moved 2>&1; "
                     "echo x >> vendor/lib/.git/config 2>&1; echo b > b.txt; git add b.txt 2>&1")  # fmt: skip
    assert out.startswith("?? b.txt\n") or "?? vendor/" in out
    assert out.count("Read-only file system") >= 3 and "Device or resource busy" in out
    assert all(p.read_text() == text for p, text in configs.items())
    assert not (repo / ".git/hooks/post-checkout").exists() and (repo / ".git").is_dir()


def scripted_bash(command: str) -> ScriptedModel:
    return ScriptedModel([ToolUse("b", "Bash", {"command": command}), "done"])


def bash_result(model: ScriptedModel) -> ToolResult:
    return next(b for b in model.requests[1].messages[-1].content if isinstance(b, ToolResult))


def test_without_bwrap_bash_asks_in_every_mode_and_a_warning_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AGENTBOOK_BWRAP", "")
    monkeypatch.setattr(sandboxing, "_warned", type(sandboxing._warned)())
    model = scripted_bash("echo ran > ran.txt")
    with caplog.at_level(logging.WARNING, logger="agentbook"):
        run = run_parallel({"t": "x"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run",
                           permission_mode="bypassPermissions", interactive=False)  # fmt: skip
        run.wait(timeout=20)
    result = bash_result(model)
    assert result.is_error and "without the sandbox (bubblewrap (bwrap) is not installed" in str(
        result.content
    )
    assert not (tmp_path / "ran.txt").exists() and run.records["t"].denials == 1
    warnings = [r.getMessage() for r in caplog.records if "unsandboxed" in r.getMessage()]
    assert len(warnings) == 1 and "bwrap" in warnings[0]


def test_sandbox_true_without_bwrap_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTBOOK_BWRAP", "")
    with pytest.raises(RuntimeError, match="sandbox=True, but the sandbox cannot run here"):
        run_parallel(
            {"t": "x"}, model=scripted_bash("true"), cwd=tmp_path, run_dir=tmp_path / "run", sandbox=True
        )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [({"sandbox": "yes"}, "sandbox must be 'auto', True or False"),
     ({"sandbox": 1}, "sandbox must be"),
     ({"network": True}, "network must be 'off' or 'on'"),
     ({"hidden_paths": "~/.x"}, "hidden_paths must be"),
     ({"hidden_paths": ["notes.txt"]}, "hidden_paths must be absolute or start with ~")],
)  # fmt: skip
def test_bad_sandbox_options_name_the_option(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        run_parallel({"t": "x"}, cwd=tmp_path, run_dir=tmp_path / "run", **options)  # type: ignore[arg-type]
    assert not (tmp_path / "run").exists()


def test_the_opt_out_is_recorded_and_runs_bash_behind_the_path_guard(tmp_path: Path) -> None:
    model = scripted_bash("ls $(printf '\\x2fproc') | grep -c '^[0-9]'")  # the guard is no sandbox
    run = run_parallel({"t": "x"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run",
                       permission_mode="bypassPermissions", sandbox=False, interactive=False)  # fmt: skip
    run.wait(timeout=20)
    assert not bash_result(model).is_error and int(str(bash_result(model).content)) > 5
    saved = json.loads((tmp_path / "run/run.json").read_text())
    assert saved["config"]["sandbox"] is False and saved["config"]["network"] == "off"


def test_the_board_and_the_static_views_say_when_bash_is_not_sandboxed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.notebook.render import render_html, render_text
    from agentbook.notebook.widgets.board import Board

    runs = {}
    for label, options in (("on", {}), ("off", {"sandbox": False})):
        runs[label] = run_parallel({"t": "x"}, model=ScriptedModel(["done"]), cwd=tmp_path,
                                   run_dir=tmp_path / label, interactive=False, **options)  # fmt: skip
        runs[label].wait(timeout=20)
    assert "sandbox" not in render_text(runs["on"]) and "sandbox" not in render_html(runs["on"])
    assert render_text(runs["off"]).startswith("run off (Bash runs without the sandbox (sandbox=False))")
    assert "Bash runs without the sandbox" in render_html(runs["off"])
    board = Board(runs["off"])
    notices = [w for w in board.widget.children if "agentbook-sandbox-notice" in w._dom_classes]
    assert len(notices) == 1 and "sandbox=False" in notices[0].value
    board.close()
    monkeypatch.setenv("AGENTBOOK_BWRAP", "")
    assert "Bash asks before every call: no sandbox here" in render_text(runs["on"])


def test_the_file_tools_refuse_secrets_inside_the_root(world: Path, tmp_path: Path) -> None:
    from agentbook.tools import Read, ToolError, Write

    home = tmp_path / "home"
    ctx = ToolContext(root=home, sandbox=Sandbox(home, hidden=("~/x",)))
    for tool, call in ((Read(), {"file_path": ".ssh/id_rsa"}), (Read(), {"file_path": "x"}),
                       (Write(), {"file_path": ".ssh/authorized_keys", "content": "evil"})):  # fmt: skip
        with pytest.raises(ToolError, match="holds secrets"):
            asyncio.run(tool.run(call, ctx))
    assert not (home / ".ssh/authorized_keys").exists()


def test_sandboxed_calls_leave_no_descriptor_or_file_behind(world: Path) -> None:
    def ours() -> set[str]:
        return {name for name in os.listdir("/tmp") if name.startswith("agentbook")}

    before, files = len(os.listdir("/proc/self/fd")), ours()
    for _ in range(20):
        assert bash(world, "git config --global user.name") != ""  # its ~/.gitconfig came through a pipe
    assert len(os.listdir("/proc/self/fd")) == before and ours() <= files


def test_grep_never_searches_secrets_below_its_folder(world: Path, tmp_path: Path) -> None:
    from agentbook.tools import Grep

    home = tmp_path / "home"
    (home / "a[b]").mkdir()
    (home / "a[b]/private.txt").write_text("CANARY-BRACKETS\n")
    ctx = ToolContext(root=home, sandbox=Sandbox(home, hidden=("~/a[b]",)))
    for call in ({"pattern": "CANARY"}, {"pattern": "CANARY", "glob": "**/*", "output_mode": "content"},
                 {"pattern": "CANARY", "glob": ".ssh/*", "output_mode": "count"}):  # fmt: skip
        out = asyncio.run(Grep().run(call, ctx))
        assert "ssh" not in out and "BRACKETS" not in out and "a[b]" not in out
        assert ("x" in out) == ("glob" not in call or call["glob"] == "**/*")  # the home's own file


def test_objects_made_in_a_worktree_are_imported_only_when_they_match_their_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(tmp_path / "repo", monkeypatch, {"a.txt": "a\n"})
    git(repo, "worktree", "add", "-q", "-b", "agentbook/r/a", str(tmp_path / "wa"))
    blob = git(repo, "rev-parse", "HEAD:a.txt")
    stored = repo / ".git/objects" / blob[:2] / blob[2:]
    original = stored.read_bytes()
    forged = "0" * 40  # a name whose content will not match
    out = bash(tmp_path / "wa", branch="agentbook/r/a", command=(
        f"echo forged > {stored} 2>&1; rm -f {stored} 2>&1; echo new | git hash-object -w --stdin; "
        f"d=$GIT_OBJECT_DIRECTORY/00; mkdir -p $d; printf 'x' | python -c \"import sys,zlib; "
        f"sys.stdout.buffer.write(zlib.compress(b'blob 5\\\\0evil!'))\" > $d/{forged[2:]}"))  # fmt: skip
    assert "Read-only file system" in out and stored.read_bytes() == original
    made = out.strip().splitlines()[-1]
    assert git(repo, "cat-file", "-p", made) == "new"  # imported into the shared store
    assert not (repo / ".git/objects/00" / forged[2:]).exists()
    assert list((repo / ".git/worktrees/wa/sandbox-objects").rglob("*")) == [] or all(
        p.is_dir() for p in (repo / ".git/worktrees/wa/sandbox-objects").rglob("*")
    )


def test_a_tool_folder_inside_the_root_stays_read_only(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The project's own .venv on PATH: agentbook runs its programs unsandboxed after the call,
    # so a command that rewrote one would escape.
    tools = world / ".venv" / "bin"
    tools.mkdir(parents=True)
    (tools / "tool").write_text("#!/bin/sh\necho tool\n")
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    sandbox._tool_dirs.cache_clear()  # read once per process: read it again with this PATH
    try:
        out = bash(world, "echo evil > .venv/bin/tool; echo made > mine.txt; cat .venv/bin/tool")
    finally:
        sandbox._tool_dirs.cache_clear()
    assert "Read-only file system" in out and "echo tool" in out, out
    assert (tools / "tool").read_text() == "#!/bin/sh\necho tool\n"
    assert (world / "mine.txt").read_text() == "made\n"


def test_a_link_left_among_new_objects_imports_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent links another repository's object (a path outside its box, readable by agentbook)
    # into its private object folder: read through the link, it would join the user's store.
    repo = new_repo(tmp_path / "repo", monkeypatch, {"a.txt": "a\n"})
    other = new_repo(tmp_path / "other", monkeypatch, {"s.txt": "other's secret\n"})
    secret = git(other, "rev-parse", "HEAD:s.txt")
    git(repo, "worktree", "add", "-q", "-b", "agentbook/r/a", str(tmp_path / "wa"))
    source = other / ".git/objects" / secret[:2] / secret[2:]
    bash(tmp_path / "wa", branch="agentbook/r/a", command=(
        f"d=$GIT_OBJECT_DIRECTORY/{secret[:2]}; mkdir -p $d; ln -s {source} $d/{secret[2:]}"))  # fmt: skip
    assert subprocess.run(["git", "-C", str(repo), "cat-file", "-e", secret], check=False).returncode != 0
    assert not list((repo / ".git/worktrees/wa/sandbox-objects").rglob(secret[2:]))
