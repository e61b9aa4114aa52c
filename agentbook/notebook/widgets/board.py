"""The live board of a run: one row per agent, updating while the agents work.

`board_for(run)` gives the run's one `Board` (ipywidgets 8).  Its `widget` is a `VBox` with a
header, one row per agent (sub-agents appear, indented, as they are spawned), and a totals row.
Each row starts with a Transcript expander (a chevron) that opens the agent's conversation below
the row, and, while the agent waits for a permission, has Approve / Always / Deny buttons with the
tool call and reason.  Displaying a `Run` in a kernel shows this board
(`agentbook.notebook.render.run_bundle`).

Why it is built the way it is (see "Notebook facts" in DESIGN.md):

* An event only marks its agent's row dirty; the pump (`agentbook.notebook.widgets.pump`)
  flushes dirty rows at most `max_rate` times a second, so the front end gets at most `max_rate`
  bursts of updates a second however many agents run.
* A flush updates at most `rows_per_flush` rows, those dirty longest first; the others stay
  dirty for the next one.  Each row update costs the agents' thread about 0.1 ms of interpreter
  time (the comm message is built and signed there), and the kernel's own thread waits for the
  interpreter meanwhile: 200 rows at once held a cell's round trip up for 50-100 ms.  Capped, a
  flush takes a few milliseconds, and a big run's rows still each refresh about once a second.
* What a row shows comes from the agent's `AgentRecord` alone (kept by
  `agentbook.scheduler.records.apply` before any listener hears the event), plus the run's
  pending permission requests, which are the only thing a button can answer.  The board keeps no
  state of its own about agents: only which transcripts are open and which requests were clicked.
* A row's cells are one `HTML` widget and each widget's changes of a flush are applied inside
  its `hold_sync()`, so a flush sends at most one message per changed widget (usually one per
  changed row); see `agentbook.notebook.widgets.rows`.
* Widgets are only ever changed by setting values from the background thread: never `with out:`, whose
  output a background task would route to whatever cell happens to run.  Clicks arrive on the
  kernel's thread; they only record what was asked and wake the pump, so every widget write
  happens on one thread.
"""

from __future__ import annotations

import html
import itertools
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import ipywidgets as widgets  # type: ignore[import-untyped]

from agentbook.events import AgentEvent, utcnow
from agentbook.notebook import cells
from agentbook.notebook.widgets.base import Widget, close_all
from agentbook.notebook.widgets.permission import Answer
from agentbook.notebook.widgets.pump import Pump
from agentbook.notebook.widgets.rows import AgentRow, RowStyle, TotalsRow, header_row
from agentbook.scheduler import background
from agentbook.scheduler.records import AgentRecord
from agentbook.scheduler.sandboxing import notice

if TYPE_CHECKING:
    from agentbook.scheduler.asking import PermissionRequest
    from agentbook.scheduler.run import Run

__all__ = ["Board", "board_for"]

_boards: weakref.WeakKeyDictionary[Run, Board] = weakref.WeakKeyDictionary()
_boards_lock = threading.Lock()


ROWS_PER_FLUSH = 25
"""How many rows one flush updates at most (see the module docstring)."""


def board_for(run: Run, *, max_rate: float = 10.0) -> Board:
    """The live board of `run`: made on first call, the same one afterwards (while the run lives).

    `max_rate` (flushes per second) applies only when the board is made.
    """
    with _boards_lock:
        board = _boards.get(run)
        if board is None:
            board = _boards[run] = Board(run, max_rate=max_rate)
        return board


