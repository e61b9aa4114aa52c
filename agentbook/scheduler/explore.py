"""`explore`: one read-only agent on a folder, with its transcript on disk (the CLI's `explore`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from agentbook.agent.loop import AgentResult, run_agent
from agentbook.costs import cost_usd
from agentbook.models import Model, get_model
from agentbook.models.base import check_credentials
from agentbook.redact import safe_env
from agentbook.scheduler.sandboxing import sandbox_for
from agentbook.scheduler.transcripts import TranscriptWriter, new_run_dir, new_session_id, transcript_path
from agentbook.specs import DEFAULT_MAX_TURNS
from agentbook.tools import ToolContext, tools_named

__all__ = ["EXPLORE_PROMPT", "EXPLORE_SYSTEM", "EXPLORE_TOOLS", "Exploration", "explore", "explore_async"]

EXPLORE_TOOLS = ("Glob", "Grep", "Read")
EXPLORE_SYSTEM = """\
You are a read-only code explorer working in {root}. Use Glob, Grep and Read to look at the files;
you cannot change anything. Answer with a concise Markdown summary: what the project is, its files
and their sizes, and its main top-level definitions with one line on each."""
EXPLORE_PROMPT = "Explore this folder and summarise what is in it."


@dataclass(frozen=True)
class Exploration:
    """What `explore` returns: the agent's result, its model, cost and where its transcript is."""

    result: AgentResult
    model: Model
    transcript: Path
    run_dir: Path

    @property
    def cost_usd(self) -> float | None:
        return cost_usd(self.result.usage, self.result.model)


async def explore_async(
    path: str | Path,
    *,
    prompt: str = EXPLORE_PROMPT,
    model: Model | str | None = None,
    max_turns: int = DEFAULT_MAX_TURNS,
    run_dir: str | Path | None = None,
) -> Exploration:
    """Explore `path` with one read-only agent; see `explore`."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    if max_turns < 1:
        raise ValueError(f"max_turns must be at least 1, not {max_turns}")
    chosen = get_model(model)
    check_credentials(chosen)  # before the folder and the transcript
    folder = Path(run_dir) if run_dir is not None else new_run_dir()
    session = new_session_id()
    writer = TranscriptWriter(transcript_path(folder, session), session_id=session)
    sandbox, _ = sandbox_for("auto", root, network=False, hidden=(), branch=None)
    ctx = ToolContext(root=root, env=safe_env(), sandbox=sandbox)
    try:
        result = await run_agent(
            "explore",
            prompt,
            model=chosen,
            tools=tools_named(EXPLORE_TOOLS),
            ctx=ctx,
            system=EXPLORE_SYSTEM.format(root=ctx.root),
            max_turns=max_turns,
            emit=writer,
        )
    finally:
        writer.close()
        await chosen.aclose()
    return Exploration(result, chosen, writer.path, folder)


def explore(
    path: str | Path,
    *,
    prompt: str = EXPLORE_PROMPT,
    model: Model | str | None = None,
    max_turns: int = DEFAULT_MAX_TURNS,
    run_dir: str | Path | None = None,
) -> Exploration:
    """Run one read-only agent (Glob, Grep, Read) on the folder `path` and wait for its answer.

    `model` defaults to Claude when a key is configured, else the offline model.  The transcript
    goes to a new folder under `run_dir` (default: a new run folder in `~/.agentbook/runs`).
    Blocks: from a running event loop (a notebook cell) use `await explore_async(...)`.
    """
    return asyncio.run(explore_async(path, prompt=prompt, model=model, max_turns=max_turns, run_dir=run_dir))
