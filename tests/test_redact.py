"""Redaction matches a secret in the forms repr and JSON give it, and leaves other text alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentbook.events import utcnow
from agentbook.redact import REDACTED, redact, redact_data, secret_forms
from agentbook.scheduler.transcripts import TranscriptWriter, dumps

ODD = ["abc\\def'ghi-123456", 'pa"ss\\word-12345', "tab\there-12345", "both'and\"quotes-1"]


@pytest.mark.parametrize("secret", ODD)
def test_repr_and_json_forms_are_redacted(secret: str) -> None:
    error = repr(RuntimeError(f'it\'s "bad": {secret}'))
    forms = (secret, error, json.dumps(secret), json.dumps(error), json.dumps(secret, ensure_ascii=False))
    for text in forms:
        out = redact(text, (secret,))
        assert REDACTED in out
        assert "123456" not in out and "12345" not in out and "quotes-1" not in out


def test_a_plain_secret_has_one_form_and_other_text_is_unchanged() -> None:
    assert secret_forms(("sk-plain-1234567890",)) == ("sk-plain-1234567890",)
    assert redact('a "quoted" \\ text', ("sk-plain-1234567890",)) == 'a "quoted" \\ text'


def test_redact_data_walks_keys_values_and_lists() -> None:
    data = {"k": ["x sk-plain-1234567890 y", 3, None], "sk-plain-1234567890": {"n": 1.5}}
    expected = {"k": ["x [REDACTED] y", 3, None], REDACTED: {"n": 1.5}}
    assert redact_data(data, ("sk-plain-1234567890",)) == expected


def test_transcript_lines_stay_json_and_unchanged_without_secrets(tmp_path: Path) -> None:
    secret = 'pa"ss\\word-12345'
    writer = TranscriptWriter(tmp_path / "t.jsonl", session_id="s", agent_id="a1", secrets=(secret,))
    writer.write("user", utcnow(), message={"role": "user", "content": 'no "secret" \\ here'})
    writer.write("user", utcnow(), message={"role": "user", "content": f"key {secret}\n"})
    writer.close()
    plain, hidden = (tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()
    assert dumps(json.loads(plain)) == plain
    assert json.loads(hidden)["message"]["content"] == f"key {REDACTED}\n"
