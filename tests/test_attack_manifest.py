"""Adversarial review of issue 10: `load_run` on damaged run folders.

Promise: a `run.json` that cannot be read warns naming the file and the run is rebuilt from its
transcripts; a transcript line that cannot be read is skipped with a warning naming it."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.restore import load_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = run_parallel(
        {"a": "hello", "b": "bye"},
        model=ScriptedModel(["one", "two"]),
        run_dir=tmp_path / "run",
        interactive=False,
    )
    run.wait(timeout=20)
    assert set(run.status.values()) == {"done"}
    return run.run_dir


def _edit(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = run_dir / "run.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


DAMAGE: dict[str, Callable[[dict[str, Any]], None]] = {
    "task-without-prompt": lambda d: d["agents"]["a"]["task"].pop("prompt"),
    "entry-without-task": lambda d: d["agents"]["a"].pop("task"),
    "prompt-an-int": lambda d: d["agents"]["a"]["task"].__setitem__("prompt", 5),
    "entry-a-string": lambda d: d["agents"].__setitem__("a", "x"),
    "entry-without-agent-id": lambda d: d["agents"]["a"].pop("agent_id"),
    "max-turns-a-string": lambda d: d["config"].__setitem__("max_turns", "x"),
    "retry-unknown-key": lambda d: d["config"].__setitem__("retry", {"attempts": 3}),
    "rules-not-lists": lambda d: d["config"].__setitem__("permissions", {"allow": 5}),
    "rule-malformed": lambda d: d["config"].__setitem__("permissions", {"allow": ["Bash("]}),
    "agents-spec-junk": lambda d: d["config"].__setitem__("agents", {"x": {"nope": 1}}),
    "tools-unknown": lambda d: d["config"].__setitem__("tools", ["Teleport"]),
    "depth-a-string": lambda d: d["agents"]["a"].__setitem__("depth", "x"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_manifest_with_wrong_types_inside_warns_naming_it_and_the_run_still_loads(
    run_dir: Path, damage: str
) -> None:
    # Today: a bare KeyError('prompt'), TypeError("string indices must be integers"), ... with
    # neither the file nor the field named, and nothing of the run loads.
    _edit(run_dir, DAMAGE[damage])
    with pytest.warns(UserWarning, match="run.json"):
        run = load_run(run_dir, model=ScriptedModel([]), interactive=False)
    assert set(run.status) == {"a", "b"}
    assert run.results["b"] == "two"


def test_a_config_that_is_not_a_mapping_is_named_not_silently_replaced_by_defaults(run_dir: Path) -> None:
    # "config": [1] is read as a version-1 manifest: every option (isolation, permissions,
    # tools, system, ...) silently falls back to its default, and a resume runs unconfined.
    _edit(run_dir, lambda d: d.__setitem__("config", [1]))
    with pytest.warns(UserWarning, match="run.json"):
        load_run(run_dir, model=ScriptedModel([]), interactive=False)


def test_resuming_after_a_transcript_cut_mid_line_writes_readable_lines(run_dir: Path) -> None:
    # A SIGKILL mid-write leaves a last line without its newline; the resumed agent appends to
    # it, so its first new line is glued to the broken one and lost at the next load_run.
    run = load_run(run_dir, model=ScriptedModel([]), interactive=False)
    path = run.records["a"].transcript
    raw = path.read_bytes()
    path.write_bytes(raw[:-30])  # the end record cut mid-line
    with pytest.warns(UserWarning, match="cannot be read"):
        loaded = load_run(run_dir, model=ScriptedModel(["after the cut"]), interactive=False)
    assert loaded.records["a"].state == "failed"
    loaded.resume("a", prompt="go on").wait(timeout=20)
    assert loaded.records["a"].state == "done"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_run(run_dir, model=ScriptedModel([]), interactive=False)
    assert again.records["a"].state == "done"
    problems = [str(w.message) for w in caught]
    # Only the one cut line may be unreadable, and the resume's first line (its start record)
    # must not be glued to it.
    assert len(problems) <= 1, problems
    starts = [
        json.loads(line)
        for line in path.read_bytes().split(b"\n")
        if b"agentbook_start" in line and line.endswith(b"}") and _parses(line)
    ]
    assert len(starts) == 2, "the resumed agent's start record was lost"


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_a_missing_manifest_with_transcripts_is_rebuilt_like_a_corrupt_one(run_dir: Path) -> None:
    # A corrupt run.json is rebuilt from the transcripts; a deleted one is a FileNotFoundError
    # even though every transcript is there.
    (run_dir / "run.json").unlink()
    with pytest.warns(UserWarning, match="run.json"):
        run = load_run(run_dir, model=ScriptedModel([]), interactive=False)
    assert set(run.status) == {"a", "b"}


def test_permissions_given_to_load_run_keep_their_own_mode(run_dir: Path) -> None:
    # from_json keeps the manifest's permission_mode ("default") next to the given permissions,
    # and RunConfig then puts the given rules back into the old mode.
    from agentbook.tools.permissions import Permissions

    given = Permissions(allow=["Bash(ls *)"], mode="acceptEdits")
    run = load_run(run_dir, model=ScriptedModel([]), permissions=given, interactive=False)
    assert run.permissions.mode == "acceptEdits"
    assert run.config.permission_mode == "acceptEdits"
    assert [str(r) for r in run.permissions.allow] == ["Bash(ls *)"]


@pytest.mark.parametrize("prompt", [5, ["more"], b"more"])
def test_resume_refuses_a_prompt_that_is_not_text_before_starting(run_dir: Path, prompt: object) -> None:
    # resume() checks max_turns but not prompt: the agent starts and fails in the background
    # with "sequence item 0: expected str instance, int found".
    run = load_run(run_dir, model=ScriptedModel(["more"]), interactive=False)
    with pytest.raises(TypeError, match="prompt"):
        run.resume("a", prompt=prompt)  # type: ignore[arg-type]
    run.wait(timeout=20)
    assert run.status["a"] == "done"


def test_load_run_expands_the_home_folder_as_run_parallel_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # run_parallel(run_dir="~/runs/x") expands '~'; load_run("~/runs/x") looks for a folder named '~'.
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.chdir(tmp_path)
    run = run_parallel({"a": "hi"}, model=ScriptedModel(["ok"]), run_dir="~/runs/x", interactive=False)
    run.wait(timeout=20)
    assert (tmp_path / "user" / "runs" / "x" / "run.json").is_file()
    loaded = load_run("~/runs/x", model=ScriptedModel([]), interactive=False)
    assert loaded.status == {"a": "done"}


LINE_DAMAGE: dict[str, Callable[[dict[str, Any]], None]] = {
    "timestamp-words": lambda line: line.__setitem__("timestamp", "yesterday"),
    "timestamp-int": lambda line: line.__setitem__("timestamp", 5),
    "timestamp-month-13": lambda line: line.__setitem__("timestamp", "2026-13-45T00:00:00Z"),
    "usage-not-a-number": lambda line: line["message"].__setitem__("usage", {"input_tokens": "many"}),
}


@pytest.mark.parametrize("damage", sorted(LINE_DAMAGE))
def test_a_transcript_line_of_json_with_wrong_values_is_skipped_with_a_warning(
    run_dir: Path, damage: str
) -> None:
    # Lines that are JSON but hold a bad timestamp or usage crash load_run as a whole
    # ("Invalid isoformat string", "invalid literal for int()"), naming neither file nor line.
    run = load_run(run_dir, model=ScriptedModel([]), interactive=False)
    path = run.records["a"].transcript
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        if line["type"] == "assistant":
            LINE_DAMAGE[damage](line)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_run(run_dir, model=ScriptedModel([]), interactive=False)
    assert set(loaded.status) == {"a", "b"}
    assert loaded.results["b"] == "two"
    assert any(path.name in str(w.message) for w in caught), [str(w.message) for w in caught]
