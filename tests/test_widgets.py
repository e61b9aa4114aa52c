"""The live board and the static renderings: throttled updates, final figures, permission buttons,
transcripts and sub-agent rows, checked against a fake comm that records every message a widget
sends (as ipywidgets' own tests do with their `DummyComm`)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import comm
import pytest

from agentbook.costs import UnknownModelPriceWarning
from agentbook.messages import Request, Response, Text, ToolResult, ToolUse, Usage
from agentbook.models import ScriptedModel
from agentbook.models.base import ModelError
from agentbook.notebook import cells
from agentbook.notebook import render as display
from agentbook.notebook.widgets import Board, board_for
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.records import AgentRecord
from agentbook.scheduler.run import Run
from agentbook.specs import Task


@pytest.fixture(autouse=True)
def fresh_gates() -> None:
    reset_gates()


# ---- a comm that records what the widgets send


@dataclass
class Sent:
    at: float
    thread: str
    kind: str  # "open" (a widget was made) or "send" (a state update)
    data: Any


@dataclass
class Wire:
    """Every comm message of every widget, in order."""

    messages: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, data: Any) -> None:
        with self.lock:
            self.messages.append(Sent(time.monotonic(), threading.current_thread().name, kind, data))

    def since(self, start: float, thread: str | None = None) -> list[Sent]:
        with self.lock:
            return [m for m in self.messages if m.at >= start and (thread is None or m.thread == thread)]


class RecordingComm:
    """The comm interface ipywidgets uses, recording instead of talking to a front end."""

    _ids = iter(range(1, 10**9))
    kernel = "a kernel"  # ipywidgets sends only through a comm whose `kernel` is set

    def __init__(self, wire: Wire, data: Any) -> None:
        self.comm_id = f"comm-{next(self._ids)}"
        self.wire = wire
        wire.record("open", data)

    def on_msg(self, callback: Callable[..., Any]) -> None:
        pass

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.wire.record("send", data)

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    recorded = Wire()
    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: RecordingComm(recorded, kwargs.get("data")))
    return recorded


# ---- deterministic agents


class BusyModel:
    """Answers `busy:N` prompts with N turns, each reading `notes.txt` after a short pause, then a
    final text; `sleep:S` sleeps S seconds and answers; `spawn:N` asks for N sub-agents."""

    name = "scripted"
    description = "busy model for tests"

    async def aclose(self) -> None:
        return None

    async def respond(self, request: Request) -> Response:
        prompt = next(m.text for m in request.messages if m.role == "user" and m.text)
        turn = sum(m.role == "assistant" for m in request.messages)
        results = [b for b in request.messages[-1].content if isinstance(b, ToolResult)]
        blocks: tuple[Any, ...]
        if prompt.startswith("busy:") and turn < int(prompt.split()[0][5:]):
            await asyncio.sleep(0.002 * (turn % 4))
            blocks = (Text(f"turn {turn}"), ToolUse(f"r{turn}", "Read", {"file_path": "notes.txt"}))
        elif prompt.startswith("sleep:"):
            await asyncio.sleep(float(prompt[6:].split()[0]))
            blocks = (Text(f"slept: {prompt}"),)
        elif prompt.startswith("spawn:") and not results:
            blocks = tuple(
                ToolUse(f"s{i}", "Agent", {"description": f"child {i}", "prompt": f"sleep:0.3 child {i}"})
                for i in range(int(prompt[6:]))
            )
        else:
            blocks = (Text(f"finished {prompt}"),)
        stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
        return Response(f"msg_{id(request)}_{turn}", "scripted", blocks, stop, Usage(120, 15, 0, 30))


def start(tasks: Any, tmp_path: Path, **kwargs: Any) -> Run:
    (tmp_path / "notes.txt").write_text("some notes\n")
    kwargs.setdefault("model", BusyModel())
    kwargs.setdefault("interactive", False)
    return run_parallel(tasks, cwd=tmp_path, run_dir=tmp_path / "run", **kwargs)


# ---- reading the board


def walk(widget: Any) -> Iterator[Any]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def cells_of(row: Any) -> str:
    """The HTML of a row's cells."""
    return str(with_class(row, "agentbook-cells")[0].value)


