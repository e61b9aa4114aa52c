"""The batch lane in a run: each agent's model on its lane, and its batch's progress as events.

A task's `lane` (else the run's) decides whether its agent's requests go through the Message
Batches API (`agentbook.models.lanes`).  While a request waits in a batch, the adapter reports the
batch's counts through `agentbook.models.lanes.batch_progress`; `BatchProgressHook` (a request
hook) sets that for its agent and turns each report into a `BatchQueued` event, which the
agent's record shows as `queued in batch (n processing, m succeeded)` until the answer comes.
"""

from __future__ import annotations

from collections.abc import Mapping

from agentbook.agent.gates import RequestOutcome
from agentbook.events import BatchQueued, Listener
from agentbook.messages import Request
from agentbook.models import Model, get_model
from agentbook.models.batch_lane import with_lane
from agentbook.models.lanes import BatchLane, Lane, batch_progress, is_batch
from agentbook.specs import Task

__all__ = ["BatchProgressHook", "lane_model", "lane_of"]


def lane_of(task: Task, run_lane: Lane) -> Lane:
    """`task`'s lane: its own, else the run's; a task's `"batch"` takes the run's `BatchLane`
    timings when the run has them."""
    if task.lane is None or (task.lane == "batch" and isinstance(run_lane, BatchLane)):
        return run_lane
    return "batch" if task.lane == "batch" else "standard"


def lane_model(
    models: dict[tuple[str | None, bool], Model], key: str | None, lane: Lane, default: Model | str | None
) -> Model:
    """The model named `key` (`None`: the run's `default`) on `lane`, from `models`, where each is
    made once per run: one standard model per name, and one batch collector per name."""
    batch = is_batch(lane)
    if (key, False) not in models:
        models[key, False] = get_model(key if key is not None else default)
    if (key, batch) not in models:
        models[key, batch] = with_lane(models[key, False], lane)
    return models[key, batch]


class BatchProgressHook:
    """Reports the batch an agent's request waits in as `BatchQueued` events (see above)."""

    def __init__(self, emit: Listener) -> None:
        self.emit = emit

    def _report(self, agent: str, batch_id: str, counts: Mapping[str, int]) -> None:
        self.emit(BatchQueued(agent=agent, batch_id=batch_id, counts=dict(counts)))

    async def before_request(self, agent: str, request: Request) -> None:
        batch_progress.set(lambda batch_id, counts: self._report(agent, batch_id, counts))

    async def after_request(self, agent: str, outcome: RequestOutcome) -> None:
        return None
