"""Attacks on Claude Code settings and command hooks (`settings=` on runs).

Eleven found bugs, fixed since: a catastrophic matcher reached through a made-up tool name, hooks
for unknown tools, an "ask" decision let through, a deny lost to a child holding stdout, the key
unredacted in a block reason and a log, an uncapped reason and stdout, blocked ids shared between
agents, events agentbook does not run rejecting a file, deep nesting as a bare RecursionError.
The one strict xfail is still open; the plain tests held from the start.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agentbook.agent.hooks import Hooks
from agentbook.messages import ToolResult, ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.restore import load_run
from agentbook.settings import SettingsError, read_settings
from agentbook.tools.permissions.policy import Permissions

FAKE_KEY = "sk-ant-api03-" + "Zq9xV" * 16  # long, fake


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def hook(command: str, timeout: float | None = None) -> dict[str, object]:
    entry: dict[str, object] = {"type": "command", "command": command}
    if timeout is not None:
        entry["timeout"] = timeout
    return entry


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def results_of(model: ScriptedModel) -> dict[str, ToolResult]:
    found: dict[str, ToolResult] = {}
    for request in model.requests:
        for message in request.messages:
            content = message.content if isinstance(message.content, list | tuple) else ()
            for block in content:
                if isinstance(block, ToolResult):
                    found[block.tool_use_id] = block
    return found


def one_run(tmp_path: Path, settings: object, steps: list, **kw: object):
    model = ScriptedModel(steps)
    kw.setdefault("interactive", False)
    run = run_parallel({"a": "go"}, model=model, cwd=kw.pop("cwd", tmp_path), run_dir=tmp_path / "run",
                       settings=settings, **kw)  # fmt: skip
    run.wait(timeout=30)
    return run, model


# ---------------------------------------------------------------- malformed settings files


def test_deeply_nested_settings_raise_settings_error(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", '{"x": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(SettingsError, match=r"s\.json"):
        read_settings(path)


def test_non_utf8_settings_raise_settings_error(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", b'{"permissions": {"allow": ["\xff\xfe"]}}')
    with pytest.raises(SettingsError, match="is not JSON"):
        read_settings(path)


def test_a_directory_named_settings_json_is_skipped_or_named(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / ".claude/settings.json").mkdir(parents=True)
    assert read_settings("project", project, home=tmp_path / "home").sources == ()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_settings(project / ".claude/settings.json")


def test_a_symlink_loop_is_skipped_not_a_hang(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / ".claude").mkdir(parents=True)
    a, b = project / ".claude/settings.json", project / ".claude/settings.local.json"
    a.symlink_to(b)
    b.symlink_to(a)
    assert read_settings("project", project, home=tmp_path / "home").sources == ()


@pytest.mark.parametrize(
    "text",
    ['{"permissions": null}', '{"hooks": null}', '{"permissions": {"allow": null}}',
     '{"hooks": {"PreToolUse": null}}', '{"hooks": {"PreToolUse": [null]}}',
     '{"hooks": {"PreToolUse": [{"matcher": null, "hooks": []}]}}',
     '{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x", "timeout": NaN}]}]}}',
     '{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x", "timeout": true}]}]}}',
     '{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "   "}]}]}}'],
)  # fmt: skip
def test_null_and_odd_values_raise_settings_error_not_a_crash(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "s.json", text)
    with pytest.raises(SettingsError, match=r"s\.json"):
        read_settings(path)


def test_unknown_keys_and_events_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"model": "x", "env": {"A": "b"}, "hooks": {
        "SessionStart": [{"hooks": [hook("true")]}], "Stop": [{"hooks": [hook("true")]}]}})  # fmt: skip
    settings = read_settings(path)
    assert settings.ignored == ("SessionStart",) and set(settings.hooks) == {"Stop"}


def test_a_prompt_hook_in_an_ignored_event_does_not_reject_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"hooks": {
        "UserPromptSubmit": [{"hooks": [{"type": "prompt", "prompt": "Is this ok? $ARGUMENTS"}]}],
        "PreToolUse": [{"matcher": "Bash", "hooks": [hook("true")]}]}})  # fmt: skip
    settings = read_settings(path)
    assert "UserPromptSubmit" in settings.ignored and "PreToolUse" in settings.hooks


def test_an_invalid_regex_matcher_falls_back_to_the_name(tmp_path: Path) -> None:
    log = tmp_path / "log"
    path = write(tmp_path / "s.json", {"hooks": {"PreToolUse": [
        {"matcher": "Glob(", "hooks": [hook(f"echo bad >> {log}")]},
        {"matcher": "Gl[ob", "hooks": [hook(f"echo bad2 >> {log}")]}]}})  # fmt: skip
    run, _model = one_run(tmp_path, path, [ToolUse("t1", "Glob", {"pattern": "*"}), "done"])
    assert run.status == {"a": "done"} and not log.exists()


CATASTROPHIC = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from agentbook.messages import ToolUse
    from agentbook.models import ScriptedModel
    from agentbook.scheduler.launch import run_parallel
    tmp = Path(sys.argv[1])
    s = tmp / "s.json"
    s.write_text(json.dumps({"hooks": {"PostToolUse": [{"matcher": "(a+)+$",
        "hooks": [{"type": "command", "command": "true"}]}]}}))
    model = ScriptedModel([ToolUse("t1", "a" * 40 + "!", {}), "done"])
    run = run_parallel({"a": "go"}, model=model, cwd=tmp, run_dir=tmp / "run", settings=s,
                       interactive=False)
    run.wait(timeout=60)
    print("finished", run.status)
    """
)


