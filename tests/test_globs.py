"""The one glob engine (`agentbook.tools._globs`): the dialects of Glob/Grep, permission paths and
plan overlaps, and `overlap` checked against the plan-overlap cases of tests/test_plans.py."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from support import deadline

from agentbook.plans import Conflict, Plan
from agentbook.tools import Glob, ToolContext, ToolError
from agentbook.tools._globs import MAX_ALTERNATIVES, _name_matches, gitignore_regex, glob_to_regex, overlap
from agentbook.tools.permissions.paths import path_pattern

# The cases of tests/test_plans.py::test_declared_conflicts (p, q, where they overlap).
DECLARED = [
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
]


@pytest.mark.parametrize(("p", "q", "expected"), DECLARED)
def test_overlap(p: str, q: str, expected: str | None) -> None:
    assert overlap(p, q) == expected


@pytest.mark.parametrize(("p", "q", "expected"), DECLARED)
def test_plan_conflicts_use_overlap(p: str, q: str, expected: str | None) -> None:
    plan = Plan({"one": {"prompt": "x", "files": [p]}, "two": {"prompt": "y", "files": [q]}})
    assert plan.conflicts() == ([] if expected is None else [Conflict(0, "one", "two", expected, "declared")])


def test_plan_conflicts_list_every_overlap() -> None:
    plan = Plan(
        {
            "lib": {"prompt": "x", "files": ["src/validation/**", "README.md"]},
            "rules": {"prompt": "y", "files": ["src/validation/rules.py", "README.md", "docs/*"]},
            "later": {"prompt": "z", "files": ["src/validation/**"], "depends_on": ["lib", "rules"]},
        }
    )
    assert plan.conflicts() == [Conflict(0, "lib", "rules", "src/validation/rules.py; README.md")]


def test_overlap_reads_plans_dialect() -> None:
    assert overlap("src\\a.py", "src/a.py") == "src\\a.py"  # a backslash separates, as on Windows
    assert overlap("src/[^a].py", "src/^.py") == "src/^.py"  # fnmatch: `[^a]` holds `^` and `a`
    assert overlap("src/{a,b}.py", "src/a.py") is None  # no braces in declared files


def _gitignore(pattern: str, path: str) -> bool:
    return re.fullmatch(gitignore_regex(pattern), path, re.DOTALL) is not None


def test_the_dialects_differ_only_where_their_callers_do() -> None:
    # Glob and Grep: braces; a trailing `/**` is what lies below.
    assert glob_to_regex("*.{py,md}").match("a.md")
    assert not glob_to_regex("docs/**").match("docs")
    # Permission paths (gitignore): braces are literal; `docs/**` covers `docs` itself.
    assert _gitignore("{a,b}", "{a,b}") and not _gitignore("{a,b}", "a")
    assert _gitignore("docs/**", "docs") and _gitignore("docs/**", "docs/a/b")
    assert _gitignore("dir\\/x", "dir\\/x")  # a backslash ending a segment is a literal one


@pytest.mark.parametrize("pattern", ["a[!x]b", "a[^x]b", "a[/]b", "a[x/]b"])
def test_a_class_never_matches_a_slash(pattern: str) -> None:
    assert not glob_to_regex(pattern).match("a/b")
    assert not _gitignore(pattern, "a/b")


def test_classes_that_used_to_break() -> None:
    assert glob_to_regex("[!]]").match("a") and not glob_to_regex("[!]]").match("]")
    assert _gitignore("x[!]]", "xa") and not _gitignore("x[!]]", "x]")
    assert glob_to_regex("[z-a]").match("[z-a]")  # not a valid range: a literal `[`
    assert _gitignore("[^]", "[^]")


# Patterns come from the model: no glob may make a regex backtrack catastrophically.  Before the
# translation avoided it, the first of these took longer than the age of the universe.
PATHOLOGICAL = [
    ("*a*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 200),
    ("*a*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 199 + "b"),
    ("**/a/**/a/**/a/**/a/**/a/**/b", "a/" * 100 + "c"),
    ("**/*a*a*a*a*a*a/**/*a*a*a*a*a*b", "/".join(["a" * 40] * 5)),
    ("{*a*a*a*a*a*a*b,?*a*a*a*a*a*a*c}", "a" * 200),
]


@pytest.mark.parametrize(("pattern", "path"), PATHOLOGICAL)
def test_pathological_globs_match_in_bounded_time(pattern: str, path: str) -> None:
    started = time.perf_counter()
    with deadline(10):  # a signal, as a backtracking match holds the GIL
        for _ in range(10):
            found = glob_to_regex(pattern).match(path) is not None
            gitignore = re.fullmatch(gitignore_regex(pattern.strip("{}")), path, re.DOTALL) is not None
            rule = path_pattern(pattern.strip("{}")).regex.fullmatch(path) is not None
            name = _name_matches(path.replace("/", ""), pattern.strip("{}").replace("/", ""))
    assert time.perf_counter() - started < 2
    assert found is path.endswith("b") and gitignore is rule is path.endswith("b")
    assert name is path.endswith("b")


def test_glob_on_a_long_file_name_is_fast(tmp_path: Path) -> None:
    (tmp_path / ("a" * 200)).write_text("")
    (tmp_path / ("a" * 199 + "b")).write_text("")
    started = time.perf_counter()
    with deadline(10):
        out = asyncio.run(Glob().run({"pattern": "*a*a*a*a*a*a*a*a*a*a*a*a*b"}, ToolContext(root=tmp_path)))
    assert out == "a" * 199 + "b"
    assert time.perf_counter() - started < 2


def test_braces_expanding_past_the_limit_are_refused(tmp_path: Path) -> None:
    pattern = "{a,b}" * 11  # 2048 alternatives
    with pytest.raises(ValueError, match=f"more than {MAX_ALTERNATIVES}"):
        glob_to_regex(pattern)
    with pytest.raises(ToolError, match="invalid pattern"):
        asyncio.run(Glob().run({"pattern": pattern}, ToolContext(root=tmp_path)))
    assert glob_to_regex("{a,b}" * 10).match("ab" * 5)
