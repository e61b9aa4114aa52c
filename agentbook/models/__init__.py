"""Models behind one seam: `Model`, the Anthropic adapter, the offline, scripted and replay models.

Only `agentbook.models.anthropic` imports the Anthropic SDK (about a second to import), and it is
loaded on first use of `AnthropicModel`: the other models never pay for it.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import TYPE_CHECKING, Any

from agentbook.costs import ALIASES
from agentbook.models.base import Model, ModelError, TransientModelError, is_configured, resolve_model_id
from agentbook.models.offline import OfflineModel
from agentbook.models.replay import ReplayModel
from agentbook.models.scripted import ScriptedModel

if TYPE_CHECKING:
    from agentbook.models.anthropic import AnthropicModel

__all__ = [
    "ALIASES",
    "AnthropicModel",
    "Model",
    "ModelError",
    "OfflineModel",
    "ReplayModel",
    "ScriptedModel",
    "TransientModelError",
    "default_model",
    "get_model",
    "is_configured",
    "resolve_model_id",
]

log = logging.getLogger("agentbook")


def __getattr__(name: str) -> Any:
    if name == "AnthropicModel":
        return importlib.import_module("agentbook.models.anthropic").AnthropicModel
    raise AttributeError(f"module 'agentbook.models' has no attribute {name!r}")


def _anthropic(model: str) -> Model:
    from agentbook.models.anthropic import AnthropicModel  # the SDK, only when Claude is asked for

    return AnthropicModel(model)


def default_model() -> Model:
    """Claude when the SDK's variables name a key or an endpoint, else the offline model.

    The model is `$AGENTBOOK_MODEL` (an alias or an id; default `sonnet`).  Which one was chosen
    is logged and is in the returned model's `description`.
    """
    model: Model = (
        _anthropic(os.environ.get("AGENTBOOK_MODEL") or "sonnet") if is_configured() else OfflineModel()
    )
    log.info("agentbook model: %s", model.description)
    return model


def get_model(model: Model | str | None = None) -> Model:
    """A model from a `Model`, a name (`offline`, an alias or a model id) or `None` (the default)."""
    if model is None:
        return default_model()
    if isinstance(model, str):
        if model.strip().lower() == "offline":
            return OfflineModel()
        if not model.strip():
            raise ValueError("model name is empty")
        return _anthropic(model)
    if not isinstance(model, Model):
        raise TypeError(f"not a model: {model!r} (expected a Model, a model name or None)")
    return model
