"""The built-in tools' normal behaviour and errors, on real temporary folders.

Escapes (paths leaving the root) have their own catalogue in test_tool_escapes.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentbook.messages import ToolSchema
from agentbook.tools import (
    BUILTIN_TOOLS,
    Bash,
    Edit,
    Glob,
    Grep,
    Read,
    Tool,
    ToolContext,
    ToolError,
    Write,
    schema,
    tools_named,
    validate_input,
)
from agentbook.tools._globs import glob_to_regex
from agentbook.tools.glob import GLOB_MAX_RESULTS, INLINE_WALK_ENTRIES
from agentbook.tools.shell import OutputBuffer, check_command_paths, shell_env


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty agent root; HOME points to a separate folder outside it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def ctx(root: Path) -> ToolContext:
    return ToolContext(root=root)


def run(tool: Tool, input: dict[str, Any], ctx: ToolContext) -> str:
    return asyncio.run(tool.run(input, ctx))


def write(path: Path, text: str, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


# ---------------------------------------------------------------------------------------------
# Registry and schemas


def test_builtin_tools_are_claude_codes_six() -> None:
    assert list(BUILTIN_TOOLS) == ["Read", "Write", "Edit", "Glob", "Grep", "Bash"]
    for name, tool in BUILTIN_TOOLS.items():
        assert isinstance(tool, Tool)
        assert tool.name == name


@pytest.mark.parametrize("tool", list(BUILTIN_TOOLS.values()), ids=list(BUILTIN_TOOLS))
def test_schemas_are_strict_objects(tool: Tool) -> None:
    s = tool.input_schema
    assert s["type"] == "object"
    assert s["additionalProperties"] is False
    assert s["required"] and set(s["required"]) <= set(s["properties"])
    for spec in s["properties"].values():
        assert spec["type"] in {"string", "integer", "number", "boolean"}
        assert spec["description"]
    assert len(tool.description) > 100
    shown = schema(tool)
    assert isinstance(shown, ToolSchema)
    assert shown.to_api() == {"name": tool.name, "description": tool.description, "input_schema": s}


def test_claude_code_parameter_names() -> None:
    def props(name: str) -> set[str]:
        return set(BUILTIN_TOOLS[name].input_schema["properties"])

    assert props("Read") == {"file_path", "offset", "limit"}
    assert props("Write") == {"file_path", "content"}
    assert props("Edit") == {"file_path", "old_string", "new_string", "replace_all"}
    assert props("Glob") == {"pattern", "path"}
    assert {"pattern", "path", "glob", "type", "output_mode", "-i", "-n", "-A", "-B", "-C"} <= props("Grep")
    assert {"head_limit", "multiline"} <= props("Grep")
    assert props("Bash") == {"command", "timeout", "description", "run_in_background"}


def test_tools_named_keeps_order() -> None:
    assert [t.name for t in tools_named(["Bash", "Read"])] == ["Bash", "Read"]
    assert tools_named([]) == []


def test_tools_named_names_every_unknown_tool() -> None:
    with pytest.raises(ValueError, match="'Agent'") as info:
        tools_named(["Read", "Agent", "Nope"])
    assert "'Nope'" in str(info.value)
    assert "Read" in str(info.value)  # lists the known ones


# ---------------------------------------------------------------------------------------------
# Input validation


def test_unknown_key_is_named(ctx: ToolContext) -> None:
    write(ctx.root / "f", "x\n")
    with pytest.raises(ToolError, match="unknown parameter 'path'"):
        run(Read(), {"file_path": "f", "path": "f"}, ctx)


def test_missing_required_key_is_named(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="missing required parameter 'content'"):
        run(Write(), {"file_path": "f"}, ctx)


@pytest.mark.parametrize(
    ("tool", "input", "key"),
    [
        (Read(), {"file_path": 3}, "file_path"),
        (Read(), {"file_path": "f", "limit": "10"}, "limit"),
        (Read(), {"file_path": "f", "offset": True}, "offset"),
        (Read(), {"file_path": "f", "limit": 2.5}, "limit"),
        (
            Edit(),
            {"file_path": "f", "old_string": "a", "new_string": "b", "replace_all": "yes"},
            "replace_all",
        ),
        (Grep(), {"pattern": "x", "-i": 1}, "-i"),
        (Bash(), {"command": ["ls"]}, "command"),
        (Bash(), {"command": None}, "command"),
    ],
)
def test_wrong_type_is_named(tool: Tool, input: dict[str, Any], key: str, ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match=f"'{key}'"):
        run(tool, input, ctx)


def test_input_must_be_an_object() -> None:
    with pytest.raises(ToolError, match="JSON object"):
        validate_input(Read().input_schema, ["file_path"])


def test_enum_and_minimum_are_checked(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="'output_mode' must be one of"):
        run(Grep(), {"pattern": "x", "output_mode": "lines"}, ctx)
    with pytest.raises(ToolError, match="'limit' must be >= 1"):
        run(Read(), {"file_path": "f", "limit": 0}, ctx)


def test_lenient_on_integral_floats_and_null_optionals() -> None:
    out = validate_input(Read().input_schema, {"file_path": "f", "limit": 10.0, "offset": None})
    assert out == {"file_path": "f", "limit": 10}
    assert isinstance(out["limit"], int)


# ---------------------------------------------------------------------------------------------
# Read


def test_read_is_cat_n(ctx: ToolContext) -> None:
    write(ctx.root / "a.txt", "alpha\n\tbeta\ngamma")
    assert run(Read(), {"file_path": "a.txt"}, ctx) == "     1\talpha\n     2\t\tbeta\n     3\tgamma"


def test_read_accepts_an_absolute_path_inside_the_root(ctx: ToolContext) -> None:
    path = write(ctx.root / "sub" / "a.txt", "x\n")
    assert run(Read(), {"file_path": str(path)}, ctx) == "     1\tx"


def test_read_offset_and_limit(ctx: ToolContext) -> None:
    write(ctx.root / "n.txt", "".join(f"line {i}\n" for i in range(1, 11)))
    out = run(Read(), {"file_path": "n.txt", "offset": 4, "limit": 3}, ctx)
    lines = out.splitlines()
    assert lines[:3] == ["     4\tline 4", "     5\tline 5", "     6\tline 6"]
    assert "offset=7" in out  # says where to continue


def test_read_to_the_end_has_no_continuation_note(ctx: ToolContext) -> None:
    write(ctx.root / "n.txt", "a\nb\nc\n")
    assert run(Read(), {"file_path": "n.txt", "offset": 2}, ctx) == "     2\tb\n     3\tc"
    assert run(Read(), {"file_path": "n.txt", "offset": 0, "limit": 1}, ctx).startswith("     1\ta\n")


def test_read_default_limit_is_2000_lines(ctx: ToolContext) -> None:
    write(ctx.root / "big.txt", "".join(f"{i}\n" for i in range(1, 2501)))
    out = run(Read(), {"file_path": "big.txt"}, ctx)
    assert "  2000\t2000" in out
    assert "  2001\t" not in out
    assert "offset=2001" in out


def test_read_offset_beyond_end(ctx: ToolContext) -> None:
    write(ctx.root / "n.txt", "a\nb\nc\n")
    out = run(Read(), {"file_path": "n.txt", "offset": 10}, ctx)
    assert "shorter than the provided offset (10)" in out
    assert "3 lines" in out


def test_read_empty_file(ctx: ToolContext) -> None:
    write(ctx.root / "empty.txt", "")
    out = run(Read(), {"file_path": "empty.txt"}, ctx)
    assert "empty" in out
    assert out.startswith("<system-reminder>")


def test_read_truncates_long_lines(ctx: ToolContext) -> None:
    write(ctx.root / "long.txt", "x" * 2500 + "\nshort\n")
    first, second = run(Read(), {"file_path": "long.txt"}, ctx).splitlines()
    assert first.startswith("     1\t" + "x" * 2000)
    assert "x" * 2001 not in first
    assert "500 more characters" in first
    assert second == "     2\tshort"


def test_read_stops_at_a_size_cap_and_says_where_to_go_on(ctx: ToolContext) -> None:
    write(ctx.root / "wide.txt", ("y" * 1000 + "\n") * 2000)
    out = run(Read(), {"file_path": "wide.txt"}, ctx)
    assert 100_000 <= len(out) < 110_000
    assert "the file continues: read with offset=" in out


def test_read_strips_crlf_and_replaces_bad_utf8(ctx: ToolContext) -> None:
    (ctx.root / "dos.txt").write_bytes(b"one\r\ntwo\xff\r\n")
    assert run(Read(), {"file_path": "dos.txt"}, ctx) == "     1\tone\n     2\ttwo\ufffd"


def test_read_missing_file(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="File does not exist"):
        run(Read(), {"file_path": "nope.txt"}, ctx)


def test_read_directory(ctx: ToolContext) -> None:
    (ctx.root / "d").mkdir()
    with pytest.raises(ToolError, match="is a directory"):
        run(Read(), {"file_path": "d"}, ctx)


def test_read_binary_file_is_refused_without_dumping_bytes(ctx: ToolContext) -> None:
    (ctx.root / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(ToolError, match="cannot be read as text") as info:
        run(Read(), {"file_path": "img.png"}, ctx)
    assert "IHDR" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# Write


def test_write_creates_file_and_parents(ctx: ToolContext) -> None:
    out = run(Write(), {"file_path": "a/b/c.txt", "content": "hello\nworld\n"}, ctx)
    assert (ctx.root / "a/b/c.txt").read_text() == "hello\nworld\n"
    assert "created" in out
    assert "a/b/c.txt" in out


def test_write_overwrites(ctx: ToolContext) -> None:
    path = write(ctx.root / "f.txt", "old")
    out = run(Write(), {"file_path": str(path), "content": "new"}, ctx)
    assert path.read_text() == "new"
    assert "overwritten" in out


def test_write_keeps_content_exactly(ctx: ToolContext) -> None:
    run(Write(), {"file_path": "dos.txt", "content": "a\r\nb\r\nü"}, ctx)
    assert (ctx.root / "dos.txt").read_bytes() == "a\r\nb\r\nü".encode()


def test_write_to_a_directory_is_refused(ctx: ToolContext) -> None:
    (ctx.root / "d").mkdir()
    with pytest.raises(ToolError, match="is a directory"):
        run(Write(), {"file_path": "d", "content": "x"}, ctx)


def test_write_through_a_symlink_inside_the_root(ctx: ToolContext) -> None:
    target = write(ctx.root / "real.txt", "old")
    (ctx.root / "alias.txt").symlink_to("real.txt")
    run(Write(), {"file_path": "alias.txt", "content": "new"}, ctx)
    assert target.read_text() == "new"


# ---------------------------------------------------------------------------------------------
# Edit


def test_edit_replaces_a_unique_string(ctx: ToolContext) -> None:
    path = write(ctx.root / "f.py", "def foo():\n    return 1\n")
    out = run(Edit(), {"file_path": "f.py", "old_string": "return 1", "new_string": "return 2"}, ctx)
    assert path.read_text() == "def foo():\n    return 2\n"
    assert "1 replacement" in out
    assert "f.py" in out


def test_edit_string_not_found(ctx: ToolContext) -> None:
    path = write(ctx.root / "f.py", "abc\n")
    with pytest.raises(ToolError, match="String to replace not found"):
        run(Edit(), {"file_path": "f.py", "old_string": "xyz", "new_string": "q"}, ctx)
    assert path.read_text() == "abc\n"


def test_edit_ambiguous_string_is_refused(ctx: ToolContext) -> None:
    path = write(ctx.root / "f.py", "x = 1\nx = 1\nx = 1\n")
    with pytest.raises(ToolError, match="Found 3 matches") as info:
        run(Edit(), {"file_path": "f.py", "old_string": "x = 1", "new_string": "x = 2"}, ctx)
    assert "replace_all" in str(info.value)
    assert "context" in str(info.value)
    assert path.read_text() == "x = 1\nx = 1\nx = 1\n"


def test_edit_replace_all(ctx: ToolContext) -> None:
    path = write(ctx.root / "f.py", "foo(foo, foo)\n")
    args = {"file_path": "f.py", "old_string": "foo", "new_string": "bar", "replace_all": True}
    out = run(Edit(), args, ctx)
    assert path.read_text() == "bar(bar, bar)\n"
    assert "3 replacements" in out


def test_edit_identical_strings_is_refused(ctx: ToolContext) -> None:
    write(ctx.root / "f.py", "abc\n")
    with pytest.raises(ToolError, match="exactly the same"):
        run(Edit(), {"file_path": "f.py", "old_string": "abc", "new_string": "abc"}, ctx)


def test_edit_missing_file(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="File does not exist"):
        run(Edit(), {"file_path": "nope.py", "old_string": "a", "new_string": "b"}, ctx)


def test_edit_directory(ctx: ToolContext) -> None:
    (ctx.root / "d").mkdir()
    with pytest.raises(ToolError, match="is a directory"):
        run(Edit(), {"file_path": "d", "old_string": "a", "new_string": "b"}, ctx)


def test_edit_with_empty_old_string_creates_a_file(ctx: ToolContext) -> None:
    out = run(Edit(), {"file_path": "new/f.txt", "old_string": "", "new_string": "hi\n"}, ctx)
    assert (ctx.root / "new/f.txt").read_text() == "hi\n"
    assert "created" in out


def test_edit_with_empty_old_string_will_not_clobber(ctx: ToolContext) -> None:
    path = write(ctx.root / "f.txt", "keep me")
    with pytest.raises(ToolError, match="already exists"):
        run(Edit(), {"file_path": "f.txt", "old_string": "", "new_string": "x"}, ctx)
    assert path.read_text() == "keep me"


def test_edit_keeps_crlf(ctx: ToolContext) -> None:
    path = ctx.root / "dos.txt"
    path.write_bytes(b"a\r\nb\r\n")
    run(Edit(), {"file_path": "dos.txt", "old_string": "b", "new_string": "c"}, ctx)
    assert path.read_bytes() == b"a\r\nc\r\n"


def test_edit_binary_file_is_refused(ctx: ToolContext) -> None:
    path = ctx.root / "blob.bin"
    path.write_bytes(b"ab\x00cd")
    with pytest.raises(ToolError, match="binary"):
        run(Edit(), {"file_path": "blob.bin", "old_string": "ab", "new_string": "xy"}, ctx)
    assert path.read_bytes() == b"ab\x00cd"


# ---------------------------------------------------------------------------------------------
# Glob


@pytest.fixture
def tree(ctx: ToolContext) -> Path:
    """A small project with distinct modification times (higher = newer)."""
    r = ctx.root
    write(r / "top.py", "", mtime=1000)
    write(r / "README.md", "", mtime=1001)
    write(r / "src/app.py", "", mtime=1005)
    write(r / "src/util/helpers.py", "", mtime=1003)
    write(r / "src/util/data.json", "", mtime=1002)
    write(r / "src/web/app.ts", "", mtime=1004)
    write(r / "src/web/view.tsx", "", mtime=1006)
    write(r / ".git/config.py", "", mtime=2000)
    write(r / ".hidden.py", "", mtime=999)
    return r


def test_glob_recursive_newest_first(ctx: ToolContext, tree: Path) -> None:
    out = run(Glob(), {"pattern": "**/*.py"}, ctx)
    assert out.splitlines() == ["src/app.py", "src/util/helpers.py", "top.py", ".hidden.py"]


def test_glob_single_star_is_one_level(ctx: ToolContext, tree: Path) -> None:
    assert run(Glob(), {"pattern": "*.py"}, ctx).splitlines() == ["top.py", ".hidden.py"]


def test_glob_with_directory_prefix_braces_and_classes(ctx: ToolContext, tree: Path) -> None:
    assert run(Glob(), {"pattern": "src/**/*.{ts,tsx}"}, ctx).splitlines() == [
        "src/web/view.tsx",
        "src/web/app.ts",
    ]
    assert run(Glob(), {"pattern": "src/*/[dh]*.*"}, ctx).splitlines() == [
        "src/util/helpers.py",
        "src/util/data.json",
    ]
    assert run(Glob(), {"pattern": "src/web/app.t?"}, ctx) == "src/web/app.ts"


def test_glob_path_argument(ctx: ToolContext, tree: Path) -> None:
    assert run(Glob(), {"pattern": "*.py", "path": "src"}, ctx) == "src/app.py"
    assert run(Glob(), {"pattern": "*.py", "path": str(tree / "src/util")}, ctx) == "src/util/helpers.py"


def test_glob_absolute_pattern_inside_root(ctx: ToolContext, tree: Path) -> None:
    assert run(Glob(), {"pattern": f"{tree}/src/**/*.json"}, ctx) == "src/util/data.json"


def test_glob_skips_git(ctx: ToolContext, tree: Path) -> None:
    assert ".git" not in run(Glob(), {"pattern": "**/*"}, ctx)


def test_glob_no_files_found(ctx: ToolContext, tree: Path) -> None:
    assert run(Glob(), {"pattern": "**/*.rs"}, ctx) == "No files found"
    assert run(Glob(), {"pattern": "missing_dir/*.py"}, ctx) == "No files found"


def test_glob_caps_results(ctx: ToolContext) -> None:
    for i in range(GLOB_MAX_RESULTS + 5):
        write(ctx.root / f"f{i:03}.txt", "", mtime=1000 + i)
    lines = run(Glob(), {"pattern": "*.txt"}, ctx).splitlines()
    assert len(lines) == GLOB_MAX_RESULTS + 1
    assert lines[0] == "f104.txt"  # newest
    assert "truncated" in lines[-1]


def test_glob_lists_file_links_inside_the_root_but_not_linked_directories(ctx: ToolContext) -> None:
    write(ctx.root / "src/real.py", "", mtime=1000)
    (ctx.root / "alias.py").symlink_to("src/real.py")  # a file link inside the root: listed
    (ctx.root / "mirror").symlink_to("src")  # a directory link: never walked (no loops, no doubles)
    (ctx.root / "broken.py").symlink_to("src/missing.py")  # dangling: not a regular file
    assert sorted(run(Glob(), {"pattern": "**/*.py"}, ctx).splitlines()) == ["alias.py", "src/real.py"]


@pytest.mark.parametrize("files", [10, INLINE_WALK_ENTRIES + 40])
def test_glob_walks_small_trees_on_the_loop_and_big_ones_in_a_thread(
    ctx: ToolContext, files: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(files):
        write(ctx.root / f"d{i % 4}" / f"f{i:04}.txt", "", mtime=1000 + i)
    threads: list[str] = []
    real_to_thread = asyncio.to_thread

    async def spy(func: Any, /, *args: Any) -> Any:
        threads.append(func.__name__)
        return await real_to_thread(func, *args)

    monkeypatch.setattr(asyncio, "to_thread", spy)
    lines = run(Glob(), {"pattern": "**/*.txt"}, ctx).splitlines()
    # Either way the same answer: newest first, capped.
    newest = [f"d{i % 4}/f{i:04}.txt" for i in range(files - 1, -1, -1)][:GLOB_MAX_RESULTS]
    assert lines[:GLOB_MAX_RESULTS] == newest
    assert threads == ([] if files <= INLINE_WALK_ENTRIES else ["_glob"])


def test_glob_bad_path(ctx: ToolContext, tree: Path) -> None:
    with pytest.raises(ToolError, match="does not exist"):
        run(Glob(), {"pattern": "*", "path": "nope"}, ctx)
    with pytest.raises(ToolError, match="not a directory"):
        run(Glob(), {"pattern": "*", "path": "top.py"}, ctx)
    with pytest.raises(ToolError, match=r"'\.\.'"):
        run(Glob(), {"pattern": "src/*/../*"}, ctx)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.py", "a.py", True),
        ("*.py", "d/a.py", False),
        ("**/*.py", "a.py", True),
        ("**/*.py", "d/e/a.py", True),
        ("d/**", "d/e/f", True),
        ("d/**/f", "d/f", True),
        ("a**b", "axxb", True),
        ("a**b", "a/b", False),
        ("?.txt", "ab.txt", False),
        ("[!a]*", "b", True),
        ("[!a]*", "a", False),
        ("*.{js,jsx}", "x.jsx", True),
        ("{src,lib}/**/*.rs", "lib/x/y.rs", True),
        ("a+b(c).txt", "a+b(c).txt", True),
        ("\\*", "*", True),
        ("[", "[", True),
    ],
)
def test_glob_to_regex(pattern: str, path: str, expected: bool) -> None:
    assert bool(glob_to_regex(pattern).match(path)) is expected


# ---------------------------------------------------------------------------------------------
# Grep


@pytest.fixture
def code(ctx: ToolContext) -> Path:
    r = ctx.root
    write(r / "a.py", "import os\n\ndef alpha():\n    return os.sep\n", mtime=1000)
    write(r / "b.js", "function beta() {\n  return 'Alpha';\n}\n", mtime=1002)
    write(r / "docs/c.md", "# Alpha\nsome text\nmore text\nalpha again\nend\n", mtime=1001)
    write(r / ".git/HEAD", "alpha in git\n")
    (r / "blob.bin").write_bytes(b"alpha\x00\x01")
    return r


def test_grep_files_with_matches_is_default_newest_first(ctx: ToolContext, code: Path) -> None:
    out = run(Grep(), {"pattern": "alpha", "-i": True}, ctx)
    assert out.splitlines() == ["Found 3 files", "b.js", "docs/c.md", "a.py"]


def test_grep_is_case_sensitive_by_default(ctx: ToolContext, code: Path) -> None:
    assert run(Grep(), {"pattern": "Alpha"}, ctx).splitlines() == ["Found 2 files", "b.js", "docs/c.md"]


def test_grep_content_mode_with_line_numbers(ctx: ToolContext, code: Path) -> None:
    out = run(Grep(), {"pattern": r"def \w+", "output_mode": "content"}, ctx)
    assert out == "a.py:3:def alpha():"


def test_grep_content_mode_without_line_numbers(ctx: ToolContext, code: Path) -> None:
    out = run(Grep(), {"pattern": "alpha", "output_mode": "content", "-n": False, "path": "docs"}, ctx)
    assert out == "docs/c.md:alpha again"


def test_grep_context_lines(ctx: ToolContext, code: Path) -> None:
    out = run(Grep(), {"pattern": "(?i)alpha", "path": "docs/c.md", "output_mode": "content", "-C": 1}, ctx)
    assert out.splitlines() == [
        "docs/c.md:1:# Alpha",
        "docs/c.md-2-some text",
        "docs/c.md-3-more text",
        "docs/c.md:4:alpha again",
        "docs/c.md-5-end",
    ]


def test_grep_before_and_after_with_separators(ctx: ToolContext) -> None:
    write(ctx.root / "f.txt", "".join(f"l{i}\n" for i in range(1, 11)) + "l1x\n")
    out = run(Grep(), {"pattern": "^l(3|8)$", "output_mode": "content", "-B": 1, "-A": 0}, ctx)
    assert out.splitlines() == ["f.txt-2-l2", "f.txt:3:l3", "--", "f.txt-7-l7", "f.txt:8:l8"]


def test_grep_count_mode(ctx: ToolContext, code: Path) -> None:
    out = run(Grep(), {"pattern": "alpha", "-i": True, "output_mode": "count"}, ctx)
    lines = out.splitlines()
    assert lines[:3] == ["a.py:1", "b.js:1", "docs/c.md:2"]
    assert "Found 4 total" in out
    assert "3 files" in out


def test_grep_glob_and_type_filters(ctx: ToolContext, code: Path) -> None:
    assert run(Grep(), {"pattern": "(?i)alpha", "glob": "*.md"}, ctx).splitlines()[1:] == ["docs/c.md"]
    assert run(Grep(), {"pattern": "(?i)alpha", "glob": "*.{py,js}"}, ctx).splitlines()[1:] == [
        "b.js",
        "a.py",
    ]
    assert run(Grep(), {"pattern": "(?i)alpha", "glob": "!*.md"}, ctx).splitlines()[1:] == ["b.js", "a.py"]
    assert run(Grep(), {"pattern": "(?i)alpha", "glob": "docs/*.md"}, ctx).splitlines()[1:] == ["docs/c.md"]
    assert run(Grep(), {"pattern": "(?i)alpha", "type": "py"}, ctx).splitlines()[1:] == ["a.py"]
    assert run(Grep(), {"pattern": "(?i)alpha", "type": "js"}, ctx).splitlines()[1:] == ["b.js"]


def test_grep_unknown_type(ctx: ToolContext, code: Path) -> None:
    with pytest.raises(ToolError, match="unknown file type 'cobol'"):
        run(Grep(), {"pattern": "x", "type": "cobol"}, ctx)


def test_grep_skips_git_and_binary_files(ctx: ToolContext, code: Path) -> None:
    out = run(Grep(), {"pattern": "alpha", "output_mode": "content"}, ctx)
    assert ".git" not in out
    assert "blob.bin" not in out


def test_grep_head_limit_and_offset(ctx: ToolContext) -> None:
    write(ctx.root / "f.txt", "".join(f"hit {i}\n" for i in range(1, 11)))
    out = run(Grep(), {"pattern": "hit", "output_mode": "content", "head_limit": 3}, ctx)
    assert out.splitlines()[:3] == ["f.txt:1:hit 1", "f.txt:2:hit 2", "f.txt:3:hit 3"]
    assert "Showing 3 of 10" in out
    out = run(Grep(), {"pattern": "hit", "output_mode": "content", "head_limit": 2, "offset": 8}, ctx)
    assert out.splitlines()[:2] == ["f.txt:9:hit 9", "f.txt:10:hit 10"]


def test_grep_multiline(ctx: ToolContext) -> None:
    write(ctx.root / "s.go", "type S struct {\n    a int\n    field string\n}\nx\n")
    pattern = r"struct \{.*?field"
    assert run(Grep(), {"pattern": pattern}, ctx) == "No files found"
    out = run(Grep(), {"pattern": pattern, "multiline": True, "output_mode": "content"}, ctx)
    assert out.splitlines() == ["s.go:1:type S struct {", "s.go:2:    a int", "s.go:3:    field string"]
    assert run(Grep(), {"pattern": pattern, "multiline": True, "output_mode": "count"}, ctx).startswith(
        "s.go:3"
    )


def test_grep_invalid_regex(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="Invalid regular expression") as info:
        run(Grep(), {"pattern": "foo(bar"}, ctx)
    assert "unclosed group" in str(info.value)  # ripgrep's message (Python's said "missing )")


def test_grep_no_matches(ctx: ToolContext, code: Path) -> None:
    assert run(Grep(), {"pattern": "zzz"}, ctx) == "No files found"
    assert run(Grep(), {"pattern": "zzz", "output_mode": "content"}, ctx) == "No matches found"
    assert run(Grep(), {"pattern": "zzz", "output_mode": "count"}, ctx) == "No matches found"


def test_grep_missing_path(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="does not exist"):
        run(Grep(), {"pattern": "x", "path": "nope"}, ctx)


def test_grep_output_is_capped(root: Path) -> None:
    ctx = ToolContext(root=root, max_output_chars=500)
    write(root / "f.txt", "match this line\n" * 200)
    out = run(Grep(), {"pattern": "match", "output_mode": "content"}, ctx)
    assert len(out) < 600
    assert "more characters not shown" in out


# ---------------------------------------------------------------------------------------------
# Bash


def test_bash_runs_in_the_root_and_combines_output(ctx: ToolContext) -> None:
    out = run(Bash(), {"command": "pwd; echo out; echo err >&2", "description": "show"}, ctx)
    assert out.splitlines() == [str(ctx.root), "out", "err"]


def test_bash_nonzero_exit_is_output_not_error(ctx: ToolContext) -> None:
    out = run(Bash(), {"command": "echo partial; exit 3"}, ctx)
    assert out == "partial\n\nExit code 3"


def test_bash_no_output(ctx: ToolContext) -> None:
    assert run(Bash(), {"command": "true"}, ctx) == "(no output)"
    assert run(Bash(), {"command": "false"}, ctx) == "Exit code 1"


def test_bash_killed_by_signal(ctx: ToolContext) -> None:
    assert run(Bash(), {"command": "kill -KILL $$"}, ctx) == "Killed by signal SIGKILL"


def test_bash_state_does_not_carry_over(ctx: ToolContext) -> None:
    run(Bash(), {"command": "mkdir d && cd d && export X=1"}, ctx)
    assert run(Bash(), {"command": 'pwd; echo "${X:-unset}"'}, ctx) == f"{ctx.root}\nunset"


def test_bash_can_write_files_in_the_root(ctx: ToolContext) -> None:
    run(Bash(), {"command": f"echo hi > out.txt && echo there >> {ctx.root}/out.txt"}, ctx)
    assert (ctx.root / "out.txt").read_text() == "hi\nthere\n"


def test_bash_timeout(ctx: ToolContext) -> None:
    start = time.monotonic()
    with pytest.raises(ToolError, match=r"timed out after 0\.3 s") as info:
        run(Bash(), {"command": "echo started; sleep 30", "timeout": 300}, ctx)
    assert time.monotonic() - start < 5
    assert "started" in str(info.value)


def test_bash_timeout_is_capped_by_the_context(root: Path) -> None:
    ctx = ToolContext(root=root, bash_max_timeout_s=0.3)
    with pytest.raises(ToolError, match=r"timed out after 0\.3 s"):
        run(Bash(), {"command": "sleep 30", "timeout": 600_000}, ctx)


def test_bash_default_timeout_comes_from_the_context(root: Path) -> None:
    ctx = ToolContext(root=root, bash_timeout_s=0.3)
    with pytest.raises(ToolError, match=r"timed out after 0\.3 s"):
        run(Bash(), {"command": "sleep 30"}, ctx)


def test_bash_run_in_background_is_not_supported(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="not supported"):
        run(Bash(), {"command": "sleep 1", "run_in_background": True}, ctx)
    assert run(Bash(), {"command": "echo fg", "run_in_background": False}, ctx) == "fg"


def test_bash_refuses_nul_and_empty_commands(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="NUL"):
        run(Bash(), {"command": "echo a\x00b"}, ctx)
    with pytest.raises(ToolError, match="empty"):
        run(Bash(), {"command": "  "}, ctx)


def test_bash_output_is_capped_keeping_head_and_tail(root: Path) -> None:
    ctx = ToolContext(root=root, max_output_chars=1000)
    out = run(Bash(), {"command": "echo FIRST; seq 1 100000; echo LAST"}, ctx)
    assert out.startswith("FIRST\n")
    assert out.endswith("LAST")
    assert len(out) < 1100
    assert "characters cut" in out
    total = len("FIRST\n") + sum(len(f"{i}\n") for i in range(1, 100_001)) + len("LAST\n")
    cut = int(out.split("output truncated: ")[1].split(" ")[0])
    assert cut == total - 1000


def test_output_buffer_bounds_memory_and_counts_what_it_drops() -> None:
    buffer = OutputBuffer(limit_bytes=40)
    for i in range(1000):
        buffer.feed(f"{i:04}\n".encode())
    assert len(buffer.head) == 40
    assert len(buffer.tail) == 40
    text = buffer.text(20)
    assert text.startswith("0000\n0001")
    assert text.endswith("0998\n0999\n")
    assert "4980 characters cut" in text  # 5000 in all, 20 kept


def test_bash_minimal_env_hides_the_parents_variables(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_TOKEN", "s3cret")
    out = run(Bash(), {"command": "env"}, ctx)
    names = {line.split("=", 1)[0] for line in out.splitlines()}
    assert names <= {"PATH", "HOME", "LANG", "PWD", "SHLVL", "_", "OLDPWD"}
    assert "s3cret" not in out


def test_bash_never_sees_anthropic_api_key(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-should-not-leak")
    cmd = {"command": 'echo "key=${ANTHROPIC_API_KEY:-unset}"; env | grep -c ANTHROPIC || true'}
    assert run(Bash(), cmd, ToolContext(root=root)) == "key=unset\n0"
    # Even when the caller passes a full environment that contains it.
    full = ToolContext(root=root, env={**os.environ, "ANTHROPIC_BASE_URL": "http://x", "FOO": "bar"})
    assert run(Bash(), cmd, full) == "key=unset\n0"
    assert run(Bash(), {"command": "echo $FOO"}, full) == "bar"
    assert "ANTHROPIC_API_KEY" not in shell_env(full)


def test_bash_allows_dev_null_and_executables_on_path(ctx: ToolContext) -> None:
    env_path = shutil.which("env")
    assert env_path is not None
    out = run(
        Bash(), {"command": f"{env_path} echo hi 2>/dev/null; X=1 {shutil.which('ls')} -d . </dev/null"}, ctx
    )
    assert out == "hi\n."


def test_bash_allows_a_venv_style_symlink_to_an_executable(ctx: ToolContext) -> None:
    (ctx.root / "bin").mkdir()
    (ctx.root / "bin/python").symlink_to(sys.executable)
    assert run(Bash(), {"command": "bin/python -c 'print(6*7)'"}, ctx) == "42"


@pytest.mark.parametrize(
    "command",
    [
        "ls -la",
        "cat sub/file.txt",
        "echo a=b --opt=value",
        "grep -r 'x' . | head -5 && echo done",
        "find . -name '*.py' -exec wc -l {} +",
        "git log --format=%H -1 2>/dev/null || true",
        "python3 -c 'print(1)'",
        "echo https://example.com/a/b",
        "sed -e 's/a/b/' f",
        "env -i /usr/bin/env true",
        "for f in *.txt; do echo $f; done",
        "echo $(pwd)",
        "cat <<'EOF'\nhello world\nEOF",
        "echo don't stop",  # unbalanced quote: the rough fallback split still checks words
    ],
)
def test_path_guard_allows(command: str, ctx: ToolContext) -> None:
    check_command_paths(command, ctx, shell_env(ctx))


@pytest.mark.parametrize(
    "command",
    [
        "cat /etc/passwd",
        "cat ../secret",
        "ls ~",
        "cat ~/.bashrc",
        "cd .. && cat x",
        "echo hi > /tmp/x",
        "echo hi>/tmp/x",
        "sort --output=/tmp/x f",
        "A=/etc/passwd; cat $A",
        "ls /",
        "cat sub/../../secret",
        "echo $(cat /etc/passwd)",
        "echo `ls /`",
        "cat /usr/bin/env",  # an executable, but not in command position
        "cat f # /etc/passwd",
        "echo a#b /etc/passwd",
        "echo it's /etc/passwd",  # unparseable by shlex: the fallback split still finds it
        "true\n/etc/passwd",
        "git -C /tmp status",
    ],
)
def test_path_guard_refuses(command: str, ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="refused"):
        check_command_paths(command, ctx, shell_env(ctx))


# ---------------------------------------------------------------------------------------------
# Bash: no process survives


def _alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (dead, waiting for its parent to reap it) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _assert_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [p for p in pids if _alive(p)]
    for p in survivors:  # do not leak them into other tests
        os.kill(p, signal.SIGKILL)
    assert not survivors, f"processes survived: {survivors}"


def _pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


# Spawns a background child and a grandchild (in a subshell), records their pids, then waits.
SPAWNER = "sleep 100 & echo $! > pids; (sleep 100 & echo $! >> pids; wait) & wait"


def test_cancellation_kills_the_whole_process_group(ctx: ToolContext) -> None:
    pids_file = ctx.root / "pids"

    async def scenario() -> None:
        task = asyncio.create_task(Bash().run({"command": SPAWNER}, ctx))
        deadline = time.monotonic() + 10
        while len(_pids(pids_file)) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    start = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - start < 10
    pids = _pids(pids_file)
    assert len(pids) == 2
    _assert_gone(pids)


def test_timeout_kills_the_whole_process_group(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="timed out"):
        run(Bash(), {"command": SPAWNER, "timeout": 500}, ctx)
    pids = _pids(ctx.root / "pids")
    assert len(pids) == 2
    _assert_gone(pids)


def test_timeout_kills_children_that_ignore_sigterm(ctx: ToolContext) -> None:
    command = "trap '' TERM; sleep 100 & echo $! > pids; wait"
    with pytest.raises(ToolError, match="timed out"):
        run(Bash(), {"command": command, "timeout": 300}, ctx)
    _assert_gone(_pids(ctx.root / "pids"))


def test_background_jobs_end_with_the_command(ctx: ToolContext) -> None:
    start = time.monotonic()
    out = run(Bash(), {"command": "sleep 100 & echo $!"}, ctx)
    assert time.monotonic() - start < 5  # does not wait for the job holding the output pipe
    _assert_gone([int(out)])


def test_many_concurrent_commands(ctx: ToolContext) -> None:
    async def scenario() -> list[str]:
        return await asyncio.gather(*(Bash().run({"command": f"echo {i}"}, ctx) for i in range(20)))

    assert asyncio.run(scenario()) == [str(i) for i in range(20)]