def test_a_catastrophic_matcher_on_a_model_chosen_tool_name_does_not_hang(tmp_path: Path) -> None:
    script = write(tmp_path / "c.py", CATASTROPHIC)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "HOME": str(tmp_path / "home"),
    }
    try:
        done = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env, capture_output=True,
                              text=True, timeout=10)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("the run hung on the matcher regex")
    assert "finished" in done.stdout


def test_no_post_tool_hook_for_an_unknown_tool(tmp_path: Path) -> None:
    log = tmp_path / "log"
    path = write(tmp_path / "s.json", {"hooks": {"PostToolUse": [{"hooks": [hook(f"cat >> {log}")]}]}})
    _run, model = one_run(tmp_path, path, [ToolUse("t1", "NoSuchTool", {}), "done"])
    assert results_of(model)["t1"].is_error
    assert not log.exists()


# ---------------------------------------------------------------- misbehaving hooks


def test_exit_2_with_empty_stderr_still_blocks_with_a_reason(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"hooks": {"PreToolUse": [{"hooks": [hook("exit 2")]}]}})
    _run, model = one_run(tmp_path, path, [ToolUse("t1", "Glob", {"pattern": "*"}), "done"])
    result = results_of(model)["t1"]
    assert result.is_error and "blocked by the PreToolUse hook 'exit 2'" in result.content


def test_a_huge_block_reason_is_capped(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"hooks": {"PreToolUse": [
        {"hooks": [hook("head -c 3000000 /dev/zero | tr '\\0' x >&2; exit 2")]}]}})  # fmt: skip
    _run, model = one_run(tmp_path, path, [ToolUse("t1", "Glob", {"pattern": "*"}), "done"])
    result = results_of(model)["t1"]
    assert result.is_error and len(result.content) <= 40_000


def test_a_hook_flooding_stdout_does_not_balloon_memory(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"hooks": {"PreToolUse": [
        {"hooks": [hook("head -c 400000000 /dev/zero; sleep 30", timeout=4)]}]}})  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    run, _model = one_run(tmp_path, path, [ToolUse("t1", "Glob", {"pattern": "*"}), "done"])
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert run.status == {"a": "done"}
    assert grown_mb < 100, f"grew {grown_mb:.0f} MB"


def test_a_hook_that_never_reads_stdin_gets_a_big_payload_without_a_hang(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.json",
        {"hooks": {"PreToolUse": [{"hooks": [hook("exit 0")]}, {"hooks": [hook("sleep 0.2; exit 0")]}]}},
    )
    big = "y" * 5_000_000
    start = time.monotonic()
    run, _model = one_run(tmp_path, path, [ToolUse("t1", "Write", {"file_path": "big.txt", "content": big}),
                                          "done"], permission_mode="acceptEdits")  # fmt: skip
    assert run.status == {"a": "done"} and time.monotonic() - start < 15
    assert (tmp_path / "big.txt").stat().st_size == len(big)


def test_a_deny_is_kept_when_the_hook_leaves_a_child_holding_stdout(tmp_path: Path) -> None:
    deny = json.dumps(
        {"hookSpecificOutput": {"permissionDecision": "deny", "permissionDecisionReason": "no"}}
    )
    path = write(tmp_path / "s.json", {"hooks": {"PreToolUse": [
        {"hooks": [hook(f"echo '{deny}'; sleep 30 & exit 0", timeout=2)]}]}})  # fmt: skip
    _run, model = one_run(tmp_path, path, [ToolUse("t1", "Glob", {"pattern": "*"}), "done"])
    assert results_of(model)["t1"].is_error


