"""Test support: a local fake of the Anthropic Messages API, and a prompt-caching handler for it.

The tests, the benchmarks (`bench/`) and the context-cost notebook use it to run the real
Anthropic SDK against `FakeAnthropic` (`agentbook.testing.fakeapi`), with caching emulated by
`agentbook.testing.caching.CachingHandler`.  No runtime module of agentbook imports this package,
and none may: it is test support, and may import any layer, never the other way round.
"""

from agentbook.testing import fakeapi
from agentbook.testing.fakeapi import *  # noqa: F403  (the fake API's names are this package's)

__all__ = list(fakeapi.__all__)
