"""The notebooks run on kernels nbval starts, which inherit this process's environment: give
them an agentbook home of their own (`AGENTBOOK_HOME`), so their runs never land in
`~/.agentbook`; it is removed at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_HOME = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_HOME] = Path(tempfile.mkdtemp(prefix="agentbook-notebooks-home-"))
    os.environ["AGENTBOOK_HOME"] = str(config.stash[_HOME])


def pytest_unconfigure(config: pytest.Config) -> None:
    if _HOME in config.stash:
        shutil.rmtree(config.stash[_HOME], ignore_errors=True)
