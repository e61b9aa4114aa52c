"""Attacks on 429 handling, the rate gate's pauses and probe, and the raw `client.post` path.

Nine of them found bugs (an OverflowError after 1,024 rate-limited attempts, bare 429s retried at
full speed, a negative or NaN retry-after killing the agent, a far reset or a skewed clock
freezing the fleet, one stray 429 collapsing the learned rate, 429s unbounded without a deadline,
a non-JSON or garbled 200 escaping as a harness error); they pass since the fixes.  The others
held from the start.  Nothing here touches the network: the
model adapter talks to `FakeAnthropic` on 127.0.0.1 or to an in-process `httpx2.MockTransport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import anthropic
import httpx2
import pytest

from agentbook.agent.gates import RequestOutcome, ask
from agentbook.messages import Message, Request, Response, Text, Usage
from agentbook.models import AnthropicModel, ModelError, TransientModelError
from agentbook.models.anthropic import _may_take_long
from agentbook.models.retry import RetryPolicy
from agentbook.scheduler.gating import RateGateHook
from agentbook.scheduler.ratelimit import RateGate, RateLimits, reset_gates
from agentbook.testing import ErrorReply, FakeAnthropic, MessageReply, ScriptedHandler
from tests.test_ratelimit import T0, FakeTime

KEY = "sk-ant-attack12-0123456789abcdefSECRET"
REQUEST = Request(system="Be brief.", messages=(Message.user("hi"),), max_tokens=100)


@pytest.fixture(autouse=True)
def _fresh_registry() -> None:
    reset_gates()


def ok_response(headers: dict[str, str] | None = None) -> Response:
    return Response("msg_1", "m", (Text("ok"),), "end_turn", Usage(input_tokens=1, output_tokens=1),
                    rate_limits=headers or {})  # fmt: skip


def rate_limited(
    retry_after: float | None = None, headers: dict[str, str] | None = None
) -> TransientModelError:
    return TransientModelError("rate limited", status=429, retry_after=retry_after, rate_limits=headers)


class Always429:
    """A model that answers every request with the same 429, counting the attempts."""

    name = "always-429"
    description = "always 429"

    def __init__(self, error: Callable[[], TransientModelError]) -> None:
        self.error = error
        self.calls = 0

    async def respond(self, request: Request) -> Response:
        self.calls += 1
        await asyncio.sleep(0)
        raise self.error()

    async def aclose(self) -> None:
        return None


class Slow429(Always429):
    def __init__(self) -> None:
        super().__init__(lambda: rate_limited())

    async def respond(self, request: Request) -> Response:
        await asyncio.sleep(0.005)
        return await super().respond(request)


class FailThenOk:
    """Raises each of `errors` in turn, then answers."""

    name = "fail-then-ok"
    description = "fail then ok"

    def __init__(self, *errors: ModelError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def respond(self, request: Request) -> Response:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return ok_response()

    async def aclose(self) -> None:
        return None


def noop(event: object) -> None:
    return None


# ---------------------------------------------------------------------------------------------
# 1. RetryPolicy: a 429 storm must end.


def test_429_storm_ends_at_the_deadline_when_max_attempts_is_none() -> None:
    # Held: with max_attempts=None the deadline bounds an endless 429 storm.
    policy = RetryPolicy(max_attempts=None, deadline_s=0.3, base_s=0.01, cap_s=0.01)
    model = Always429(lambda: rate_limited())
    started = time.monotonic()
    with pytest.raises(ModelError, match="gave up"):
        asyncio.run(ask("a", model, REQUEST, policy, [], noop))
    assert time.monotonic() - started < 2.0
    assert model.calls > 3


def test_429_storm_with_no_deadline_is_still_bounded() -> None:
    policy = RetryPolicy(deadline_s=None, base_s=0.0, cap_s=0.0)
    # 1,000 429s in a row, a day after the first attempt: still retried.
    assert policy.wait_after(1_000, rate_limited(), 86_400.0, rate_limited=1_000) is None


@pytest.mark.parametrize("base_s", [0.5, 0.0])
def test_a_long_429_storm_does_not_overflow_the_backoff(base_s: float) -> None:
    policy = RetryPolicy(max_attempts=None, deadline_s=600.0, base_s=base_s)
    wait = policy.wait_after(1_100, rate_limited(), 100.0, rate_limited=1_100)
    assert wait is not None and 0.0 <= wait <= policy.cap_s


def test_ask_in_a_long_429_storm_backs_off_and_ends_with_a_model_error() -> None:
    # Bare 429s through a gate that knows a request limit (so it learns nothing from them): the
    # agent backs off on its own instead of the hook making every wait 0 s (which reached
    # attempt 1,025 and an OverflowError within a second).
    gate = RateGate(RateLimits(requests_per_minute=100_000))
    policy = RetryPolicy(max_attempts=None)  # the SDK's backoff, the default 600 s deadline
    model = Always429(lambda: rate_limited())

    async def storm() -> None:
        with contextlib.suppress(ModelError, TimeoutError):  # either is fine: an OverflowError is not
            await asyncio.wait_for(ask("a", model, REQUEST, policy, [RateGateHook(gate)], noop), 3)

    asyncio.run(storm())
    assert 1 < model.calls < 100


def test_ask_gives_up_on_an_endless_429_storm_without_deadline() -> None:
    policy = RetryPolicy(deadline_s=None, base_s=0.0, cap_s=0.0)
    model = Slow429()  # slow enough never to reach attempt 1024 (see the overflow tests)

    async def bounded() -> None:
        await asyncio.wait_for(ask("a", model, REQUEST, policy, [], noop), timeout=1.0)

    with pytest.raises(ModelError):  # a TimeoutError here means it would have looped forever
        asyncio.run(bounded())


def test_cancelling_an_agent_in_a_429_storm_is_prompt() -> None:
    # Held: a cancel lands within the retry sleep / the gate's wait.
    policy = RetryPolicy(max_attempts=None, deadline_s=600.0, base_s=5.0, cap_s=5.0)
    gate = RateGate()
    model = Always429(lambda: rate_limited(retry_after=30.0))

    async def main() -> float:
        task = asyncio.create_task(ask("a", model, REQUEST, policy, [RateGateHook(gate)], noop))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(main()) < 0.5


# ---------------------------------------------------------------------------------------------
# 2. A hook's shorter wait.


class Shorten:
    def __init__(self, value: float) -> None:
        self.value = value

    async def before_request(self, agent: str, request: Request) -> None:
        return None

    async def after_request(self, agent: str, outcome: RequestOutcome) -> float | None:
        return self.value


@pytest.mark.parametrize("value", [-5.0, math.nan, math.inf, -math.inf, 0.0])
def test_a_hook_returning_a_strange_wait_never_breaks_the_retry(value: float) -> None:
    # Held: negative, NaN and infinite "shorter waits" are clamped into [0, the policy's wait].
    model = FailThenOk(TransientModelError("overloaded", status=529))
    waits: list[float] = []

    def emit(event: Any) -> None:
        waits.append(event.wait_s)

    policy = RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.01)
    got = asyncio.run(asyncio.wait_for(ask("a", model, REQUEST, policy, [Shorten(value)], emit), 5))
    assert got.content == (Text("ok"),)
    assert len(waits) == 1 and 0.0 <= waits[0] <= 0.01 and not math.isnan(waits[0])


# ---------------------------------------------------------------------------------------------
# 3. Bad retry-after values, end to end through the adapter and the gate hook.


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(ScriptedHandler(), api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield fake


SPENT = "anthropic-ratelimit-requests-remaining"


def test_a_malformed_retry_after_with_room_shown_is_harmless(server: FakeAnthropic) -> None:
    # Held: when the 429's headers show room everywhere, pause_for returns before the bad value.
    assert isinstance(server.handler, ScriptedHandler)
    server.handler.push(ErrorReply(429, headers={"retry-after": "-1"}), MessageReply("ok"))
    got = ask_through_gate(
        AnthropicModel("sonnet"), RateGate(), RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.01)
    )
    assert got.content == (Text("ok"),)


def ask_through_gate(model: AnthropicModel, gate: RateGate, policy: RetryPolicy) -> Response:
    async def once() -> Response:
        try:
            return await asyncio.wait_for(ask("a", model, REQUEST, policy, [RateGateHook(gate)], noop), 10)
        finally:
            await model.aclose()

    return asyncio.run(once())


@pytest.mark.parametrize("header", ["retry-after", "retry-after-ms"])
@pytest.mark.parametrize("value", ["-1", "nan"])
def test_a_malformed_retry_after_does_not_kill_the_agent(
    server: FakeAnthropic, header: str, value: str
) -> None:
    assert isinstance(server.handler, ScriptedHandler)
    # A real limit: the 429's headers say the requests are spent (with room shown, no pause is tried).
    server.handler.push(ErrorReply(429, headers={header: value, SPENT: "0"}), MessageReply("ok"))
    policy = RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.01)
    got = ask_through_gate(AnthropicModel("sonnet"), RateGate(), policy)
    assert got.content == (Text("ok"),)


def test_an_infinite_retry_after_is_treated_like_a_missing_one(server: FakeAnthropic) -> None:
    assert isinstance(server.handler, ScriptedHandler)
    server.handler.push(ErrorReply(429, headers={"retry-after": "inf", SPENT: "0"}), MessageReply("ok"))
    policy = RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.01)
    got = ask_through_gate(AnthropicModel("sonnet"), RateGate(), policy)
    assert got.content == (Text("ok"),)


def test_a_sane_retry_after_pauses_and_then_succeeds(server: FakeAnthropic) -> None:
    # Held (control for the tests above).
    assert isinstance(server.handler, ScriptedHandler)
    server.handler.push(ErrorReply(429, retry_after=0.05, headers={SPENT: "0"}), MessageReply("ok"))
    gate = RateGate()
    got = ask_through_gate(
        AnthropicModel("sonnet"), gate, RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.01)
    )
    assert got.content == (Text("ok"),) and gate.stats.pauses == 1


# ---------------------------------------------------------------------------------------------
# 4. pause_for and reset times.


def spent(
    fake: FakeTime, reset_in_s: float | None = None, *, reset: str | None = None
) -> TransientModelError:
    headers = {"requests-remaining": "0"}
    if reset_in_s is not None:
        headers["requests-reset"] = (fake.wall() + timedelta(seconds=reset_in_s)).isoformat()
    if reset is not None:
        headers["requests-reset"] = reset
    return rate_limited(headers=headers)


def paused_for(fake: FakeTime, gate: RateGate) -> float:
    """Virtual seconds until a fresh acquire is admitted."""

    async def main() -> float:
        started = fake.now
        await gate.acquire(1, 1)
        return fake.now - started

    return fake.run(main())


def test_pause_for_a_reset_a_few_seconds_ahead() -> None:
    # Held: a 429 whose headers say the request limit is spent until a reset 7 s ahead holds the
    # fleet 7 s.
    fake = FakeTime()
    gate = fake.gate()
    assert gate.pause_for(spent(fake, 7.0))
    assert paused_for(fake, gate) == pytest.approx(7.0)


@pytest.mark.parametrize("reset", ["not a date", "", "2025-13-45T99:99:99Z"])
def test_pause_for_a_malformed_reset_does_not_pause(reset: str) -> None:
    fake = FakeTime()
    gate = fake.gate()
    assert not gate.pause_for(spent(fake, reset=reset))
    assert paused_for(fake, gate) == 0.0


def test_pause_for_a_reset_in_the_past_does_not_pause() -> None:
    fake = FakeTime()
    gate = fake.gate()
    assert not gate.pause_for(spent(fake, -30.0))
    assert paused_for(fake, gate) == 0.0


@pytest.mark.parametrize("ahead_s", [3 * 3600.0, 10 * 365 * 86400.0])
def test_one_bad_reset_header_does_not_freeze_the_fleet_for_hours(ahead_s: float) -> None:
    fake = FakeTime()
    gate = fake.gate()
    gate.pause_for(spent(fake, ahead_s))
    # At most a minute (plus the reset's 1 s rounding): what a per-minute limit can need.
    assert paused_for(fake, gate) <= 61.0


def test_clock_skew_does_not_stretch_a_reset_pause() -> None:
    fake = FakeTime()
    gate = fake.gate()
    gate.pause_for(spent(fake, 120.0 + 3.0))  # server clock = ours + 120 s
    assert paused_for(fake, gate) <= 61.0


# ---------------------------------------------------------------------------------------------
# 5. Bare 429s when the gate knows a request limit: no backoff at all.


@pytest.mark.parametrize("source", ["headers", "configured"])
def test_a_bare_429_storm_is_not_retried_at_full_speed(source: str) -> None:
    limits = RateLimits(requests_per_minute=4000) if source == "configured" else None
    gate = RateGate(limits)
    room = {"requests-limit": "4000", "requests-remaining": "3999"}
    if source == "headers":
        gate.learn(room)
    model = Always429(lambda: rate_limited(headers=room if source == "headers" else None))
    policy = RetryPolicy(max_attempts=None, deadline_s=0.3, base_s=0.02, cap_s=0.02)
    started = time.monotonic()
    # (Past attempt 1024 today's backoff also overflows: see the overflow tests.)
    with pytest.raises((ModelError, OverflowError)):
        asyncio.run(asyncio.wait_for(ask("a", model, REQUEST, policy, [RateGateHook(gate)], noop), 10))
    took = time.monotonic() - started
    # The policy's own backoff would allow about 0.3 / 0.01 = 30; allow three times that.
    assert model.calls < 100, f"{model.calls} requests in {took:.2f} s"


def test_a_bare_429_with_no_limit_known_backs_off() -> None:
    # Held: with no limit known and nothing learned (no success yet), the policy's backoff spaces it.
    gate = RateGate()
    model = Always429(lambda: rate_limited())
    policy = RetryPolicy(max_attempts=None, deadline_s=0.3, base_s=0.02, cap_s=0.02)
    with pytest.raises(ModelError):
        asyncio.run(asyncio.wait_for(ask("a", model, REQUEST, policy, [RateGateHook(gate)], noop), 10))
    assert model.calls < 100


# ---------------------------------------------------------------------------------------------
# 6. The probe: one 429 after a quiet spell.


def makespan_after(gate: RateGate, fake: FakeTime, *, agents: int, requests: int) -> float:
    """Virtual seconds for `agents` workers to make `requests` requests in all through `gate`,
    against a server with no limit that answers at once."""
    left = [requests]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            admitted = await gate.acquire(1, 1)
            await fake.sleep(0.5)  # the round trip
            gate.settle(1, ok_response(), reserved_input_tokens=1, admitted_at=admitted)

    async def main() -> float:
        started = fake.now
        await asyncio.gather(*(worker() for _ in range(agents)))
        return fake.now - started

    return fake.run(main())


def test_without_a_refusal_the_fleet_is_latency_bound() -> None:
    fake = FakeTime()
    gate = fake.gate()
    assert makespan_after(gate, fake, agents=20, requests=200) == pytest.approx(5.0)


def test_one_transient_429_after_a_quiet_minute_does_not_collapse_the_fleet() -> None:
    fake = FakeTime()
    gate = fake.gate()

    async def quiet_minute() -> None:
        admitted = await gate.acquire(1, 1)
        gate.settle(1, ok_response(), admitted_at=admitted)
        await fake.sleep(59.0)
        gate.refused()  # a transient 429 (a sibling process on the key, a blip)

    fake.run(quiet_minute())
    rpm = gate.probed_rpm  # nothing admitted since the 429 got through: nothing learned
    took = makespan_after(gate, fake, agents=20, requests=200)
    assert took < 30.0, f"learned {rpm} rpm; 200 requests took {took:.0f} virtual s (5 s without the 429)"


def test_probe_tracks_a_steady_limit() -> None:
    # Held: under a real sustained limit with refusals, the probe learns about the measured rate.
    fake = FakeTime()
    gate = fake.gate()

    async def main() -> None:
        gate.refused()  # the first refusal: from here on the server is asked for more than it lets in
        for _ in range(30):  # 30 successes spaced 1 s apart, then a refusal
            admitted = await gate.acquire(1, 1)
            gate.settle(1, ok_response(), admitted_at=admitted)
            await fake.sleep(1.0)
        gate.refused()

    fake.run(main())
    assert gate.probed_rpm is not None and 40 <= gate.probed_rpm <= 80


# ---------------------------------------------------------------------------------------------
# 7. The non-streamed client.post path: every HTTP answer maps to an agentbook error.


def mock_model(reply: Callable[[httpx2.Request], httpx2.Response], **kwargs: Any) -> AnthropicModel:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(reply))
    client = anthropic.AsyncAnthropic(
        api_key=KEY, base_url="http://127.0.0.1:9", http_client=http, max_retries=0
    )
    return AnthropicModel("sonnet", client=client, **kwargs)


def respond(model: AnthropicModel) -> Response:
    async def once() -> Response:
        return await asyncio.wait_for(model.respond(REQUEST), 10)

    return asyncio.run(once())


def json_reply(
    status: int, body: object, headers: dict[str, str] | None = None
) -> Callable[[httpx2.Request], httpx2.Response]:
    def reply(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=json.dumps(body).encode(),
                               headers={"content-type": "application/json", **(headers or {})})  # fmt: skip

    return reply


def error_body(kind: str, message: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_x"}


@pytest.mark.parametrize(
    ("status", "kind", "transient"),
    [
        (400, "invalid_request_error", False),
        (401, "authentication_error", False),
        (403, "permission_error", False),
        (404, "not_found_error", False),
        (413, "request_too_large", False),
        (429, "rate_limit_error", True),
        (500, "api_error", True),
        (529, "overloaded_error", True),
    ],
)
def test_http_errors_map_to_agentbook_errors(status: int, kind: str, transient: bool) -> None:
    # Held.
    model = mock_model(json_reply(status, error_body(kind, "nope"), {"retry-after": "2"}))
    with pytest.raises(ModelError) as caught:
        respond(model)
    assert isinstance(caught.value, TransientModelError) is transient
    assert caught.value.status == status and kind in str(caught.value)
    if transient:
        assert caught.value.retry_after == 2.0  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [401, 413, 502])
def test_a_proxys_html_error_page_maps_to_an_error(status: int) -> None:
    # Held: a non-JSON error body (a proxy's page) still becomes a ModelError of the right kind.
    def reply(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            status, content=b"<html><body>nginx</body></html>", headers={"content-type": "text/html"}
        )

    with pytest.raises(ModelError) as caught:
        respond(mock_model(reply))
    assert caught.value.status == status
    assert isinstance(caught.value, TransientModelError) is (status == 502)


def test_the_api_key_never_appears_in_error_text() -> None:
    # Held: the key is sent as a header only; the 401's text is the server's message.
    seen: list[str] = []

    def reply(request: httpx2.Request) -> httpx2.Response:
        seen.append(
            request.headers.get("x-api-key")
            or request.headers.get("authorization", "").removeprefix("Bearer ")
        )
        return json_reply(401, error_body("authentication_error", "invalid x-api-key"))(request)

    with pytest.raises(ModelError) as caught:
        respond(mock_model(reply))
    assert seen == [KEY]
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)
    assert KEY[-12:] not in str(caught.value)


@pytest.mark.parametrize("body", [b"<html>proxy login</html>", b"", b'{"id": "msg_1", "content": ['])
def test_a_non_json_200_is_a_model_error(body: bytes) -> None:
    def reply(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "text/html"})

    with pytest.raises(ModelError):
        respond(mock_model(reply))


@pytest.mark.parametrize(
    "body",
    [
        [],
        None,
        "a string",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        {"id": "msg_1", "model": "m", "content": "not a list of blocks"},
        {"id": "msg_1", "model": "m", "content": [{"type": "text"}]},
        {"id": "msg_1", "content": []},
    ],
)
def test_a_200_whose_json_is_not_a_message_is_a_model_error(body: object) -> None:
    # Held: every shape that is not a message becomes "the API's answer is not a message".
    with pytest.raises(ModelError, match="not a message"):
        respond(mock_model(json_reply(200, body)))


def test_a_message_with_garbage_usage_is_a_model_error() -> None:
    body = {"id": "msg_1", "model": "m", "content": [], "usage": {"input_tokens": "lots"}}
    with pytest.raises(ModelError):
        respond(mock_model(json_reply(200, body)))


def test_a_200_message_round_trips_with_rate_headers() -> None:
    # Held: the raw path keeps the request id and the rate-limit headers.
    body = {
        "id": "msg_1",
        "model": "m",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    headers = {"request-id": "req_42", "anthropic-ratelimit-requests-limit": "50"}
    got = respond(mock_model(json_reply(200, body, headers)))
    assert got.request_id == "req_42" and got.rate_limits == {"requests-limit": "50"}
    assert (got.usage.input_tokens, got.usage.output_tokens) == (3, 2)


# ---------------------------------------------------------------------------------------------
# 8. stream="auto".


@pytest.mark.parametrize(
    ("model", "max_tokens", "streams"),
    [
        ("sonnet", 21_333, False),
        ("sonnet", 21_334, True),
        ("claude-opus-4-0", 8_192, False),
        ("claude-opus-4-0", 8_193, True),
        ("claude-opus-4-20250514", 8_193, True),
        ("  claude-opus-4-0  ", 8_193, True),
    ],
)
def test_stream_auto_follows_the_sdks_rule(model: str, max_tokens: int, streams: bool) -> None:
    # Held: aliases and padded ids are resolved before the SDK's per-model limits are looked up.
    name = AnthropicModel(model).name
    assert _may_take_long(name, max_tokens) is streams


def test_stream_auto_sends_what_it_decided(server: FakeAnthropic) -> None:
    # Held: auto streams a long answer and posts a short one.
    assert isinstance(server.handler, ScriptedHandler)
    server.handler.push(MessageReply("short"), MessageReply("long"))

    async def both() -> None:
        model = AnthropicModel("sonnet")
        try:
            await model.respond(REQUEST)
            await model.respond(Request(system="s", messages=(Message.user("hi"),), max_tokens=30_000))
        finally:
            await model.aclose()

    asyncio.run(both())
    assert [r.stream for r in server.message_requests] == [False, True]


# ---------------------------------------------------------------------------------------------
# 9. The probe's clock: acquire returns the admission time on the gate's clock.


def test_acquire_returns_the_gates_clock() -> None:
    fake = FakeTime()
    gate = fake.gate(RateLimits(requests_per_minute=60))

    async def main() -> list[float]:
        return [await gate.acquire(1, 0) - T0 for _ in range(3)]

    assert fake.run(main()) == pytest.approx([0.0, 0.0, 0.0])  # a full bucket: three at once
