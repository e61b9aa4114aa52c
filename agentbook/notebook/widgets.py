"""The live board of a run: one row per agent, updating while the agents work.

`board_for(run)` gives the run's one `Board` (ipywidgets 8).  Its `widget` is a `VBox` with a
header, one row per agent (sub-agents appear, indented, as they are spawned), and a totals row.
Each row starts with a Transcript expander (a chevron) that opens the agent's conversation below
the row, and, while the agent waits for a permission, has Approve / Always / Deny buttons with the
tool call and reason.

Why it is built the way it is (see "Notebook facts" in DESIGN.md):

* Agents emit events on the background agent loop, thousands a second in a large run.  An event
  only marks its agent dirty; one pump task on that loop flushes the dirty rows at most
  `max_rate` times a second, and only when something changed, so the front end gets at most
  `max_rate` bursts of updates a second however many agents run.  Running agents' elapsed times
  tick once a second.  The pump stops after the run is done and a final flush, and restarts on
  the next event (a resume) or click.
* A row's cells are one `HTML` widget and each widget's changes of a flush are applied inside
  its `hold_sync()`, so a flush sends at most one message per changed widget (usually one per
  changed row).
* Widgets are only ever changed by setting values from the agent loop: never `with out:`, whose
  output a background task would route to whatever cell happens to run.  Clicks arrive on the
  kernel's thread; they only record what was asked and wake the pump, so every widget write
  happens on one thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

import ipywidgets as widgets  # type: ignore[import-untyped]
from ipywidgets.widgets.widget_string import HTMLStyle  # type: ignore[import-untyped]

from agentbook.events import AgentEvent, utcnow
from agentbook.notebook import render as display
from agentbook.scheduler import background
from agentbook.scheduler.records import ENDED, AgentRecord

if TYPE_CHECKING:
    from agentbook.batches import Batch
    from agentbook.plans import Plan
    from agentbook.scheduler.asking import PermissionRequest
    from agentbook.scheduler.run import Run

log = logging.getLogger("agentbook")

Widget: TypeAlias = Any
"""An ipywidgets widget (ipywidgets ships no type hints)."""
Answer: TypeAlias = Literal["approve", "approve_always", "deny"]
TICK_S = 1.0
"""How often running agents' elapsed times refresh when nothing else changes."""
_EXPANDER = "28px"  # the width of a row's Transcript expander

_boards: weakref.WeakKeyDictionary[Run, Board] = weakref.WeakKeyDictionary()
_boards_lock = threading.Lock()


def board_for(run: Run, *, max_rate: float = 10.0) -> Board:
    """The live board of `run`: made on first call, the same one afterwards (while the run lives).

    `max_rate` (flushes per second) applies only when the board is made.
    """
    with _boards_lock:
        board = _boards.get(run)
        if board is None:
            board = _boards[run] = Board(run, max_rate=max_rate)
        return board


class _Row:
    """One agent's widgets.  After the board's first paint they are changed only on the agent loop."""

    def __init__(self, name: str, depth: int, board: Board) -> None:
        self.name = name
        self.depth = depth
        self.state = ""
        self.cells: Widget = widgets.HTML(layout=board._cells_layout, style=board._html_style)
        self.cells.add_class("agentbook-cells")
        # An expander before the cells, icon only: a labelled button after ~60em of cells wrapped
        # onto a line of its own in a usual notebook width, doubling every row's height.
        self.button: Widget = widgets.Button(
            icon="chevron-right", tooltip=f"Transcript: {name}'s conversation", layout=board._button_layout
        )  # fmt: skip
        self.button.add_class("agentbook-transcript-button")
        self.button.on_click(lambda _: board._toggle(name))
        self.box: Widget = widgets.HBox([self.button, self.cells], layout=board._row_layout)
        self.box.add_class("agentbook-row")
        self.transcript: Widget = None  # made when first opened
        self.shown_open = False
        self.permission: Widget = None  # made for each request, closed when it is answered
        self.request: PermissionRequest | None = None

    def set_state(self, state: str) -> None:
        """Swap the `agentbook-state-*` class (call inside `self.box.hold_sync()`)."""
        if state != self.state:
            if self.state:
                self.box.remove_class(f"agentbook-state-{self.state}")
            self.box.add_class(f"agentbook-state-{state}")
            self.state = state


