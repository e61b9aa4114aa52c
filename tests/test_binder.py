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


def test_jupyter_lab_and_notebook_open_the_notebook_too() -> None:
    """`jupyter lab` and `jupyter notebook` have a default_url of their own, over the server's."""
    text = (BINDER / "postBuild").read_text()
    for app, prefix in (("LabApp", "/lab/tree/"), ("JupyterNotebookApp", "/tree/")):
        url = re.search(rf'c\.{app}\.default_url = "{re.escape(prefix)}(.+?)"', text)
        assert url is not None and (ROOT / url.group(1)).is_file(), app


def test_checkpoints_and_test_artefacts_are_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert {".ipynb_checkpoints/", "test-artifacts/", ".agentbook/"} <= set(ignored)


def test_readme_links_binder_with_a_labpath_that_exists() -> None:
    text = (ROOT / "README.md").read_text()
    link = re.search(r"https://mybinder\.org/v2/gh/[\w./-]+/HEAD\?labpath=(\S+?)`", text)
    assert link is not None and (ROOT / link.group(1)).is_file()
