"""The batch flow: research a codebase, split one instruction into 5-30 independent units,
show the plan for approval, then run one agent per unit in its own git worktree; each implements
its unit, its test command is run, its work is committed on its branch; a report says how each
unit ended, and failures go to `batch-failures.md`.  Units go on whatever the others do.

The research step needs a model that can plan (Claude): the offline model cannot, so without an
API key pass `units=` yourself (or a scripted model, clearly labelled, as the notebook does).

Who uses it: users (`ab.batch`), the `%batch` magic and the batch widget.
It builds on `run_parallel(isolation="worktree")` (`agentbook.worktrees` makes the checkouts) and
reads the research answer's JSON with `agentbook.prose`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbook.agent.hooks import Hooks
from agentbook.agent.loop import AgentResult
from agentbook.models import Model, OfflineModel, get_model
from agentbook.prose import json_in_prose
from agentbook.redact import redact
from agentbook.scheduler import observers
from agentbook.scheduler.config import RunConfig
from agentbook.scheduler.forecasting import Forecast, forecast_tasks
from agentbook.scheduler.forecasting import history as earlier_runs
from agentbook.scheduler.launch import run_parallel
from agentbook.scheduler.run import Run
from agentbook.tasks import as_tasks
from agentbook.tools.permissions import Permissions

if TYPE_CHECKING:
    import pandas as pd

    from agentbook.worktrees import MergeReport

__all__ = [
    "MAX_UNITS",
    "MIN_UNITS",
    "Batch",
    "BatchError",
    "Unit",
    "UnitOutcome",
    "batch",
    "check_units",
    "parse_units",
]

MIN_UNITS, MAX_UNITS = 5, 30
TEST_TIMEOUT_S = 600.0
_UNIT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

RESEARCH_PROMPT = """\
Plan this change to the repository you are in: {instruction}

Explore the code with Glob, Grep and Read first. Then split the change into between {low} and {high}
independent units. Units are independent when they touch different files, none needs another's
output, and each can be reviewed and merged on its own. For each unit give a short kebab-case name,
the files it will touch, precise instructions for an engineer who sees only that unit, and a shell
command that checks it (its tests).

Answer with JSON only, in this shape:
{{"units": [{{"name": "fix-parser", "files": ["src/parser.py"], "instructions": "...",
             "test_command": "pytest tests/test_parser.py"}}]}}"""

UNIT_PROMPT = """\
{instructions}

This is one unit of a larger change ("{instruction}"); other engineers do the other units in their
own copies, so change only what this unit needs (files: {files}). When you are done, run
`{test_command}` and make it pass. Your changes are committed for you when you finish."""


class BatchError(ValueError):
    """The batch cannot go on: a bad plan, a bad unit, or a missing approval."""


@dataclass
class Unit:
    """One independent piece of the change."""

    name: str
    instructions: str
    files: list[str] = field(default_factory=list)
    test_command: str | None = None


@dataclass
class UnitOutcome:
    """How a unit's test command went after its agent finished."""

    outcome: str  # "passed", "failed", "not run"
    output: str = ""


def parse_units(answer: str, *, low: int = MIN_UNITS, high: int = MAX_UNITS) -> list[Unit]:
    """The units of a research answer (JSON, possibly in a code fence); `BatchError` quoting the
    answer when it has none, or when they are not between `low` and `high` valid, distinct units."""
    data = json_in_prose(answer)
    raw = data.get("units") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise BatchError(f"the research answer has no JSON 'units' list: {answer[:500]!r}")
    return check_units([_unit(item) for item in raw], low=low, high=high)


def check_units(units: Sequence[Unit], *, low: int = MIN_UNITS, high: int = MAX_UNITS) -> list[Unit]:
    """`units` if they are between `low` and `high`, with distinct valid names and instructions."""
    if not low <= len(units) <= high:
        raise BatchError(f"a batch needs {low} to {high} units, got {len(units)}")
    seen: set[str] = set()
    for unit in units:
        if not _UNIT_NAME.match(unit.name):
            raise BatchError(f"unit name {unit.name!r} must be lower-case letters, digits, '.', '_' or '-'")
        if unit.name in seen:
            raise BatchError(f"unit name {unit.name!r} is used twice")
        if not unit.instructions.strip():
            raise BatchError(f"unit {unit.name!r} has no instructions")
        seen.add(unit.name)
    return list(units)


def _unit(item: Any) -> Unit:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise BatchError(f"a unit must be an object with a 'name': {item!r}")
    files = item.get("files") or []
    if isinstance(files, str):
        files = [files]
    command = item.get("test_command")
    return Unit(
        name=item["name"].strip(),
        instructions=str(item.get("instructions") or ""),
        files=[str(f) for f in files],
        test_command=str(command).strip() if command else None,
    )


def _split_files(value: Any) -> list[str]:
    """A table cell of comma-separated paths as a list."""
    return [f.strip() for f in str(value or "").split(",") if f.strip()]


