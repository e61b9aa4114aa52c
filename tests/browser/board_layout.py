"""Whether the run board fits its cell, read from the element boxes a browser laid out.

Used by `test_board_in_jupyterlab`: `BOARD_BOXES_JS` reads every cell of the header, of each
agent's row and of the totals (`getBoundingClientRect`, and whether a cell's text is cut), and
`layout_problems` turns what it read into sentences, one per thing a user would see wrong: a cell
outside the board's cell, a column cut, a row on more than one line, a column out of line with the
header, a totals state cut off.  Screenshots show the same, but boxes are what the test checks.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BOARD_BOXES_JS", "layout_problems"]

BOARD_BOXES_JS = """() => {
    const board = document.querySelector('.agentbook-board');
    if (!board) return null;
    const cell = board.closest('.jp-OutputArea-output') || board.parentElement;
    const box = e => { const r = e.getBoundingClientRect();
        return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width}; };
    const spans = line => [...line.querySelectorAll('.agentbook-line > span')].map(s => ({
        cls: s.className, text: s.textContent, title: s.title, ...box(s),
        cut: s.scrollWidth > s.clientWidth + 1}));
    const rows = [...board.querySelectorAll('.agentbook-row')].map(row => ({
        name: row.querySelector('.agentbook-agent').textContent, row: box(row),
        state: ([...row.classList].find(c => c.startsWith('agentbook-state-')) || '').slice(16),
        button: box(row.querySelector('.agentbook-transcript-button')),
        prompt: !!row.querySelector('.agentbook-permission'),
        cells: spans(row.querySelector('.agentbook-cells'))}));
    const right = cell.getBoundingClientRect().right + 1;
    const outside = [...board.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > right)
        .map(e => e.className).slice(0, 5);
    return {cell: box(cell), board: box(board), rows, outside,
            scrolls: board.scrollWidth > board.clientWidth + 1,
            header: spans(board.querySelector('.agentbook-header')),
            totals: spans(board.querySelector('.agentbook-totals'))};
}"""
"""The board's boxes in viewport pixels: `cell` (the output area), `rows` (per agent: its row,
state, expander, whether a permission prompt shows, and its cells), `header`, `totals`, `outside` (what
reaches past the cell's right edge) and `scrolls` (a horizontal scrollbar)."""

_MAY_CUT = {"agentbook-agent"}  # a long name ends in an ellipsis (its tooltip has it whole)


def layout_problems(seen: dict[str, Any]) -> list[str]:
    """What is wrong with the board `BOARD_BOXES_JS` read; [] if nothing."""
    problems: list[str] = []
    cell = seen["cell"]
    if seen["outside"] or seen["scrolls"]:
        problems.append(f"wider than its cell: {seen['outside']} (scrollbar: {seen['scrolls']})")
    header = {c["cls"]: c for c in seen["header"]}
    problems += [f"the {c['text']!r} title is cut" for c in seen["header"] if c["cut"]]
    for row in seen["rows"]:
        problems += _row_problems(row, cell, header)
    totals = seen["totals"]
    states_cell = next((c for c in totals if c["cls"] == "agentbook-totals-states"), None)
    if states_cell is None:
        return [*problems, "the totals show no states"]
    counts: dict[str, int] = {}
    for state in (row["state"] for row in seen["rows"]):
        counts[state] = counts.get(state, 0) + 1
    for state, n in counts.items():
        if f"{n} {state}" not in states_cell["text"]:
            problems.append(f"the totals' states {states_cell['text']!r} leave out '{n} {state}'")
    if states_cell["cut"] or states_cell["right"] > cell["right"] + 1:
        problems.append(f"the totals' states are cut: {states_cell}")
    for total in totals:
        column = header.get(total["cls"])
        if column is not None and total["text"] and not _aligned(total, column):
            problems.append(f"totals' {total['cls']} not under its header: {total} vs {column}")
        if total["cut"]:
            problems.append(f"totals' {total['cls']} cut ({total['text']!r} in {total['width']:.0f} px)")
    return problems


def _row_problems(row: dict[str, Any], cell: dict[str, Any], header: dict[str, Any]) -> list[str]:
    name, cells = row["name"], row["cells"]
    problems = []
    if len(cells) != len(header):
        return [f"{name}: {len(cells)} cells for {len(header)} columns"]
    for c in cells:
        if c["width"] <= 0 or c["left"] < cell["left"] - 1 or c["right"] > cell["right"] + 1:
            problems.append(f"{name}: {c['cls']} not inside the cell's box: {c}")
        if c["cut"] and c["cls"] not in _MAY_CUT:
            problems.append(f"{name}: {c['cls']} cut ({c['text']!r} in {c['width']:.0f} px)")
        if c["cut"] and c["title"] != c["text"]:
            problems.append(f"{name}: {c['cls']} cut without its whole value as a tooltip")
        if not _aligned(c, header[c["cls"]]):
            problems.append(f"{name}: {c['cls']} not under its header: {c} vs {header[c['cls']]}")
    tops, bottoms = [c["top"] for c in cells], [c["bottom"] for c in cells]
    if max(tops) - min(tops) > 1 or max(bottoms) - min(bottoms) > 1:
        problems.append(f"{name}: cells on more than one line (tops {sorted(set(tops))})")
    button = row["button"]
    if button["top"] >= max(bottoms) or button["bottom"] <= min(tops):
        problems.append(f"{name}: the expander is not on its cells' line ({button} vs {min(tops)})")
    if not row["prompt"] and row["row"]["bottom"] - row["row"]["top"] > 2 * (max(bottoms) - min(tops)):
        problems.append(f"{name}: the row is more than one line high: {row['row']}")
    return problems


def _aligned(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return abs(a["left"] - b["left"]) <= 1 and abs(a["right"] - b["right"]) <= 1
