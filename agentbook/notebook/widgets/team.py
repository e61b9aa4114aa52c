"""The live board of an agent team: its task list by status, its members and its latest messages.

`team_board_for(team)` gives the team's one `TeamBoard` (ipywidgets 8); its `widget` is a `VBox`
(class `agentbook-team-board`) of a title, three columns (pending / in progress / completed,
class `agentbook-column-<status>`) in a wrapping flex row, the member rows and the messages.
Displaying a started `Team` in a kernel shows it (`agentbook.notebook.attach`).

It is updated as the run board is (see `agentbook.notebook.widgets.board`): the task list's and
the mailbox's `subscribe` callbacks (from the tools' worker threads) and the run's events only
mark a part dirty and wake the run board's `Pump`, which flushes at most `max_rate` times a
second on the background thread; a flush sets the changed parts' `HTML` values (made by
`agentbook.notebook.team_render`, as the static board's are) inside `hold_sync()`.  Never
`with out:`.  Widths are relative (flex), so the board fits the cell.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import ipywidgets as widgets  # type: ignore[import-untyped]

from agentbook.events import AgentEvent
from agentbook.notebook import team_render
from agentbook.notebook.widgets.base import Widget, close_all
from agentbook.notebook.widgets.pump import Pump
from agentbook.scheduler import background
from agentbook.tools.team_tasks import STATUSES

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run
    from agentbook.teams.team import Team

__all__ = ["PARTS", "TeamBoard", "team_board_for"]

PARTS = ("tasks", "members", "messages")
"""What a flush may change: the columns, the member rows, the messages."""

_boards: weakref.WeakKeyDictionary[Team, TeamBoard] = weakref.WeakKeyDictionary()
_boards_lock = threading.Lock()


def team_board_for(team: Team, *, max_rate: float = 10.0) -> TeamBoard:
    """The live board of a started `team`: made on first call, the same one afterwards."""
    with _boards_lock:
        board = _boards.get(team)
        if board is None:
            board = _boards[team] = TeamBoard(team, max_rate=max_rate)
        return board


class TeamBoard:
    """The live board of one started team; see the module docstring.  Use `team_board_for`.

    `flushes` counts the updates made (the first paint included) and `flush_times` holds their
    `clock()` times; `clock` is injectable.
    """

    def __init__(
        self, team: Team, *, max_rate: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if team.run is None or team.board is None or team.mailbox is None:
            raise RuntimeError("a team board needs a started team")
        if not max_rate > 0:
            raise ValueError(f"max_rate must be positive, not {max_rate}")
        run = team.run
        self._team = weakref.ref(team)
        self._pump = Pump(self, weakref.ref(run), max_rate=max_rate, clock=clock)
        self._clock = clock
        self.flushes = 0
        self.flush_times: list[float] = []
        self._lock = threading.Lock()
        self._dirty: set[str] = set()
        self.title: Widget = widgets.HTML(layout=widgets.Layout(width="auto"))
        self.columns: dict[str, Widget] = {
            s: widgets.HTML(
                layout=widgets.Layout(flex="1 1 0", min_width="12em", width="auto", margin="0 4px")
            )
            for s in STATUSES
        }
        row = widgets.Layout(flex_flow="row wrap", width="auto", align_items="flex-start")
        self.columns_box: Widget = widgets.HBox(list(self.columns.values()), layout=row)
        self.members: Widget = widgets.HTML(layout=widgets.Layout(width="auto", margin="6px 4px 0 4px"))
        self.messages: Widget = widgets.HTML(layout=widgets.Layout(width="auto", margin="6px 4px 0 4px"))
        parts = [self.title, self.columns_box, self.members, self.messages]
        self.widget: Widget = widgets.VBox(parts, layout=widgets.Layout(width="auto"))
        self.widget.add_class("agentbook-team-board")
        self._flush_parts(team, set(PARTS))  # the first paint, on the caller's thread
        self._unsubscribe = [
            team.board.subscribe(lambda change: self._mark("tasks", "members")),
            team.mailbox.subscribe(lambda change: self._mark("messages")),
        ]
        run.on_event(self._on_event)
        self._mark(*PARTS)  # what changed between the paint and the subscriptions

    @property
    def pumping(self) -> bool:
        """Whether the pump task is running (it stops once the run is done and flushed)."""
        return self._pump.running

    def refresh(self) -> None:
        """Ask for a flush soon (thread-safe; the pump keeps to `max_rate`)."""
        if background.on_background_loop():
            self._pump.kick()
        else:
            background.call_soon(self._pump.kick)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until the pump has stopped: the run is done and shown.  Not from the background thread."""
        future = background.submit(self._pump.idle())
        try:
            future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"the team board was still updating after {timeout} s") from None

    def close(self) -> None:
        """Close the board's widgets and stop updating it; `team_board_for` then makes a new one."""
        with _boards_lock:
            team = self._team()
            if team is not None and _boards.get(team) is self:
                del _boards[team]
        self._pump.closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        background.call_soon(close_all, self.widget)

    # ---- any thread: mark, then let the pump change the widgets

    def _mark(self, *parts: str) -> None:
        if self._pump.closed:
            return
        with self._lock:
            self._dirty.update(parts)
        self.refresh()

    def _on_event(self, event: AgentEvent) -> None:
        if not self._pump.closed:  # on the background loop: a set insertion and a wake-up
            with self._lock:
                self._dirty.add("members")
            self._pump.kick()

    # ---- the background thread's side

    def pump_round(self, run: Run) -> bool:
        """One round of the pump: flush what changed; `True` once the run is done and shown."""
        finished = run.done
        # Take the once-a-second tick (members show no clock): left due, the pump never rests
        # and spins the agents' loop at full speed between changes.
        self._pump.due_ticks(run)
        team = self._team()
        if team is None:
            return True
        with self._lock:
            if finished:
                self._dirty.update(PARTS)  # the final flush: everything as it ended
            parts, self._dirty = self._dirty, set()
        if parts:
            self._flush_parts(team, parts)
        with self._lock:
            settled = not self._dirty
        return finished and settled

    def _flush_parts(self, team: Team, parts: set[str]) -> None:
        started = self._clock()
        view = team_render.team_view(team)
        values: list[tuple[Widget, str]] = [(self.title, team_render.title_html(view))]
        if "tasks" in parts:
            values += [(self.columns[s], team_render.column_html(s, view.tasks)) for s in STATUSES]
        if "members" in parts:
            values.append((self.members, team_render.members_html(view.members)))
        if "messages" in parts:
            values.append((self.messages, team_render.messages_html(view.messages)))
        for widget, value in values:
            if widget.value != value:  # one message per changed part, none for the rest
                with widget.hold_sync():
                    widget.value = value
        self._pump.last_flush = started
        self.flushes += 1
        self.flush_times.append(started)
