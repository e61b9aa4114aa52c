"""The offline model answers what it can of a prompt, says what it cannot, and fails on a
place that does not exist: on a small `requests`-like package made here."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from agentbook.agent.loop import run_agent
from agentbook.models import OfflineModel
from agentbook.models.offline import _reading
from agentbook.scheduler.explore import explore
from agentbook.tools import ToolContext, tools_named

LONG_LINES = 2_500
CLASSES = 8


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`webby/`: a package with `__init__`, `api`, `__main__`, a retry module, a console script
    and a 2,500-line test file with 8 classes spread over it."""
    root = tmp_path_factory.mktemp("made") / "webby"
    pkg = root / "webby"
    (root / "tests").mkdir(parents=True)
    pkg.mkdir()
    (root / "README.md").write_text("# Webby\n\nHTTP for people.\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "webby"\n\n[project.scripts]\nwebby = "webby.cli:main"\n'
    )
    (pkg / "__init__.py").write_text('"""Webby: HTTP for people."""\n\nfrom webby.api import get\n')
    (pkg / "api.py").write_text('"""The public API."""\n\n\ndef get(url):\n    """Send a GET request."""\n')
    (pkg / "__main__.py").write_text('"""`python -m webby`."""\n')
    (pkg / "cli.py").write_text('"""The command line."""\n\n\ndef main():\n    """Run webby."""\n')
    (pkg / "sessions.py").write_text("".join(f"# session line {n}\n" for n in range(300)))
    (pkg / "retry.py").write_text(
        '"""Retries."""\n\n\nclass RetryPolicy:\n    """Back off and try again."""\n\n'
        "    def delay(self, attempt):\n        return 2**attempt\n"
    )
    (root / "tests" / "test_webby.py").write_text(_long_test_file())
    return root


def _long_test_file() -> str:
    lines = ['"""Tests of webby."""', ""]
    step = LONG_LINES // CLASSES
    for n in range(CLASSES):
        body = [f"class TestPart{n}:", f'    """Part {n}."""', ""]
        body += [f"    def test_{k}(self):\n        assert {k} == {k}" for k in range((step - 4) // 2)]
        lines += [*body, ""]
    lines += ["# end"] * (LONG_LINES - sum(s.count("\n") + 1 for s in lines))
    return "\n".join(lines) + "\n"


def ask(package: Path, tmp_path: Path, prompt: str) -> tuple[str, str, str | None]:
    found = explore(package, prompt=prompt, run_dir=tmp_path / "run", model=OfflineModel())
    return found.result.state, found.result.text, found.result.error


def test_a_question_naming_retry_gets_where_retry_is_first(package: Path, tmp_path: Path) -> None:
    state, answer, _ = ask(package, tmp_path, "Where is the retry logic?")
    assert state == "done"
    first = re.search(r"`([\w/.]+\.py):(\d+)`", answer)
    assert first is not None and first.groups() == ("webby/retry.py", "4"), answer[:600]
    assert answer.index("webby/retry.py:4") < answer.index("## Entry points")
    assert "class RetryPolicy:" in answer  # the spot read, shown
    assert "`retry` occurs on" in answer


def test_an_identifier_in_the_prompt_is_found_as_written(package: Path, tmp_path: Path) -> None:
    _, answer, _ = ask(package, tmp_path, "Who uses `RetryPolicy`?")
    assert "`RetryPolicy` occurs on 1 line(s) in 1 file(s)" in answer
    assert "- `webby/retry.py:4`: `class RetryPolicy:`" in answer


@pytest.mark.parametrize("prompt", ["Summarise nosuch/folder please.", "Explain missing.py"])
def test_a_named_path_that_does_not_exist_fails(package: Path, tmp_path: Path, prompt: str) -> None:
    state, _, error = ask(package, tmp_path, prompt)
    assert state == "failed"
    assert (
        error is not None and "offline model" in error and ("does not exist" in error or "no file" in error)
    )


def test_a_missing_root_fails(tmp_path: Path) -> None:
    ctx = ToolContext(root=tmp_path / "gone")
    result = asyncio.run(
        run_agent("x", "Explore.", model=OfflineModel(), tools=tools_named(("Glob", "Grep", "Read")), ctx=ctx)
    )
    assert result.state == "failed" and "cannot survey" in (result.error or "")


def test_a_long_file_is_read_to_its_end(package: Path, tmp_path: Path) -> None:
    state, answer, _ = ask(package, tmp_path, "Summarise tests/test_webby.py")
    assert state == "done"
    assert f"### `tests/test_webby.py` ({LONG_LINES:,} lines)" in answer
    assert all(f"class `TestPart{n}`" in answer for n in range(CLASSES))
    assert "read the first" not in answer


def test_a_file_past_the_cap_says_how_much_was_read(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("".join(f"x{n} = {n}\n" for n in range(_reading.MAX_LINES_PER_FILE + 5)))
    found = explore(tmp_path, prompt="Summarise big.py", run_dir=tmp_path / "run")
    total = _reading.MAX_LINES_PER_FILE + 5
    assert f"({total:,} lines; read the first {_reading.MAX_LINES_PER_FILE:,} of them)" in found.result.text


def test_the_title_names_the_folder(package: Path, tmp_path: Path) -> None:
    _, answer, _ = ask(package, tmp_path, "Explore this folder and summarise what is in it.")
    assert answer.startswith("# Summary of `webby`\n")
    assert "Where the prompt's words occur" not in answer  # nothing to search for in that prompt


def test_entry_points_come_first(package: Path, tmp_path: Path) -> None:
    _, answer, _ = ask(package, tmp_path, "Explore this folder and summarise what is in it.")
    entries = answer.index("## Entry points")
    assert entries < answer.index("## Top-level definitions")
    assert "- console script `webby` runs `webby.cli:main` (`webby/cli.py`)" in answer
    order = [
        answer.index(f"### `webby/{name}`") for name in ("__init__.py", "__main__.py", "api.py", "cli.py")
    ]
    assert entries < min(order) and max(order) < answer.index("## Top-level definitions")
    assert "- def `get` (line 4): Send a GET request." in answer


def test_a_why_question_says_what_the_offline_model_cannot_do(package: Path, tmp_path: Path) -> None:
    state, answer, _ = ask(package, tmp_path, "Why does the retry policy back off exponentially?")
    assert state == "done"
    head = answer.split("## Where", 1)[0]
    assert "cannot answer" in head and "ANTHROPIC_API_KEY" in head and "only finds and lists" in head
    assert "webby/retry.py:4" in answer  # and still gives what it can


def test_prose_with_slashes_is_not_a_missing_path(package: Path, tmp_path: Path) -> None:
    state, _, _ = ask(package, tmp_path, "Where are requests sent and/or retried?")
    assert state == "done"


def test_a_paced_offline_model_takes_its_stated_time_and_bad_paces_are_refused(tmp_path: Path) -> None:
    import time

    import agentbook as ab
    from agentbook.models import OfflineModel

    (tmp_path / "a.py").write_text('"""A."""\n')
    started = time.monotonic()
    run = ab.run_parallel({"a": "Summarise a.py"}, model=OfflineModel(pace_s=0.3), cwd=tmp_path)
    run.wait(30)
    turns = run.records["a"].turns
    assert run.status == {"a": "done"} and time.monotonic() - started >= 0.3 * turns
    assert "paced at 0.3 s a response" in OfflineModel(pace_s=0.3).description
    for bad in (-1, 61, "fast", True):
        with pytest.raises(ValueError, match="pace_s"):
            OfflineModel(pace_s=bad)  # type: ignore[arg-type]
