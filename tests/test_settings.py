"""Claude Code's settings files: permission rules and command hooks (`settings=` on runs)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from agentbook.messages import ToolResult, ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.transcripts import read_transcript
from agentbook.settings import SettingsError, read_settings

LOG_PAYLOAD = 'cat >> "$CLAUDE_PROJECT_DIR/../hooks.log"; echo >> "$CLAUDE_PROJECT_DIR/../hooks.log"'


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_project_settings_merge_as_claude_code_merges_them(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    write(home / ".claude/settings.json", {"permissions": {"allow": ["Read"], "defaultMode": "plan"}})
    write(project / ".claude/settings.json", {
        "permissions": {"deny": ["Bash(rm *)"], "defaultMode": "acceptEdits"},
        "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}],
                  "SessionStart": [{"hooks": [{"type": "command", "command": "true"}]}]},
    })  # fmt: skip
    write(project / ".claude/settings.local.json", {"permissions": {"allow": ["Bash(pytest *)"]}})
    settings = read_settings("project", project, home=home)
    assert settings.allow == ("Read", "Bash(pytest *)") and settings.deny == ("Bash(rm *)",)
    assert settings.default_mode == "acceptEdits"  # the project's wins over the user's
    assert [g.matcher for g in settings.hooks["PreToolUse"]] == ["Bash"]
    assert settings.ignored == ("SessionStart",) and len(settings.sources) == 3
    assert read_settings("project", tmp_path / "nothing-here", home=tmp_path / "no-home").sources == ()


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("{not json", "is not JSON"),
        ("[]", "must be a JSON object"),
        ('{"permissions": {"allow": "Read"}}', "permissions.allow must be a list"),
        ('{"permissions": {"defaultMode": 3}}', "permissions.defaultMode must be a string"),
        ('{"hooks": {"PreToolUse": {"matcher": "Bash"}}}', "hooks.PreToolUse must be a list"),
        ('{"hooks": {"Stop": [{"hooks": [{"type": "prompt"}]}]}}', "hooks.Stop[0].hooks[0] must be"),
        ('{"hooks": {"Stop": [{"hooks": [{"command": "x", "timeout": -1}]}]}}', "timeout must be seconds"),
    ],
)
def test_a_bad_settings_file_names_the_file_and_key_and_starts_nothing(
    tmp_path: Path, text: str, names: str
) -> None:
    path = write(tmp_path / "settings.json", text)
    with pytest.raises(SettingsError, match=re.escape(names)) as raised:
        run_parallel({"a": "x"}, model=ScriptedModel(["ok"]), cwd=tmp_path, run_dir=tmp_path / "run",
                     settings=path, interactive=False)  # fmt: skip
    assert str(path) in str(raised.value) and not (tmp_path / "run").exists()
    with pytest.raises(FileNotFoundError, match=r"settings file .* does not exist"):
        run_parallel({"a": "x"}, model=ScriptedModel(["ok"]), cwd=tmp_path, settings=tmp_path / "none.json")
    bad_mode = write(tmp_path / "mode.json", {"permissions": {"defaultMode": "yolo"}})
    with pytest.raises(SettingsError, match=r"mode\.json: unknown permission mode 'yolo'"):
        run_parallel({"a": "x"}, model=ScriptedModel(["ok"]), cwd=tmp_path, settings=bad_mode)


def test_command_hooks_get_claude_codes_payloads_and_exit_2_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = tmp_path / "project"
    block = 'if grep -q "rm -rf" ; then echo "no rm here" >&2; exit 2; fi'
    decision = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                       "permissionDecisionReason": "not that file"}}  # fmt: skip
    deny_json = f"grep -q secret.txt && echo '{json.dumps(decision)}'; exit 0"
    write(project / ".claude/settings.json", {
        "permissions": {"allow": ["Bash(echo *)"]},
        "hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": block}]},
                           {"matcher": "Read|Grep", "hooks": [{"type": "command", "command": deny_json}]},
                           {"matcher": "*", "hooks": [{"type": "command", "command": LOG_PAYLOAD}]}],
            "PostToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": LOG_PAYLOAD}]}],
            "Stop": [{"hooks": [{"type": "command", "command": LOG_PAYLOAD}]}],
        },
    })  # fmt: skip
    calls = [ToolUse("t1", "Bash", {"command": "rm -rf /tmp/x"}),
             ToolUse("t2", "Bash", {"command": "echo hi"}),
             ToolUse("t3", "Read", {"file_path": "secret.txt"})]  # fmt: skip
    model = ScriptedModel([calls, "done"])
    run = run_parallel({"a": "go"}, model=model, cwd=project, run_dir=tmp_path / "run", settings="project",
                       interactive=False)  # fmt: skip
    run.wait(timeout=60)
    results = {r.tool_use_id: r for r in model.requests[-1].messages[-1].content if isinstance(r, ToolResult)}
    assert (
        results["t1"].is_error
        and results["t1"].content == "<tool_use_error>Blocked by a hook: no rm here</tool_use_error>"
    )
    assert not results["t2"].is_error and "hi" in results["t2"].content  # the settings' allow rule
    assert (
        results["t3"].is_error
        and results["t3"].content == "<tool_use_error>Blocked by a hook: not that file</tool_use_error>"
    )
    payloads = [json.loads(line) for line in (tmp_path / "hooks.log").read_text().splitlines() if line]
    events = [(p["hook_event_name"], p.get("tool_use_id")) for p in payloads]
    assert events == [("PreToolUse", "t2"), ("PostToolUse", "t2"), ("Stop", None)]
    pre, post, stop = payloads
    record = run.records["a"]
    assert pre["session_id"] == run.session_id and pre["transcript_path"] == str(record.transcript)
    assert pre["cwd"] == str(project) and pre["permission_mode"] == "default"
    assert pre["tool_name"] == "Bash" and pre["tool_input"] == {"command": "echo hi"}
    assert post["tool_response"]["is_error"] is False and "hi" in post["tool_response"]["content"]
    assert stop["stop_hook_active"] is False
    assert read_transcript(record.transcript).bad_lines == 0


def test_the_settings_mode_applies_unless_a_mode_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(
        tmp_path / "s.json", {"permissions": {"defaultMode": "acceptEdits", "deny": ["Write(secret*)"]}}
    )
    run = run_parallel({"a": "x"}, model=ScriptedModel(["ok"]), cwd=tmp_path, run_dir=tmp_path / "r1",
                       settings=path, interactive=False)  # fmt: skip
    run.wait(timeout=20)
    assert run.config.permission_mode == "acceptEdits"
    assert [str(r) for r in run.config.permissions.deny] == ["Write(secret*)"]
    run = run_parallel({"a": "x"}, model=ScriptedModel(["ok"]), cwd=tmp_path, run_dir=tmp_path / "r2",
                       settings=path, permission_mode="plan", interactive=False)  # fmt: skip
    run.wait(timeout=20)
    assert run.config.permission_mode == "plan"


def test_a_hook_that_fails_or_hangs_is_logged_and_blocks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    hooks = [{"type": "command", "command": "echo broken >&2; exit 1"},
             {"type": "command", "command": "sleep 30", "timeout": 0.3}]  # fmt: skip
    path = write(tmp_path / "s.json", {"hooks": {"PreToolUse": [{"matcher": "Glob", "hooks": hooks}]}})
    model = ScriptedModel([ToolUse("t1", "Glob", {"pattern": "*.json"}), "done"])
    run = run_parallel({"a": "go"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run", settings=path,
                       interactive=False)  # fmt: skip
    run.wait(timeout=30)
    result = model.requests[-1].messages[-1].content[0]
    assert isinstance(result, ToolResult) and not result.is_error and "s.json" in result.content
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "exited 1: broken" in said and "timed out after 0.3 s" in said


def test_subagent_and_notification_hooks_fire_with_claude_codes_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = tmp_path / "project"
    log = {"type": "command", "command": LOG_PAYLOAD}
    write(project / ".claude/settings.json", {"hooks": {
        event: [{"hooks": [log]}] for event in ("SubagentStart", "SubagentStop", "Stop", "Notification")
    }})  # fmt: skip
    spawn = ToolUse(
        "t1", "Agent", {"description": "look around", "prompt": "look", "subagent_type": "general-purpose"}
    )
    write_call = ToolUse("t2", "Write", {"file_path": "out.txt", "content": "x\n"})
    model = ScriptedModel([spawn, "child done", write_call, "parent done"])
    run = run_parallel({"lead": "go"}, model=model, cwd=project, run_dir=tmp_path / "run", settings="project",
                       interactive=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while not run.pending and time.monotonic() < deadline:  # the Write asks: approve it
        time.sleep(0.02)
    run.pending[0].approve()
    run.wait(timeout=30)
    payloads = [json.loads(line) for line in (tmp_path / "hooks.log").read_text().splitlines() if line]
    by_event = {p["hook_event_name"]: p for p in payloads}
    assert [p["hook_event_name"] for p in payloads] == [
        "SubagentStart",
        "SubagentStop",
        "Notification",
        "Stop",
    ]
    child = next(name for name, r in run.records.items() if r.parent == "lead")
    assert (
        by_event["SubagentStart"]["agent_id"] == child
        and by_event["SubagentStart"]["agent_type"] == "general-purpose"
    )
    stop = by_event["SubagentStop"]
    assert stop["agent_transcript_path"] == str(run.records[child].transcript)
    assert stop["transcript_path"] == str(run.records["lead"].transcript)  # the parent's session
    assert by_event["Notification"]["message"] == "Claude needs your permission to use Write"
    assert (project / "out.txt").read_text() == "x\n" and run.status == {"lead": "done", child: "done"}


def test_cancelling_an_agent_in_a_hook_stops_the_hook_and_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    marker = tmp_path / "hook-child.pid"
    hang = {"type": "command", "command": f"sleep 60 & echo $! > {marker}; wait"}
    path = write(tmp_path / "s.json", {"hooks": {"PreToolUse": [{"hooks": [hang]}]}})
    model = ScriptedModel([ToolUse("t1", "Glob", {"pattern": "*"}), "never"])
    run = run_parallel({"a": "go"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run", settings=path,
                       interactive=False)  # fmt: skip
    deadline = time.monotonic() + 10
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    run.cancel()
    run.wait(timeout=10)
    pid = int(marker.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]:
        assert time.monotonic() < deadline, "the hook's child outlived the cancel"
        time.sleep(0.05)
    assert run.status == {"a": "cancelled"}


def hook_of(command: str) -> dict[str, object]:
    return {"hooks": [{"type": "command", "command": command}]}


def test_a_stop_hook_that_exits_2_keeps_the_agent_going_once(tmp_path: Path) -> None:
    # The hook blocks the first stop (stop_hook_active false) with its stderr as the reason, and
    # lets the second one through, as a Claude Code Stop hook that checks the flag does.
    log = tmp_path / "stops"
    log.mkdir()
    script = write(tmp_path / "stop.py", (
        "import json, sys, tempfile\n"
        "data = json.load(sys.stdin)\n"
        f"open(tempfile.mktemp(dir={str(log)!r}), 'w').write(json.dumps(data))\n"
        "if not data['stop_hook_active']:\n"
        "    sys.exit(print('run the tests first', file=sys.stderr) or 2)\n"
    ))  # fmt: skip
    path = write(tmp_path / "s.json", {"hooks": {"Stop": [hook_of(f"python3 '{script}'")]}})
    model = ScriptedModel(["first answer", "tests run: all pass"])
    run = run_parallel({"a": "go"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run", settings=path,
                       interactive=False)  # fmt: skip
    run.wait(timeout=30)
    assert run.status == {"a": "done"} and run.results["a"] == "tests run: all pass"
    assert "run the tests first" in model.requests[1].messages[-1].text
    payloads = sorted((json.loads(p.read_text()) for p in log.iterdir()), key=lambda p: p["stop_hook_active"])
    assert [p["stop_hook_active"] for p in payloads] == [False, True]
    assert {p["hook_event_name"] for p in payloads} == {"Stop"}
    back = read_transcript(run.records["a"].transcript)
    assert any("run the tests first" in m.text for m in back.messages if m.role == "user")


def test_post_tool_use_feedback_reaches_the_model_after_the_result(tmp_path: Path) -> None:
    json_out = json.dumps(
        {"hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": "lint: 2 warnings"}}
    )
    hooks = {"PostToolUse": [hook_of("echo 'format the file' >&2; exit 2"), hook_of(f"echo '{json_out}'")]}
    path = write(tmp_path / "s.json", {"hooks": hooks})
    model = ScriptedModel([ToolUse("g1", "Glob", {"pattern": "*"}), "ok"])
    run = run_parallel({"a": "go"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run", settings=path,
                       interactive=False)  # fmt: skip
    run.wait(timeout=30)
    result = model.requests[1].messages[-1].content[0]
    assert isinstance(result, ToolResult) and not result.is_error
    assert "s.json" in result.content  # Glob's own result comes first
    assert result.content.endswith("A hook says: format the file\nlint: 2 warnings"), result.content


def test_in_process_hooks_give_feedback_and_keep_an_agent_going(tmp_path: Path) -> None:
    from agentbook.agent.hooks import Hooks

    seen: list[bool] = []

    def keep_going(agent: str, text: str, active: bool) -> str | None:
        seen.append(active)
        return None if active or "checked" in text else "check your answer"

    hooks = Hooks(post_tool=[lambda a, c, r: "mind the size"], before_stop=[keep_going])
    model = ScriptedModel([ToolUse("g1", "Glob", {"pattern": "*"}), "answer", "checked answer"])
    run = run_parallel({"a": "go"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run", hooks=hooks,
                       interactive=False)  # fmt: skip
    run.wait(timeout=30)
    assert run.results["a"] == "checked answer" and seen == [False, True]
    assert "A hook says: mind the size" in str(model.requests[1].messages[-1].content[0])
    assert model.requests[2].messages[-1].text == "check your answer"
