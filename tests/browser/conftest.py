"""The browser test's notebook waits for an Approve click, so nbval must never run it on its own
(pyproject's `--ignore-glob` only matches when pytest runs from the repository root)."""

collect_ignore_glob = ["*.ipynb"]