class Batch:
    """A batch in progress: its units (editable until approved), then its run and report."""

    def __init__(
        self, instruction: str, repo: Path, units: list[Unit], model: Model, research: Run | None
    ) -> None:
        self.instruction = instruction
        self.repo = repo
        self.units = units
        self.model = model
        self.research = research
        self.run: Run | None = None
        self._listeners: list[Callable[[Batch], None]] = []
        self.forecasts: list[Forecast] | None = None
        """The last `forecast()`'s, kept by the run started after it."""
        self.outcomes: dict[str, UnitOutcome] = {}
        self.published: dict[str, str] = {}
        """Unit -> its pull request URL or patch file, once `publish()` ran."""
        self.approved = False

    def __repr__(self) -> str:
        state = "running" if self.run and not self.run.done else ("done" if self.run else "awaiting approval")
        return f"<Batch {self.instruction[:40]!r}: {len(self.units)} units, {state}>"

    @property
    def units_df(self) -> pd.DataFrame:
        """The plan as a table (edit it and pass it to `edit`)."""
        rows = [{**asdict(u), "files": ", ".join(u.files)} for u in self.units]
        columns = ["name", "files", "instructions", "test_command"]
        return observers.view("frames").table(rows, columns)  # type: ignore[no-any-return]

    def edit(self, units: pd.DataFrame | Iterable[Unit]) -> None:
        """Replace the plan (a table like `units_df`, or `Unit`s); only before approval."""
        if self.approved:
            raise BatchError("the batch is approved: its units can no longer change")
        if hasattr(units, "to_dict"):
            records = units.to_dict("records")
            units = [_unit({**r, "files": _split_files(r.get("files"))}) for r in records]
        self.units = check_units(list(units), low=1)

    def approve(self) -> None:
        """Open the gate: `start` and `run_units` refuse to run before it."""
        self.approved = True
        self._changed()

    def on_change(self, callback: Callable[[Batch], None]) -> None:
        """Call `callback(batch)` when it is approved and when it starts (its view redraws)."""
        self._listeners.append(callback)

    def _changed(self) -> None:
        for callback in list(self._listeners):
            callback(self)

    def start(self, **run_kwargs: Any) -> Run:
        """Run one worktree agent per unit and return the `Run` at once (see `wait`)."""
        if not self.approved:
            raise BatchError("batch not approved: look at batch.units_df, then call batch.approve()")
        if self.run is not None:
            raise BatchError("the batch has already run")
        if run_kwargs.get("cluster") is not None:
            raise BatchError("a batch does not run on a cluster yet: each unit's test runs in this "
                             "process, in the unit's worktree; start it without cluster=")  # fmt: skip
        self.run = run_parallel(self._tasks(), **{**self._options(), **run_kwargs})
        if self.forecasts is not None:
            self.run.forecasts = self.forecasts
        self._changed()
        return self.run

    def forecast(self, history: Iterable[Path] | None = None, **run_kwargs: Any) -> pd.DataFrame:
        """What each unit may cost, low / typical / high, before approval (see
        `agentbook.scheduler.forecasting`; `history`: folders of earlier runs, default
        `~/.agentbook/runs`); the run started after it keeps it for `run.forecast_error()`."""
        options = {k: v for k, v in {**self._options(), **run_kwargs}.items() if k != "hooks"}
        earlier = earlier_runs(list(history)) if history is not None else None
        self.forecasts = forecast_tasks(as_tasks(self._tasks()), RunConfig.of(**options), earlier)
        return observers.view("forecasts").forecast_frame(self.forecasts)  # type: ignore[no-any-return]

    def _tasks(self) -> dict[str, str]:
        return {
            u.name: UNIT_PROMPT.format(
                instructions=u.instructions,
                instruction=self.instruction,
                files=", ".join(u.files) or "as needed",
                test_command=u.test_command or "the project's tests",
            )
            for u in self.units
        }

    def _options(self) -> dict[str, Any]:
        commands = sorted({u.test_command for u in self.units if u.test_command})
        return {
            "model": self.model,
            "cwd": self.repo,
            "isolation": "worktree",
            # Edits are the job; the units' own test commands may run without asking.
            "permissions": Permissions(allow=[f"Bash({c})" for c in commands], mode="acceptEdits"),
            "interactive": False,
            "hooks": Hooks(on_end=[self._check_unit]),
        }

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every unit, then write `batch-failures.md` for the ones that failed."""
        if self.run is None:
            raise BatchError("the batch has not started: call batch.start()")
        self.run.wait(timeout)
        self._log_failures()

    def _outcome(self, name: str) -> str:
        return self.outcomes.get(name, UnitOutcome("not run")).outcome

    async def _check_unit(self, agent: str, result: AgentResult | None) -> None:
        """Run the unit's test command in its worktree, before its work is committed."""
        unit = next((u for u in self.units if u.name == agent), None)
        if unit is None or result is None or result.root is None or not unit.test_command:
            self.outcomes[agent] = UnitOutcome("not run")
            return
        self.outcomes[agent] = await _run_test(unit.test_command, result.root)

    @property
    def report(self) -> pd.DataFrame:
        """One row per unit: state, branch, commit, diff stats, test outcome, its pull request or
        patch file (after `publish`), error."""
        rows = []
        for unit in self.units:
            record = self.run.records.get(unit.name) if self.run else None
            outcome = self.outcomes.get(unit.name, UnitOutcome("not run"))
            rows.append(
                {
                    "unit": unit.name,
                    "state": record.state if record else "pending",
                    "branch": record.branch if record else None,
                    "commit": record.commit if record else None,
                    "files_changed": record.files_changed if record else None,
                    "test_command": unit.test_command,
                    "test": outcome.outcome,
                    "published": self.published.get(unit.name),
                    "error": record.error if record else None,
                }
            )
        columns = [
            "unit",
            "state",
            "branch",
            "commit",
            "files_changed",
            "test_command",
            "test",
            "published",
            "error",
        ]
        return observers.view("frames").table(rows, columns, index="unit")  # type: ignore[no-any-return]

    def merge(self, into: str) -> MergeReport:
        """Merge the branches of the units whose test command passed into `into`, one by one,
        stopping at the first conflict (see `Run.merge`)."""
        if self.run is None:
            raise BatchError("the batch has not run")
        return self.run.merge(into, [name for name in self.outcomes if self._outcome(name) == "passed"])

    def publish(self) -> dict[str, str]:
        """Each unit's branch as a pull request (`gh` and a remote) or a patch file."""
        if self.run is None:
            raise BatchError("the batch has not run")
        self.published = self.run.publish()
        return self.published

    def _log_failures(self) -> None:
        assert self.run is not None
        failed = [
            (u, self.run.records[u.name], self.outcomes.get(u.name, UnitOutcome("not run")))
            for u in self.units
            if self.run.records[u.name].state != "done" or self._outcome(u.name) == "failed"
        ]
        if not failed:
            return
        lines = [f"# Batch failures: {self.instruction}", ""]
        for unit, record, outcome in failed:
            lines += [
                f"## {unit.name}",
                "",
                f"- state: {record.state}",
                f"- error: {record.error}",
                f"- test `{unit.test_command}`: {outcome.outcome}",
                f"- transcript: {record.transcript}",
                "",
                "```",
                outcome.output[-2000:] or record.text[-2000:],
                "```",
                "",
            ]
        text = redact("\n".join(lines), self.run.secrets or None)  # as failures.md and transcripts
        (self.run.run_dir / "batch-failures.md").write_text(text, encoding="utf-8")