def with_class(widget: Any, css: str) -> list[Any]:
    return [w for w in walk(widget) if css in getattr(w, "_dom_classes", ())]


def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def transcript_of(board: Board, name: str) -> Any:
    children = list(board.widget.children)
    after = children[children.index(board.rows[name]) + 1]
    return after if "agentbook-transcript" in after._dom_classes else None


# ---- (a) throttling


def test_200_busy_agents_get_at_most_10_board_updates_a_second(
    tmp_path: Path, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans: list[tuple[float, float]] = []
    flush_names = Board._flush_names

    def timed(self: Board, run: Run, names: set[str]) -> None:
        begun = time.monotonic()
        flush_names(self, run, names)
        spans.append((begun, time.monotonic()))

    monkeypatch.setattr(Board, "_flush_names", timed)
    run = start({f"a{i:03d}": f"busy:12 agent {i}" for i in range(200)}, tmp_path)
    began = time.monotonic()
    board = board_for(run)
    assert board_for(run) is board  # one board per run
    run.wait(timeout=60)
    board.wait_idle(timeout=10)
    duration = time.monotonic() - began

    gaps = [b - a for a, b in zip(board.flush_times, board.flush_times[1:], strict=False)]
    assert board.flushes == len(board.flush_times) == len(spans)
    assert min(gaps) >= 0.1 - 0.002, f"flushes too close: {min(gaps):.4f} s"
    assert board.flushes <= 10 * duration + 2
    # Every message the agent loop's thread sent belongs to a flush: bursts are flushes.
    late = wire.since(spans[1][0], thread="agentbook-agents")
    assert late, "the board never updated while the agents ran"
    outside = [m for m in late if not any(a <= m.at <= b for a, b in spans)]
    assert not outside, f"{len(outside)} comm messages sent outside a flush"
    bursts = sorted({next(i for i, (a, b) in enumerate(spans) if a <= m.at <= b) for m in late})
    assert len(bursts) <= board.flushes
    starts = board.flush_times
    busiest = max(sum(1 for u in starts if t <= u < t + 0.999) for t in starts)
    assert busiest <= 10, f"{busiest} flushes within one second"
    # Per flush, at most one message per changed row (two when its state class changes too),
    # plus the totals.
    per_flush = [sum(1 for m in late if a <= m.at <= b) for a, b in spans[1:]]
    assert max(per_flush) <= 2 * len(run.records) + 2
    print(
        f"\n200 agents x 12 turns: {duration:.2f} s, {board.flushes} flushes "
        f"({board.flushes / duration:.1f}/s), min gap {min(gaps) * 1000:.1f} ms, "
        f"{len(late)} comm messages after the first paint, at most {max(per_flush)} per flush, "
        f"first paint {(spans[0][1] - spans[0][0]) * 1000:.0f} ms, flushes (ms): "
        f"{[round((b - a) * 1000) for a, b in spans[1:]]}"
    )

    # (b) final states, and totals that equal the run's usage
    rows = board.rows
    assert set(rows) == set(run.records)
    for name, box in rows.items():
        assert "agentbook-row" in box._dom_classes and "agentbook-state-done" in box._dom_classes
        cells = cells_of(box)
        assert f">{name}<" in cells and ">done<" in cells and ">13<" in cells
    usage = run.usage
    totals = board.totals.value
    assert f">{usage.total_input_tokens + usage.output_tokens:,}<" in totals
    assert ">200 done<" in totals and f">{sum(r.turns for r in run.records.values())}<" in totals
    assert "agentbook-totals" in board.totals._dom_classes
    assert "agentbook-board" in board.widget._dom_classes
    assert not board.pumping


def test_elapsed_ticks_while_nothing_else_changes(tmp_path: Path, wire: Wire) -> None:
    run = start({"slow": "sleep:2.3 slow"}, tmp_path)
    board = board_for(run)
    time.sleep(0.4)
    first = cells_of(board.rows["slow"])
    time.sleep(1.3)
    assert cells_of(board.rows["slow"]) != first  # elapsed moved with no event
    flushes = board.flushes
    time.sleep(1.0)
    assert board.flushes - flushes <= 2  # elapsed-only refreshes: about once a second
    run.wait(timeout=10)
    board.wait_idle()
    assert "agentbook-state-done" in board.rows["slow"]._dom_classes


# ---- (c) permission buttons


def test_permission_buttons_approve_and_the_agent_goes_on(tmp_path: Path, wire: Wire) -> None:
    script = ScriptedModel([ToolUse("w1", "Write", {"file_path": "out.txt", "content": "hi"}), "wrote it"])
    run = start({"writer": "write a file"}, tmp_path, model=script, interactive=True)
    board = board_for(run)
    eventually(lambda: bool(with_class(board.rows["writer"], "agentbook-approve")), what="the Approve button")
    row = board.rows["writer"]
    assert "agentbook-state-waiting" in row._dom_classes
    for css in ("agentbook-approve", "agentbook-always", "agentbook-deny"):
        assert len(with_class(row, css)) == 1
    call = with_class(row, "agentbook-permission-call")[0].value
    assert "Write" in call and "out.txt" in call

    approve = with_class(row, "agentbook-approve")[0]
    approve.click()
    approve.click()  # a double click answers once
    run.wait(timeout=10)
    board.wait_idle()
    assert (tmp_path / "out.txt").read_text() == "hi"
    assert run.status["writer"] == "done"
    assert not with_class(board.rows["writer"], "agentbook-approve")
    assert "agentbook-state-done" in board.rows["writer"]._dom_classes


def test_deny_button_denies(tmp_path: Path, wire: Wire) -> None:
    script = ScriptedModel([ToolUse("w1", "Write", {"file_path": "out.txt", "content": "hi"}), "gave up"])
    run = start({"writer": "write"}, tmp_path, model=script, interactive=True)
    board = board_for(run)
    eventually(lambda: bool(with_class(board.rows["writer"], "agentbook-deny")), what="the Deny button")
    with_class(board.rows["writer"], "agentbook-deny")[0].click()
    run.wait(timeout=10)
    board.wait_idle()
    assert not (tmp_path / "out.txt").exists() and run.results["writer"] == "gave up"
    assert not with_class(board.rows["writer"], "agentbook-permission")


def test_a_denied_call_shows_on_its_row_and_in_the_static_table(tmp_path: Path, wire: Wire) -> None:
    script = ScriptedModel([ToolUse("b1", "Bash", {"command": "touch out.txt"}), "could not"])
    run = start({"shell": "touch"}, tmp_path, model=script)  # headless: the ask is denied
    board = board_for(run)
    run.wait(timeout=10)
    board.wait_idle()
    assert run.records["shell"].denials == 1 and not (tmp_path / "out.txt").exists()
    assert "done, 1 denied" in cells_of(board.rows["shell"])
    assert "done, 1 denied" in display.render_html(run) and "done, 1 denied" in display.render_text(run)


# ---- (d) transcripts


def test_transcript_toggle_shows_tool_calls_and_text_and_grows_live(tmp_path: Path, wire: Wire) -> None:
    run = start({"reader": "busy:3 read <notes>", "slow": "sleep:1.0 slow <one>"}, tmp_path)
    board = board_for(run)
    button = with_class(board.rows["slow"], "agentbook-transcript-button")[0]
    assert "Transcript" in button.tooltip and button.icon == "chevron-right"
    button.click()
    eventually(lambda: transcript_of(board, "slow") is not None, what="the transcript view")
    assert (
        "finished" not in transcript_of(board, "slow").value
        and "slept" not in transcript_of(board, "slow").value
    )
    run.wait(timeout=10)
    board.wait_idle()
    assert "slept: sleep:1.0 slow &lt;one&gt;" in transcript_of(board, "slow").value  # grew while open

    with_class(board.rows["reader"], "agentbook-transcript-button")[0].click()
    board.wait_idle()
    view = transcript_of(board, "reader").value
    assert "busy:3 read &lt;notes&gt;" in view  # the prompt, escaped
    assert view.count("agentbook-tool-call") == 3 and "Read" in view and "notes.txt" in view
    assert "some notes" in view and "turn 2" in view and "finished busy:3" in view

    with_class(board.rows["reader"], "agentbook-transcript-button")[0].click()
    board.wait_idle()
    assert transcript_of(board, "reader") is None


# ---- sub-agents


def test_sub_agent_rows_appear_indented_under_their_parent(tmp_path: Path, wire: Wire) -> None:
    run = start({"lead": "spawn:2", "other": "sleep:0.1 other"}, tmp_path)
    board = board_for(run)
    run.wait(timeout=10)
    board.wait_idle()
    names = list(run.records)
    assert len(names) == 4
    order = [
        next(n for n, box in board.rows.items() if box is child) for child in board.widget.children[1:-1]
    ]
    assert order[0] == "lead" and order[1].startswith("lead/1-") and order[2].startswith("lead/2-")
    assert order[3] == "other"
    child, lead = (_styles(cells_of(board.rows[n]))["agent"] for n in (order[1], "lead"))
    assert "padding-left:1.2em" in child and "padding-left" not in lead


# ---- (e) static renderings and the MIME bundle


def _mixed_run(tmp_path: Path) -> Run:
    script = ScriptedModel([ModelError("bad request: <script>alert(1)</script>")])
    run = start({"broken": "fail please"}, tmp_path, model=script)
    run.wait(timeout=10)
    odd = AgentRecord(
        name="<b>odd</b>", task=Task("odd", "x"), agent_id="a0", transcript=tmp_path / "none.jsonl",
        model="mystery-model-1", state="done", turns=2, usage=Usage(1000, 100),
    )  # fmt: skip
    run.records[odd.name] = odd
    return run


def test_render_text_and_html_show_every_agent_totals_and_escape(tmp_path: Path) -> None:
    run = _mixed_run(tmp_path)
    with pytest.warns(UnknownModelPriceWarning):
        text = display.render_text(run)
    html = display.render_html(run)
    for name in run.records:
        assert name in text
    assert "<b>odd</b>" in text and "1,100" in text and "?" in text
    assert "total (2 agents)" in text and "1 done, 1 failed" in text
    assert "<script>alert(1)</script>" in text  # the error is listed, verbatim in plain text

    assert html.startswith('<table class="agentbook-static"')
    assert "&lt;b&gt;odd&lt;/b&gt;" in html and "<b>odd</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert 'class="agentbook-row agentbook-state-failed"' in html and "#c62828" in html
    assert 'class="agentbook-row agentbook-state-done"' in html and "#2e7d32" in html
    assert 'class="agentbook-totals"' in html and "total (2 agents)" in html
    assert ">?<" in html  # the unpriced agent's dollars
    assert ">$0.0000+?<" in html  # a total with a missing price says so


def test_dollars_and_elapsed_formats() -> None:
    from datetime import UTC, datetime, timedelta

    assert cells.format_dollars(0.0123) == "$0.0123" and cells.format_dollars(None) == "?"
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    assert cells.format_elapsed(None, None, t0) == ""
    assert cells.format_elapsed(t0, t0 + timedelta(seconds=2.54), t0) == "2.5s"
    assert cells.format_elapsed(t0, None, t0 + timedelta(seconds=75)) == "1m15s"
    assert cells.format_elapsed(t0, None, t0 + timedelta(hours=2, minutes=3)) == "2h03m"


def test_run_bundle_adds_the_live_board_only_in_a_kernel(
    tmp_path: Path, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = start({"a": "sleep:0.1 a"}, tmp_path)
    run.wait(timeout=10)
    static = display.run_bundle(run, include_widget=True)  # no kernel here
    assert set(static) == {"text/plain", "text/html"}
    assert display.run_bundle(run, include_widget=False).keys() == static.keys()

    monkeypatch.setattr(display, "_kernel_present", lambda: True)
    bundle = display.run_bundle(run, include_widget=True)
    view = bundle[display.WIDGET_VIEW_MIME]
    assert view["model_id"] == board_for(run).widget.model_id and view["version_major"] == 2
    assert "agentbook-static" in bundle["text/html"] and "run " in bundle["text/plain"]
    board_for(run).wait_idle()


def test_publish_final_shows_the_static_bundle_in_a_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import IPython.display

    shown: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    run = start({"a": "sleep:0.05 a"}, tmp_path)
    run.wait(timeout=10)
    display.publish_final(run)
    assert shown == []  # no kernel: nothing to publish to
    monkeypatch.setattr(display, "_kernel_present", lambda: True)
    display.publish_final(run)
    [(bundle, kwargs)] = shown
    assert kwargs == {"raw": True} and set(bundle) == {"text/plain", "text/html"}
    assert "agentbook-state-done" in bundle["text/html"]


# ---- lifetime: resume, close, and the weak cache


def test_a_resume_restarts_the_board(tmp_path: Path, wire: Wire) -> None:
    run = start({"a": "sleep:0.05 a"}, tmp_path)
    board = board_for(run)
    run.wait(timeout=10)
    board.wait_idle()
    assert ">1<" in cells_of(board.rows["a"])
    run.resume("a", prompt="once more")
    run.wait(timeout=10)
    board.wait_idle()
    assert ">2<" in cells_of(board.rows["a"]) and not board.pumping


def test_close_and_the_weak_cache(tmp_path: Path, wire: Wire) -> None:
    import gc

    import agentbook.notebook.widgets.board as widgets_module

    run = start({"a": "sleep:0.05 a"}, tmp_path)
    board = board_for(run)
    run.wait(timeout=10)
    board.wait_idle()
    board.close()
    fresh = board_for(run)
    assert fresh is not board
    fresh.wait_idle()
    closed, row = board.widget, board.rows["a"]
    eventually(lambda: closed.comm is None, what="the closed board's widgets")
    assert row.comm is None and fresh.widget.comm is not None
    gc.collect()  # boards of earlier tests' runs that nothing holds go first
    before = len(widgets_module._boards)
    del run, board, fresh  # the closed widgets may stay: they do not hold the run
    gc.collect()
    assert len(widgets_module._boards) == before - 1  # the run went, and its board with it


# ---- a board that fits: relative widths, totals that keep every state, clocks while waiting


def _styles(html_row: str) -> dict[str, str]:
    """Each cell's inline style, by its column class, of one board row's HTML."""
    import re

    return dict(re.findall(r'<span class="agentbook-([a-z-]+)" style="([^"]*)"', html_row))


def test_board_columns_are_flex_cells_in_relative_units_that_line_up_with_the_header() -> None:
    row = cells.cells_html(("a-very-long-agent-name", "running", "3", "Read", "1,234", "$0.0100", "2.0s"))
    head = cells.header_html()
    assert "px" not in row + head and "inline-block" not in row  # nothing fixed to the window
    assert 'class="agentbook-line" style="display:flex;flex-wrap:wrap' in row
    rows, heads = _styles(row), _styles(head)
    assert list(rows) == [t.replace(" ", "-") for t in cells.COLUMNS] == list(heads)
    for title, (basis, grow, widest) in cells.FLEX.items():
        style = rows[title.replace(" ", "-")]
        # The basis is the narrowest (the row wraps before any cell gets narrower), growth
        # shares the room left, and a cut value ends in an ellipsis with its tooltip.
        assert f"flex:{grow:g} 0 {basis:g}em;min-width:{basis:g}em;" in style
        assert ("max-width" in style) == (widest is not None)
        assert "overflow:hidden;text-overflow:ellipsis;white-space:nowrap" in style
        # The header's cells are the same flex items, so its columns land on the rows' own.
        assert heads[title.replace(" ", "-")].replace("font-weight:600;", "") == style
        assert len(title) * 0.6 <= basis  # a title fits its column at its narrowest
    assert 'title="a-very-long-agent-name"' in row
    width = sum(b for b, _, _ in cells.FLEX.values()) + cells.GAP_EM * (len(cells.COLUMNS) - 1)
    assert width <= 41  # about 540 px: the row stays one line in the cell of a 1024 px JupyterLab
    assert all(g == 0 for t, (_, g, _) in cells.FLEX.items() if t in ("turns", "tokens", "elapsed"))


def test_row_layouts_take_the_cell_width_and_keep_the_expander_on_the_line(wire: Wire) -> None:
    from agentbook.notebook.widgets.rows import RowStyle

    style = RowStyle()
    assert (style.cells.flex, style.cells.min_width, style.cells.width) == ("1 1 0%", "0", "auto")
    assert style.button.flex == "0 0 28px" and style.button.min_width == style.button.width == "28px"
    # Header and totals start after the expander and its margins, and end where the cells end.
    assert style.aligned.margin == "2px 2px 2px calc(28px + 6px)" and style.aligned.width == "auto"
    assert style.row.width == "auto" and style.row.flex_flow == "row wrap"


def _record(tmp_path: Path, name: str, state: str, started: Any = None, **kwargs: Any) -> AgentRecord:
    return AgentRecord(
        name=name, task=Task(name, "x"), agent_id=name, transcript=tmp_path / f"{name}.jsonl",
        model="scripted", state=state, started=started, **kwargs,
    )  # fmt: skip


def test_the_totals_show_every_state_on_a_line_that_wraps(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    records = [
        _record(tmp_path, "a", "done", t0, ended=t0 + timedelta(seconds=3), turns=2),
        _record(tmp_path, "b", "done", t0, ended=t0 + timedelta(seconds=4), turns=1),
        _record(tmp_path, "c", "running", t0, turns=4),
        _record(tmp_path, "d", "waiting", t0, turns=1),
    ]
    text = cells.totals_html(records, t0 + timedelta(seconds=12))
    states = text[text.index('class="agentbook-totals-states"') :]
    for shown in ("4 agents: ", ">2 done<", ">1 running<", ">1 waiting<"):
        assert shown in states  # "2 done, 1 running..." once hid the waiting one
    assert 'title="4 agents: 2 done, 1 running, 1 waiting"' in states
    assert "flex:1 0 100%" in states and "white-space:normal" in states  # its own line, wrapping
    assert "text-overflow" not in states and "nowrap" not in states  # never cut
    assert f'color:{cells.STATE_COLOURS["waiting"]}">1 waiting<' in states  # each in its colour
    figures = _styles(text)
    assert list(figures)[: len(cells.COLUMNS)] == list(_styles(cells.header_html()))  # under the header
    assert ">total<" in text and ">8<" in text and ">12.0s<" in text


def test_pump_ticks_waiting_agents_as_it_ticks_running_ones(tmp_path: Path) -> None:
    import weakref
    from datetime import UTC, datetime
    from types import SimpleNamespace

    class Records:  # what the pump reads of a run (and a weak reference can point at)
        def __init__(self, records: dict[str, AgentRecord]) -> None:
            self.records = records

    from agentbook.notebook.widgets.pump import TICK_S, Pump

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    records = {
        r.name: r
        for r in (
            _record(tmp_path, "runs", "running", t0),
            _record(tmp_path, "waits", "waiting", t0),
            _record(tmp_path, "queued", "pending"),
            _record(tmp_path, "ended", "done", t0, ended=t0),
        )
    }
    run: Any = Records(records)
    now = [100.0]
    pump = Pump(SimpleNamespace(), weakref.ref(run), max_rate=10, clock=lambda: now[0])
    assert pump.due_ticks(run) == {"runs", "waits"}
    now[0] += TICK_S / 2
    assert pump.due_ticks(run) == set() and pump._tick_due_in(run) == pytest.approx(TICK_S / 2)
    del records["runs"]  # only a waiting agent left: its clock still ticks
    now[0] += TICK_S / 2
    assert pump._tick_due_in(run) == 0 and pump.due_ticks(run) == {"waits"}


def test_a_waiting_agents_elapsed_keeps_running_on_the_board(tmp_path: Path, wire: Wire) -> None:
    from datetime import timedelta

    script = ScriptedModel([ToolUse("w1", "Write", {"file_path": "out.txt", "content": "hi"}), "wrote it"])
    run = start({"writer": "write a file"}, tmp_path, model=script, interactive=True)
    eventually(lambda: run.status["writer"] == "waiting", what="the writer to wait")
    started = run.records["writer"].started
    assert started is not None
    offset = [timedelta(seconds=42)]
    board = Board(run, now=lambda: started + offset[0])  # the wall clock, injected

    def elapsed() -> str:
        return cells_of(board.rows["writer"]).split('class="agentbook-elapsed"')[1]

    assert ">42.0s<" in elapsed()
    offset[0] = timedelta(seconds=75)  # no event comes: only the pump's tick shows it
    eventually(lambda: ">1m15s<" in elapsed(), timeout=5, what="the waiting writer's clock to move")
    assert run.status["writer"] == "waiting" and ">1m15s<" in board.totals.value
    run.cancel()
    run.wait(timeout=10)
    board.close()
