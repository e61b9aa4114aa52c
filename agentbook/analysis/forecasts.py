"""Forecasts as tables: what each task may cost before it runs (`plan.forecast()`,
`batch.forecast()`), and after a run how far the forecast was from what it cost
(`run.forecast_error()`).  The numbers come from `agentbook.scheduler.forecasting`."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from agentbook.costs import cost_usd
from agentbook.scheduler.forecasting import Forecast

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["forecast_error_frame", "forecast_frame", "forecast_html"]

_LEVELS = ("low", "typical", "high")
TOTAL = "(total)"
"""The label of the total row: no task can be named so (names have no parentheses)."""


def forecast_frame(forecasts: Sequence[Forecast]) -> pd.DataFrame:
    """One row per task (index `task`) and a `total` row: the first request's input tokens and
    how they were measured, `tokens_*` and `usd_*` low / typical / high, and the basis."""
    rows = [
        {"task": f.task, "agent_type": f.agent_type, "model": f.model, "first_input_tokens": f.first_input,
         "counted": f.counted, **{f"tokens_{k}": v for k, v in zip(_LEVELS, f.tokens, strict=True)},
         **{f"usd_{k}": v for k, v in zip(_LEVELS, f.usd, strict=True)}, "basis": f.basis}
        for f in forecasts
    ]  # fmt: skip
    frame = pd.DataFrame(rows).set_index("task") if rows else pd.DataFrame()
    if rows:
        totals = {
            c: frame[c].sum(min_count=len(frame)) for c in frame.columns if c.startswith(("tokens_", "usd_"))
        }
        frame.loc[TOTAL] = {
            **dict.fromkeys(frame.columns, ""),
            "first_input_tokens": frame["first_input_tokens"].sum(),
            **totals,
        }
        for column in ("first_input_tokens", *(f"tokens_{k}" for k in _LEVELS)):
            frame[column] = frame[column].astype("Int64")
        for column in (f"usd_{k}" for k in _LEVELS):
            frame[column] = frame[column].astype("Float64")
    return frame


def forecast_error_frame(run: Run, forecasts: Sequence[Forecast]) -> pd.DataFrame:
    """Per forecast task that ran: the typical forecast, the actual cost, their ratio, and
    whether the actual fell within low..high."""
    rows = []
    for f in forecasts:
        record = run.records.get(f.task)
        if record is None:
            continue
        theirs = [
            r for r in run.records.values() if r is record or r.name.startswith(f"{f.task}/")
        ]  # its sub-agents too
        priced = [cost_usd(c.usage, c.model, service_tier=c.service_tier) for r in theirs for c in r.calls]
        actual = None if None in priced else sum(p for p in priced if p is not None)  # unknown, never $0
        low, typical, high = f.usd
        rows.append({"task": f.task, "state": record.state, "usd_forecast": typical, "usd_actual": actual,
                     "ratio": actual / typical if typical and actual is not None else None,
                     "within_range": None not in (low, high, actual) and low <= actual <= high,  # type: ignore[operator]
                     "basis": f.basis})  # fmt: skip
    return pd.DataFrame(rows).set_index("task") if rows else pd.DataFrame()


def forecast_html(frame: pd.DataFrame) -> str:
    """A forecast frame as the small table the approval widgets show: per task and in total,
    dollars and tokens as `low - high (typical)`, and what the figures rest on."""
    if frame.empty:
        return "<p>No tasks to forecast.</p>"

    def span(row: pd.Series, kind: str, show: Callable[[Any], str]) -> str:
        low, typical, high = (row[f"{kind}_{k}"] for k in _LEVELS)
        if any(pd.isna(v) for v in (low, typical, high)):
            return "?"
        return f"{show(low)} - {show(high)} ({show(typical)})"

    dollars: Callable[[Any], str] = lambda v: f"${float(v):.4f}"  # noqa: E731
    tokens: Callable[[Any], str] = lambda v: f"{int(v):,}"  # noqa: E731
    rows = "".join(
        f"<tr><td>{html.escape(str(name))}</td><td>{span(row, 'usd', dollars)}</td>"
        f"<td>{span(row, 'tokens', tokens)}</td><td>{html.escape(str(row['basis']))}</td></tr>"
        for name, row in frame.iterrows()
    )
    head = "<tr><th>task</th><th>dollars</th><th>tokens</th><th>from</th></tr>"
    return (f'<table class="agentbook-forecast"><caption>Forecast, before anything runs '
            f"(low - high, typical in brackets)</caption>{head}{rows}</table>")  # fmt: skip
