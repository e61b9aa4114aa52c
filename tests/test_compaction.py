"""Compaction (issue 13, point 3): `run.compact(name)` replaces an ended agent's conversation by a
model-written summary, Claude Code's way: its transcript keeps every line and gains the
summarising call, a `compact_boundary` line and the summary; a resume goes on from the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentbook.messages import ToolUse
from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.restore import load_run
from agentbook.scheduler.transcripts import read_transcript
from agentbook.testing import FakeAnthropic, FakeRequest, MessageReply, Reply, ToolUseBlock

# Real Claude Code transcripts (MIT), copied from ../shared/data with their licences.
KEY = "sk-ant-test-compaction-0123456789"
DATA = Path(__file__).resolve().parents[1] / "data" / "claude-code-transcripts"


def long_run(tmp_path: Path, model: ScriptedModel):
    (tmp_path / "big.txt").write_text("a line of the file that the agent reads\n" * 400)
    run = run_parallel({"a": "read big.txt and say what it holds"}, model=model, cwd=tmp_path,
                       run_dir=tmp_path / "run", interactive=False)  # fmt: skip
    run.wait(timeout=30)
    return run


def test_compact_replaces_the_conversation_and_a_resume_goes_on_from_the_summary(tmp_path: Path) -> None:
    read = ToolUse("r1", "Read", {"file_path": "big.txt"})
    model = ScriptedModel([read, "It holds 400 copies of one line.", "the file: 400 equal lines", "noted"])
    run = long_run(tmp_path, model)
    before_calls, before_cost = len(run.records["a"].calls), run.records["a"].usage.total_input_tokens
    done = run.compact("a", instructions="keep the line count")
    assert done.tokens_before > 4 * done.tokens_after > 0
    assert "keep the line count" in model.requests[2].messages[-1].text
    assert done.summary.startswith("This session is being continued") and "400 equal lines" in done.summary
    record = run.records["a"]
    assert record.state == "done" and len(record.calls) == before_calls + 1
    assert record.usage.total_input_tokens > before_cost  # the summary's call is paid for
    lines = [json.loads(x) for x in record.transcript.read_text().splitlines()]
    boundary = next(x for x in lines if x.get("subtype") == "compact_boundary")
    assert boundary["parentUuid"] is None and boundary["logicalParentUuid"]
    assert boundary["compactMetadata"] == {
        "trigger": "manual", "preTokens": done.tokens_before, "postTokens": done.tokens_after,
        "agentbookCall": record.calls[-1].message_id,
    }  # fmt: skip
    # The agent's context before and after, in the compaction's row of calls_df (and after a restart).
    for calls in (run.calls_df, load_run(run.run_dir).calls_df):
        row = calls[calls["turn"] == 0].iloc[0]
        assert (row["context_before"], row["context_after"]) == (done.tokens_before, done.tokens_after)
        assert calls[calls["turn"] > 0]["context_before"].isna().all()
    assert lines[-1]["isCompactSummary"] is True and lines[-1]["message"]["content"] == done.summary
    back = read_transcript(record.transcript)
    assert [m.text for m in back.messages] == [done.summary]
    run.resume("a", prompt="what was the count?").wait(timeout=30)
    last = model.requests[-1]
    assert len(last.messages) == 1 and last.messages[0].text.endswith("what was the count?")
    assert "a line of the file" not in json.dumps(last.messages[0].to_api())  # the Read result is gone
    assert run.results["a"] == "noted"


def test_compact_refuses_a_running_agent_and_one_without_a_conversation(tmp_path: Path) -> None:
    run = run_parallel({"a": "x"}, model=ScriptedModel([RuntimeError("no model")]), run_dir=tmp_path / "run",
                       interactive=False)  # fmt: skip
    run.wait(timeout=10)
    (run.records["a"].transcript).unlink()
    with pytest.raises(ValueError, match="no conversation"):
        run.compact("a")
    with pytest.raises(KeyError, match="no agent 'b'"):
        run.compact("b")


def test_a_compacted_agent_resumes_from_its_summary_after_load_run(tmp_path: Path) -> None:
    model = ScriptedModel([ToolUse("r1", "Read", {"file_path": "big.txt"}), "done", "the summary"])
    run = long_run(tmp_path, model)
    run.compact("a")
    later = ScriptedModel(["went on"])
    loaded = load_run(tmp_path / "run", model=later, interactive=False)
    assert loaded.records["a"].state == "done" and len(loaded.records["a"].calls) == 3
    loaded.resume("a", prompt="go on").wait(timeout=30)
    assert [m.role for m in later.requests[0].messages] == ["user"]
    assert "the summary" in later.requests[0].messages[0].text


def test_claude_codes_own_compacted_transcripts_read_back_from_their_last_summary() -> None:
    files = [p for p in DATA.rglob("*.jsonl") if "compact_boundary" in p.read_text(errors="replace")]
    assert len(files) >= 3, f"the repository's real transcripts with compactions are gone from {DATA}"
    for path in files[:5]:
        back = read_transcript(path)
        assert back.messages, path
        assert back.messages[0].role == "user"
        assert back.messages[0].text.startswith("This session is being continued"), path


def test_compact_at_tokens_compacts_before_a_request_that_would_pass_it(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("a line of the file that the agent reads\n" * 400)  # ~4,000 tokens
    model = ScriptedModel([ToolUse("r1", "Read", {"file_path": "big.txt"}), "400 equal lines, read", "final"])
    run = run_parallel({"a": "read big.txt"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run",
                       compact_at_tokens=2000, interactive=False)  # fmt: skip
    run.wait(timeout=30)
    record = run.records["a"]
    assert record.state == "done" and run.results["a"] == "final"
    summarising, after = model.requests[1], model.requests[2]
    assert "a line of the file" in json.dumps([m.to_api() for m in summarising.messages])
    assert [m.role for m in after.messages] == ["user"] and "400 equal lines, read" in after.messages[0].text
    assert "a line of the file" not in json.dumps(after.messages[0].to_api())
    assert [c.turn for c in record.calls] == [1, 0, 2] and record.turns == 2  # the summary's call is no turn
    lines = [json.loads(x) for x in record.transcript.read_text().splitlines()]
    boundary = next(x for x in lines if x.get("subtype") == "compact_boundary")
    assert (
        boundary["compactMetadata"]["trigger"] == "auto" and boundary["compactMetadata"]["preTokens"] > 2000
    )
    back = read_transcript(record.transcript)
    assert back.messages[0].text.startswith("This session is being continued")
    assert load_run(tmp_path / "run", model=ScriptedModel([]), interactive=False).records["a"].turns == 2


@pytest.mark.parametrize("bad", [0, -5, "many", 1.5])
def test_a_bad_compact_at_tokens_is_named_and_starts_nothing(tmp_path: Path, bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="compact_at_tokens"):
        run_parallel({"a": "x"}, model=ScriptedModel(["x"]), run_dir=tmp_path / "run", compact_at_tokens=bad)
    assert not (tmp_path / "run").exists()


def test_after_an_automatic_compaction_the_next_request_is_smaller_by_what_it_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real SDK on the fake API: what the compaction says it saved (tokens before
    minus after) is what the next request's input is smaller by, as the server counts it."""
    (tmp_path / "big.txt").write_text("a line of the file that the coordinator reads\n" * 800)

    def handler(request: FakeRequest) -> Reply:
        said = json.dumps(request.json["messages"])
        if "write a detailed summary" in said:
            return MessageReply("The coordinator read big.txt: 800 equal lines.")
        if "800 equal lines" in said:
            return MessageReply("final")
        return MessageReply([ToolUseBlock("Read", {"file_path": "big.txt"})])

    with FakeAnthropic(handler, api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        run = run_parallel({"lead": "read big.txt"}, model="haiku", cwd=tmp_path, run_dir=tmp_path / "run",
                           tools=["Read"], compact_at_tokens=4000, interactive=False)  # fmt: skip
        run.wait(timeout=30)
    assert run.results["lead"] == "final"
    calls = run.calls_df
    compaction, after = calls[calls["turn"] == 0].iloc[0], calls[calls["turn"] == 2].iloc[0]
    before_tokens, after_tokens = int(compaction["context_before"]), int(compaction["context_after"])
    assert before_tokens > 8000 > 500 > after_tokens
    measured = int(compaction["input_tokens"]) - int(after["input_tokens"])
    reported = before_tokens - after_tokens
    assert abs(measured - reported) < 0.05 * reported  # within the tools' and prompts' few hundred
