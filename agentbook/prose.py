"""JSON out of a model's prose: the one extractor for answers that should be JSON but may not be.

Models asked for "JSON only" still wrap it in a sentence or a Markdown code fence.  The plan's
dependency analysis (`agentbook.plans.dependencies`) and the batch's research step
(`agentbook.batches`) both read such answers through `json_in_prose`; each checks the shape of
what it gets itself, and quotes the answer when it is wrong.  A value module: it imports nothing
from agentbook.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["json_in_prose"]

# A Markdown code fence with any info string (`json`, `JSON`, `jsonc`, none); its body is lazy, so
# two fences in one answer are two candidates.
_FENCE = re.compile(r"```[\w-]*[ \t]*\n?(.*?)```", re.DOTALL)


def json_in_prose(text: str) -> Any:
    """The first JSON value found in `text`, or `None` when there is none.

    Tried in this order: the whole text; each fenced code block, in order; the span from the first
    `{` to the last `}` (an object inside a sentence).  The value may be of any JSON type: callers
    check it is the object or array they asked for.
    """
    candidates = [text.strip(), *(body.strip() for body in _FENCE.findall(text))]
    first, last = text.find("{"), text.rfind("}")
    if 0 <= first < last:
        candidates.append(text[first : last + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    return None
