"""The layers hold at run time too: the core runs with the edges' libraries unimportable, the
turn loop loads no SDK, and no module imports the package root (the composition root)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from support import REPO

BLOCKED = """
import importlib.abc, sys
BLOCKED = {"anthropic", "IPython", "ipywidgets", "pandas", "matplotlib"}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, Block())
import agentbook as ab
from agentbook.models import ScriptedModel
run = ab.run_parallel({"a": "first", "b": "second"}, model=ScriptedModel(["one", "two"]), cwd=sys.argv[1])
run.wait(timeout=20)
assert run.status == {"a": "done", "b": "done"}, run.status
assert sorted(run.results.values()) == ["one", "two"], run.results
loaded = ab.load_run(run.run_dir, model=ScriptedModel(["three"]), interactive=False)
loaded.resume("a", prompt="again").wait(timeout=20)
assert loaded.results["a"] == "three"
print("ran", repr(run), sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
"""


def _python(code: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "AGENTBOOK_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_parallel_run_needs_none_of_the_edges_libraries(tmp_path: Path) -> None:
    done = _python(BLOCKED, str(tmp_path), home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "2 done" in done.stdout and done.stdout.strip().endswith("[]")


def test_the_blocker_does_block(tmp_path: Path) -> None:
    code = BLOCKED.split("import agentbook as ab")[0] + "import pandas\n"
    blocked = _python(code, home=tmp_path)
    assert blocked.returncode != 0 and "pandas is blocked in this test" in blocked.stderr


def test_the_turn_loop_loads_no_sdk(tmp_path: Path) -> None:
    code = (
        "import sys, agentbook.agent.loop, agentbook.scheduler.launch\n"
        "edges = ('anthropic', 'IPython', 'ipywidgets', 'pandas', 'matplotlib')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in edges))"
    )
    done = _python(code, home=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_no_module_imports_the_package_root() -> None:
    offenders = []
    for path in sorted((REPO / "agentbook").rglob("*.py")):
        if path == REPO / "agentbook" / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import) and any(a.name == "agentbook" for a in node.names):
                offenders.append(str(path.relative_to(REPO)))
            if isinstance(node, ast.ImportFrom) and node.module == "agentbook" and node.level == 0:
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
