"""Plots of runs: who ran when, what each agent cost, how results grow a coordinator's context.

The analysis edge: with `frames`, the only place that imports pandas, and the only one that
imports matplotlib.  Every function returns a `matplotlib.figure.Figure` and shows nothing itself:
a notebook displays the figure once, as the cell's value; a script saves it (`fig.savefig`).
Legends sit outside the axes, on the right (`fig.legends[0]`), so they never hide a bar.

Backends: notebooks keep theirs.  Only when nothing chose a backend (no `MPLBACKEND`, no
matplotlibrc entry, no `%matplotlib`, no `matplotlib.use`) is Agg selected, on the first plot
rather than at import, so a `%matplotlib` line run after `import agentbook` still wins.  Figures
are made through pyplot (which is what activates a notebook's inline display) and then released
from pyplot's registry, so the inline backend does not show them a second time at the end of the
cell, and a loop drawing hundreds of figures keeps none of them alive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from agentbook.analysis.frames import COST_KINDS, STATES, agents_frame, cost_breakdown_frame

if TYPE_CHECKING:
    from agentbook.scheduler.run import Run

__all__ = ["context_growth", "cost_by_agent", "timeline"]

STATE_COLORS: Final[dict[str, str]] = {
    "pending": "#c7c7c7",
    "running": "#1f77b4",
    "waiting": "#9467bd",
    "done": "#2ca02c",
    "partial": "#ff7f0e",
    "budget": "#bcbd22",
    "failed": "#d62728",
    "cancelled": "#7f7f7f",
}
KIND_LABELS: Final[dict[str, str]] = {
    "input": "input",
    "output": "output",
    "cache_write_5m": "cache write 5m",
    "cache_write_1h": "cache write 1h",
    "cache_read": "cache read",
}
KIND_COLORS: Final[dict[str, str]] = {
    "input": "#4c72b0",
    "output": "#dd8452",
    "cache_write_5m": "#c44e52",
    "cache_write_1h": "#8c1c13",
    "cache_read": "#55a868",
}
MAX_TICK_LABELS: Final = 40
"""Beyond this many agents, tick labels would overlap: numbers are shown instead."""


# ---- timeline


@dataclass(frozen=True)
class _Span:
    """One agent's bar: its row label, group, state, and start/end in seconds from the origin."""

    agent: str
    group: str
    state: str
    start_s: float
    end_s: float


def timeline(run_or_runs: Any, *, by_phase: bool | None = None) -> Figure:
    """One horizontal bar per agent, from its start to its end, coloured by its state.

    `run_or_runs` is a `Run`, a sequence of runs (phase i = the i-th), a `Plan` (its `runs`) or
    a `PlanRun` (its `runs` by phase).  With `by_phase` (default: when more than one run, or a
    plan, is given) rows are grouped by phase, each group labelled on the right
    ("phase i"; a single run's group is labelled with its name) and separated by a line.  Time is
    seconds since the earliest start among them; an agent still running ends "now"; an agent
    that never started has no bar.  Rows run top to bottom in phase order, then start order.
    """
    groups = _phase_runs(run_or_runs)
    grouped = by_phase if by_phase is not None else (len(groups) > 1 or not _is_single_run(run_or_runs))
    spans = _spans(groups)
    fig, ax = _new_figure(width=9.0, height=1.2 + 0.35 * max(1, len(spans)))
    rows = np.arange(len(spans))
    ax.barh(
        rows,
        [s.end_s - s.start_s for s in spans],
        left=[s.start_s for s in spans],
        color=[STATE_COLORS.get(s.state, "#000000") for s in spans],
        height=0.6,
    )
    ax.set_yticks(rows, [s.agent for s in spans])
    ax.set_ylim(len(spans) - 0.5, -0.5)  # first row at the top
    ax.set_xlabel("seconds since the first agent started")
    ax.set_title("Agents over time")
    if grouped:
        _label_groups(ax, spans)
    states = [state for state in STATES if any(s.state == state for s in spans)]
    if states:
        handles = [Patch(color=STATE_COLORS[state], label=state) for state in states]
        fig.legend(handles=handles, title="state", loc="outside right upper")
    return fig


def _is_single_run(value: Any) -> bool:
    from agentbook.scheduler.run import Run

    return isinstance(value, Run)


def _phase_runs(value: Any) -> list[tuple[str, Run]]:
    """(group label, run) pairs, in phase order, from whatever `timeline` accepts."""
    from agentbook.plans import Plan, PlanRun
    from agentbook.scheduler.run import Run

    if isinstance(value, Run):
        return [(value.name, value)]
    if isinstance(value, PlanRun):
        return [(f"phase {i}", run) for i, run in sorted(value.runs.items())]
    runs: Iterable[Any] = value.runs if isinstance(value, Plan) else value
    pairs = [(f"phase {i}", run) for i, run in enumerate(runs)]
    for _, run in pairs:
        if not isinstance(run, Run):
            raise TypeError(f"timeline takes runs, a plan or a plan run, not {type(run).__name__}")
    return pairs


def _spans(groups: Sequence[tuple[str, Run]]) -> list[_Span]:
    now = pd.Timestamp(datetime.now(UTC))
    frames = [(label, agents_frame(run)) for label, run in groups]
    starts = [f["start"].min() for _, f in frames if f["start"].notna().any()]
    if not starts:
        return []
    origin = min(starts)
    spans: list[_Span] = []
    for label, frame in frames:
        started = frame[frame["start"].notna()].sort_values("start", kind="stable")
        for name, row in started.iterrows():
            end = row["end"] if pd.notna(row["end"]) else now
            spans.append(
                _Span(
                    agent=str(name),
                    group=label,
                    state=str(row["state"]),
                    start_s=(row["start"] - origin).total_seconds(),
                    end_s=max((end - origin).total_seconds(), (row["start"] - origin).total_seconds()),
                )
            )
    return spans


