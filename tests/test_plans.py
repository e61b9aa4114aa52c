"""Plans: the DAG and its phases, declared and edited conflicts, the approval gate, phase-by-phase
runs with results quoted in later prompts, steps between phases, frames and model analysis,
all driven by deterministic models."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from agentbook.costs import UnknownModelPriceWarning
from agentbook.messages import Request, Response, Text, ToolResult, ToolUse, Usage
from agentbook.models import OfflineModel, ScriptedModel
from agentbook.plans import Conflict, Plan, PlanError, PlanRun
from agentbook.scheduler.ratelimit import reset_gates
from agentbook.scheduler.run import Run
from agentbook.specs import Task


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    reset_gates()


class PlanModel:
    """Answers by the agent's prompt, so the agents of a phase can share it.

    `sleep:S ...` sleeps S seconds then answers; `explode` raises (a harness failure: the agent
    fails); `write:PATH ...` writes PATH with the Write tool, then answers; anything else is
    answered `done: <prompt>`.
    """

    name = "scripted"
    description = "plan model for tests"

    def __init__(self, name: str = "scripted") -> None:
        self.name = name
        self.requests: list[Request] = []
        self.lock = threading.Lock()

    async def aclose(self) -> None:
        return None

    def prompts(self) -> list[str]:
        with self.lock:
            return [r.messages[0].text for r in self.requests]

    async def respond(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
        prompt = request.messages[0].text
        answered = any(isinstance(b, ToolResult) for b in request.messages[-1].content)
        blocks: tuple[Any, ...]
        if prompt.startswith("explode"):
            raise RuntimeError("model adapter bug")
        if prompt.startswith("write:") and not answered:
            path = prompt[6:].split()[0]
            blocks = (ToolUse(f"w-{id(request)}", "Write", {"file_path": path, "content": prompt}),)
        elif prompt.startswith("sleep:"):
            await asyncio.sleep(float(prompt[6:].split()[0]))
            blocks = (Text(f"slept: {prompt}"),)
        else:
            blocks = (Text(f"done: {prompt}"),)
        stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
        return Response(f"msg_{id(request)}", self.name, blocks, stop, Usage(100, 10))


def classic(**prompts: str) -> dict[str, Any]:
    """The shop example: a shared validation library, a user model, two features, tests."""
    text = {
        "library": "build the shared validation library",
        "user-model": "write the user model",
        "registration": "registration using {library}",
        "payment": "payment using {library}",
        "tests": "test {registration} and {payment}",
    } | prompts
    return {
        "library": {"prompt": text["library"], "files": ["src/validation/**"]},
        "user-model": {"prompt": text["user-model"], "files": ["src/models/user.py"]},
        "registration": {"prompt": text["registration"], "depends_on": ["library"]},
        "payment": {"prompt": text["payment"], "depends_on": ["library"]},
        "tests": {"prompt": text["tests"], "depends_on": ["registration", "payment"]},
    }


def approved(tasks: Any) -> Plan:
    plan = Plan(tasks)
    plan.approve()
    return plan


def options(tmp_path: Path, model: Any = None, **extra: Any) -> dict[str, Any]:
    return {"model": model or PlanModel(), "cwd": tmp_path, "run_dir": tmp_path / "runs",
            "interactive": False, **extra}  # fmt: skip


# ---- the graph


def test_the_classic_example_has_three_phases() -> None:
    plan = Plan(classic())
    assert plan.phases == [["library", "user-model"], ["payment", "registration"], ["tests"]]
    assert list(plan.tasks) == ["library", "user-model", "registration", "payment", "tests"]
    assert plan.tasks["tests"].depends_on == ("registration", "payment")


def test_tasks_can_be_task_objects() -> None:
    plan = Plan([Task("b", "second", depends_on=("a",)), Task("a", "first")])
    assert plan.phases == [["a"], ["b"]]


def test_a_cycle_is_named_in_running_order() -> None:
    tasks = {
        "a": {"prompt": "x", "depends_on": ["c"]},
        "b": {"prompt": "x", "depends_on": ["a"]},
        "c": {"prompt": "x", "depends_on": ["b"]},
        "d": {"prompt": "x", "depends_on": ["a"]},  # waits on the cycle without being on it
        "e": "stands alone",
    }
    with pytest.raises(PlanError, match="dependency cycle: a -> b -> c -> a"):
        Plan(tasks)


def test_a_self_dependency_is_a_cycle() -> None:
    with pytest.raises(PlanError, match=r"dependency cycle: a -> a \("):
        Plan({"a": {"prompt": "x", "depends_on": ["a"]}, "b": "y"})


def test_an_unknown_dependency_names_the_task_and_the_missing_name() -> None:
    with pytest.raises(PlanError, match="task 'payment' depends on 'libary', which the plan does not have"):
        Plan({"library": "x", "payment": {"prompt": "y", "depends_on": ["libary"]}})


def test_bad_task_input_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match="used twice"):
        Plan([Task("a", "x"), Task("a", "y")])
    with pytest.raises(PlanError, match="no tasks"):
        Plan([])
    assert issubclass(PlanError, ValueError)


# ---- declared conflicts


@pytest.mark.parametrize(
    ("p", "q", "overlap"),
    [
        ("src/validation/**", "src/validation/rules.py", "src/validation/rules.py"),
        ("src/a.py", "./src/a.py", "src/a.py"),
        ("src/*.py", "src/app.py", "src/app.py"),
        ("src/lib", "src/lib/a.py", "src/lib/a.py"),  # a declared folder covers its files
        ("src/**/*.py", "src/api/*.py", "src/**/*.py & src/api/*.py"),
        ("**/test_*.py", "tests/test_api.py", "tests/test_api.py"),
        ("src/a*.py", "src/*b.py", "src/a*.py & src/*b.py"),
        ("src/validation/", "src/validation/**", "src/validation/"),
        ("src/validation/**", "src/validation/rules/*.py", "src/validation/** & src/validation/rules/*.py"),
        ("src/payment/**", "src/registration/**", None),
        ("src/*.py", "src/api/app.py", None),
        ("src/*.py", "src/app.js", None),
        ("docs/*.md", "src/**", None),
        ("src/a.py", "src/b.py", None),
        ("src/a*.py", "src/b*.py", None),
    ],
)
def test_declared_conflicts(p: str, q: str, overlap: str | None) -> None:
    plan = Plan({"one": {"prompt": "x", "files": [p]}, "two": {"prompt": "y", "files": [q]}})
    expected = [] if overlap is None else [Conflict(0, "one", "two", overlap, "declared")]
    assert plan.conflicts() == expected


def test_conflicts_are_only_within_a_phase_and_list_every_overlap() -> None:
    plan = Plan(
        {
            "lib": {"prompt": "x", "files": ["src/validation/**", "README.md"]},
            "rules": {"prompt": "y", "files": ["src/validation/rules.py", "README.md", "docs/*"]},
            "later": {"prompt": "z", "files": ["src/validation/**"], "depends_on": ["lib", "rules"]},
            "free": "no files declared: nothing to compare",
        }
    )
    assert plan.conflicts() == [Conflict(0, "lib", "rules", "src/validation/rules.py; README.md")]
    assert Plan(classic()).conflicts() == []


# ---- the gate


def test_nothing_runs_before_approval(tmp_path: Path) -> None:
    plan = Plan(classic())
    assert not plan.approved
    with pytest.raises(PlanError, match=r"plan not approved: call plan\.approve\(\)"):
        plan.run(**options(tmp_path))
    with pytest.raises(PlanError, match=r"plan not approved: call plan\.approve\(\)"):
        plan.run_phase(0, **options(tmp_path))
    assert plan.runs == [] and not (tmp_path / "runs").exists()
    plan.approve()
    assert plan.approved
    plan.tasks["extra"] = Task("extra", "added after approval")
    assert not plan.approved
    with pytest.raises(PlanError, match="changed since approval"):
        plan.run(**options(tmp_path))


# ---- running


def test_run_phase_by_phase_feeds_results_to_later_prompts(tmp_path: Path) -> None:
    model = PlanModel()
    plan = approved(classic())
    outcome = plan.run(**options(tmp_path, model))
    assert isinstance(outcome, PlanRun) and outcome.completed and outcome.stopped_reason is None
    assert sorted(outcome.runs) == [0, 1, 2] and [outcome.runs[i] for i in range(3)] == plan.runs
    assert [sorted(r.records) for r in plan.runs] == plan.phases
    library = "done: build the shared validation library"
    assert plan.results["library"] == library
    assert plan.results["payment"] == f"done: payment using {library}"
    payment_prompt = plan.runs[1].records["payment"].task.prompt
    assert payment_prompt == f"payment using {library}"
    assert f"registration using {library}" in model.prompts()  # what the later agent was asked
    assert plan.results["tests"].startswith("done: test done: registration using done: build")
    assert list(plan.results) == ["library", "user-model", "payment", "registration", "tests"]
    # A phase starts only after the one before it has ended.
    assert plan.runs[0].records["library"].ended <= plan.runs[1].records["payment"].started  # type: ignore[operator]
    assert [r.run_dir.name for r in plan.runs] == ["phase-0", "phase-1", "phase-2"]
    assert len({r.name for r in plan.runs}) == 3
    assert plan.run(**options(tmp_path, model)).runs == {}  # nothing left to run


def test_literal_braces_and_references_checked_before_anything_runs(tmp_path: Path) -> None:
    plan = approved({"a": 'json like {{"k": 1}}', "b": {"prompt": "use {a}", "depends_on": ["a"]}})
    plan.run(**options(tmp_path))
    assert plan.runs[0].records["a"].task.prompt == 'json like {"k": 1}'

    too_early = approved({"a": "first", "b": "uses {a} but runs beside it"})
    with pytest.raises(PlanError, match=r"task 'b' quotes \{a\}, but task 'a' has no result"):
        too_early.run(**options(tmp_path))
    late = approved(
        {
            "a": "first",
            "b": {"prompt": "then", "depends_on": ["a"]},
            "c": {"prompt": "{nope}", "depends_on": ["b"]},
        }
    )
    with pytest.raises(PlanError, match=r"task 'c' quotes \{nope\}, which is not a task of the plan"):
        late.run(**options(tmp_path))
    assert late.runs == []  # the error in the last phase stopped the first one from starting
    with pytest.raises(PlanError, match="not a valid template"):
        approved({"a": "unbalanced { brace"}).run(**options(tmp_path))


def test_between_steps_callable_and_prompt(tmp_path: Path) -> None:
    model = PlanModel()
    seen: list[tuple[int, list[str]]] = []

    def review(plan: Plan, i: int) -> str:
        seen.append((i, sorted(plan.results)))
        return f"reviewed {i}"

    plan = approved(classic())
    outcome = plan.run(
        between={0: review, 1: "merge {payment} with {registration}"}, **options(tmp_path, model)
    )
    assert outcome.completed
    assert seen == [(0, ["library", "user-model"])]
    assert outcome.steps[0] == "reviewed 0"
    step = outcome.steps[1]
    assert isinstance(step, Run) and list(step.records) == ["step-1"]
    assert step.results["step-1"].startswith("done: merge done: payment using")
    assert step.run_dir.name == "step-1"
    assert "step-1" not in plan.results and len(plan.runs) == 3
    # The step ran between the phases it separates.
    assert plan.runs[1].done and step.records["step-1"].started >= max(  # type: ignore[operator]
        r.ended
        for r in plan.runs[1].records.values()  # type: ignore[type-var]
    )
    assert step.records["step-1"].ended <= plan.runs[2].records["tests"].started  # type: ignore[operator]


def test_bad_between_keys_are_refused(tmp_path: Path) -> None:
    plan = approved(classic())
    with pytest.raises(PlanError, match="steps follow phases 0 to 2"):
        plan.run(between={3: "after the end"}, **options(tmp_path))
    with pytest.raises(PlanError, match="must be a callable"):
        plan.run(between={0: 42}, **options(tmp_path))  # type: ignore[dict-item]
    with pytest.raises(PlanError, match=r"the step after phase 0 quotes \{tests\}"):
        plan.run(between={0: "check {tests}"}, **options(tmp_path))
    assert plan.runs == []


def test_a_raising_step_stops_the_plan_and_a_later_run_continues(tmp_path: Path) -> None:
    calls: list[int] = []

    def gate(plan: Plan, i: int) -> None:
        calls.append(i)
        if len(calls) == 1:
            raise RuntimeError("not yet")

    plan = approved(classic())
    outcome = plan.run(between={0: gate}, **options(tmp_path))
    assert not outcome.completed and isinstance(outcome.error, RuntimeError)
    assert (
        outcome.stopped_reason == "the step after phase 0 raised RuntimeError: not yet; phase 1 not started"
    )
    assert len(plan.runs) == 1
    again = plan.run(between={0: gate}, **options(tmp_path))  # phase 0 is done: its step is owed
    assert again.completed and calls == [0, 0] and sorted(again.runs) == [1, 2]


def test_a_failed_task_stops_before_the_next_phase(tmp_path: Path) -> None:
    steps: list[int] = []
    plan = approved(classic(**{"user-model": "explode"}))
    outcome = plan.run(between={0: lambda p, i: steps.append(i)}, **options(tmp_path))
    assert not outcome.completed and steps == []
    reason = outcome.stopped_reason or ""
    assert reason.startswith("phase 0: user-model failed (") and "model adapter bug" in reason
    assert reason.endswith("; phase 1 not started")
    assert len(plan.runs) == 1 and "library" in plan.results and "user-model" not in plan.results
    assert plan.phases_frame()["state"].tolist() == ["failed", "pending", "pending"]


def test_a_failed_step_agent_stops_the_plan(tmp_path: Path) -> None:
    plan = approved(classic())
    outcome = plan.run(between={1: "explode after {payment}"}, **options(tmp_path))
    assert (outcome.stopped_reason or "").startswith("the step after phase 1 (step-1) ended failed:")
    assert (outcome.stopped_reason or "").endswith("phase 2 not started") and len(plan.runs) == 2


def test_run_phase_requires_earlier_phases(tmp_path: Path) -> None:
    plan = approved(classic())
    with pytest.raises(PlanError, match="phase 1 needs phase 0 done; no result yet for library, user-model"):
        plan.run_phase(1, **options(tmp_path))
    with pytest.raises(PlanError, match="no phase 3"):
        plan.run_phase(3, **options(tmp_path))
    first = plan.run_phase(0, **options(tmp_path, PlanModel(), concurrency=1))
    first.wait(timeout=10)
    plan.run_phase(1, **options(tmp_path)).wait(timeout=10)
    assert len(plan.runs) == 2 and plan.runs[0] is first
    assert plan.runs[1].records["payment"].task.prompt.endswith(plan.results["library"])
    # Running phase 0 again forgets phase 1, whose inputs may have changed.
    slow = approved({"a": "sleep:0.5 a", "b": {"prompt": "b", "depends_on": ["a"]}})
    there = options(tmp_path, run_dir=tmp_path / "slow")
    slow.run_phase(0, **there)
    with pytest.raises(PlanError, match="phase 0 is still running"):
        slow.run_phase(1, **there)
    slow.runs[0].wait(timeout=10)
    slow.run_phase(1, **there).wait(timeout=10)
    rerun = slow.run_phase(0, **there)
    assert slow.runs == [rerun] and rerun.run_dir.name == "phase-0.2"
    rerun.wait(timeout=10)
    slow.reset()
    assert slow.runs == [] and slow.results == {}


# ---- frames


def test_phases_frame(tmp_path: Path) -> None:
    plan = approved(
        {
            "quick": "sleep:0.1 quick",
            "slow": "sleep:0.4 slow",
            "after": {"prompt": "after {slow}", "depends_on": ["slow"]},
            "last": {"prompt": "sleep:0.1 last", "depends_on": ["after"]},
        }
    )
    before = plan.phases_frame()
    assert before["state"].tolist() == ["pending"] * 3 and before["tokens"].isna().all()
    plan.run_phase(0, **options(tmp_path)).wait(timeout=10)
    plan.run_phase(1, **options(tmp_path)).wait(timeout=10)
    frame = plan.phases_frame()
    assert list(frame.columns) == ["phase", "tasks", "agents", "makespan_s", "tokens", "cost_usd", "state"]
    assert frame["phase"].tolist() == [0, 1, 2]
    assert frame["tasks"].tolist() == ["quick, slow", "after", "last"]
    assert frame["state"].tolist() == ["done", "done", "pending"]
    assert frame["agents"].tolist()[:2] == [2, 1]
    slowest = plan.runs[0].df["duration_s"].max()
    assert frame["makespan_s"][0] >= slowest >= 0.4
    assert frame["tokens"].tolist()[:2] == [220, 110]  # 100 input + 10 output per agent
    assert frame["cost_usd"].tolist()[:2] == [0.0, 0.0]  # a local model costs nothing
    assert frame["makespan_s"].isna()[2] and frame["tokens"].isna()[2] and frame["cost_usd"].isna()[2]


def test_phases_frame_cost_is_missing_without_a_price(tmp_path: Path) -> None:
    plan = approved({"a": "x"})
    plan.run(**options(tmp_path, PlanModel(name="model-without-a-price")))
    with pytest.warns(UnknownModelPriceWarning):
        assert plan.phases_frame()["cost_usd"].isna().tolist() == [True]


# ---- edited conflicts


def test_edited_conflicts_from_transcripts(tmp_path: Path) -> None:
    plan = approved(
        {
            "one": "write:shared.txt first",
            "two": f"write:{tmp_path / 'shared.txt'} second",  # absolute: the same file
            "three": "write:own.txt third",
            "later": {"prompt": "write:shared.txt later", "depends_on": ["one", "two", "three"]},
        }
    )
    outcome = plan.run(**options(tmp_path, permission_mode="bypassPermissions"))
    assert outcome.completed and (tmp_path / "own.txt").is_file()
    assert plan.conflicts() == []  # nothing was declared
    assert plan.edited_conflicts() == [Conflict(0, "one", "two", "shared.txt", "edited")]
    assert plan.edited_conflicts(plan.runs[1]) == []


def test_denied_writes_are_not_edits(tmp_path: Path) -> None:
    plan = approved({"one": "write:shared.txt a", "two": "write:shared.txt b"})
    plan.run(**options(tmp_path, permission_mode="default"))  # headless: the Write is denied
    assert not (tmp_path / "shared.txt").exists()
    assert plan.edited_conflicts() == []


# ---- analysis


def test_analyse_marks_differences() -> None:
    plan = Plan(classic())
    answer = (
        '{"dependencies": {"library": [], "user-model": [], "registration": ["library", "user-model"],'
        ' "payment": ["library"], "tests": ["registration"]}}'
    )
    model = ScriptedModel([answer])
    frame = plan.analyse(model)
    assert len(model.requests) == 1
    request = model.requests[0].messages[0].text
    assert all(name in request for name in plan.tasks) and "src/validation/**" in request
    assert "depends_on" not in request  # an independent opinion
    assert list(frame.columns) == ["task", "depends_on", "declared", "suggested", "differs"]
    rows = {(r.task, r.depends_on): (r.declared, r.suggested, r.differs) for r in frame.itertuples()}
    assert rows == {
        ("payment", "library"): (True, True, False),
        ("registration", "library"): (True, True, False),
        ("registration", "user-model"): (False, True, True),
        ("tests", "payment"): (True, False, True),
        ("tests", "registration"): (True, True, False),
    }
    assert frame.attrs["answer"] == answer and frame.attrs["notice"] is None


def test_analyse_finds_json_in_a_fence_and_in_prose() -> None:
    plan = Plan({"a": "x", "b": {"prompt": "y", "depends_on": ["a"]}})
    fenced = 'Here is what I see:\n```json\n{"dependencies": {"b": ["a"], "a": []}}\n```\nDone.'
    frame = plan.analyse(ScriptedModel([fenced]))
    assert frame[["declared", "suggested", "differs"]].values.tolist() == [[True, True, False]]
    prose = 'I think {"dependencies": {"a": ["b"]}} because a reads what b writes.'
    frame = plan.analyse(ScriptedModel([prose]))
    assert frame[["task", "depends_on", "differs"]].values.tolist() == [["a", "b", True], ["b", "a", True]]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("I cannot tell.", 'no {"dependencies"'),
        ('{"dependencies": {"b": "a", "a": 3}}', "dependencies of 'a' are not a list"),
        ('{"dependencies": {"b": ["nonexistent"]}}', "names tasks the plan lacks \\(nonexistent\\)"),
        ('```json\n{"dependencies": ["a"]}\n```', 'no {"dependencies"'),
        ('{"dependencies": {"b": ["a"]', 'no {"dependencies"'),  # cut off: no closing brace at all
    ],
)
def test_analyse_refuses_a_malformed_answer_quoting_it(answer: str, problem: str) -> None:
    plan = Plan({"a": "x", "b": "y"})
    with pytest.raises(PlanError, match=problem) as caught:
        plan.analyse(ScriptedModel([answer]))
    assert f"the model answered: {answer!r}" in str(caught.value)


def test_analyse_with_the_offline_model_says_it_has_no_opinion() -> None:
    plan = Plan(classic())
    with pytest.warns(UserWarning, match="offline model cannot analyse"):
        frame = plan.analyse(OfflineModel())
    assert len(frame) == 4 and frame["declared"].all()
    assert not frame["suggested"].any() and not frame["differs"].any()
    assert "cannot analyse" in frame.attrs["notice"]
    with pytest.warns(UserWarning):
        plan.analyse()  # no key: the default model is the offline one


# ---- display


def test_text_graph_and_html(tmp_path: Path) -> None:
    plan = Plan(classic() | {"audit": {"prompt": "audit", "files": ["src/validation/rules.py"]}})
    text = plan.to_text()
    assert text.startswith(
        "phase 0: audit, library, user-model\n   |\nphase 1: payment, registration\n   |\nphase 2: tests\n"
    )
    assert "  library -> payment, registration" in text and "  payment -> tests" in text
    assert "phase 0: audit / library: src/validation/rules.py" in text
    assert text.endswith("not approved: call plan.approve()")
    bundle = plan._repr_mimebundle_()
    assert bundle["text/plain"] == text
    page = bundle["text/html"]
    assert "<th" in page and "src/validation/**" in page and "registration, payment" in page
    assert "<script" not in Plan({"x": {"prompt": "p", "files": ["<script>"]}})._repr_html_()
    assert repr(plan) == "<Plan: 6 tasks in 3 phases, not approved>"
    plan.approve()
    plan.run_phase(0, **options(tmp_path)).wait(timeout=10)
    assert "phase 0: audit, library, user-model  [done]" in plan.to_text()
    assert plan.to_text().endswith("\napproved")
