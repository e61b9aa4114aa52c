"""Attacks on compaction (`Run.compact`) and on Claude Code hook feedback (Stop / SubagentStop
blocks, PostToolUse feedback, in-process `before_stop`).

Five open findings (strict xfails): the key unredacted in a loaded run's compaction and in its
resume; a loaded record's turns counting the compaction; Ctrl-C in `compact()` leaving the call
to write late and hold the transcript's lock; a long PostToolUse JSON output dropped.  The plain
tests are what held."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from agentbook.agent.hooks import Hooks
from agentbook.messages import ToolResult, ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.restore import load_run
from agentbook.scheduler.transcript_locks import being_written
from agentbook.scheduler.transcripts import read_transcript

KEY = "sk-ant-api03-" + "Qw7rT" * 16  # long, fake


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    reset_gates()


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def hook_of(command: str) -> dict[str, object]:
    return {"hooks": [{"type": "command", "command": command}]}


def lines_of(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def ran(tmp_path: Path, steps: list, **kw: object):
    model = ScriptedModel(steps)
    kw.setdefault("interactive", False)
    run = run_parallel({"a": "go"}, model=model, cwd=kw.pop("cwd", tmp_path), run_dir=tmp_path / "run", **kw)
    run.wait(timeout=30)
    return run, model


# ---------------------------------------------------------------- compaction


def test_a_summary_holding_the_key_is_redacted_in_a_live_run(tmp_path: Path) -> None:
    run, _model = ran(tmp_path, ["done", f"summary: the key is {KEY}"])
    done = run.compact("a")
    text = run.records["a"].transcript.read_text()
    assert KEY not in text and "[REDACTED]" in text
    assert KEY in done.summary  # what the caller gets back is the model's own text


def test_a_summary_holding_the_key_is_redacted_after_load_run(tmp_path: Path) -> None:
    ran(tmp_path, ["done"])
    loaded = load_run(
        tmp_path / "run", model=ScriptedModel([f"summary: the key is {KEY}"]), interactive=False
    )
    loaded.compact("a")
    assert KEY not in loaded.records["a"].transcript.read_text()


def test_a_resume_after_load_run_redacts_the_key(tmp_path: Path) -> None:
    ran(tmp_path, ["done"])
    loaded = load_run(tmp_path / "run", model=ScriptedModel([f"the key is {KEY}"]), interactive=False)
    loaded.resume("a", prompt="say the key").wait(timeout=30)
    assert KEY not in loaded.records["a"].transcript.read_text()


def test_compacting_twice_reads_back_from_the_second_summary(tmp_path: Path) -> None:
    run, model = ran(tmp_path, ["done", "first summary", "second summary", "went on"])
    run.compact("a")
    run.compact("a", instructions="shorter")
    # The second compaction summarised the first summary (one user turn: summary + ask).
    assert [m.role for m in model.requests[2].messages] == ["user"]
    assert "first summary" in model.requests[2].messages[0].text
    back = read_transcript(run.records["a"].transcript)
    assert len(back.messages) == 1 and back.messages[0].text.endswith("second summary")
    assert len(run.records["a"].calls) == 3
    run.resume("a", prompt="go on").wait(timeout=30)
    assert "first summary" not in json.dumps(model.requests[3].messages[0].to_api())
    loaded = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    assert len(loaded.records["a"].calls) == 4
    assert loaded.records["a"].usage == run.records["a"].usage


def test_turns_after_load_run_do_not_count_the_compaction(tmp_path: Path) -> None:
    run, _model = ran(tmp_path, ["done", "the summary"])
    run.compact("a")
    assert run.records["a"].turns == 1
    loaded = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    assert loaded.records["a"].turns == 1


def test_a_failed_compaction_leaves_record_lock_and_transcript_as_they_were(tmp_path: Path) -> None:
    from agentbook.models import ModelError

    run, _model = ran(tmp_path, ["done", ModelError("bad request: too long")])
    record = run.records["a"]
    before = record.transcript.read_bytes()
    state, calls, usage = record.state, list(record.calls), record.usage
    with pytest.raises(ModelError):
        run.compact("a")
    assert (record.state, record.calls, record.usage, record.error) == (state, calls, usage, None)
    assert record.transcript.read_bytes() == before and not being_written(record.transcript)
    other = load_run(tmp_path / "run", model=ScriptedModel(["from elsewhere"]), interactive=False)
    other.resume("a", prompt="x").wait(timeout=30)
    assert other.results["a"] == "from elsewhere"


def test_compacting_a_crashed_turn_settles_its_tool_calls(tmp_path: Path) -> None:
    (tmp_path / "slow.sh").write_text("sleep 30\n")
    model = ScriptedModel([ToolUse("b1", "Bash", {"command": "sleep 30"}), "the summary", "resumed"])
    run = run_parallel({"a": "go"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run", interactive=False,
                       permission_mode="bypassPermissions")  # fmt: skip
    deadline = time.monotonic() + 10
    while run.records["a"].last_tool is None and time.monotonic() < deadline:
        time.sleep(0.02)
    run.cancel("a")
    run.wait(timeout=10)
    assert run.records["a"].state == "cancelled"
    run.compact("a")
    ask = model.requests[1]
    # The request is valid: every tool_use answered, the ask in the same user turn.
    assert ask.messages[-2].tool_uses and ask.messages[-1].role == "user"
    results = [b for b in ask.messages[-1].content if isinstance(b, ToolResult)]
    assert [r.tool_use_id for r in results] == ["b1"]
    run.resume("a", prompt="go on").wait(timeout=10)
    assert [m.role for m in model.requests[2].messages] == ["user"]
    assert run.results["a"] == "resumed"


# ---------------------------------------------------------------- compaction, concurrently (real SDK)


class Summariser:
    """The fake API: the task's answer at once; a compaction's summary only once `go` is set
    (after a 429 first, when `limited`)."""

    def __init__(self, limited: bool = False) -> None:
        self.arrived, self.go, self.limited = threading.Event(), threading.Event(), limited
        self.compactions = 0

    def __call__(self, request):
        from agentbook.testing import ErrorReply, MessageReply

        if "write a detailed summary" not in json.dumps(request.json["messages"]):
            return MessageReply("task done")
        self.compactions += 1
        if self.limited and self.compactions == 1:
            return ErrorReply(429, retry_after=0.05)
        self.arrived.set()
        self.go.wait(10)
        return MessageReply("the summary")


def fake_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake, **kw: object):
    from agentbook.models.retry import RetryPolicy

    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    run = run_parallel({"a": "go"}, model="haiku", cwd=tmp_path, run_dir=tmp_path / "run", interactive=False,
                       retry=RetryPolicy(base_s=0.01, cap_s=0.05), **kw)  # fmt: skip
    run.wait(timeout=30)
    return run


def test_a_resume_during_a_compaction_is_refused_in_this_handle_and_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.testing import FakeAnthropic

    handler = Summariser(limited=True)
    with FakeAnthropic(handler, api_key=KEY) as fake:
        run = fake_run(tmp_path, monkeypatch, fake)
        worker = threading.Thread(target=lambda: run.compact("a"))
        worker.start()
        assert handler.arrived.wait(10)
        try:
            with pytest.raises(RuntimeError, match="running"):
                run.resume("a", prompt="now")
            with pytest.raises(RuntimeError, match="running"):
                run.compact("a")
            other = load_run(tmp_path / "run", model="haiku", interactive=False)
            with pytest.raises(RuntimeError, match="another process"):
                other.resume("a", prompt="now")
            with pytest.raises(RuntimeError, match="another process"):
                other.compact("a")
        finally:
            handler.go.set()
            worker.join(10)
        record = run.records["a"]
        assert record.state == "done" and record.retries == 1 and len(record.calls) == 2
        assert not being_written(record.transcript)
        kinds = [x.get("subtype") or x["type"] for x in lines_of(record.transcript)]
        assert kinds.count("compact_boundary") == 1
        again = load_run(tmp_path / "run", model="haiku", interactive=False)
        assert again.records["a"].state == "done" and len(again.records["a"].calls) == 2


def test_ctrl_c_during_a_compaction_leaves_no_lock_and_no_late_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentbook.testing import FakeAnthropic

    handler = Summariser()
    with FakeAnthropic(handler, api_key=KEY) as fake:
        run = fake_run(tmp_path, monkeypatch, fake)
        record = run.records["a"]
        threading.Thread(
            target=lambda: handler.arrived.wait(10) and os.kill(os.getpid(), signal.SIGINT)
        ).start()
        with pytest.raises(KeyboardInterrupt):
            run.compact("a")
        assert record.state == "done"
        before = record.transcript.read_text()
        handler.go.set()
        time.sleep(1.0)  # the summary's reply reaches the background loop
        # Interrupted, the compaction is over: no lines after it, and nothing holds the file.
        late, locked = record.transcript.read_text()[len(before) :], being_written(record.transcript)
        assert (late, locked) == ("", False)


def test_ccusage_style_scan_counts_the_compaction_call_once(tmp_path: Path) -> None:
    from agentbook.analysis.claude_code import scan_claude_code

    run, _model = ran(tmp_path, [ToolUse("g1", "Glob", {"pattern": "*"}), "done", "the summary"])
    run.compact("a")
    record = run.records["a"]
    scan = scan_claude_code(tmp_path / "run")
    assert len(scan.calls) == len(record.calls) == 3
    assert sum(c.input_tokens for c in scan.calls) == record.usage.input_tokens


def test_frames_after_a_compaction_and_after_load_run_agree(tmp_path: Path) -> None:
    run, _model = ran(tmp_path, [ToolUse("g1", "Glob", {"pattern": "*"}), "done", "the summary"])
    run.compact("a")
    loaded = load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    assert len(run.calls_df) == len(loaded.calls_df) == 3
    assert run.calls_df["input_tokens"].sum() == loaded.calls_df["input_tokens"].sum()
    assert run.df.loc["a", "cost_usd"] == pytest.approx(loaded.df.loc["a", "cost_usd"])


def test_compacting_a_sub_agent_leaves_its_parent_alone(tmp_path: Path) -> None:
    spawn = ToolUse("s1", "Agent", {"description": "child", "prompt": "child task"})
    run, _model = ran(tmp_path, [spawn, "child answer", "lead answer", "child summary"])
    child = next(r for r in run.records.values() if r.parent == "a")
    lead_lines = run.records["a"].transcript.read_text()
    done = run.compact(child.name)
    assert done.summary.endswith("child summary") and child.state == "done"
    assert run.records["a"].transcript.read_text() == lead_lines
    back = read_transcript(child.transcript)
    assert [m.text for m in back.messages] == [done.summary]
    assert not being_written(child.transcript)


# ---------------------------------------------------------------- Stop hooks


def test_a_stop_hook_that_always_blocks_is_bounded_by_max_turns(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"hooks": {"Stop": [hook_of("echo 'not yet' >&2; exit 2")]}})
    run, model = ran(tmp_path, ["one", "two", "three", "never"], settings=path, max_turns=3)
    record = run.records["a"]
    assert record.state == "partial" and record.turns == 3 and len(model.requests) == 3
    end = [x for x in lines_of(record.transcript) if x.get("subtype") == "agentbook_end"][-1]
    assert end["agentbook"]["state"] == "partial" and "max" in (end["agentbook"]["error"] or "")


def test_a_stop_hook_reason_holding_the_key_is_redacted(tmp_path: Path) -> None:
    hook = f"""python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({{"decision": "block", "reason": "key {KEY}"}}) if not d["stop_hook_active"] else "")'"""  # noqa: E501
    path = write(tmp_path / "s.json", {"hooks": {"Stop": [hook_of(hook)]}})
    run, model = ran(tmp_path, ["one", "two"], settings=path)
    assert run.results["a"] == "two"
    assert KEY not in json.dumps(model.requests[1].messages[-1].to_api())
    assert KEY not in run.records["a"].transcript.read_text()