def _label_groups(ax: Axes, spans: Sequence[_Span]) -> None:
    """Name each run of consecutive rows sharing a group, in the right margin, and rule them off."""
    first = 0
    for i in range(1, len(spans) + 1):
        if i < len(spans) and spans[i].group == spans[first].group:
            continue
        middle = (first + i - 1) / 2
        # x in axes coordinates (just right of the plot), y in rows.
        ax.text(1.01, middle, spans[first].group, transform=ax.get_yaxis_transform(), va="center")
        if i < len(spans):
            ax.axhline(i - 0.5, color="#999999", linewidth=0.8, linestyle="--")
        first = i


# ---- cost by agent


def cost_by_agent(run: Run) -> Figure:
    """Stacked bars, one per agent (in the run's order), of its dollars by token kind: input,
    output, cache write 5m, cache write 1h, cache read (`agentbook.analysis.frames.cost_breakdown_frame`).

    An agent whose model has no price gets an empty bar and "(no price)" under its name; the
    title's total then says it leaves them out.
    """
    costs = cost_breakdown_frame(run)
    fig, ax = _new_figure(width=max(6.0, 0.6 * len(costs) + 2.0), height=4.5)
    x = np.arange(len(costs))
    bottom = np.zeros(len(costs))
    for kind in COST_KINDS:
        heights = costs[kind].to_numpy(dtype=float, na_value=0.0)
        ax.bar(x, heights, bottom=bottom, label=KIND_LABELS[kind], color=KIND_COLORS[kind], width=0.7)
        bottom += heights
    unpriced = costs["cost_usd"].isna()
    names = [f"{name}\n(no price)" if missing else str(name) for name, missing in unpriced.items()]
    _agent_ticks(ax, x, names)
    total = float(costs["cost_usd"].sum(skipna=True))
    ax.set_title(f"Cost by agent: ${total:,.4f}" + (" (unpriced agents left out)" if unpriced.any() else ""))
    ax.set_ylabel("USD")
    fig.legend(title="tokens", loc="outside right upper")
    return fig


# ---- context growth


def context_growth(frame: pd.DataFrame, *, cumulative: bool = False) -> Figure:
    """Coordinator context tokens as agents' results arrive: one line per strategy.

    `frame` has an `agent` column (or index) and one or more numeric strategy columns of tokens,
    one row per agent in the order their results reach the coordinator (as `context_cost`
    gives them).  By default the strategy columns hold each agent's own addition and are summed
    cumulatively; pass `cumulative=True` when they already hold running totals.  Non-numeric
    columns other than `agent` are ignored.  x is the agent's position (1-based), labelled with
    its name when there are few enough.  Raises `ValueError` without `agent` or any strategy.
    """
    agents = _agents_of(frame)
    strategies = [c for c in frame.columns if c != "agent" and pd.api.types.is_numeric_dtype(frame[c].dtype)]
    if not strategies:
        raise ValueError(
            f"context_growth needs numeric strategy columns besides 'agent'; got {list(frame.columns)}"
        )
    fig, ax = _new_figure(width=max(6.0, 0.4 * len(frame) + 2.0), height=4.5)
    x = np.arange(1, len(frame) + 1)
    for n, column in enumerate(strategies):
        tokens = frame[column].astype("Float64")
        totals = tokens if cumulative else tokens.cumsum()  # NA rows stay gaps; the sum goes on
        # Strategies often coincide (capped = full when every result is within the cap): each
        # its own dash, marker and width, drawn widest first, so a line on top of another shows.
        style = _STYLES[n % len(_STYLES)]
        ax.plot(x, totals.to_numpy(dtype=float, na_value=np.nan), label=str(column), linestyle=style[0],
                marker=style[1], linewidth=2.5 * (len(strategies) - n) / len(strategies) + 1,
                markersize=4 + 2 * (len(strategies) - n), zorder=n)  # fmt: skip
    _agent_ticks(ax, x, agents)
    ax.set_xlabel("agents, in the order their results arrive")
    ax.set_ylabel("coordinator context tokens (cumulative)")
    ax.set_title("Context growth")
    fig.legend(title="strategy", loc="outside right upper")
    return fig


_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"))


def _agents_of(frame: pd.DataFrame) -> list[str]:
    if "agent" in frame.columns:
        return [str(a) for a in frame["agent"]]
    if frame.index.name == "agent":
        return [str(a) for a in frame.index]
    raise ValueError("context_growth needs an 'agent' column (or an index named 'agent')")


# ---- shared


def _agent_ticks(ax: Axes, x: np.ndarray[Any, Any], names: Sequence[str]) -> None:
    if len(names) <= MAX_TICK_LABELS:
        ax.set_xticks(
            x, names, rotation=45 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center"
        )


def _new_figure(*, width: float, height: float) -> tuple[Figure, Axes]:
    _ensure_backend()
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width, height), layout="constrained")
    # Released from pyplot at once: see the module docstring.
    plt.close(fig)
    return fig, fig.add_subplot()


def _ensure_backend() -> None:
    # The raw rcParams value is a string once anyone chose a backend, and a sentinel object while
    # matplotlib would still pick one itself; reading it with `rcParams["backend"]` would resolve
    # (and import) a backend as a side effect.
    if not isinstance(dict.get(matplotlib.rcParams, "backend"), str):
        matplotlib.use("Agg")