class Board:
    """The live board of one run; see the module docstring.  Use `board_for(run)`.

    `widget` is what to display.  `flushes` counts the updates sent (the first paint included)
    and `flush_times` holds their `clock()` times.  A flush after the first paint updates at
    most `rows_per_flush` rows.  `now` and `clock` are injectable for tests:
    `now` gives the wall time for elapsed cells, `clock` the monotonic time for throttling.
    """

    def __init__(
        self,
        run: Run,
        *,
        max_rate: float = 10.0,
        rows_per_flush: int = ROWS_PER_FLUSH,
        now: Callable[[], datetime] = utcnow,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not max_rate > 0:
            raise ValueError(f"max_rate must be positive, not {max_rate}")
        if not rows_per_flush > 0:
            raise ValueError(f"rows_per_flush must be positive, not {rows_per_flush}")
        self.rows_per_flush = rows_per_flush
        # Weak: the run holds the board (as its event listener), not the other way round, so
        # `board_for`'s weak cache lets both go together.
        self._run = weakref.ref(run)
        self._now = now
        self._clock = clock
        self._pump = Pump(self, self._run, max_rate=max_rate, clock=clock)
        self.flushes = 0
        self.flush_times: list[float] = []
        self._lock = threading.Lock()  # guards the three below (clicks come from another thread)
        # Rows to update, in the order they became dirty (a dict: an ordered set).
        self._dirty: dict[str, None] = {}
        self._open: set[str] = set()
        self._answered: list[PermissionRequest] = []
        self._ending = False  # whether the run's final state is being flushed
        self._rows: dict[str, AgentRow] = {}
        self._style = RowStyle()  # one model each for the board instead of one per row
        self.header: Widget = header_row(self._style)
        self._top = [self.header]
        text = notice(run.config.sandbox)
        if text is not None:  # shown above the table for as long as the board lives
            self._top.insert(0, widgets.HTML(html.escape(text), layout=self._style.aligned))
            self._top[0].add_class("agentbook-sandbox-notice")
        self._totals = TotalsRow(self._style)
        self.widget: Widget = widgets.VBox([*self._top, self.totals])
        self.widget.add_class("agentbook-board")
        # First paint on the caller's thread, before any pump exists: the board shows the run as
        # it is the moment it is displayed.
        self._flush_names(run, set(run.records))
        run.on_event(self._on_event)
        with self._lock:  # events between the paint and the subscription were missed: redo all
            self._dirty.update(dict.fromkeys(run.records))
        self.refresh()

    # ---- public

    @property
    def max_rate(self) -> float:
        """Flushes per second at most."""
        return self._pump.max_rate

    @property
    def pumping(self) -> bool:
        """Whether the pump task is running (it stops once the run is done and flushed)."""
        return self._pump.running

    @property
    def rows(self) -> dict[str, Widget]:
        """Each agent's row box (an `HBox` of class `agentbook-row`), in the order rows were added."""
        return {name: row.box for name, row in list(self._rows.items())}

    @property
    def totals(self) -> Widget:
        """The totals row (an `HTML` of class `agentbook-totals`)."""
        return self._totals.widget

    def refresh(self) -> None:
        """Ask for a flush soon (thread-safe; the pump keeps to `max_rate`)."""
        if background.on_background_loop():
            self._pump.kick()
        else:
            background.call_soon(self._pump.kick)

    def close(self) -> None:
        """Close every widget of the board (its views disappear) and stop updating it;
        `board_for(run)` then makes a new board."""
        with _boards_lock:
            run = self._run()
            if run is not None and _boards.get(run) is self:
                del _boards[run]
        self._pump.closed = True
        background.call_soon(self._close_widgets)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until the pump has stopped: the run is done and its final state is on the
        widgets.  `TimeoutError` after `timeout` seconds.  Not from the background thread."""
        future = background.submit(self._pump.idle())
        try:
            future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"the board was still updating after {timeout} s") from None

    # ---- the background thread's side

    def _close_widgets(self) -> None:
        for row in list(self._rows.values()):  # views not in the tree now: closed transcripts
            row.close_detached()
        close_all(self.widget)

    def _on_event(self, event: AgentEvent) -> None:
        # Called for every event of every agent: keep it to a set insertion and a wake-up.
        if self._pump.closed:
            return  # the run keeps its listeners: a closed board just ignores them
        with self._lock:
            self._dirty[event.agent] = None
        self._pump.kick()

    def pump_round(self, run: Run) -> bool:
        """One round of the pump: flush what changed; `True` once the run is done and shown."""
        finished = run.done
        if finished and not self._ending:  # the final flushes: every row, so elapsed times are final
            with self._lock:
                self._dirty.update(dict.fromkeys(run.records))
        self._ending = finished  # until a resume: those rows are marked once, then flushed in turn
        self._flush(run)
        with self._lock:
            settled = not self._dirty
        if not settled:
            self._pump.kick()  # rows left over for the next round (at the rate), event or not
        return finished and settled

    def _flush(self, run: Run) -> bool:
        """Apply what changed since the last flush; `False` (and nothing sent) if nothing did."""
        ticks = self._pump.due_ticks(run)
        with self._lock:
            self._dirty.update(dict.fromkeys(ticks - self._dirty.keys()))
            names = set(itertools.islice(self._dirty, self.rows_per_flush))
            for name in names:
                del self._dirty[name]
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
        records = cells.tree_order(list(run.records.values()))
        relayout = self._add_rows(records)
        pending = list(run.pending)
        for record in records:
            if record.name in names:
                request = _request_for(record.name, pending, answered)
                relayout |= self._rows[record.name].update(record, now, request, record.name in opened)
        self._totals.update(records, now, run.config.budget)
        if relayout:
            self._layout(records)
        with self._lock:  # forget answered requests once the run has removed them
            self._answered = [a for a in self._answered if any(a is p for p in run.pending)]
        self._pump.last_flush = started
        self.flushes += 1
        self.flush_times.append(started)

    def _add_rows(self, records: list[AgentRecord]) -> bool:
        new = [r for r in records if r.name not in self._rows]
        for record in new:
            self._rows[record.name] = AgentRow(record.name, self._style, self._toggle, self._answer)
        return bool(new)

    def _layout(self, records: list[AgentRecord]) -> None:
        children: list[Widget] = list(self._top)
        for record in records:
            row = self._rows[record.name]
            children.append(row.box)
            if row.transcript.shown_open:
                children.append(row.transcript.view)
        children.append(self.totals)
        with self.widget.hold_sync():
            self.widget.children = tuple(children)

    # ---- clicks (on the kernel's thread): record, then let the pump change the widgets

    def _toggle(self, name: str) -> None:
        with self._lock:
            self._open ^= {name}
            self._dirty[name] = None
        self.refresh()

    def _answer(self, request: PermissionRequest, answer: Answer) -> None:
        with self._lock:
            if any(request is a for a in self._answered):
                return  # a second click before the buttons went away
            self._answered.append(request)
            self._dirty[request.agent] = None
        getattr(request, answer)()
        self.refresh()


def _request_for(
    agent: str, pending: list[PermissionRequest], answered: list[PermissionRequest]
) -> PermissionRequest | None:
    """The agent's first request still waiting for an answer (its calls may ask at once)."""
    return next((p for p in pending if p.agent == agent and not any(p is a for a in answered)), None)
