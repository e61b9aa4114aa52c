"""Test support: a local fake of the Anthropic Messages API, and a prompt-caching handler for it.

The tests, the benchmarks (`bench/`) and the context-cost notebook use it to run the real
Anthropic SDK against `FakeAnthropic` (`agentbook.testing.fakeapi`), with caching emulated by
`agentbook.testing.caching.CachingHandler`.  No runtime module of agentbook imports this package,
and none may: it is test support, and may import any layer, never the other way round.
"""

from agentbook.testing.fakeapi import (
    ALL_FAULTS,
    ConnectionReset,
    ContentBlock,
    ErrorReply,
    FakeAnthropic,
    FakeRequest,
    FakeServerError,
    FaultInjector,
    FaultKind,
    Handler,
    InjectedFault,
    MessageReply,
    Reply,
    ReplyUsage,
    ReportedRateLimits,
    ScriptedHandler,
    StreamCut,
    StreamError,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    default_handler,
    estimate_input_tokens,
    estimate_output_tokens,
    faults,
)

__all__ = [
    "ALL_FAULTS",
    "ConnectionReset",
    "ContentBlock",
    "ErrorReply",
    "FakeAnthropic",
    "FakeRequest",
    "FakeServerError",
    "FaultInjector",
    "FaultKind",
    "Handler",
    "InjectedFault",
    "MessageReply",
    "Reply",
    "ReplyUsage",
    "ReportedRateLimits",
    "ScriptedHandler",
    "StreamCut",
    "StreamError",
    "TextBlock",
    "ThinkingBlock",
    "ToolUseBlock",
    "default_handler",
    "estimate_input_tokens",
    "estimate_output_tokens",
    "faults",
]
