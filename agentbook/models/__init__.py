"""Models behind one seam: `Model`, the Anthropic adapter, the offline model and the scripted one."""

from __future__ import annotations

import logging
import os

from agentbook.costs import ALIASES
from agentbook.models.anthropic import AnthropicModel, is_configured, resolve_model_id
from agentbook.models.base import Model, ModelError, TransientModelError
from agentbook.models.offline import OfflineModel
from agentbook.models.scripted import ScriptedModel

__all__ = [
    "ALIASES",
    "AnthropicModel",
    "Model",
    "ModelError",
    "OfflineModel",
    "ScriptedModel",
    "TransientModelError",
    "default_model",
    "get_model",
    "resolve_model_id",
]

log = logging.getLogger("agentbook")


def default_model() -> Model:
    """Claude when the SDK's variables name a key or an endpoint, else the offline model.

    The model is `$AGENTBOOK_MODEL` (an alias or an id; default `sonnet`).  Which one was chosen
    is logged and is in the returned model's `description`.
    """
    model: Model
    if is_configured():
        model = AnthropicModel(os.environ.get("AGENTBOOK_MODEL") or "sonnet")
    else:
        model = OfflineModel()
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
        return AnthropicModel(model)
    if not isinstance(model, Model):
        raise TypeError(f"not a model: {model!r} (expected a Model, a model name or None)")
    return model
