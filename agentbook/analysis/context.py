"""Context cost: what agents' results do to the context of whoever reads them (the coordinator).

Ten agents that each return a 2,000-token summary put 20,000 tokens into the coordinator's
context.  `context_cost` measures each result (counted by the API's `count_tokens` when a Claude
model is given or configured, else estimated and marked so) and shows the coordinator's context
growing, under the strategies that manage it:

* `full`: every result lands whole;
* `capped`: results are concise summaries of at most `cap` tokens (what `max_result_tokens`
  asks agents for; `within_cap` says whether each kept to it);
* `aggregated`: an aggregator folds results into one summary of at most `cap` tokens before they
  reach the main context, so the main context holds that summary only;
* `phased`: with several runs (phases), the main context holds the current phase's results and a
  summary of each earlier phase of at most `cap` tokens (a phase whose results are fewer stays whole);
* `compacted`: results land whole until the context would pass `compact_at` tokens; then it is
  compacted (`Run.compact`, `compact_at_tokens=`) to a `cap`-token summary and goes on from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from agentbook.models import AnthropicModel, Model, default_model, get_model
from agentbook.models.base import estimate_tokens
from agentbook.scheduler import background

if TYPE_CHECKING:
    import pandas as pd

    from agentbook.scheduler.run import Run

__all__ = ["DEFAULT_CAP", "STRATEGIES", "context_cost"]

STRATEGIES = ("full", "capped", "aggregated", "phased", "compacted")
DEFAULT_CAP = 500


def context_cost(
    runs: Run | Sequence[Run],
    *,
    cap: int | None = None,
    model: Model | str | None = None,
    compact_at: int | None = None,
) -> pd.DataFrame:
    """One row per top-level agent, in the order their results arrived, with the tokens its
    result adds (`result_tokens`, `counted`: by the API or estimated), `within_cap`, and the
    coordinator's cumulative context under each strategy (see the module docstring).

    `runs` is one run or the runs of a plan's phases, in order.  `cap` defaults to the runs'
    `max_result_tokens`, else 500.  `model` counts tokens when it is (or names) a Claude model;
    by default the configured one, and estimates when there is none.  `compact_at` (default ten
    times the cap) is where the `compacted` strategy compacts.
    """
    import pandas as pd

    phases = [runs] if not isinstance(runs, Sequence) else list(runs)
    limit = cap or next((r.config.max_result_tokens for r in phases if r.config.max_result_tokens), None)
    limit = limit or DEFAULT_CAP
    counter = _counter(model)
    rows = []
    for phase, run in enumerate(phases):
        ended = sorted((r.ended, r.name) for r in run.records.values() if r.parent is None and r.ended)
        for _, name in ended:
            count, counted = counter(run.records[name].text)
            rows.append({"agent": name, "phase": phase, "result_tokens": count, "counted": counted})
    frame = pd.DataFrame(rows, columns=["agent", "phase", "result_tokens", "counted"])
    results = frame["result_tokens"]
    frame["within_cap"] = results <= limit
    frame["full"] = results.cumsum()
    frame["capped"] = results.clip(upper=limit).cumsum()
    frame["aggregated"] = frame["full"].clip(upper=limit)
    # Each earlier phase as its summary: `limit` tokens, or its results whole when they are fewer.
    summaries = results.groupby(frame["phase"]).sum().clip(upper=limit)
    summaries = summaries.reindex(range(len(phases)), fill_value=0)
    before = summaries.cumsum() - summaries
    frame["phased"] = results.groupby(frame["phase"]).cumsum() + frame["phase"].map(before)
    frame["compacted"] = _compacted(list(results), limit, compact_at or 10 * limit)
    for column in ("result_tokens", *STRATEGIES):
        frame[column] = frame[column].astype("Int64")
    frame.attrs["cap"] = limit
    return frame


def _compacted(results: list[int], summary: int, at: int) -> list[int]:
    """The context after each result when it is compacted to `summary` tokens past `at`."""
    context, out = 0, []
    for tokens in results:
        context += tokens
        if context > at:
            context = summary
        out.append(context)
    return out


def _counter(model: Model | str | None) -> Callable[[str], tuple[int, bool]]:
    """A function text -> (tokens, counted by the API)."""
    chosen = get_model(model) if model is not None else default_model()
    if not isinstance(chosen, AnthropicModel):
        return lambda text: (estimate_tokens(text), False)

    def count(text: str) -> tuple[int, bool]:
        if not text:
            return 0, True
        return background.submit(chosen.count_tokens(text)).result(), True

    return count
