"""Prices and dollars: a dated price table, and `Usage` -> USD.

The table (`prices.json`, shipped with the package) gives per model and per million tokens the
prices of input, output, cache writes (5 minutes and 1 hour), cache reads and batch, with the date
of its source.  Users can add or override models with `set_price`.  A model with no price gives
`None` and a warning naming it, never a silent 0: a missing price must be visible in any total.
Local models (`offline`, `scripted`) cost nothing by definition.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from agentbook.messages import Usage

__all__ = [
    "ALIASES",
    "LOCAL_MODELS",
    "Price",
    "UnknownModelPriceWarning",
    "cost_usd",
    "price_for",
    "price_table",
    "set_price",
]

LOCAL_MODELS = frozenset({"offline", "scripted"})
_DATE_SUFFIX = re.compile(r"-\d{8}$")


class UnknownModelPriceWarning(UserWarning):
    """A usage was left unpriced because its model is not in the price table."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens, and where the figures come from."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    batch_input: float | None = None
    batch_output: float | None = None
    min_cacheable_tokens: int | None = None
    source: str = ""
    source_date: str = ""

    def cost(self, usage: Usage) -> float:
        """Dollars for `usage` at these prices."""
        writes_1h = usage.ephemeral_1h_input_tokens
        # Older responses (and some transcripts) give no 5m/1h split: the default TTL is 5 minutes.
        writes_5m = usage.cache_creation_input_tokens - writes_1h
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + writes_5m * self.cache_write_5m
            + writes_1h * self.cache_write_1h
            + usage.cache_read_input_tokens * self.cache_read
        ) / 1_000_000

    def batch(self) -> Price:
        """These prices on the Message Batches API: the table's `batch_input` and `batch_output`
        (half of standard), and the cache rates at the same discount, which stacks with caching's
        (the batch discount applies to every token kind); 50% where the table gives no batch rate."""
        factor = self.batch_input / self.input if self.batch_input is not None and self.input else 0.5
        return dataclasses.replace(
            self,
            input=self.input * factor if self.batch_input is None else self.batch_input,
            output=self.output * 0.5 if self.batch_output is None else self.batch_output,
            cache_write_5m=self.cache_write_5m * factor,
            cache_write_1h=self.cache_write_1h * factor,
            cache_read=self.cache_read * factor,
        )


_FREE = Price(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, source="local model", source_date="")
_overrides: dict[str, Price] = {}
_warned: set[str] = set()


@cache
def _table() -> dict[str, Any]:
    with resources.files("agentbook").joinpath("prices.json").open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


ALIASES: dict[str, str] = dict(_table()["aliases"])
"""`opus`, `sonnet`, `haiku` -> the newest generally available model id of each family (the one table)."""


@cache
def _listed() -> dict[str, Price]:
    """The prices of `prices.json` by model id and alias (built once: a run's summary asks per agent)."""
    table: dict[str, Price] = {}
    for model, row in _table()["models"].items():
        fields = {k: v for k, v in row.items() if k != "aliases"}
        price = Price(**fields)
        for name in (model, *row.get("aliases", ())):
            table[name] = price
    return table


def price_table() -> dict[str, Price]:
    """Every priced model id (dated snapshot ids included), overrides applied."""
    return {**_listed(), **_overrides}


def set_price(model: str, price: Price) -> None:
    """Add or override the price of `model` for this process."""
    _overrides[model] = price
    _warned.discard(model)


def price_for(model: str) -> Price | None:
    """The price of `model` (an id, a dated snapshot id or an alias), or `None` if unknown."""
    if model in LOCAL_MODELS:
        return _FREE
    for name in (model, ALIASES.get(model, ""), _DATE_SUFFIX.sub("", model)):
        price = _overrides.get(name) or _listed().get(name)
        if price is not None:
            return price
    return None


def cost_usd(usage: Usage, model: str, *, service_tier: str | None = None) -> float | None:
    """Dollars for `usage` on `model` (at its batch prices when `service_tier` is `"batch"`);
    `None` with a warning naming the model if it has no price."""
    price = price_for(model)
    if price is None:
        if model not in _warned:
            _warned.add(model)
            warnings.warn(
                f"no price for model {model!r}: its cost is left missing "
                "(add one with agentbook.costs.set_price)",
                UnknownModelPriceWarning,
                stacklevel=2,
            )
        return None
    return (price.batch() if service_tier == "batch" else price).cost(usage)
