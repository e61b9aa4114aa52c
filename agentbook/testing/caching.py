"""Prompt caching for the fake Messages API: a handler wrapper that emulates Anthropic's cache.

`CachingHandler(base)` answers what `base` answers, but rewrites each `MessageReply`'s usage the
way the real API would report it with prompt caching, so cost code, frames and benchmarks can be
tested on cache reads and writes without the service.  The rules it follows (see
DESIGN.md, "Anthropic SDK facts"):

* **Breakpoints.**  A content block with `cache_control: {"type": "ephemeral", "ttl"?: "5m" | "1h"}`
  is a breakpoint: a tool definition, a block of a list-form `system`, or a block of a message's
  list-form `content`.  Blocks are ordered as the API orders them, tools -> system -> messages;
  the prefix of a breakpoint is every block up to and including it.  A string `system` or string
  message content is one block that cannot carry a breakpoint.
* **Identity and size.**  A prefix is identified by the request's model and the canonical JSON of
  its blocks *without* their `cache_control` markers (moving a marker does not change the content
  before it), and sized with `estimate_input_tokens` over that canonical JSON, the estimator the
  fake server uses for every other count.
* **Reads.**  At each breakpoint, and at each of the `lookback` block boundaries before it (the
  API checks up to 20), the longest prefix with a readable entry is the hit:
  `cache_read_input_tokens` = its size, and a read refreshes the entry's lifetime.
* **Writes.**  Every breakpoint after the hit whose prefix has at least `min_tokens` tokens
  writes its entry; the tokens between the hit (or the start) and the last such breakpoint are
  `ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens`, each segment billed at the TTL of the
  breakpoint that ends it.  A shorter prefix is silently not cached: no write, no read.
* **Readable only once the writing response has begun.**  The fake server calls the handler
  and then sleeps the reply's `delay` before it sends the status line (and, for a stream, the
  first event), and does not tell the handler when that happens.  So an entry becomes readable
  at `clock()` when the handler returns plus the reply's `delay`.  Hence concurrent cold requests
  that all arrive before the first response begins all pay the write, as with the real API.
* **Expiry.**  An entry expires `ttl_s` (5m) or `ttl_1h_s` (1h) after it was written or last read.
* `input_tokens` = the whole request's estimate minus the cached and written tokens.
  `output_tokens` is the base reply's.

Only `MessageReply`s take part: errors, resets and cut streams pass through unchanged and neither
read nor write (a request that failed is not known to have written anything).  `stats` counts
requests, writes, reads, misses (a cacheable prefix but nothing read) and requests whose
breakpoints were all too short.  The handler is thread-safe; the fake server calls it from one
thread per connection.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from agentbook.testing.fakeapi import (
    FakeRequest,
    Handler,
    MessageReply,
    Reply,
    ReplyUsage,
    estimate_input_tokens,
)

__all__ = ["CacheOutcome", "CacheStats", "CachingHandler"]

Ttl = Literal["5m", "1h"]
Section = Literal["tools", "system", "messages"]

LOOKBACK_BLOCKS: Final = 20
"""How many block boundaries before a breakpoint the API also checks for a hit."""


@dataclass(frozen=True)
class CacheStats:
    """Counts over the `MessageReply`s a `CachingHandler` answered.

    A request that read and wrote (a hit on an earlier prefix, then a write past it) counts in
    both `reads` and `writes`.  `misses`: requests with a cacheable breakpoint that read nothing.
    `too_short`: requests with breakpoints, all under `min_tokens`.
    """

    requests: int = 0
    writes: int = 0
    reads: int = 0
    misses: int = 0
    too_short: int = 0
    write_tokens: int = 0
    read_tokens: int = 0


@dataclass(frozen=True)
class CacheOutcome:
    """What the cache did for one request (`FakeRequest.index`), as reported in its usage."""

    request_index: int
    read_tokens: int
    write_5m_tokens: int
    write_1h_tokens: int
    input_tokens: int


@dataclass(frozen=True)
class _Block:
    """One cacheable unit in API order; `message` is the message index for message blocks."""

    section: Section
    index: int
    message: int | None
    ttl: Ttl | None  # None: no breakpoint on this block


@dataclass
class _Entry:
    tokens: int
    ttl_s: float
    readable_at: float
    expires_at: float


class CachingHandler:
    """Wrap `base` to report prompt-cache usage; see the module docstring for the rules.

    `min_tokens` is the model's minimum cacheable prefix, `ttl_s` / `ttl_1h_s` the lifetimes of
    5-minute and 1-hour entries, `clock` the time source in seconds (injectable for expiry
    tests; a reply's `delay` is added to it, so it must tick in seconds), `lookback` how many
    block boundaries before each breakpoint are also checked for a hit.
    """

    def __init__(
        self,
        base: Handler,
        *,
        min_tokens: int = 1024,
        ttl_s: float = 300.0,
        ttl_1h_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        lookback: int = LOOKBACK_BLOCKS,
    ) -> None:
        if min_tokens < 1:
            raise ValueError(f"min_tokens must be at least 1, not {min_tokens}")
        self.base = base
        self.min_tokens = min_tokens
        self.ttl_s = ttl_s
        self.ttl_1h_s = ttl_1h_s
        self.clock = clock
        self.lookback = lookback
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._stats = CacheStats()
        self._outcomes: list[CacheOutcome] = []

    @property
    def stats(self) -> CacheStats:
        """The counts so far (a snapshot)."""
        with self._lock:
            return self._stats

    @property
    def outcomes(self) -> list[CacheOutcome]:
        """Per request, in the order the handler answered them (a copy)."""
        with self._lock:
            return list(self._outcomes)

    def clear(self) -> None:
        """Forget every entry (the stats and outcomes stay)."""
        with self._lock:
            self._entries.clear()

    def __call__(self, request: FakeRequest) -> Reply:
        reply = self.base(request)
        if not isinstance(reply, MessageReply):
            return reply
        body = request.json
        blocks = _blocks(body)
        keys = _chain_keys(request.model or "", body, blocks)
        with self._lock:
            # Read the clock under the lock so that decisions are made in clock order.
            now = self.clock()
            outcome = self._decide(request.index, body, blocks, keys, now, now + reply.delay)
            self._outcomes.append(outcome)
        usage = ReplyUsage(
            input_tokens=outcome.input_tokens,
            output_tokens=reply.usage.output_tokens,
            cache_read_input_tokens=outcome.read_tokens,
            ephemeral_5m_input_tokens=outcome.write_5m_tokens,
            ephemeral_1h_input_tokens=outcome.write_1h_tokens,
        )
        return dataclasses.replace(reply, usage=usage)

    # ---- the cache (called with the lock held)

    def _decide(
        self,
        index: int,
        body: Mapping[str, Any],
        blocks: list[_Block],
        keys: list[str],
        now: float,
        begins_at: float,
    ) -> CacheOutcome:
        breakpoints = [i for i, b in enumerate(blocks) if b.ttl is not None]
        sizes = {i: estimate_input_tokens(_prefix_body(body, blocks, i)) for i in breakpoints}
        eligible = [i for i in breakpoints if sizes[i] >= self.min_tokens]
        hit = self._hit(breakpoints, keys, now)
        read = 0
        if hit is not None:
            entry = self._entries[keys[hit]]
            entry.expires_at = max(entry.expires_at, now + entry.ttl_s)  # a read refreshes it
            read = entry.tokens
        written = {"5m": 0, "1h": 0}
        done = read
        for i in eligible:
            if hit is not None and i <= hit:
                continue
            ttl = blocks[i].ttl or "5m"
            written[ttl] += max(0, sizes[i] - done)
            done = max(done, sizes[i])
            self._store(keys[i], sizes[i], self.ttl_1h_s if ttl == "1h" else self.ttl_s, now, begins_at)
        total = estimate_input_tokens(body)
        outcome = CacheOutcome(
            request_index=index,
            read_tokens=read,
            write_5m_tokens=written["5m"],
            write_1h_tokens=written["1h"],
            input_tokens=max(0, total - read - written["5m"] - written["1h"]),
        )
        self._count(outcome, cacheable=bool(eligible), short=bool(breakpoints) and not eligible)
        return outcome

    def _hit(self, breakpoints: list[int], keys: list[str], now: float) -> int | None:
        """The last block position, within `lookback` of a breakpoint, with a readable entry."""
        best: int | None = None
        for bp in breakpoints:
            for i in range(bp, max(-1, bp - self.lookback - 1), -1):
                entry = self._entries.get(keys[i])
                if entry is not None and entry.readable_at <= now < entry.expires_at:
                    best = i if best is None else max(best, i)
                    break  # the nearest boundary before this breakpoint is its longest prefix
        return best

    def _store(self, key: str, tokens: int, ttl_s: float, now: float, begins_at: float) -> None:
        entry = self._entries.get(key)
        if entry is not None and now < entry.expires_at:
            # A concurrent cold write of the same prefix: whichever response begins first makes
            # the entry readable, and the later expiry wins.
            entry.readable_at = min(entry.readable_at, begins_at)
            entry.expires_at = max(entry.expires_at, begins_at + ttl_s)
            entry.ttl_s = max(entry.ttl_s, ttl_s)
        else:
            self._entries[key] = _Entry(tokens, ttl_s, begins_at, begins_at + ttl_s)

    def _count(self, outcome: CacheOutcome, *, cacheable: bool, short: bool) -> None:
        s = self._stats
        wrote = outcome.write_5m_tokens + outcome.write_1h_tokens
        self._stats = CacheStats(
            requests=s.requests + 1,
            writes=s.writes + (wrote > 0),
            reads=s.reads + (outcome.read_tokens > 0),
            misses=s.misses + (cacheable and outcome.read_tokens == 0),
            too_short=s.too_short + short,
            write_tokens=s.write_tokens + wrote,
            read_tokens=s.read_tokens + outcome.read_tokens,
        )


# ---- request anatomy


def _blocks(body: Mapping[str, Any]) -> list[_Block]:
    """The request's cacheable units in the API's order: tools, system, then messages."""
    out: list[_Block] = []
    tools = body.get("tools")
    if isinstance(tools, list):
        out.extend(_Block("tools", i, None, _ttl(tool)) for i, tool in enumerate(tools))
    system = body.get("system")
    if isinstance(system, list):
        out.extend(_Block("system", i, None, _ttl(block)) for i, block in enumerate(system))
    elif system:
        out.append(_Block("system", 0, None, None))
    messages = body.get("messages")
    for m, message in enumerate(messages if isinstance(messages, list) else []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            out.extend(_Block("messages", j, m, _ttl(block)) for j, block in enumerate(content))
        else:
            out.append(_Block("messages", 0, m, None))
    return out


def _ttl(block: Any) -> Ttl | None:
    """The TTL of a block's ephemeral `cache_control`, or None when it is no breakpoint."""
    control = block.get("cache_control") if isinstance(block, dict) else None
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        return None
    return "1h" if control.get("ttl") == "1h" else "5m"


def _strip(value: Any) -> Any:
    """A block without its `cache_control` marker: markers are not part of the cached content."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "cache_control"}
    return value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _chain_keys(model: str, body: Mapping[str, Any], blocks: list[_Block]) -> list[str]:
    """`keys[i]` identifies the prefix ending at block i: a hash chained block by block, so all
    prefixes cost one pass over the request rather than one JSON dump each."""
    keys: list[str] = []
    digest = hashlib.sha256(_canonical(["model", model]).encode()).hexdigest()
    for block in blocks:
        digest = hashlib.sha256((digest + _canonical(_unit(body, block))).encode()).hexdigest()
        keys.append(digest)
    return keys


def _unit(body: Mapping[str, Any], block: _Block) -> list[Any]:
    """What one block contributes to a prefix's identity (a message's role included)."""
    if block.section == "messages":
        message = body["messages"][block.message]
        content = message.get("content") if isinstance(message, dict) else message
        part = content[block.index] if isinstance(content, list) else content
        role = message.get("role") if isinstance(message, dict) else None
        return ["messages", block.message, role, _strip(part)]
    section = body[block.section]
    part = section[block.index] if isinstance(section, list) else section
    return [block.section, _strip(part)]


def _prefix_body(body: Mapping[str, Any], blocks: list[_Block], end: int) -> dict[str, Any]:
    """The request fields holding blocks 0..end (markers stripped), for the token estimate."""
    last = blocks[end]
    out: dict[str, Any] = {}
    tools = body.get("tools")
    if isinstance(tools, list):
        count = last.index + 1 if last.section == "tools" else len(tools)
        out["tools"] = [_strip(t) for t in tools[:count]]
    if last.section == "tools":
        return out
    system = body.get("system")
    if isinstance(system, list):
        count = last.index + 1 if last.section == "system" else len(system)
        out["system"] = [_strip(b) for b in system[:count]]
    elif system:
        out["system"] = system
    if last.section == "system" or last.message is None:
        return out
    messages: list[Any] = list(body["messages"][: last.message])
    out["messages"] = [_strip_message(m) for m in messages]
    message = body["messages"][last.message]
    content = message.get("content")
    cut = [_strip(b) for b in content[: last.index + 1]] if isinstance(content, list) else content
    out["messages"].append({**message, "content": cut})
    return out


def _strip_message(message: Any) -> Any:
    if isinstance(message, dict) and isinstance(message.get("content"), list):
        return {**message, "content": [_strip(b) for b in message["content"]]}
    return message
