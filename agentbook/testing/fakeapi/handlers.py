"""The plain handlers: answer "ok" to everything, or play a script of replies in order.

`FakeAnthropic` falls back to `default_handler`; tests that need a conversation turn by turn
give it a `ScriptedHandler`; `injection.faults` wraps either.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from agentbook.testing.fakeapi.replies import REPLY_TYPES, ErrorReply, Handler, MessageReply, Reply
from agentbook.testing.fakeapi.request import FakeRequest

__all__ = ["ScriptedHandler", "default_handler"]


def default_handler(request: FakeRequest) -> Reply:
    """Answer every request with the text "ok" and estimated usage."""
    return MessageReply("ok")


class ScriptedHandler:
    """Play scripted replies in order, one per `/v1/messages` request.

    An item may be a `Reply` or a handler, which is called with the request (to compute a
    reply from it).  When the queue is empty the request gets a 500 `api_error` whose message
    says the script ran out.  Thread-safe.
    """

    def __init__(self, replies: Iterable[Reply | Handler] = ()) -> None:
        self._lock = threading.Lock()
        self._queue: list[Reply | Handler] = list(replies)
        self._served = 0

    def push(self, *replies: Reply | Handler) -> None:
        """Append replies to the end of the script."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def remaining(self) -> int:
        """How many scripted items have not been used yet."""
        with self._lock:
            return len(self._queue)

    def __call__(self, request: FakeRequest) -> Reply:
        with self._lock:
            if not self._queue:
                return ErrorReply(
                    500,
                    "api_error",
                    f"ScriptedHandler ran out of replies: request #{request.index} came after all "
                    f"{self._served} scripted replies were used",
                )
            item = self._queue.pop(0)
            self._served += 1
        return item if isinstance(item, REPLY_TYPES) else item(request)
