"""A notebook runs headless under papermill with its parameters (issue 15, point 6): notebook 01
on a package made here, the offline model and a concurrency of 2, saved with its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import REPO

pytest.importorskip("papermill", reason="papermill is in the test extra")


def test_notebook_01_runs_under_papermill_with_its_parameters(tmp_path: Path) -> None:
    import papermill

    package = tmp_path / "tinypkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""A tiny package."""\n')
    for name in ("alpha", "beta", "gamma"):
        (package / f"{name}.py").write_text(
            f'"""The {name} module."""\n\n\ndef {name}():\n    """Do {name}."""\n'
        )
    out = tmp_path / "01-out.ipynb"
    papermill.execute_notebook(
        str(REPO / "notebooks" / "01_explore_codebase.ipynb"), str(out), cwd=str(REPO / "notebooks"),
        parameters={"MODEL": "offline", "FOLDER": str(package), "CONCURRENCY": 2}, progress_bar=False,
        kernel_name="python3",
    )  # fmt: skip
    cells = json.loads(out.read_text())["cells"]
    said = "".join(
        "".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c["outputs"]
    )
    assert "exploring: tinypkg" in said and "model: offline" in said
    injected = [c for c in cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert injected and "CONCURRENCY = 2" in "".join(injected[0]["source"])
