"""What a headless run shows while it works: progress on stderr, events as JSON lines on stdout.

`Progress` subscribes to every run's events (`on_event`).  On stderr it writes one line per
agent state change (running, waiting, done, failed, ...), or, on a terminal, redraws the runs'
text table (`agentbook.notebook.render.render_text`) twice a second.  With `--json` every event
also goes to stdout as one JSON object a line (`event_json`): its `kind`, `agent`, `at` and
fields, secrets redacted as in transcripts.  Listeners run on agentbook's background thread, so
writes are serialised by a lock.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, TypeAlias

from agentbook.costs import price_for
from agentbook.events import AgentEnded, AgentEvent, AgentStarted, PermissionAnswered, PermissionAsked
from agentbook.redact import redact_data, secret_values
from agentbook.scheduler.run import Run

__all__ = ["Progress", "RunSource", "event_json"]

RunSource: TypeAlias = Callable[[], list[Run]]
"""Where the live table finds the runs to draw (a plan's grow as its phases start)."""

LIVE_INTERVAL_S = 0.5


def plain(value: Any) -> Any:
    """`value` as JSON-ready data: dataclasses as mappings, times as ISO text, paths as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value) if isinstance(value, Path) else repr(value)


def event_json(event: AgentEvent, secrets: tuple[str, ...] | None = None) -> dict[str, Any]:
    """`event` as one JSON object: `kind`, `agent`, `at`, then its other fields; redacted."""
    data = plain(event)
    ordered = {"kind": data.pop("kind"), "agent": data.pop("agent"), "at": data.pop("at"), **data}
    return redact_data(ordered, secret_values() if secrets is None else secrets)  # type: ignore[no-any-return]


class Progress:
    """Progress of the runs `runs()` returns; see the module docstring.

    `stream` gets the lines (or the live table when `live`); `json_out`, when given, the events."""

    def __init__(
        self,
        stream: TextIO,
        *,
        json_out: TextIO | None = None,
        live: bool = False,
        runs: RunSource = list,
    ) -> None:
        self.stream, self.json_out, self.live, self.runs = stream, json_out, live, runs
        self.states: dict[str, str] = {}
        self.models: dict[str, str] = {}
        self._lock = threading.Lock()
        self._secrets = secret_values()
        self._stop = threading.Event()
        self._drawn = 0
        self._thread: threading.Thread | None = None

    def __call__(self, event: AgentEvent) -> None:
        """The listener: give it to `run_parallel(on_event=...)` or `run.on_event`."""
        with self._lock:
            if self.json_out is not None:
                self.json_out.write(json.dumps(event_json(event, self._secrets), default=str) + "\n")
                self.json_out.flush()
            state = self._state(event)
            if state is None or self.states.get(event.agent) == state:
                return
            self.states[event.agent] = state
            if not self.live:
                self.stream.write(f"{event.at:%H:%M:%S} {event.agent}: {self._describe(event, state)}\n")
                self.stream.flush()

    def _state(self, event: AgentEvent) -> str | None:
        if isinstance(event, AgentStarted):
            self.models[event.agent] = event.model
            return "running"
        if isinstance(event, PermissionAsked):
            return "waiting"
        if isinstance(event, PermissionAnswered):
            return "running"
        if isinstance(event, AgentEnded):
            return event.state
        return None

    def _describe(self, event: AgentEvent, state: str) -> str:
        if isinstance(event, AgentStarted):
            return f"{state}{' (resumed)' if event.resumed else ''}, {event.model}"
        if not isinstance(event, AgentEnded):
            return state
        usage = event.usage
        tokens = usage.total_input_tokens + usage.output_tokens
        price = price_for(self.models.get(event.agent, ""))
        cost = "" if price is None else f", ${price.cost(usage):.4f}"
        why = f": {event.error}" if event.error else ""
        return f"{state} after {event.turns} turn(s), {tokens:,} tokens{cost}{why}"[:400]

    # ---- the live table (a terminal)

    def __enter__(self) -> Progress:
        if self.live:
            self._thread = threading.Thread(target=self._redraw, name="agentbook-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.draw()  # the final state stays on the screen

    def _redraw(self) -> None:
        while not self._stop.wait(LIVE_INTERVAL_S):
            self.draw()

    def draw(self) -> None:
        """Replace the table drawn last with the runs' tables as they are now."""
        from agentbook.notebook.render import render_text  # the plain-text table: no IPython

        text = "\n\n".join(render_text(run) for run in self.runs())
        with self._lock:
            if self._drawn:  # up to the first line drawn, then clear below
                self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self.stream.write(text + "\n")
            self.stream.flush()
            self._drawn = text.count("\n") + 1