class Board:
    """The live board of one run; see the module docstring.  Use `board_for(run)`.

    `widget` is what to display.  `flushes` counts the updates sent (the first paint included)
    and `flush_times` holds their `clock()` times.  `now` and `clock` are injectable for tests:
    `now` gives the wall time for elapsed cells, `clock` the monotonic time for throttling.
    """

    def __init__(
        self,
        run: Run,
        *,
        max_rate: float = 10.0,
        now: Callable[[], datetime] = utcnow,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not max_rate > 0:
            raise ValueError(f"max_rate must be positive, not {max_rate}")
        # Weak: the run holds the board (as its event listener), not the other way round, so
        # `board_for`'s weak cache lets both go together.
        self._run = weakref.ref(run)
        self.max_rate = max_rate
        self._now = now
        self._clock = clock
        self.flushes = 0
        self.flush_times: list[float] = []
        self._lock = threading.Lock()  # guards the three sets below (clicks come from another thread)
        self._dirty: set[str] = set()
        self._open: set[str] = set()
        self._answered: list[PermissionRequest] = []
        self._wake = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None
        self._last_flush = -math.inf
        self._last_tick = -math.inf
        self._rows: dict[str, _Row] = {}
        self._closed = False
        # Shared layouts and styles: one model each for the board instead of one per row.
        self._cells_layout: Widget = widgets.Layout(width="auto")
        self._button_layout: Widget = widgets.Layout(width=_EXPANDER, padding="0")
        self._row_layout: Widget = widgets.Layout(align_items="center", flex_flow="row wrap")
        self._html_style: Widget = HTMLStyle()
        # Header and totals start where the rows' cells do, after the expander and its margins.
        self._aligned_layout: Widget = widgets.Layout(
            width="auto", margin=f"2px 2px 2px calc({_EXPANDER} + 6px)"
        )
        self.header: Widget = widgets.HTML(display.header_html(), layout=self._aligned_layout)
        self.header.add_class("agentbook-header")
        self.totals: Widget = widgets.HTML(layout=self._aligned_layout)
        self.totals.add_class("agentbook-totals")
        self.widget: Widget = widgets.VBox([self.header, self.totals])
        self.widget.add_class("agentbook-board")
        # First paint on the caller's thread, before any pump exists: the board shows the run as
        # it is the moment it is displayed.
        self._flush_names(run, set(run.records))
        run.on_event(self._on_event)
        with self._lock:  # events between the paint and the subscription were missed: redo all
            self._dirty.update(run.records)
        self.refresh()

    # ---- public

    @property
    def pumping(self) -> bool:
        """Whether the pump task is running (it stops once the run is done and flushed)."""
        return self._pump_task is not None

    @property
    def rows(self) -> dict[str, Widget]:
        """Each agent's row box (an `HBox` of class `agentbook-row`), in the order rows were added."""
        return {name: row.box for name, row in list(self._rows.items())}

    def refresh(self) -> None:
        """Ask for a flush soon (thread-safe; the pump keeps to `max_rate`)."""
        if background.on_background_loop():
            self._kick()
        else:
            background.call_soon(self._kick)

    def close(self) -> None:
        """Close every widget of the board (its views disappear) and stop updating it;
        `board_for(run)` then makes a new board."""
        with _boards_lock:
            run = self._run()
            if run is not None and _boards.get(run) is self:
                del _boards[run]
        self._closed = True
        background.call_soon(self._close_widgets)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until the pump has stopped: the run is done and its final state is on the
        widgets.  `TimeoutError` after `timeout` seconds.  Not from the agent loop."""
        future = background.submit(self._idle())
        try:
            future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"the board was still updating after {timeout} s") from None

    # ---- the agent loop side

    def _close_widgets(self) -> None:
        for row in list(self._rows.values()):  # views not in the tree now: closed transcripts
            for widget in (row.transcript, row.permission):
                if widget is not None:
                    _close_all(widget)
        _close_all(self.widget)

    def _on_event(self, event: AgentEvent) -> None:
        # Called for every event of every agent: keep it to a set insertion and a wake-up.
        if self._closed:
            return  # the run keeps its listeners: a closed board just ignores them
        with self._lock:
            self._dirty.add(event.agent)
        self._kick()

    def _kick(self) -> None:
        """Wake the pump, or start it (on the agent loop only)."""
        if self._closed:
            return
        if self._pump_task is None:
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())
        else:
            self._wake.set()

    async def _idle(self) -> None:
        while (task := self._pump_task) is not None:
            await asyncio.wait({task})

    async def _pump(self) -> None:
        try:
            await self._pump_until_done()
        except Exception:  # a board bug must not go unseen, nor touch the agents
            log.exception("agentbook: the live board stopped updating")
            self._closed = True  # rather than fail again, ten times a second
        finally:
            self._pump_task = None

    async def _pump_until_done(self) -> None:
        run = self._run()
        if run is None:
            return
        done: asyncio.Future[Any] | None = None
        try:
            while not self._closed:
                if done is None or (done.done() and not run.done):  # a resume starts a new round
                    done = asyncio.ensure_future(_until_done(run))
                await self._wait_for_change(run, done)
                if self._closed:
                    return
                await self._keep_rate()
                self._wake.clear()
                finished = run.done
                if finished:  # the final flush: every row, so elapsed times and totals are final
                    with self._lock:
                        self._dirty.update(run.records)
                self._flush(run)
                with self._lock:
                    settled = not self._dirty
                if finished and settled:
                    return
        finally:
            if done is not None:
                done.cancel()

    async def _wait_for_change(self, run: Run, done: asyncio.Future[Any]) -> None:
        """Until an event or click wakes us, the run ends, or running agents' elapsed must tick."""
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                {woken, done}, timeout=self._tick_due_in(run), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()

    def _tick_due_in(self, run: Run) -> float | None:
        """Seconds until the next elapsed-time tick, or `None` while no agent runs."""
        if not any(_is_running(r) for r in list(run.records.values())):
            return None
        return max(0.0, self._last_tick + TICK_S - self._clock())

    async def _keep_rate(self) -> None:
        # A loop, not one sleep: the event loop may wake a timer a hair early.
        while (wait := self._last_flush + 1.0 / self.max_rate - self._clock()) > 0:
            await asyncio.sleep(wait)

    def _flush(self, run: Run) -> bool:
        """Apply what changed since the last flush; `False` (and nothing sent) if nothing did."""
        with self._lock:
            names, self._dirty = self._dirty, set()
        if self._clock() - self._last_tick >= TICK_S:
            running = {n for n, r in list(run.records.items()) if _is_running(r)}
            if running:
                names |= running
                self._last_tick = self._clock()
        if not names and all(n in self._rows for n in list(run.records)):
            return False
        self._flush_names(run, names)
        return True

    def _flush_names(self, run: Run, names: set[str]) -> None:
        started = self._clock()
        now = self._now()
        with self._lock:
            opened = set(self._open)
            answered = list(self._answered)
        records = display.tree_order(list(run.records.values()))
        relayout = self._add_rows(records)
        for record in records:
            if record.name in names:
                relayout |= self._update_row(self._rows[record.name], record, run, now, opened, answered)
        with self.totals.hold_sync():
            self.totals.value = display.cells_html(display.totals_cells(records, now), bold=True)
        if relayout:
            self._layout(records)
        with self._lock:  # forget answered requests once the run has removed them
            self._answered = [a for a in self._answered if any(a is p for p in run.pending)]
        self._last_flush = started
        self.flushes += 1
        self.flush_times.append(started)

    # ---- rows

    def _add_rows(self, records: list[AgentRecord]) -> bool:
        new = [r for r in records if r.name not in self._rows]
        for record in new:
            self._rows[record.name] = _Row(record.name, record.depth, self)
        return bool(new)

    def _update_row(
        self,
        row: _Row,
        record: AgentRecord,
        run: Run,
        now: datetime,
        opened: set[str],
        answered: list[PermissionRequest],
    ) -> bool:
        """Bring one row up to date in one `hold_sync` per widget; `True` if the board's
        children must change (a transcript opened or closed)."""
        request = next(
            (p for p in list(run.pending) if p.agent == row.name and not any(p is a for a in answered)),
            None,
        )
        with row.box.hold_sync(), row.cells.hold_sync():
            row.set_state(record.state)
            cells = display.row_cells(record, now)
            row.cells.value = display.cells_html(cells, depth=record.depth, state=record.state)
            if request is not row.request:
                self._show_request(row, request)
        return self._update_transcript(row, record, row.name in opened)

    def _show_request(self, row: _Row, request: PermissionRequest | None) -> None:
        old = row.permission
        row.request = request
        row.permission = _permission_box(request, self._answer) if request is not None else None
        row.box.children = tuple(w for w in (row.button, row.cells, row.permission) if w is not None)
        if old is not None:
            _close_all(old)

    def _update_transcript(self, row: _Row, record: AgentRecord, want_open: bool) -> bool:
        if want_open:
            if row.transcript is None:
                row.transcript = widgets.HTML(
                    layout=widgets.Layout(width="100%", max_height="24em", overflow="auto")
                )
                row.transcript.add_class("agentbook-transcript")
            with row.transcript.hold_sync():
                row.transcript.value = display.transcript_html(record.transcript, error=record.error)
        if want_open == row.shown_open:
            return False
        row.shown_open = want_open
        with row.button.hold_sync():
            row.button.icon = "chevron-down" if want_open else "chevron-right"
        return True

    def _layout(self, records: list[AgentRecord]) -> None:
        children: list[Widget] = [self.header]
        for record in records:
            row = self._rows[record.name]
            children.append(row.box)
            if row.shown_open:
                children.append(row.transcript)
        children.append(self.totals)
        with self.widget.hold_sync():
            self.widget.children = tuple(children)

    # ---- clicks (on the kernel's thread): record, then let the pump change the widgets

    def _toggle(self, name: str) -> None:
        with self._lock:
            self._open ^= {name}
            self._dirty.add(name)
        self.refresh()

    def _answer(self, request: PermissionRequest, answer: Answer) -> None:
        with self._lock:
            if any(request is a for a in self._answered):
                return  # a second click before the buttons went away
            self._answered.append(request)
            self._dirty.add(request.agent)
        getattr(request, answer)()
        self.refresh()


def _is_running(record: AgentRecord) -> bool:
    return record.started is not None and record.state not in ENDED


async def _until_done(run: Run) -> None:
    # `Run.__await__` is typed as returning an `Iterator`, which mypy does not take as awaitable;
    # `Any` type-checks whether or not that annotation is fixed.
    await cast(Any, run)


_BUTTONS: tuple[tuple[str, Answer, str, str], ...] = (
    ("Approve", "approve", "success", "agentbook-approve"),
    ("Always", "approve_always", "info", "agentbook-always"),
    ("Deny", "deny", "danger", "agentbook-deny"),
)


def _permission_box(
    request: PermissionRequest, answer: Callable[[PermissionRequest, Answer], None]
) -> Widget:
    """The tool call, why it asks, and one button per answer, bound to this very request."""
    text = display.permission_html(request.call.name, request.call.input, request.reason)
    label: Widget = widgets.HTML(text)
    label.add_class("agentbook-permission-call")
    buttons: list[Widget] = []
    for description, method, style, css in _BUTTONS:
        button: Widget = widgets.Button(description=description, button_style=style, layout={"width": "auto"})
        button.add_class(css)
        button.on_click(lambda _, method=method: answer(request, method))
        buttons.append(button)
    box: Widget = widgets.HBox([label, *buttons], layout={"align_items": "center"})
    box.add_class("agentbook-permission")
    return box


def _close_all(widget: Widget) -> None:
    """Close a widget and its children, so their models do not linger in the kernel."""
    for child in _walk(widget):
        with contextlib.suppress(Exception):
            child.close()


def _walk(widget: Widget) -> Iterator[Widget]:
    for child in getattr(widget, "children", ()):
        yield from _walk(child)
    # Each widget made its own layout and style models: close those too.
    yield from (w for w in (getattr(widget, "layout", None), getattr(widget, "style", None)) if w is not None)
    yield widget


def plan_view(plan: Plan) -> Any:
    """A plan's table and phase graph with an Approve button that calls `plan.approve()`.

    The button is disabled once the plan is approved (from here or from code), so a notebook
    shows whether the gate is open.
    """
    table = widgets.HTML(plan._repr_html_())
    button = widgets.Button(description="Approve", button_style="success", icon="check")
    button.add_class("agentbook-plan-approve")

    def show_state() -> None:
        if plan.approved:
            button.description, button.disabled, button.button_style = "Approved", True, ""

    def approve(_: Any) -> None:
        plan.approve()
        show_state()

    button.on_click(approve)
    show_state()
    box = widgets.VBox([table, button])
    box.add_class("agentbook-plan")
    return box


def batch_view(batch: Batch) -> Any:
    """A batch's units as an editable table (include, name, files, instructions, test command)
    with an Approve button: approving takes the edited units, starts the run and shows its board."""
    from agentbook.batches import BatchError, Unit

    rows = []
    for unit in batch.units:
        rows.append(
            (
                widgets.Checkbox(value=True, indent=False, layout=widgets.Layout(width="2em")),
                widgets.Text(unit.name, layout=widgets.Layout(width="14em")),
                widgets.Text(", ".join(unit.files), layout=widgets.Layout(width="16em")),
                widgets.Textarea(unit.instructions, layout=widgets.Layout(width="32em")),
                widgets.Text(unit.test_command or "", layout=widgets.Layout(width="16em")),
            )
        )
    button = widgets.Button(description="Approve and run", button_style="success", icon="check")
    button.add_class("agentbook-batch-approve")
    out = widgets.Output()

    def approve(_: Any) -> None:
        chosen = [
            Unit(name.value.strip(), text.value, [f.strip() for f in files.value.split(",") if f.strip()],
                 test.value.strip() or None)
            for keep, name, files, text, test in rows
            if keep.value
        ]  # fmt: skip
        with out:  # a click runs on the kernel's thread, in this cell's output: safe to display here
            try:
                batch.edit(chosen)
                batch.approve()
                run = batch.start()
            except BatchError as exc:
                print(f"cannot run the batch: {exc}")
                return
            button.disabled, button.description = True, "Running"
            from IPython.display import display

            display(run)  # type: ignore[no-untyped-call]

    button.on_click(approve)
    table = widgets.VBox([widgets.HBox(list(row)) for row in rows])
    box = widgets.VBox(
        [widgets.HTML(f"<b>{len(rows)} units</b> for: {batch.instruction}"), table, button, out]
    )
    box.add_class("agentbook-batch")
    return box
