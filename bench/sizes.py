"""The largest module, function and class of agentbook, against the limits of DESIGN.md.

    python bench/sizes.py            # the largest of each, and anything over 400 / 50 / 250 lines

Lines are counted as archcheck counts them: a module's physical lines, a function's or class's
from its `def`/`class` line (decorators excluded) to its last line.  `tests/test_sizes.py` holds
the package to the limits; this prints the figures.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import NamedTuple

LIMITS = {"module": 400, "function": 50, "class": 250}
PACKAGE = Path(__file__).resolve().parents[1] / "agentbook"


class Size(NamedTuple):
    lines: int
    kind: str
    where: str


def sizes(package: Path = PACKAGE) -> list[Size]:
    """Every module, function (methods and nested functions too) and class, largest first."""
    found: list[Size] = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(package.parent)
        found.append(Size(len(text.splitlines()), "module", str(rel)))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                assert node.end_lineno is not None
                found.append(
                    Size(node.end_lineno - node.lineno + 1, kind, f"{rel}:{node.lineno} {node.name}")
                )
    return sorted(found, reverse=True)


def over_limits(found: list[Size]) -> list[Size]:
    return [s for s in found if s.lines > LIMITS[s.kind]]


def main() -> int:
    found = sizes()
    for kind, limit in LIMITS.items():
        largest = next(s for s in found if s.kind == kind)
        print(f"largest {kind:<8} {largest.lines:>4} lines (limit {limit}): {largest.where}")
    over = over_limits(found)
    for size in over:
        print(f"OVER     {size.kind:<8} {size.lines:>4} lines: {size.where}")
    print(f"{len(over)} over the limits")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
