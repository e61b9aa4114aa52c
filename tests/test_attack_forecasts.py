"""Adversarial tests of forecasts, `ReplayModel` and `agentbook costs`: corrupt history, unpriced
models, lanes, sub-agents, failing count_tokens, malformed transcripts, broken pipes.  Each
xfail names a bug that is still there; the unmarked tests guard behaviour that holds."""

from __future__ import annotations

import asyncio
import http.server
import json
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agentbook.analysis.forecasts import forecast_error_frame, forecast_frame, forecast_html
from agentbook.costs import cost_usd
from agentbook.messages import Message, Request, ToolUse, Usage
from agentbook.models import ReplayModel, ScriptedModel
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.forecasting import Earlier, Forecast, forecast_tasks, history
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.records import ApiCall
from agentbook.specs import AgentSpec, Task

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "claude-code-transcripts"
HAIKU = "claude-haiku-4-5"
UNPRICED = "claude-unknown-9"


def earlier(task: str = "t1", usage: Usage | None = None) -> Earlier:
    usage = usage or Usage(input_tokens=5000, output_tokens=400, cache_read_input_tokens=20_000)
    return Earlier(task, "general-purpose", 2500, usage, Path("/nowhere"))


def offline_run(folder: Path, cwd: Path) -> Path:
    run = run_parallel({"t1": "say hi", "t2": "say ho"}, model="offline", cwd=cwd, run_dir=folder,
                       interactive=False)  # fmt: skip
    run.wait(timeout=30)
    assert set(run.status.values()) == {"done"}
    return folder


def edit_manifest(folder: Path, change: Any) -> None:
    data = json.loads((folder / "run.json").read_text())
    change(data)
    (folder / "run.json").write_text(json.dumps(data))


# ---- forecasts: prices -------------------------------------------------------------------------


def test_a_model_without_a_price_forecast_from_history_is_unknown_not_zero(tmp_path: Path) -> None:
    model = ScriptedModel(name=UNPRICED)  # no count_request_tokens: estimated, no API
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (forecast,) = forecast_tasks(
            [Task("t1", "say hi")], RunConfig.of(model=model, cwd=tmp_path), [earlier()]
        )
    assert forecast.basis == "1 earlier run of this task"
    assert forecast.usd == (None, None, None)


