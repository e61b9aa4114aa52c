"""Keep secrets out of everything agentbook writes or shows.

Values of credential-like environment variables (the Anthropic key above all) are replaced by
`[REDACTED]` wherever they would appear: transcripts, frames, tool output shown to users.
A value is also matched in the forms `repr` and JSON give it (quotes, backslashes and control
characters escaped, once or twice), since errors are often kept as `repr(exc)` and files as JSON.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "redact", "redact_data", "safe_env", "secret_forms", "secret_values"]

REDACTED = "[REDACTED]"
_SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
_MIN_SECRET_LENGTH = 8  # shorter values would blank out ordinary words


def secret_values(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of credential-like variables in `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET_LENGTH}
    return tuple(sorted(values, key=len, reverse=True))


@functools.lru_cache(maxsize=64)
def secret_forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """Each of `secrets` as it is, as `repr` writes it, and JSON-escaped (of both): longest first.

    For a value without quotes, backslashes or control characters these are all the value
    itself, so matching them costs no more than matching the values."""
    forms: set[str] = set()
    for value in secrets:
        # repr picks its quotes from the whole text around the value: both ways.
        plain = {value, repr(value)[1:-1], repr("'" + value + '"')[3:-2]}
        forms |= plain
        for form in plain:
            forms.add(json.dumps(form, ensure_ascii=False)[1:-1])
            forms.add(json.dumps(form)[1:-1])
    return tuple(sorted(forms, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...] | None = None) -> str:
    """`text` with every secret value (in any of its `secret_forms`) replaced by `[REDACTED]`."""
    for value in secret_forms(secret_values() if secrets is None else secrets):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_data(data: Any, secrets: tuple[str, ...] | None = None) -> Any:
    """JSON-like `data` (dicts, lists, strings, numbers) with every string, keys too, redacted."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, dict):
        return {redact_data(k, secrets): redact_data(v, secrets) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v, secrets) for v in data]
    return data


def safe_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`environ` without credential-like variables: what an agent's shell may see."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if not _SECRET_NAME.search(k) and not k.startswith("ANTHROPIC_")}
