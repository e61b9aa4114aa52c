"""agentbook.prose: JSON found in a model's prose answer, whatever wraps it."""

from __future__ import annotations

from typing import Any

import pytest

from agentbook.prose import json_in_prose


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('  \n{"a": [1, 2]}\n ', {"a": [1, 2]}),
        ("[1, 2]", [1, 2]),
        ('Here it is:\n```json\n{"a": 1}\n```\nDone.', {"a": 1}),
        ('```\n{"a": 1}\n```', {"a": 1}),
        ('```JSON\n{"a": 1}\n```', {"a": 1}),
        ('```python\nnot json\n```\nthen\n```json\n{"b": 2}\n```', {"b": 2}),
        ('I think {"a": {"b": 1}} because of this.', {"a": {"b": 1}}),
        ("```json\n[3]\n```", [3]),
    ],
)
def test_finds_json(text: str, expected: Any) -> None:
    assert json_in_prose(text) == expected


@pytest.mark.parametrize("text", ["", "no json here", "{ not closed", "} backwards {", "```json\n{bad}\n```"])
def test_none_when_there_is_none(text: str) -> None:
    assert json_in_prose(text) is None


def test_the_whole_text_comes_before_a_fence_inside_it() -> None:
    # A JSON string that contains a fence is one value, not a fence to look into.
    assert json_in_prose('"```json\\n{}\\n```"') == "```json\n{}\n```"