def test_a_hook_that_closes_its_pipes_and_lingers_is_timed_out(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"hooks": {"PreToolUse": [
        {"hooks": [hook("exec >&- 2>&- <&-; sleep 30", timeout=1)]}]}})  # fmt: skip
    start = time.monotonic()
    run, model = one_run(tmp_path, path, [ToolUse("t1", "Glob", {"pattern": "*"}), "done"])
    assert run.status == {"a": "done"} and time.monotonic() - start < 10
    assert not results_of(model)["t1"].is_error


def test_a_hook_saying_ask_is_not_silently_ignored(tmp_path: Path) -> None:
    ask = json.dumps(
        {"hookSpecificOutput": {"permissionDecision": "ask", "permissionDecisionReason": "check"}}
    )
    path = write(
        tmp_path / "s.json",
        {
            "permissions": {"allow": ["Bash(echo *)"]},
            "hooks": {"PreToolUse": [{"hooks": [hook(f"echo '{ask}'")]}]},
        },
    )
    _run, model = one_run(tmp_path, path, [ToolUse("t1", "Bash", {"command": "echo ran"}), "done"],
                         sandbox=False)  # fmt: skip
    assert results_of(model)["t1"].is_error  # no one can answer (interactive=False): not run


# ---------------------------------------------------------------- secrets


def test_a_hook_leaking_the_api_key_is_redacted_in_transcripts_and_for_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    path = write(tmp_path / "s.json", {"hooks": {"PreToolUse": [
        {"hooks": [hook('echo "key=$ANTHROPIC_API_KEY" >&2; exit 2')]}]}})  # fmt: skip
    _run, model = one_run(tmp_path, path, [ToolUse("t1", "Glob", {"pattern": "*"}), "done"])
    for file in (tmp_path / "run").rglob("*"):
        if file.is_file():
            assert FAKE_KEY not in file.read_text(errors="replace"), file
    assert FAKE_KEY not in results_of(model)["t1"].content


def test_a_hook_leaking_the_api_key_in_a_failure_log_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    path = write(tmp_path / "s.json", {"hooks": {"PostToolUse": [
        {"hooks": [hook('echo "key=$ANTHROPIC_API_KEY" >&2; exit 1')]}]}})  # fmt: skip
    _run, _model = one_run(tmp_path, path, [ToolUse("t1", "Glob", {"pattern": "*"}), "done"])
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "exited 1" in said and FAKE_KEY not in said


# ---------------------------------------------------------------- permissions from settings


def test_settings_bypass_mode_does_not_widen_explicit_permissions(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"permissions": {"defaultMode": "bypassPermissions"}})
    run, _model = one_run(tmp_path, path, ["ok"], permissions=Permissions(mode="default"))
    assert run.config.permission_mode == "default" and run.config.permissions.mode == "default"
    run2 = run_parallel({"a": "x"}, model=ScriptedModel(["ok"]), cwd=tmp_path, run_dir=tmp_path / "r2",
                        settings=path, permissions=Permissions(mode="plan"), interactive=False)  # fmt: skip
    run2.wait(timeout=20)
    assert run2.config.permission_mode == "plan"


def test_a_settings_deny_beats_a_given_allow_and_vice_versa(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"permissions": {"deny": ["Write(a.txt)"], "allow": ["Write(b.txt)"]}})
    calls = [ToolUse("t1", "Write", {"file_path": "a.txt", "content": "x"}),
             ToolUse("t2", "Write", {"file_path": "b.txt", "content": "x"})]  # fmt: skip
    _run, model = one_run(tmp_path, path, [calls, "done"],
                         permissions=Permissions(allow=["Write(a.txt)"], deny=["Write(b.txt)"]))  # fmt: skip
    results = results_of(model)
    assert results["t1"].is_error and results["t2"].is_error
    assert not (tmp_path / "a.txt").exists() and not (tmp_path / "b.txt").exists()


def test_a_user_settings_file_under_home_is_read(tmp_path: Path, _home: Path) -> None:
    write(_home / ".claude/settings.json", {"permissions": {"deny": ["Glob"]}})
    project = tmp_path / "p"
    project.mkdir()
    _run, model = one_run(tmp_path, "project", [ToolUse("t1", "Glob", {"pattern": "*"}), "done"], cwd=project)
    assert results_of(model)["t1"].is_error


