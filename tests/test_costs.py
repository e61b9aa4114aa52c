"""The price table and Usage -> dollars."""

from __future__ import annotations

import warnings

import pytest

from agentbook.costs import (
    ALIASES,
    Price,
    UnknownModelPriceWarning,
    cost_usd,
    price_for,
    price_table,
    set_price,
)
from agentbook.messages import Usage


def test_every_row_is_complete_and_dated() -> None:
    table = price_table()
    assert len(table) >= 15
    for model, price in table.items():
        assert price.input > 0 and price.output > price.input, model
        assert price.cache_read < price.input < price.cache_write_5m <= price.cache_write_1h, model
        assert price.source and price.source_date[:2] == "20", model


def test_aliases_resolve_to_priced_models() -> None:
    for alias in ("opus", "sonnet", "haiku"):
        assert ALIASES[alias] in price_table()
        assert price_for(alias) == price_for(ALIASES[alias])


def test_cost_formula_uses_each_token_kind() -> None:
    price = Price(input=3, output=15, cache_write_5m=3.75, cache_write_1h=6, cache_read=0.3)
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_creation_input_tokens=3_000_000,
        cache_read_input_tokens=1_000_000,
        ephemeral_5m_input_tokens=2_000_000,
        ephemeral_1h_input_tokens=1_000_000,
    )
    assert price.cost(usage) == pytest.approx(3 + 15 + 2 * 3.75 + 6 + 0.3)
    # Without the 5m/1h split, cache writes are priced at the 5-minute rate.
    assert price.cost(Usage(cache_creation_input_tokens=1_000_000)) == pytest.approx(3.75)


def test_dated_snapshots_price_like_their_model() -> None:
    assert price_for("claude-sonnet-4-5-20250929") == price_for("claude-sonnet-4-5")


def test_unknown_model_gives_none_and_a_warning_naming_it() -> None:
    with pytest.warns(UnknownModelPriceWarning, match="claude-imaginary-9"):
        assert cost_usd(Usage(10, 10), "claude-imaginary-9") is None
    set_price("claude-imaginary-9", Price(1, 2, 1.25, 2, 0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cost_usd(Usage(1_000_000, 0), "claude-imaginary-9") == pytest.approx(1.0)


def test_local_models_cost_nothing() -> None:
    assert cost_usd(Usage(10_000, 10_000, estimated=True), "offline") == 0.0
