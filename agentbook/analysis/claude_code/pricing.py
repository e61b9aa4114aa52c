"""Dollars per call, from `agentbook.costs`' versioned price table.

`scan.py` prices every call once scanned; `summary.py` names the models it could not price.
"""

from __future__ import annotations

from agentbook.analysis.claude_code.calls import SYNTHETIC_MODELS, ClaudeCodeCall
from agentbook.costs import LOCAL_MODELS, Price, cost_usd, price_for
from agentbook.messages import Usage

__all__ = ["Pricer", "price_key"]


class Pricer:
    """Dollars per call, with the price of each model looked up once."""

    def __init__(self) -> None:
        self._prices: dict[str, Price | None] = {}

    def __call__(self, call: ClaudeCodeCall, *, corrected: bool = False) -> float | None:
        """The call's dollars; with `corrected`, its output counted as `output_tokens_corrected`."""
        model = price_key(call)
        output = call.output_tokens_corrected if corrected else call.output_tokens
        counts = (
            call.input_tokens,
            output,
            call.cache_creation_input_tokens,
            call.cache_read_input_tokens,
        )
        if call.model in LOCAL_MODELS:
            return 0.0  # agentbook's offline and scripted models: no API billed them, as elsewhere
        if model is None or call.model in SYNTHETIC_MODELS or None in counts:
            return None
        usage = Usage(
            input_tokens=call.input_tokens or 0,
            output_tokens=output or 0,
            cache_creation_input_tokens=call.cache_creation_input_tokens or 0,
            cache_read_input_tokens=call.cache_read_input_tokens or 0,
            ephemeral_1h_input_tokens=call.ephemeral_1h_input_tokens or 0,
        )
        if model not in self._prices:
            self._prices[model] = price_for(model)
        price = self._prices[model]
        return cost_usd(usage, model) if price is None else price.cost(usage)


def price_key(call: ClaudeCodeCall) -> str | None:
    """The price-table name of the call's model: `<model>-<speed>` for a speed other than standard."""
    if call.model is None or call.speed in (None, "standard"):
        return call.model
    # Fast mode is billed at a premium the standard price would hide: it needs its own row.
    return f"{call.model}-{call.speed}"
