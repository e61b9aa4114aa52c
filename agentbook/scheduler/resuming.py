"""What an ended agent resumes from, and whether it can: `Run.resume` (the user) and the `Agent`
tool's `resume` (a coordinator continuing a child) both ask here."""

from __future__ import annotations

from collections.abc import Mapping

from agentbook.agent.recovery import settle_interrupted
from agentbook.messages import Message
from agentbook.scheduler.isolation import Isolation
from agentbook.scheduler.records import ENDED, AgentRecord
from agentbook.scheduler.transcript_locks import being_written
from agentbook.scheduler.transcripts import read_transcript

__all__ = ["check_resume", "resume_history"]


def resume_history(
    record: AgentRecord,
    records: Mapping[str, AgentRecord],
    isolation: Isolation | None,
    max_turns: object = None,
    prompt: object = None,
    *,
    by_parent: bool = False,
) -> list[Message]:
    """The conversation `record`'s agent resumes from (tool calls in flight at a crash settled,
    so none runs twice; `[]` for an agent that never started); `RuntimeError`, `TypeError` or
    `ValueError` saying why it cannot resume; `by_parent`: its coordinator resumes it."""
    check_resume(record, max_turns, prompt)
    if being_written(record.transcript):  # resumed by another process since load_run
        raise RuntimeError(f"agent {record.name!r} is running in another process: its transcript is locked")
    if isolation is not None:
        isolation.check_resumable(records, record, by_parent=by_parent)
    elif record.branch is not None or record.worktree is not None:
        raise RuntimeError(f"agent {record.name!r} worked in a worktree, and the run's worktrees "
                           "cannot be used now (see the warning of load_run)")  # fmt: skip
    if not record.transcript.is_file():  # it never started (a kill, a failure in its wiring)
        return []
    back = read_transcript(record.transcript)
    return settle_interrupted(back.messages, back.started)


def check_resume(record: AgentRecord, max_turns: object, prompt: object) -> None:
    if prompt is not None and not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, not {type(prompt).__name__} {prompt!r}")
    if record.state not in ENDED:
        why = f" ({record.error})" if record.state == "running" and record.error else ""
        raise RuntimeError(
            f"agent {record.name!r} is {record.state}{why}; only an ended agent can be resumed"
        )
    if max_turns is not None and (isinstance(max_turns, bool) or not isinstance(max_turns, int)):
        raise TypeError(f"max_turns must be a whole number, not {max_turns!r}")
    if max_turns is not None and max_turns < 1:
        raise ValueError(f"max_turns must be at least 1, not {max_turns}")
