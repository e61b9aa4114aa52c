"""No module over 400 lines, no function over 50, no class over 250 (DESIGN.md; bench/sizes.py)."""

from __future__ import annotations

import importlib.util

from support import REPO


def test_the_package_keeps_to_the_size_limits() -> None:
    spec = importlib.util.spec_from_file_location("sizes", REPO / "bench" / "sizes.py")
    assert spec is not None and spec.loader is not None
    sizes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sizes)
    found = sizes.sizes()
    assert {s.kind for s in found} == {"module", "function", "class"}
    assert sizes.over_limits(found) == []
