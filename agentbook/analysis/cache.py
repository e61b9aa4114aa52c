"""What the prompt cache did for a usage: the share of input it served, and the dollars it saved.

The saving here is against *no prompt caching at all* (`SAVINGS_BASIS`): every cached token
read or written priced as plain input.  That is not what warming a fan-out saves: the run's
`cache_report()["saved_usd"]` compares with a cold fan-out of the same tasks, and its
`saved_vs_uncached_usd` is the sum of this column.

Used by `agentbook.analysis.frames` for the `cache_hit_rate` and `cache_savings_usd` columns of
`run.df` and `run.calls_df`.  Plain arithmetic on `Usage` and the price table (no pandas), so a
script can ask the same of a single response.
"""

from __future__ import annotations

from agentbook.costs import price_for
from agentbook.messages import Usage

__all__ = ["SAVINGS_BASIS", "cache_hit_rate", "cache_savings_usd"]

SAVINGS_BASIS = (
    "vs no prompt caching: cache reads and writes priced as plain input "
    "(not vs a cold fan-out; see cache_report()['saved_usd'])"
)
"""What `cache_savings_usd` compares against; frames carry it in `attrs["cache_savings_usd"]`."""


def cache_hit_rate(usage: Usage) -> float | None:
    """The share of the input read from the cache: cache reads / (input + cache writes + cache
    reads); `None` when there was no input."""
    total = usage.total_input_tokens
    return usage.cache_read_input_tokens / total if total else None


def cache_savings_usd(usage: Usage, model: str) -> float | None:
    """Dollars the prompt cache saved on `usage` against no caching at all (`SAVINGS_BASIS`), net
    of what its writes cost over plain input:

    reads x (input - cache read price) - 5m writes x (5m write - input) - 1h writes x (1h write -
    input), per million tokens.  Negative when writes were never read back enough to pay off.
    `None` when `model` has no price (no warning: `cost_usd` already gives one for the same row).
    """
    price = price_for(model)
    if price is None:
        return None
    writes_1h = usage.ephemeral_1h_input_tokens
    # As in `Price.cost`: a usage without the 5m/1h split had 5-minute writes (the default TTL).
    writes_5m = usage.cache_creation_input_tokens - writes_1h
    saved = usage.cache_read_input_tokens * (price.input - price.cache_read)
    extra = writes_5m * (price.cache_write_5m - price.input) + writes_1h * (
        price.cache_write_1h - price.input
    )
    return (saved - extra) / 1_000_000
