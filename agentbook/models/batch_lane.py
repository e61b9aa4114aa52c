"""Putting a model on a lane: whether it can take the batch lane, and the model that sends its
requests through the Message Batches API (`agentbook.models.anthropic_batches`).  Apart from
`agentbook.models.lanes` (the options, which the batch adapter itself reads), so that the two
import one way; the SDK is imported only when a batch lane is asked for."""

from __future__ import annotations

from agentbook.models.base import Model
from agentbook.models.lanes import BatchLane, Lane, is_batch

__all__ = ["has_batches", "with_lane"]


def has_batches(model: Model) -> bool:
    """Whether `model` can take the batch lane: the Anthropic API's model (batched already, too)."""
    adapters = ("agentbook.models.anthropic", "agentbook.models.anthropic_batches")
    if not any(kind.__module__ in adapters for kind in type(model).__mro__):
        return False  # without importing the SDK for a model that cannot be it
    from agentbook.models.anthropic import AnthropicModel
    from agentbook.models.anthropic_batches import BatchedModel

    return isinstance(model, AnthropicModel | BatchedModel)


def with_lane(model: Model, lane: Lane) -> Model:
    """`model` itself on the standard lane; on the batch lane, `model` with its requests sent
    through the Message Batches API (`ValueError` for a model that is not the Anthropic API's)."""
    if not is_batch(lane):
        return model
    from agentbook.models.anthropic import AnthropicModel  # the SDK, only when a batch is asked for
    from agentbook.models.anthropic_batches import BatchedModel

    if isinstance(model, BatchedModel):
        return model
    if not isinstance(model, AnthropicModel):
        raise ValueError(
            f"lane='batch' needs the Anthropic API (an AnthropicModel); {model.description} "
            "has no Message Batches"
        )
    return BatchedModel(model, lane if isinstance(lane, BatchLane) else BatchLane())
