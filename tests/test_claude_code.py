"""`load_claude_code` and `agentbook costs` on real Claude Code transcripts nobody here wrote.

The reference totals come from data/claude-code-transcripts/README.md; the ccusage tests run the
npm package (20.0.24) itself, skipped where it is not installed, failing in CI where it must be.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from support import ccusage_bin

from agentbook.analysis.claude_code import (
    MAIN_AGENT,
    ccusage_skip_reason,
    load_claude_code,
    scan_claude_code,
    summarize,
    transcript_files,
)
from agentbook.cli import main
from agentbook.costs import UnknownModelPriceWarning

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "claude-code-transcripts"
REAL = ("marot__spotter", "d-kimuson__claude-code-viewer", "daaain__claude-code-log")
SYNTHETIC = "ryoppippi__ccusage_synthetic"
TOKENS = ["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]

# data/claude-code-transcripts/README.md
REFERENCE = {
    "input_tokens": 10_390,
    "output_tokens": 253_067,
    "cache_creation_input_tokens": 2_428_150,
    "cache_read_input_tokens": 81_545_139,
}
CCUSAGE_AS_IS = {
    "input_tokens": 10_381,
    "output_tokens": 252_329,
    "cache_creation_input_tokens": 2_264_096,
    "cache_read_input_tokens": 81_403_867,
}


@pytest.fixture(scope="module")
def everything() -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelPriceWarning)  # the synthetic folder's fast call
        return load_claude_code(DATA)


@pytest.fixture(scope="module")
def real(everything: pd.DataFrame) -> pd.DataFrame:
    return everything[everything["project"] != SYNTHETIC]


def sums(frame: pd.DataFrame) -> dict[str, int]:
    return {name: int(frame[name].sum()) for name in TOKENS}


def line(**fields: Any) -> str:
    """One assistant line as Claude Code writes it (compact JSON), with `fields` merged in."""
    usage = {"input_tokens": 5, "output_tokens": 7, "cache_creation_input_tokens": 0}
    usage |= {"cache_read_input_tokens": 0, **fields.pop("usage", {})}
    message = {"id": "msg_1", "model": "claude-sonnet-4-5", "role": "assistant", "content": []}
    record = {
        "type": "assistant",
        "uuid": "u1",
        "parentUuid": None,
        "isSidechain": False,
        "sessionId": "s1",
        "version": "2.1.39",
        "timestamp": "2026-01-09T10:00:00.000Z",
        "requestId": "req_1",
        "message": {**message, **fields.pop("message", {}), "usage": usage},
    }
    return json.dumps(record | fields, separators=(",", ":"))


def write(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(text + "\n" for text in lines), encoding="utf-8")
    return path


# ---- the reference totals ----------------------------------------------------------------------


def test_the_real_folders_give_the_reference_totals(real: pd.DataFrame) -> None:
    assert sums(real) == REFERENCE
    assert len(real) == 1_101
    assert len(real.drop_duplicates(["message_id", "request_id"])) == 1_101


def test_calls_ccusage_does_not_skip_sum_to_its_figures_on_the_files_as_they_are(real: pd.DataFrame) -> None:
    assert sums(real[~real["skipped_by_ccusage"]]) == CCUSAGE_AS_IS
    # What it skips is the one file written with spaces after `:` and `,`.
    skipped = real[real["skipped_by_ccusage"]]
    assert set(skipped["project"]) == {"daaain__claude-code-log"} and len(skipped) == 3


def test_each_folder_loads_on_its_own_with_the_same_calls(real: pd.DataFrame) -> None:
    parts = [load_claude_code(DATA / name) for name in REAL]
    assert sum(len(p) for p in parts) == len(real)
    assert {k: sum(sums(p)[k] for p in parts) for k in TOKENS} == REFERENCE


def test_the_frame_has_typed_columns_and_counts_the_other_lines(real: pd.DataFrame) -> None:
    for name in (*TOKENS, "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"):
        assert real[name].dtype == "Int64"
    assert real["cost_usd"].dtype == "Float64" and real["cost_usd"].notna().all()
    assert str(real["timestamp"].dtype).startswith("datetime64") and str(real["timestamp"].dt.tz) == "UTC"
    assert real["timestamp"].notna().all()
    assert real["is_sidechain"].dtype == bool and real["skipped_by_ccusage"].dtype == bool
    attrs = load_claude_code(DATA / "marot__spotter").attrs
    assert attrs["lines"] == attrs["no_usage_lines"] + attrs["duplicate_lines"] + 899 + attrs["bad_lines"]
    assert attrs["bad_lines"] == 0 and attrs["files"] == 20


# ---- de-duplication ----------------------------------------------------------------------------


def test_duplicates_keep_the_largest_usage_not_the_first(tmp_path: Path) -> None:
    file = write(
        tmp_path / "s1.jsonl",
        line(usage={"output_tokens": 10}),
        line(usage={"output_tokens": 50}),
        line(usage={"output_tokens": 30}),
        line(requestId="req_2", usage={"output_tokens": 1}),  # same message id, another request
    )
    frame = load_claude_code(file)
    assert list(frame["output_tokens"]) == [50, 1]
    assert frame.attrs["duplicate_lines"] == 2


def test_real_snapshots_keep_their_largest_output(real: pd.DataFrame) -> None:
    largest: dict[tuple[str, str], int] = {}
    for file in (DATA / "marot__spotter").rglob("*.jsonl"):
        for text in file.read_text(encoding="utf-8").splitlines():
            record = json.loads(text)
            message = record.get("message")
            if isinstance(message, dict) and "usage" in message:
                key = (message["id"], record["requestId"])
                largest[key] = max(largest.get(key, 0), message["usage"]["output_tokens"])
    marot = real[real["project"] == "marot__spotter"]
    got = dict(
        zip(zip(marot["message_id"], marot["request_id"], strict=True), marot["output_tokens"], strict=True)
    )
    assert got == largest


def test_progress_lines_are_not_scanned_for_nested_usage(tmp_path: Path) -> None:
    nested = json.loads(line())
    progress = {"type": "progress", "sessionId": "s1", "data": {"message": nested, "agentId": "a1"}}
    file = write(tmp_path / "s1.jsonl", json.dumps(progress, separators=(",", ":")))
    frame = load_claude_code(file)
    assert frame.empty and list(frame.columns)[:2] == ["session_id", "agent_id"]
    assert frame.attrs["no_usage_lines"] == 1


def test_lines_that_are_not_json_are_counted_apart(tmp_path: Path) -> None:
    file = write(
        tmp_path / "s1.jsonl", line(), "[1, 2]", "", '{"type":"user","message":{"role":"user"}}', '{"torn":'
    )
    frame = load_claude_code(file)
    assert len(frame) == 1
    assert frame.attrs["lines"] == 4 and frame.attrs["bad_lines"] == 2 and frame.attrs["no_usage_lines"] == 1


def test_check_every_line_finds_bad_json_in_lines_that_cannot_hold_usage(tmp_path: Path) -> None:
    file = write(tmp_path / "s1.jsonl", line(), '{"type":"user","message":}')
    assert load_claude_code(file).attrs["bad_lines"] == 0  # not parsed: it cannot hold usage
    checked = load_claude_code(file, check_every_line=True)
    assert checked.attrs["bad_lines"] == 1 and len(checked) == 1


def test_checking_every_line_finds_the_same_calls(real: pd.DataFrame) -> None:
    checked = pd.concat([load_claude_code(DATA / name, check_every_line=True) for name in REAL])
    assert sums(checked) == REFERENCE and len(checked) == len(real)
    key = ["message_id", "request_id"]
    columns = [*key, "agent_id", "session_id", "skipped_by_ccusage", *TOKENS]
    ours, theirs = (f[columns].sort_values(key).reset_index(drop=True) for f in (checked, real))
    pd.testing.assert_frame_equal(ours, theirs)


# ---- agents ------------------------------------------------------------------------------------


def test_subagent_files_are_named_by_their_agent_and_belong_to_the_parent_session(real: pd.DataFrame) -> None:
    marot = real[real["project"] == "marot__spotter"]
    files = {
        p.stem.removeprefix("agent-") for p in (DATA / "marot__spotter").glob("*/subagents/agent-*.jsonl")
    }
    subs = marot[marot["is_sidechain"]]
    assert set(subs["agent_id"]) == files and len(files) == 12
    for agent, session in zip(subs["agent_id"], subs["session_id"], strict=True):
        [file] = (DATA / "marot__spotter").glob(f"*/subagents/agent-{agent}.jsonl")
        assert file.parents[1].name == session  # sessionId is the parent's, not the agent's
    assert set(marot.loc[~marot["is_sidechain"], "agent_id"]) == {MAIN_AGENT}


def test_agent_files_beside_the_sessions_are_named_from_the_file(real: pd.DataFrame) -> None:
    stubs = real[real["file"].str.contains("agent-test-hash")]
    assert sorted(stubs["agent_id"]) == ["test-hash-123", "test-hash-456"]


def test_inline_sidechains_get_one_agent_per_chain(real: pd.DataFrame) -> None:
    fan_out = real[real["session_id"] == "fe5e1c67-53e7-4862-81ae-d0e013e3270b"]
    agents = set(fan_out.loc[fan_out["is_sidechain"], "agent_id"])
    assert len(agents) == 5 and all(a.startswith("sidechain-") for a in agents)  # 3 + 2 Task calls
    assert set(fan_out.loc[~fan_out["is_sidechain"], "agent_id"]) == {MAIN_AGENT}


def test_an_inline_sidechain_takes_an_agent_id_any_of_its_lines_carries(tmp_path: Path) -> None:
    file = write(
        tmp_path / "s1.jsonl",
        line(),
        line(uuid="c1", isSidechain=True, message={"id": "msg_2"}, requestId="req_2"),
        line(uuid="c2", parentUuid="c1", isSidechain=True, message={"id": "msg_3"}, requestId="req_3"),
        json.dumps(
            {"type": "user", "uuid": "c3", "parentUuid": "c2", "isSidechain": True, "agentId": "abc123"}
        ),
        line(uuid="d1", isSidechain=True, message={"id": "msg_4"}, requestId="req_4"),
    )
    frame = load_claude_code(file)
    assert list(frame["agent_id"]) == [MAIN_AGENT, "abc123", "abc123", "sidechain-d1"]


# ---- paths -------------------------------------------------------------------------------------


def test_one_file_one_project_folder_a_projects_tree_and_a_claude_folder(tmp_path: Path) -> None:
    session = DATA / "marot__spotter" / "258c7280-ae70-4798-800f-63464d01a85d.jsonl"
    one = load_claude_code(session)
    assert set(one["project"]) == {"marot__spotter"} and set(one["agent_id"]) == {MAIN_AGENT}
    assert len(one) == 152
    sub = load_claude_code(
        DATA / "marot__spotter" / "6c2214d7-b87e-4432-8e41-22ba294ea584/subagents/agent-afc096d.jsonl"
    )
    assert set(sub["project"]) == {"marot__spotter"} and set(sub["agent_id"]) == {"afc096d"}

    claude = tmp_path / ".claude"
    shutil.copytree(DATA / "daaain__claude-code-log", claude / "projects" / "daaain__claude-code-log")
    shutil.copytree(DATA / "marot__spotter", claude / "projects" / "marot__spotter")
    for root in (claude, claude / "projects"):
        frame = load_claude_code(root)
        assert set(frame["project"]) == {"daaain__claude-code-log", "marot__spotter"} and len(frame) == 902
    orphan = tmp_path / "orphan"
    shutil.copytree(DATA / "marot__spotter" / "6c2214d7-b87e-4432-8e41-22ba294ea584", orphan / "6c2214d7")
    assert [project for _, project in transcript_files(orphan)] == ["orphan"]


def test_a_bad_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_claude_code(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"no \.jsonl transcripts"):
        load_claude_code(tmp_path)


# ---- costs -------------------------------------------------------------------------------------


def test_the_synthetic_edge_cases_load(everything: pd.DataFrame) -> None:
    synthetic = everything[everything["project"] == SYNTHETIC]
    assert len(synthetic) == 5 and set(synthetic["session_id"]) == {"session-alpha", "session-beta"}
    assert sums(synthetic) == {
        "input_tokens": 730,
        "output_tokens": 310,
        "cache_creation_input_tokens": 90,
        "cache_read_input_tokens": 110,
    }
    fast = synthetic[synthetic["speed"] == "fast"]
    # Fast mode has no price in the table: missing, not priced as standard; `costUSD` is ignored.
    assert len(fast) == 1 and fast["cost_usd"].isna().all()
    assert synthetic["cost_usd"].notna().sum() == 4
    assert not synthetic["skipped_by_ccusage"].any()


def test_unknown_and_synthetic_models_cost_missing_never_zero(tmp_path: Path) -> None:
    file = write(
        tmp_path / "s1.jsonl",
        line(message={"model": "claude-nonesuch-9"}),
        line(message={"id": "msg_2", "model": "<synthetic>"}, requestId="req_2"),
        line(message={"id": "msg_3"}, requestId="req_3"),
    )
    with pytest.warns(UnknownModelPriceWarning, match="claude-nonesuch-9"):
        frame = load_claude_code(file)
    assert frame["cost_usd"].isna().tolist() == [True, True, False]
    assert frame["cost_usd"].iloc[2] == pytest.approx((5 * 3.0 + 7 * 15.0) / 1e6)


def test_cache_writes_are_priced_by_their_ttl(tmp_path: Path) -> None:
    split = {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 3000}
    usage = {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 4000,
        "cache_creation": split,
    }
    frame = load_claude_code(write(tmp_path / "s1.jsonl", line(usage=usage)))
    assert frame["ephemeral_1h_input_tokens"].iloc[0] == 3000
    assert frame["cost_usd"].iloc[0] == pytest.approx((1000 * 3.75 + 3000 * 6.0) / 1e6)


# ---- what ccusage skips ------------------------------------------------------------------------

SKIP_CASES: dict[str, tuple[str, bool]] = {
    "compact": (line(), False),
    "spaced": (json.dumps(json.loads(line())), True),
    "version not semver": (line(version="v2.1"), True),
    "version semver prefix": (line(version="2.1.3-beta"), False),
    "no version": (line(version=None).replace(',"version":null', ""), False),
    "timestamp 6 digits": (line(timestamp="2026-01-09T10:00:00.123456Z"), True),
    "timestamp 2 digits": (line(timestamp="2026-01-09T10:00:00.12Z"), True),
    "timestamp no fraction": (line(timestamp="2026-01-09T10:00:00Z"), False),
    "timestamp offset": (line(timestamp="2026-01-09T10:00:00.000+01:00"), False),
    "timestamp Feb 30": (line(timestamp="2026-02-30T10:00:00.000Z"), True),
    "null id in a tool input": (
        line(message={"content": [{"type": "tool_use", "input": {"id": None}}]}),
        True,
    ),
    "null stop_reason": (line(message={"stop_reason": None}), False),
    "null iteration model": (line(usage={"iterations": [{"type": "message", "model": None}]}), False),
    "no output_tokens": (line().replace('"output_tokens":7,', ""), True),
    "empty requestId": (line(requestId=""), True),
    "numeric sessionId": (line(sessionId=3), True),
}


@pytest.mark.parametrize("case", SKIP_CASES)
def test_ccusage_skip_rules(case: str) -> None:
    text, skipped = SKIP_CASES[case]
    record = json.loads(text)
    message = record["message"]
    assert (ccusage_skip_reason(text, record, message, message["usage"]) is not None) == skipped


def test_a_call_counts_for_ccusage_if_any_of_its_lines_does(tmp_path: Path) -> None:
    spaced = json.dumps(json.loads(line(usage={"output_tokens": 9})))
    frame = load_claude_code(write(tmp_path / "s1.jsonl", line(), spaced))
    assert len(frame) == 1 and frame["output_tokens"].iloc[0] == 9
    assert not frame["skipped_by_ccusage"].iloc[0]


# ---- the command -------------------------------------------------------------------------------


def test_cli_costs_prints_sessions_agents_and_the_subagents_share(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["costs", str(DATA / "d-kimuson__claude-code-viewer")]) == 0
    out = capsys.readouterr().out
    assert "per session (3)" in out and "fe5e1c67-53e7-4862-81ae-d0e013e3270b" in out
    assert "per agent (" in out and "sidechain-" in out and "test-hash-123" in out
    assert "subagents: 9 agents" in out and "% of tokens" in out and "% of cost" in out
    summary = summarize(scan_claude_code(DATA / "d-kimuson__claude-code-viewer"))
    total = next(row for row in out.splitlines() if row.startswith("total as recorded"))
    assert f"{summary.totals.cache_read_input_tokens:,}" in total


def test_cli_costs_json_is_a_machine_readable_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["costs", str(DATA / "marot__spotter"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["calls"] == 899 and data["totals"]["unpriced_calls"] == 0
    assert data["seen_by_ccusage"] == data["totals"]
    assert sum(s["calls"] for s in data["sessions"]) == 899
    assert (
        sum(a["cache_read_input_tokens"] for a in data["agents"]) == data["totals"]["cache_read_input_tokens"]
    )
    subs = data["subagents"]
    assert subs["agents"] == 12 and 0 < subs["token_share"] < 1 and 0 < subs["cost_share"] < 1
    # The command's pure-Python path and the DataFrame agree.
    frame = load_claude_code(DATA / "marot__spotter")
    assert {k: data["totals"][k] for k in TOKENS} == sums(frame)
    assert data["totals"]["cost_usd"] == pytest.approx(float(frame["cost_usd"].sum()))
    sub_rows = frame[frame["agent_id"] != MAIN_AGENT]
    assert subs["total_tokens"] == sum(sums(sub_rows).values())


@pytest.mark.parametrize(("where", "message"), [("missing", "no such file or folder"), (".", "no .jsonl")])
def test_cli_costs_bad_path_is_a_clear_error(
    tmp_path: Path, where: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["costs", str(tmp_path / where)]) == 2
    assert message in capsys.readouterr().err


def test_the_installed_command_prints_costs() -> None:
    command = [sys.executable, "-m", "agentbook.cli", "costs", str(DATA / "daaain__claude-code-log")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ccusage 20.0.24 would skip 3 of these calls" in proc.stdout


# ---- ccusage itself ----------------------------------------------------------------------------


def ccusage_totals(config: Path) -> dict[str, int]:
    command = [ccusage_bin(), "claude", "session", "--json", "--offline"]
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=config, timeout=120)
    assert proc.returncode == 0, proc.stderr
    totals = json.loads(proc.stdout)["totals"]
    names = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")
    return dict(zip(TOKENS, (totals[name] for name in names), strict=True))


def compact_copy(source: Path, target: Path) -> None:
    """Every line re-written as Claude Code writes it: compact JSON, nothing else changed."""
    for file in source.rglob("*.jsonl"):
        out = target / file.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        with file.open(encoding="utf-8") as lines:
            records = [json.loads(text) for text in lines if text.strip()]
        write(out, *(json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in records))


def test_ccusage_on_a_compact_rewrite_reports_what_load_claude_code_does(tmp_path: Path) -> None:
    config = tmp_path / "claude"
    for name in REAL:
        compact_copy(DATA / name, config / "projects" / name)
    ours = load_claude_code(config / "projects")
    assert not ours["skipped_by_ccusage"].any()
    assert ccusage_totals(config) == sums(ours) == REFERENCE


def test_ccusage_skips_exactly_the_lines_we_flag(tmp_path: Path) -> None:
    config = tmp_path / "claude"
    lines = []
    for number, (text, _) in enumerate(SKIP_CASES.values()):
        # One call per case, each with its own bit of cache reads, so the total says which counted.
        record = json.loads(text)
        record["message"]["id"] = f"msg_{number}"
        record["message"]["usage"]["cache_read_input_tokens"] = 2**number
        spaced = text.startswith('{"type": ')
        lines.append(json.dumps(record) if spaced else json.dumps(record, separators=(",", ":")))
    write(config / "projects" / "p" / "s1.jsonl", *lines)
    ours = load_claude_code(config / "projects")
    assert ours["skipped_by_ccusage"].tolist() == [skipped for _, skipped in SKIP_CASES.values()]
    assert ccusage_totals(config) == sums(ours[~ours["skipped_by_ccusage"]])


# ---- streaming snapshots left as a call's only usage (claude-code#84223) -----------------------

# Per file of the real data, the calls whose usage is a streaming snapshot: no stop_reason, no
# usage.iterations on any line, output_tokens at most 10 and below what the content needs.
SNAPSHOT_CALLS = {
    "d-kimuson__claude-code-viewer/1af7fc5e-8455-4414-9ccd-011d40f70b2a.jsonl": 1,
    "d-kimuson__claude-code-viewer/5c0375b4-57a5-4f26-b12d-d022ee4e51b7.jsonl": 1,
    "d-kimuson__claude-code-viewer/fe5e1c67-53e7-4862-81ae-d0e013e3270b.jsonl": 3,
    "marot__spotter/258c7280-ae70-4798-800f-63464d01a85d.jsonl": 12,
    "marot__spotter/258c7280-ae70-4798-800f-63464d01a85d/subagents/agent-a881341.jsonl": 3,
    "marot__spotter/258c7280-ae70-4798-800f-63464d01a85d/subagents/agent-acompact-fffbd0.jsonl": 1,
    "marot__spotter/4d5611e5-241a-462a-8d15-5122611a9569.jsonl": 44,
    "marot__spotter/4d5611e5-241a-462a-8d15-5122611a9569/subagents/agent-a2898e3.jsonl": 7,
    "marot__spotter/4d5611e5-241a-462a-8d15-5122611a9569/subagents/agent-acompact-e1f845.jsonl": 1,
    "marot__spotter/6c2214d7-b87e-4432-8e41-22ba294ea584/subagents/agent-afc096d.jsonl": 18,
    "marot__spotter/8463c716-a2ea-4c14-9efa-87158ebd9f20.jsonl": 16,
    "marot__spotter/8463c716-a2ea-4c14-9efa-87158ebd9f20/subagents/agent-a7be2f0.jsonl": 13,
    "marot__spotter/8463c716-a2ea-4c14-9efa-87158ebd9f20/subagents/agent-acompact-f46190.jsonl": 1,
    "marot__spotter/ae4a77f8-aedd-4bc1-888f-c94edc91af04.jsonl": 62,
    "marot__spotter/ae4a77f8-aedd-4bc1-888f-c94edc91af04/subagents/agent-aac57f5.jsonl": 3,
    "marot__spotter/ae4a77f8-aedd-4bc1-888f-c94edc91af04/subagents/agent-acompact-946d2b.jsonl": 1,
    "marot__spotter/fa812bfe-b295-4cca-9c2f-fdf01028cb46.jsonl": 38,
    "marot__spotter/fa812bfe-b295-4cca-9c2f-fdf01028cb46/subagents/agent-a93ccab.jsonl": 11,
    "marot__spotter/fa812bfe-b295-4cca-9c2f-fdf01028cb46/subagents/agent-aa84377.jsonl": 9,
    "marot__spotter/fa812bfe-b295-4cca-9c2f-fdf01028cb46/subagents/agent-acompact-70d8e7.jsonl": 1,
    "marot__spotter/subagent.jsonl": 5,
    "marot__spotter/tool_heavy.jsonl": 1,
}


def test_calls_left_with_a_streaming_snapshot_are_flagged_on_the_real_data(real: pd.DataFrame) -> None:
    flagged = real[real["usage_snapshot"]]
    per_file = flagged.groupby(flagged["file"].map(lambda f: Path(f).relative_to(DATA).as_posix())).size()
    assert per_file.to_dict() == SNAPSHOT_CALLS
    # Every call of five subagent files kept only snapshots (1 to 6 output tokens recorded).
    for name in ("agent-afc096d", "agent-a7be2f0", "agent-a93ccab", "agent-aa84377", "agent-a881341"):
        calls = real[real["file"].str.endswith(f"{name}.jsonl")]
        assert calls["usage_snapshot"].all() and calls["output_tokens"].max() <= 6
    assert flagged["output_tokens"].max() <= 10
    # The correction raises only the flagged calls' output and cost; input and cache stay.
    assert (flagged["output_tokens_corrected"] > flagged["output_tokens"]).all()
    kept = real[~real["usage_snapshot"]]
    assert (kept["output_tokens_corrected"] == kept["output_tokens"]).all()
    assert (kept["cost_usd_corrected"] == kept["cost_usd"]).all()
    assert (flagged["cost_usd_corrected"] > flagged["cost_usd"]).all()
    assert real["usage_snapshot"].dtype == bool and real["output_tokens_corrected"].dtype == "Int64"
    assert "streaming snapshot" in real.attrs["correction_rule"]


def test_a_call_with_final_usage_on_any_line_is_not_a_snapshot(tmp_path: Path) -> None:
    tool = {"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": "x" * 300}}
    snapshot = {"usage": {"output_tokens": 1}, "message": {"content": [tool]}}
    text = {"type": "text", "text": "y" * 400}
    second = line(message={"content": [text]}, usage={"output_tokens": 1})
    frame = load_claude_code(write(tmp_path / "a" / "s1.jsonl", line(**snapshot), second))
    assert frame["usage_snapshot"].tolist() == [True]
    # 400 characters of text / 4 + the tool input as JSON (316 characters) / 3, each line rounded up.
    assert frame["output_tokens_corrected"].tolist() == [100 + 106]
    final = {"usage": {"output_tokens": 180}, "message": {"content": [text], "stop_reason": "end_turn"}}
    backfilled = write(tmp_path / "b" / "s1.jsonl", line(**snapshot), line(**final))
    assert load_claude_code(backfilled)["usage_snapshot"].tolist() == [False]
    iterations = {"usage": {"output_tokens": 1, "iterations": []}, "message": {"content": [text]}}
    short = {"usage": {"output_tokens": 2}, "message": {"content": [{"type": "text", "text": "ok"}]}}
    for folder, fields in (("c", iterations), ("d", short)):
        assert not load_claude_code(write(tmp_path / folder / "s1.jsonl", line(**fields)))[
            "usage_snapshot"
        ].any()


def test_cli_costs_prints_the_recorded_and_the_corrected_totals_with_the_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["costs", str(DATA / "marot__spotter")]) == 0
    out = capsys.readouterr().out.splitlines()
    recorded = next(row for row in out if row.startswith("total as recorded (ccusage's)"))
    corrected = next(row for row in out if row.startswith("corrected "))
    frame = load_claude_code(DATA / "marot__spotter")
    assert f"{int(frame['output_tokens'].sum()):,}" in recorded
    assert f"{int(frame['output_tokens_corrected'].sum()):,}" in corrected
    assert f"${float(frame['cost_usd_corrected'].sum()):,.4f}" in corrected
    assert any(row.startswith("corrected: 247 call(s) kept only a streaming snapshot") for row in out)
    assert any(row.startswith("rule: a call is a streaming snapshot when") for row in out)
    assert main(["costs", str(DATA / "marot__spotter"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["usage_snapshot_calls"] == 247
    assert data["totals"]["output_tokens_corrected"] == int(frame["output_tokens_corrected"].sum())
    assert data["correction_rule"].startswith("a call is a streaming snapshot")


def test_ccusage_counts_the_recorded_total_the_command_prints(tmp_path: Path) -> None:
    config = tmp_path / "claude"
    for name in REAL:
        compact_copy(DATA / name, config / "projects" / name)
    summary = summarize(scan_claude_code(config / "projects"))
    recorded = summary.totals
    assert ccusage_totals(config) == {name: getattr(recorded, name) for name in TOKENS} == REFERENCE
    # The corrected total differs in output only, and says by how many calls.
    assert recorded.output_tokens_corrected > recorded.output_tokens and recorded.snapshot_calls == 252