# ---------------------------------------------------------------- concurrency and restore


def test_slow_hooks_in_many_agents_run_at_once(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"hooks": {"PreToolUse": [{"hooks": [hook("sleep 1.5")]}]}})

    def step(request):  # each agent: one Glob, then done
        told = any(isinstance(b, ToolResult) for m in request.messages
                   for b in (m.content if isinstance(m.content, list | tuple) else ()))  # fmt: skip
        return _reply(model, request, ("done",) if told else (ToolUse("g", "Glob", {"pattern": "*"}),))

    model = ScriptedModel([step] * 12)
    start = time.monotonic()
    run = run_parallel({f"a{i}": "go" for i in range(6)}, model=model, cwd=tmp_path, run_dir=tmp_path / "run",
                       settings=path, interactive=False)  # fmt: skip
    run.wait(timeout=30)
    assert set(run.status.values()) == {"done"}
    assert time.monotonic() - start < 6, "hooks of different agents ran one after another"


def _reply(model: ScriptedModel, request, blocks):
    from agentbook.messages import Text

    return model.reply(request, tuple(Text(b) if isinstance(b, str) else b for b in blocks))


def test_blocked_call_ids_do_not_leak_between_agents(tmp_path: Path) -> None:
    log = tmp_path / "post.log"
    block = "if grep -q BLOCKME; then exit 2; fi; sleep 0.5"
    path = write(tmp_path / "s.json", {"hooks": {
        "PreToolUse": [{"hooks": [hook(block)]}],
        "PostToolUse": [{"hooks": [hook(f'cat >> {log}; echo >> {log}')]}]}})  # fmt: skip

    def step(request):
        first = request.messages[-1]
        blocks = first.content if isinstance(first.content, list | tuple) else ()
        told = any(isinstance(b, ToolResult) for b in blocks)
        prompt = str(request.messages[0].content)
        if told:
            return _reply(model, request, ("done",))
        pattern = "BLOCKME" if "block" in prompt else "*"
        return _reply(model, request, (ToolUse("same-id", "Glob", {"pattern": pattern}),))

    async def slow_post(agent: str, call: ToolUse, result: ToolResult) -> None:
        if agent == "blocked":
            await asyncio.sleep(1.5)  # the user's own post hook runs before the command hooks

    model = ScriptedModel([step] * 4)
    run = run_parallel({"blocked": "block", "free": "pass"}, model=model, cwd=tmp_path,
                       run_dir=tmp_path / "run", settings=path, hooks=Hooks(post_tool=[slow_post]),
                       interactive=False)  # fmt: skip
    run.wait(timeout=30)
    payloads = [json.loads(x) for x in log.read_text().splitlines() if x] if log.exists() else []
    assert [p["tool_input"]["pattern"] for p in payloads] == ["*"]  # only the free agent's call ran


def test_settings_hooks_survive_load_run(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.json",
        {"permissions": {"deny": ["Write(x*)"]}, "hooks": {"PreToolUse": [{"hooks": [hook("exit 2")]}]}},
    )
    _run, _model = one_run(tmp_path, path, ["ok"])
    model = ScriptedModel([ToolUse("g1", "Glob", {"pattern": "*"}), "after the guard"])
    loaded = load_run(tmp_path / "run", model=model, interactive=False)
    assert [str(r) for r in loaded.config.permissions.deny] == ["Write(x*)"]  # the rules are kept
    assert len(loaded.config.hooks.pre_tool) == 1  # read again, not doubled
    loaded.resume("a", prompt="look").wait(timeout=30)
    result = model.requests[1].messages[-1].content[0]
    assert getattr(result, "is_error", False), result  # the resumed agent's call was blocked
    assert loaded.records["a"].denials == 1


def test_load_run_names_a_settings_file_that_is_gone_and_goes_on_without_when_asked(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"hooks": {"PreToolUse": [{"hooks": [hook("exit 2")]}]}})
    one_run(tmp_path, path, ["ok"])
    path.unlink()
    with pytest.raises(FileNotFoundError, match=r"s\.json"):
        load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    loaded = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False, settings=None)
    assert loaded.config.hooks.pre_tool == [] and loaded.config.settings is None


def test_settings_rules_survive_load_run(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"permissions": {"deny": ["Write(x*)"], "defaultMode": "acceptEdits"}})
    _run, _model = one_run(tmp_path, path, ["ok"])
    loaded = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    assert [str(r) for r in loaded.config.permissions.deny] == ["Write(x*)"]
    assert loaded.config.permission_mode == "acceptEdits"
