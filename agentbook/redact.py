"""Keep secrets out of everything agentbook writes or shows.

Values of credential-like environment variables (the Anthropic key above all) are replaced by
`[REDACTED]` wherever they would appear: transcripts, frames, tool output shown to users.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

__all__ = ["REDACTED", "redact", "safe_env", "secret_values"]

REDACTED = "[REDACTED]"
_SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
_MIN_SECRET_LENGTH = 8  # shorter values would blank out ordinary words


def secret_values(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of credential-like variables in `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET_LENGTH}
    return tuple(sorted(values, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...] | None = None) -> str:
    """`text` with every secret value replaced by `[REDACTED]`."""
    for value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def safe_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`environ` without credential-like variables: what an agent's shell may see."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if not _SECRET_NAME.search(k) and not k.startswith("ANTHROPIC_")}