def test_cancelling_an_agent_while_its_stop_hook_runs_ends_it_cancelled(tmp_path: Path) -> None:
    marker = tmp_path / "hook-started"
    path = write(tmp_path / "s.json", {"hooks": {"Stop": [hook_of(f"touch '{marker}'; sleep 30; exit 2")]}})
    model = ScriptedModel(["one", "two"])
    run = run_parallel({"a": "go"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run", settings=path,
                       interactive=False)  # fmt: skip
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    run.cancel("a")
    run.wait(timeout=10)
    assert time.monotonic() - started < 5
    assert run.records["a"].state == "cancelled" and len(model.requests) == 1


def test_a_subagent_stop_block_gives_the_parent_the_childs_final_answer(tmp_path: Path) -> None:
    hook = """python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["stop_hook_active"] else (print("check it", file=sys.stderr) or 2))'"""  # noqa: E501
    path = write(tmp_path / "s.json", {"hooks": {"SubagentStop": [hook_of(hook)]}})
    spawn = ToolUse("s1", "Agent", {"description": "child", "prompt": "child task"})
    run, model = ran(tmp_path, [spawn, "child first", "child checked", "lead done"], settings=path)
    assert run.results["a"] == "lead done"
    result = model.requests[-1].messages[-1].content[0]
    assert isinstance(result, ToolResult) and "child checked" in result.content
    assert "child first" not in result.content


def test_an_in_process_before_stop_that_raises_fails_the_agent(tmp_path: Path) -> None:
    def broken(agent: str, text: str, active: bool) -> str | None:
        raise ValueError("cannot decide")

    run, _model = ran(tmp_path, ["one", "two"], hooks=Hooks(before_stop=[broken]))
    record = run.records["a"]
    assert record.state == "failed" and "cannot decide" in (record.error or "")


# ---------------------------------------------------------------- PostToolUse feedback


def test_post_tool_feedback_on_an_error_result_keeps_it_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.json", {"hooks": {"PostToolUse": [hook_of("echo 'read the error' >&2; exit 2")]}}
    )
    _run, model = ran(tmp_path, [ToolUse("r1", "Read", {"file_path": "missing.txt"}), "ok"], settings=path)
    result = model.requests[1].messages[-1].content[0]
    assert isinstance(result, ToolResult) and result.is_error
    assert result.content.endswith("A hook says: read the error")


