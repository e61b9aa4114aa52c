"""`Budget`: the most a run, an agent (and its sub-agents), a phase or a team may spend.

A value: dollars, tokens (input of every kind plus output), model responses (`turns`) and
wall-clock `seconds`, each optional.  The scheduler enforces it before each model request
(`agentbook.scheduler.budgets`): the request's worst case is reserved against every budget that
covers the agent, and a request that could pass one is never sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["Budget"]

LIMITS = "usd, tokens, turns, seconds"


@dataclass(frozen=True)
class Budget:
    """Limits, each `None` for none: `usd` dollars, `tokens`, `turns` (model responses) and
    `seconds` (wall clock, from the start of what it covers).  `TypeError` / `ValueError` name
    a bad limit."""

    usd: float | None = None
    tokens: int | None = None
    turns: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            whole = f.name in ("tokens", "turns")
            kinds = (int,) if whole else (int, float)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, kinds):
                kind = "a whole number" if whole else "a number"
                raise TypeError(f"Budget {f.name} must be {kind} or None, not {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"Budget {f.name} must be more than 0, not {value!r}")
        if all(getattr(self, f.name) is None for f in fields(self)):
            raise ValueError("a Budget needs at least one limit: usd, tokens, turns or seconds")

    @classmethod
    def of(cls, value: object, where: str = "budget") -> Budget | None:
        """`value` as a budget: a `Budget`, a mapping of its fields (an agent file's `budget:`,
        a manifest's), or `None`; `TypeError` / `ValueError` naming `where` otherwise."""
        if value is None or isinstance(value, Budget):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"{where} must be an ab.Budget or a mapping of {LIMITS}, not {value!r}")
        unknown = sorted(set(map(str, value)) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{where}: unknown limit(s) {', '.join(unknown)}; limits: {LIMITS}")
        try:
            return cls(**{str(k): v for k, v in value.items()})
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        parts = [f"${self.usd:g}" if self.usd is not None else None,
                 f"{self.tokens:,} tokens" if self.tokens is not None else None,
                 f"{self.turns} turns" if self.turns is not None else None,
                 f"{self.seconds:g} s" if self.seconds is not None else None]  # fmt: skip
        return ", ".join(p for p in parts if p)
