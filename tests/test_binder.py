"""binder/ follows repo2docker's conventions and opens JupyterLab on a notebook that exists."""

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def test_runtime_requirements_and_postbuild() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    major, minor = map(int, re.fullmatch(r"python-(\d+)\.(\d+)", runtime).groups())  # type: ignore[union-attr]
    assert (major, minor) >= (3, 11)
    requirements = (BINDER / "requirements.txt").read_text()
    assert "jupyterlab" in requirements and "ipywidgets" in requirements
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK)
    text = post_build.read_text()
    assert text.startswith("#!/bin/bash") and "pip install --no-cache-dir -e ." in text


def test_default_url_names_a_real_notebook() -> None:
    text = (BINDER / "postBuild").read_text()
    url = re.search(r'default_url = "/lab/tree/(.+?)"', text)
    assert url is not None and (ROOT / url.group(1)).is_file()