def test_post_tool_additional_context_holding_the_key_is_redacted(tmp_path: Path) -> None:
    out = json.dumps({"hookSpecificOutput": {"additionalContext": f"key {KEY}"}})
    path = write(tmp_path / "s.json", {"hooks": {"PostToolUse": [hook_of(f"echo '{out}'")]}})
    run, model = ran(tmp_path, [ToolUse("g1", "Glob", {"pattern": "*"}), "ok"], settings=path)
    result = model.requests[1].messages[-1].content[0]
    assert "A hook says: key [REDACTED]" in result.content
    assert KEY not in run.records["a"].transcript.read_text()


def test_non_string_additional_context_and_non_utf8_output_do_not_crash(tmp_path: Path) -> None:
    out = json.dumps({"hookSpecificOutput": {"additionalContext": {"lint": 2}}})
    hooks = {"PostToolUse": [hook_of(f"echo '{out}'"), hook_of("printf '\\xff\\xfe bad' >&2; exit 2")]}
    path = write(tmp_path / "s.json", {"hooks": hooks})
    run, model = ran(tmp_path, [ToolUse("g1", "Glob", {"pattern": "*"}), "ok"], settings=path)
    assert run.status == {"a": "done"}
    result = model.requests[1].messages[-1].content[0]
    assert "lint" in result.content and "bad" in result.content


def test_a_long_additional_context_reaches_the_model_cut_not_dropped(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_text(json.dumps({"hookSpecificOutput": {"additionalContext": "lint says: " + "w" * 20_000}}))
    path = write(tmp_path / "s.json", {"hooks": {"PostToolUse": [hook_of(f"cat '{out}'")]}})
    _run, model = ran(tmp_path, [ToolUse("g1", "Glob", {"pattern": "*"}), "ok"], settings=path)
    result = model.requests[1].messages[-1].content[0]
    assert "lint says: www" in result.content


def test_load_run_with_a_settings_file_turned_malformed_names_it_and_writes_nothing(tmp_path: Path) -> None:
    from agentbook.settings import SettingsError

    path = write(tmp_path / "s.json", {"hooks": {"Stop": [hook_of("exit 0")]}})
    ran(tmp_path, ["ok"], settings=path)
    path.write_text('{"hooks": {"Stop": [')
    files = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    with pytest.raises(SettingsError, match=r"s\.json"):
        load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False)
    assert {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()} == files