async def _run_test(command: str, root: Path) -> UnitOutcome:
    process = await asyncio.create_subprocess_shell(
        command,
        cwd=root,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), TEST_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        return UnitOutcome("failed", f"timed out after {TEST_TIMEOUT_S:.0f} s")
    text = output.decode(errors="replace")
    return UnitOutcome("passed" if process.returncode == 0 else "failed", text[-4000:])


def batch(
    instruction: str,
    repo: str | Path = ".",
    *,
    model: Model | str | None = None,
    units: Iterable[Unit | Mapping[str, Any]] | None = None,
    min_units: int = MIN_UNITS,
    max_units: int = MAX_UNITS,
) -> Batch:
    """Plan a batch: a research agent splits `instruction` into units (or take `units` as given).

    Returns a `Batch` awaiting approval: look at `units_df` (edit it with `edit`), `approve()`,
    then `start()` and `wait()`, and read `report`.  Blocks while the research agent works.
    """
    root = Path(repo).expanduser().resolve()
    if not (root / ".git").exists():
        raise BatchError(f"{root} is not the top of a git repository: a batch works in git worktrees")
    if not instruction.strip():
        raise BatchError("the instruction is empty")
    chosen = get_model(model)
    if units is not None:
        given = [u if isinstance(u, Unit) else _unit(u) for u in units]
        return Batch(instruction, root, check_units(given, low=1, high=max_units), chosen, None)
    if isinstance(chosen, OfflineModel):
        raise BatchError(
            "the offline model cannot split an instruction into units: set ANTHROPIC_API_KEY to let Claude "
            "plan it, or pass units=[...] yourself"
        )
    research = run_parallel(
        {"research": RESEARCH_PROMPT.format(instruction=instruction, low=min_units, high=max_units)},
        model=chosen,
        cwd=root,
        tools=["Glob", "Grep", "Read"],
        interactive=False,
    )
    research.wait()
    record = research.records["research"]
    if record.state != "done":
        raise BatchError(f"the research agent ended {record.state}: {record.error}")
    return Batch(instruction, root, parse_units(record.text, low=min_units, high=max_units), chosen, research)