def test_a_model_without_a_price_forecast_from_defaults_is_unknown(tmp_path: Path) -> None:
    model = ScriptedModel(name=UNPRICED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (forecast,) = forecast_tasks([Task("t1", "say hi")], RunConfig.of(model=model, cwd=tmp_path), [])
    assert forecast.usd == (None, None, None) and forecast.counted == "estimated"


def test_a_total_with_one_unpriced_task_is_missing_not_a_partial_sum() -> None:
    def made(name: str, usd: tuple[float | None, ...]) -> Forecast:
        return Forecast(name, "general-purpose", "m", 10, "estimated", "b", (1, 2, 3), usd)  # type: ignore[arg-type]

    frame = forecast_frame([made("a", (0.1, 0.2, 0.3)), made("b", (None, None, None))])
    assert frame.loc["(total)", ["usd_low", "usd_typical", "usd_high"]].isna().all()
    assert frame.loc["(total)", "tokens_typical"] == 4
    assert "<td>(total)</td><td>?</td>" in forecast_html(frame)


def test_a_batch_lane_task_is_forecast_at_the_batch_rates(tmp_path: Path) -> None:
    model = ScriptedModel(name=HAIKU)
    tasks = [Task("cheap", "say hi", lane="batch"), Task("full", "say hi")]
    cheap, full = forecast_tasks(tasks, RunConfig.of(model=model, cwd=tmp_path), [])
    assert cheap.usd[1] is not None and full.usd[1] is not None
    assert cheap.usd[1] == pytest.approx(full.usd[1] / 2)


def test_forecast_error_prices_batch_calls_at_the_batch_rates() -> None:
    usage = Usage(input_tokens=10_000, output_tokens=2_000)
    call = ApiCall(1, datetime.now(UTC), 1.0, HAIKU, "msg_1", None, "end_turn", usage, service_tier="batch")
    run = SimpleNamespace(records={"a": SimpleNamespace(state="done", calls=[call])})
    forecast = Forecast("a", "general-purpose", HAIKU, 10, "estimated", "b", (1, 2, 3), (0.001, 0.01, 0.1))
    frame = forecast_error_frame(run, [forecast])  # type: ignore[arg-type]
    assert frame.loc["a", "usd_actual"] == pytest.approx(cost_usd(usage, HAIKU, service_tier="batch"))


def test_forecast_error_of_an_unpriced_run_is_unknown_not_zero() -> None:
    usage = Usage(input_tokens=10_000, output_tokens=2_000)
    call = ApiCall(1, datetime.now(UTC), 1.0, UNPRICED, "msg_1", None, "end_turn", usage)
    run = SimpleNamespace(records={"a": SimpleNamespace(state="done", calls=[call])})
    forecast = Forecast("a", "general-purpose", HAIKU, 10, "estimated", "b", (1, 2, 3), (0.001, 0.01, 0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = forecast_error_frame(run, [forecast])  # type: ignore[arg-type]
    actual = frame.loc["a", "usd_actual"]
    assert actual is None or actual != actual  # None or NaN, not 0.0


# ---- forecasts: tasks ---------------------------------------------------------------------------


def test_a_task_naming_an_unknown_agent_type_is_an_error_as_when_it_runs(tmp_path: Path) -> None:
    config = RunConfig.of(model="offline", cwd=tmp_path)
    with pytest.raises(ValueError, match="nosuch"):
        run_parallel([Task("x", "hi", agent="nosuch")], model="offline", cwd=tmp_path, interactive=False)
    with pytest.raises(ValueError, match="nosuch"):
        forecast_tasks([Task("x", "hi", agent="nosuch")], config, [])


def test_a_task_named_total_keeps_its_row() -> None:
    def made(name: str) -> Forecast:
        return Forecast(name, "general-purpose", "m", 10, "estimated", "b", (1, 2, 3), (0.1, 0.2, 0.3))

    frame = forecast_frame([made("total"), made("other")])
    assert len(frame) == 3  # two tasks and the total


def test_low_typical_high_are_ordered_for_history_and_defaults(tmp_path: Path) -> None:
    past = [earlier("t1", Usage(input_tokens=n, output_tokens=n // 10)) for n in (900, 100_000, 5_000)]
    tasks = [Task("t1", "say hi"), Task("t2", "x " * 3000), Task("t3", "")]
    for chosen in (past, past[:1], []):
        for f in forecast_tasks(tasks, RunConfig.of(model=ScriptedModel(name=HAIKU), cwd=tmp_path), chosen):
            assert f.tokens[0] <= f.tokens[1] <= f.tokens[2], f
            assert f.usd[0] is not None and f.usd[0] <= f.usd[1] <= f.usd[2], f  # type: ignore[operator]


def test_forecast_html_escapes_task_names_and_basis() -> None:
    name = '<img src=x onerror="alert(1)">'
    forecast = Forecast(name, "general-purpose", "m", 10, "estimated", "<b>b</b>", (1, 2, 3), (0.1, 0.2, 0.3))
    page = forecast_html(forecast_frame([forecast]))
    assert "<img" not in page and "<b>b</b>" not in page and "&lt;img" in page


# ---- forecasts: history --------------------------------------------------------------------------


def test_a_run_json_that_is_not_json_is_skipped_with_a_warning(tmp_path: Path) -> None:
    offline_run(tmp_path / "runs" / "good", tmp_path)
    bad = tmp_path / "runs" / "bad"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    with pytest.warns(UserWarning, match="skipped .*bad"):
        found = history([tmp_path / "runs"])
    assert sorted(e.task for e in found) == ["t1", "t2"]


@pytest.mark.parametrize("broken", ["task-a-string", "entry-a-string"])
def test_a_run_json_with_malformed_agent_entries_is_skipped_not_a_crash(tmp_path: Path, broken: str) -> None:
    offline_run(tmp_path / "runs" / "good", tmp_path)
    bad = offline_run(tmp_path / "runs" / "bad", tmp_path)
    if broken == "task-a-string":
        edit_manifest(bad, lambda m: m["agents"]["t1"].__setitem__("task", "t1"))
    else:
        edit_manifest(bad, lambda m: m["agents"].__setitem__("t1", "done"))
    with pytest.warns(UserWarning, match="skipped"):
        found = history([tmp_path / "runs"])
    assert [e.run_dir.name for e in found] == ["good", "good"]


def test_a_run_whose_agents_all_failed_gives_no_history(tmp_path: Path) -> None:
    folder = offline_run(tmp_path / "runs" / "r", tmp_path)
    edit_manifest(folder, lambda m: [a.__setitem__("state", "failed") for a in m["agents"].values()])
    assert history([tmp_path / "runs"]) == []
    (forecast,) = forecast_tasks([Task("t1", "say hi")], RunConfig.of(model="offline", cwd=tmp_path))
    assert forecast.basis.startswith("defaults:")


def test_history_reads_only_the_newest_limit_run_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agentbook.scheduler.forecasting as forecasting

    base = offline_run(tmp_path / "base", tmp_path)
    runs = tmp_path / "runs"
    for n in range(300):
        shutil.copytree(base, runs / f"r{n:04d}")
    read: list[Path] = []
    real = forecasting._earlier
    monkeypatch.setattr(forecasting, "_earlier", lambda folder: read.append(folder) or real(folder))
    start = time.monotonic()
    found = history([runs], limit=7)
    assert len(read) == 7 and len(found) == 14 and time.monotonic() - start < 10


# ---- forecasts: count_tokens ---------------------------------------------------------------------


class FailingAPI(http.server.BaseHTTPRequestHandler):
    """Every POST answers 500 api_error; the paths asked are kept in `paths`."""

    paths: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).paths.append(self.path)
        body = b'{"type":"error","error":{"type":"api_error","message":"boom"}}'
        self.send_response(500)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def failing_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    FailingAPI.paths = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FailingAPI)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-attack-forecasts-0123456789")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{server.server_port}")
    try:
        yield FailingAPI.paths
    finally:
        server.shutdown()
        server.server_close()


def test_count_tokens_answering_500_falls_back_to_the_estimate(
    tmp_path: Path, failing_api: list[str]
) -> None:
    start = time.monotonic()
    with pytest.warns(UserWarning, match="count_tokens failed"):
        (forecast,) = forecast_tasks([Task("a", "hi")], RunConfig.of(model="haiku", cwd=tmp_path), [])
    assert forecast.counted == "estimated" and forecast.usd[1] and time.monotonic() - start < 10
    assert failing_api and all(p.endswith("/count_tokens") for p in failing_api)  # never /v1/messages


def test_a_forecast_inside_a_running_event_loop_counts_on_agentbooks_loop(
    tmp_path: Path, failing_api: list[str]
) -> None:
    async def notebook_cell() -> list[Forecast]:
        return forecast_tasks([Task("a", "hi")], RunConfig.of(model="haiku", cwd=tmp_path), [])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (forecast,) = asyncio.run(asyncio.wait_for(notebook_cell(), timeout=10))
    assert forecast.counted == "estimated" and failing_api == ["/v1/messages/count_tokens"]


def test_a_failing_count_tokens_is_asked_once_per_model_not_per_task(
    tmp_path: Path, failing_api: list[str]
) -> None:
    tasks = [Task(f"t{n}", f"task {n}") for n in range(5)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = forecast_tasks(tasks, RunConfig.of(model="haiku", cwd=tmp_path), [])
    assert {f.counted for f in found} == {"estimated"}
    assert len(failing_api) == 1


# ---- forecast_error with sub-agents --------------------------------------------------------------


def test_forecast_error_counts_what_a_task_s_sub_agents_cost(tmp_path: Path) -> None:
    spawn = ToolUse("s1", "Agent", {"description": "child", "prompt": "look", "subagent_type": "w"})
    model = ScriptedModel([spawn, "child done", "parent done"], name=HAIKU)
    run = run_parallel({"t": "go"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run", interactive=False,
                       agents={"w": AgentSpec("w", description="looks", max_turns=1)})  # fmt: skip
    run.wait(timeout=30)
    children = [r for r in run.records.values() if r.parent is not None]
    assert children and all(r.state == "done" for r in run.records.values())
    whole = sum(r.cost_usd or 0.0 for r in run.records.values())
    frame = run.forecast_error()
    assert list(frame.index) == ["t"]  # sub-agents are not tasks
    assert frame.loc["t", "usd_actual"] == pytest.approx(whole)


# ---- ReplayModel ---------------------------------------------------------------------------------


def assistant(message_id: str, content: object, model: str = HAIKU) -> dict[str, object]:
    return {"type": "assistant", "message": {"id": message_id, "model": model, "content": content,
            "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 5}}}  # fmt: skip


def user_line(content: object) -> dict[str, object]:
    return {"type": "user", "message": {"role": "user", "content": content}}


def transcript(path: Path, *records: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize(
    "name, make",
    [
        ("missing.jsonl", None),
        ("empty.jsonl", lambda p: p.write_text("")),
        ("users.jsonl", lambda p: transcript(p, user_line("hi"), user_line("again"))),
        ("binary.jsonl", lambda p: p.write_bytes(b"\x00\xff\xfe\n")),
        ("folder", lambda p: p.mkdir()),
    ],
)
def test_a_replay_of_nothing_to_replay_is_an_error_naming_the_path(
    tmp_path: Path, name: str, make: Any
) -> None:
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises((ValueError, FileNotFoundError), match=str(path)):
        ReplayModel(path)


@pytest.mark.parametrize(
    "content", ["a plain string answer", [{"type": "text", "text": "x"}, 5]], ids=["string", "int-block"]
)
def test_an_odd_assistant_content_is_read_or_an_error_naming_the_file(
    tmp_path: Path, content: object
) -> None:
    path = transcript(tmp_path / "odd.jsonl", user_line("hi"), assistant("msg_1", content))
    try:
        model = ReplayModel(path)
    except ValueError as exc:
        assert str(path) in str(exc)
    else:
        assert model.recordings[0].responses[0].id == "msg_1"


def test_a_nan_speed_is_refused() -> None:
    path = next((DATA / "marot__spotter").glob("*/subagents/agent-*.jsonl"))
    with pytest.raises(ValueError, match="speed"):
        ReplayModel(path, pace=True, speed=float("nan"))


def test_with_several_recordings_a_prompt_that_contains_another_gets_its_own(tmp_path: Path) -> None:
    short = transcript(
        tmp_path / "short.jsonl",
        user_line("Look"),
        assistant("msg_short", [{"type": "text", "text": "short"}]),
    )
    long = transcript(
        tmp_path / "long.jsonl",
        user_line("Look around"),
        assistant("msg_long", [{"type": "text", "text": "long"}]),
    )
    model = ReplayModel([short, long])
    answer = asyncio.run(model.respond(Request("", (Message.user("Look around"),))))
    assert answer.id == "msg_long"


def test_two_agents_sharing_one_replay_model_each_get_the_whole_recording(tmp_path: Path) -> None:
    path = transcript(
        tmp_path / "one.jsonl", user_line("Say hi"), assistant("msg_1", [{"type": "text", "text": "hi"}])
    )
    model = ReplayModel(path)
    run = run_parallel({"a": "Say hi", "b": "Say hi"}, model=model, cwd=tmp_path, run_dir=tmp_path / "run",
                       interactive=False, concurrency=2)  # fmt: skip
    run.wait(timeout=30)
    assert {(r.state, r.text) for r in run.records.values()} == {("done", "hi")}


# ---- agentbook costs -------------------------------------------------------------------------------


def costs(*args: str, stdout: Any = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentbook.cli", "costs", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=60, cwd=ROOT)  # fmt: skip


def test_costs_on_an_empty_folder_says_so(tmp_path: Path) -> None:
    done = costs(str(tmp_path))
    assert done.returncode == 2 and "no .jsonl transcripts" in done.stderr and "Traceback" not in done.stderr


def test_costs_on_a_file_that_is_not_jsonl_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    path.write_text("hello world\nnot json either\n")
    done = costs(str(path))
    assert done.returncode == 2 and str(path) in done.stderr


def test_costs_of_no_calls_is_zero_dollars_not_unknown(tmp_path: Path) -> None:
    from agentbook.analysis.claude_code import format_summary, scan_claude_code, summarize

    path = transcript(tmp_path / "users.jsonl", user_line("hi"))
    text = format_summary(summarize(scan_claude_code(path)))
    total = next(line for line in text.splitlines() if line.startswith("total as recorded"))
    assert "unknown" not in total and "$0.0000" in total


def test_costs_piped_into_a_reader_that_closes_ends_without_a_traceback(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "agentbook.cli", "costs", str(DATA)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader (head) went away before the summary was printed
    stderr = process.stderr.read()
    process.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
