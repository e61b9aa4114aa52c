"""What a run shows of its agents (a part of `Run`): their states, results and usage, the
analysis edge's frames, and the reports.  It reads `name` and `records` only."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbook.events import AgentState
from agentbook.messages import Usage
from agentbook.scheduler import observers, reports
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.forecasting import Forecast, forecast_tasks, history
from agentbook.scheduler.records import ENDED, AgentRecord
from agentbook.scheduler.reports import RunSummary

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RunViews"]


class RunViews:
    """The read-only views of a run's records; see the module docstring."""

    name: str
    records: dict[str, AgentRecord]
    config: RunConfig
    run_dir: Path
    forecasts: list[Forecast] | None = None
    """The forecast made before this run (by the plan or batch that started it), if any."""

    @property
    def status(self) -> dict[str, AgentState]:
        """Each agent's state."""
        return {name: r.state for name, r in self.records.items()}

    @property
    def results(self) -> dict[str, str]:
        """Each ended agent's final answer."""
        return {name: r.text for name, r in self.records.items() if r.state in ENDED}

    @property
    def usage(self) -> Usage:
        total = Usage()
        for record in self.records.values():
            total += record.usage
        return total

    @property
    def df(self) -> pd.DataFrame:
        """One row per agent (see `agentbook.analysis.frames.agents_frame`)."""
        return observers.view("frames").agents_frame(self)  # type: ignore[no-any-return]

    @property
    def calls_df(self) -> pd.DataFrame:
        """One row per API call (see `agentbook.analysis.frames.calls_frame`)."""
        return observers.view("frames").calls_frame(self)  # type: ignore[no-any-return]

    @property
    def failures(self) -> pd.DataFrame:
        """One row per failed agent: name, error, attempts, last output."""
        return observers.view("frames").failures_frame(self)  # type: ignore[no-any-return]

    def forecast_error(self) -> pd.DataFrame:
        """Per agent that was forecast: the typical forecast against what it cost, their ratio,
        and whether it fell within the range.  Without a forecast made before the run, one is
        made now from the earlier runs (this one left out)."""
        forecasts = self.forecasts
        if forecasts is None:
            tasks = [r.task for r in self.records.values() if r.parent is None]
            past = [e for e in history() if e.run_dir != self.run_dir]
            forecasts = forecast_tasks(tasks, self.config, past)
        return observers.view("forecasts").forecast_error_frame(self, forecasts)  # type: ignore[no-any-return]

    def cache_report(self) -> dict[str, Any]:
        """What prompt caching did for this run: tokens written to and read from the cache, the
        dollars paid, `saved_usd` against a cold fan-out of the same tasks (each agent's first
        request writing what it read) and `saved_vs_uncached_usd` against no caching (see
        `agentbook.scheduler.reports.cache_report`)."""
        return reports.cache_report(self.records.values())

    @property
    def summary(self) -> RunSummary:
        """What the agents came to: counts per state, failures with their errors, denials,
        retries, cost (what `wait` returns; `print` it)."""
        return reports.summarize(self.name, self.records.values())

    def raise_for_failures(self) -> None:
        """Raise `RunFailed` naming every failed agent and its error, if one failed."""
        self.summary.raise_for_failures()
