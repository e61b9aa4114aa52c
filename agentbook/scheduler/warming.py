"""Prompt-cache warming for a fan-out.

Concurrent cold requests that share a prefix all pay the cache write: an entry is readable only
after the response that wrote it has begun.  So one agent's first request goes alone and its
siblings are released once that response has begun (the model adapter signals it through
`agentbook.models.base.response_began`).  A `Warmup` is a request hook
(`agentbook.agent.gates.RequestHook`): a run gives each model's one to every agent of that model.
"""

from __future__ import annotations

import asyncio
import json
import warnings

from agentbook.agent.gates import RequestOutcome
from agentbook.costs import LOCAL_MODELS, price_for
from agentbook.messages import Request
from agentbook.models.base import estimate_tokens, response_began
from agentbook.tools import tools_named
from agentbook.tools.base import schema

__all__ = ["Warmup", "warn_if_uncacheable"]


class Warmup:
    """Prompt-cache warming for one model of a run: the first agent's first request goes alone;
    its siblings wait until its response has begun (then the cache entry it writes is readable),
    or until it answered or ended, whichever comes first.

    As a request hook it enters before each attempt and releases after the leader's response or
    final failure.  The leader can also end with no outcome at all (cancelled, or a harness error
    mid-request): whoever runs it calls `release_if(agent)` when it ends, or its siblings wait
    for ever.
    """

    def __init__(self) -> None:
        self.leader: str | None = None
        self.ready = asyncio.Event()

    async def enter(self, agent: str) -> None:
        if self.ready.is_set():
            return
        if self.leader in (None, agent):
            self.leader = agent
            response_began.set(self.ready.set)  # the model adapter calls it when the response begins
            return
        await self.ready.wait()

    def release_if(self, agent: str) -> None:
        if agent == self.leader:
            self.ready.set()

    async def before_request(self, agent: str, request: Request) -> None:
        await self.enter(agent)

    async def after_request(self, agent: str, outcome: RequestOutcome) -> None:
        if outcome.response is not None or outcome.retry_in is None:
            self.release_if(agent)  # the leader answered or failed for good: hold nobody longer


def warn_if_uncacheable(model: str, system: str, context: str | None) -> None:
    """Warn when the shared prefix (tool schemas, system prompt, shared context) is shorter than
    `model`'s minimum cacheable length: the API then silently caches nothing, and warming would
    only slow the fan-out down."""
    price = price_for(model)
    minimum = price.min_cacheable_tokens if price is not None and price.min_cacheable_tokens else 1024
    schemas = json.dumps(
        [schema(t).to_api() for t in tools_named(["Read", "Glob", "Grep", "Bash", "Edit", "Write"])]
    )
    prefix = estimate_tokens(system + (context or "") + schemas)
    if prefix < minimum and model not in LOCAL_MODELS:
        warnings.warn(
            f"the shared prefix is about {prefix:,} tokens, shorter than {model}'s minimum cacheable length "
            f"({minimum:,}): the API will not cache it",
            stacklevel=3,
        )
