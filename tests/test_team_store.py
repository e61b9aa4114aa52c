"""The storage and tools of agent teams: the shared task list (`agentbook.tools.team_tasks`) and
the mailbox (`agentbook.tools.mailbox`), on files in tmp_path, with races between asyncio tasks
and threads, reloads, crashes (torn lines, failed writes) and corrupt files."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from agentbook.tools.base import Tool, ToolContext, ToolError
from agentbook.tools.mailbox import Mailbox, MailChange, MailError, MailMessage, SendMessageTool
from agentbook.tools.team_tasks import (
    BoardError,
    TaskBoard,
    TaskChange,
    TaskCreateTool,
    TaskGetTool,
    TaskListTool,
    TaskUpdateTool,
    TeamTask,
    task_tools,
)

MEMBERS = ["lead", "researcher", "writer"]


@pytest.fixture
def board(tmp_path: Path) -> TaskBoard:
    return TaskBoard(tmp_path / "team" / "tasks.json")


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    root = tmp_path / "root"
    root.mkdir()
    return ToolContext(root=root)


def run(tool: Tool, input: dict[str, Any], ctx: ToolContext) -> str:
    return asyncio.run(tool.run(input, ctx))


# --- the task list -------------------------------------------------------------------------------


def test_create_get_list_update(board: TaskBoard) -> None:
    first = board.create("Read the code", "Find the parser", active_form="Reading the code")
    second = board.create("Write the report", "Summarise")
    assert (first.id, second.id) == ("1", "2")
    assert first == TeamTask("1", "Read the code", "Find the parser", active_form="Reading the code")
    assert board.get("1") == first and board.get("#2") == second
    assert board.list() == [first, second]
    updated = board.update("2", by="lead", subject="Write the final report", description="All of it")
    assert (updated.subject, updated.description, updated.status) == (
        "Write the final report",
        "All of it",
        "pending",
    )
    assert board.get("2") == updated
    with pytest.raises(BoardError, match=r"no task #9; the tasks are: #1, #2"):
        board.get("9")


def test_json_round_trip_uses_claude_codes_field_names() -> None:
    task = TeamTask("3", "S", "D", "in_progress", "researcher", ("1", "2"), ("4",), "Doing S")
    data = task.to_json()
    assert data == {
        "id": "3",
        "subject": "S",
        "description": "D",
        "activeForm": "Doing S",
        "status": "in_progress",
        "owner": "researcher",
        "blocks": ["4"],
        "blockedBy": ["1", "2"],
    }
    assert TeamTask.from_json(json.loads(json.dumps(data))) == task
    with pytest.raises(ValueError, match="status"):
        TeamTask.from_json({**data, "status": "done"})
    with pytest.raises(ValueError, match="blockedBy"):
        TeamTask.from_json({**data, "blockedBy": [1]})


def test_dependencies_block_claims_until_completed(board: TaskBoard) -> None:
    schema = board.create("Design the schema", "")
    parser = board.create("Write the parser", "", blocked_by=["1"])
    assert board.get("1").blocks == ("2",) and parser.blocked_by == ("1",)
    assert board.is_blocked("2") and [t.id for t in board.available()] == ["1"]
    with pytest.raises(BoardError, match=r"cannot claim task #2: it is blocked by #1 \(pending\)"):
        board.claim("2", "writer")
    with pytest.raises(BoardError, match="blocked by #1"):
        board.update("2", by="writer", owner="writer")
    assert board.claim(schema.id, "researcher").status == "in_progress"
    with pytest.raises(BoardError, match=r"blocked by #1 \(in_progress\)"):
        board.update("2", by="writer", status="in_progress")
    board.update("1", by="researcher", status="completed")
    assert not board.is_blocked("2") and [t.id for t in board.available()] == ["2"]
    claimed = board.update("2", by="writer", status="in_progress")  # starting an unowned task claims it
    assert (claimed.owner, claimed.status) == ("writer", "in_progress")
    assert board.available() == [] and not board.all_completed()
    assert board.create("Review", "", blocked_by="2").blocked_by == ("2",)  # one id, not its characters
    board.delete("3", by="lead")
    board.update("2", by="writer", status="completed")
    assert board.all_completed()


def test_claim_refuses_owned_and_completed_tasks(board: TaskBoard) -> None:
    board.create("A", "")
    board.claim("1", "researcher")
    assert board.claim("1", "researcher").owner == "researcher"  # claiming one's own task again is fine
    with pytest.raises(BoardError, match="task #1 is owned by researcher; only researcher can change it"):
        board.claim("1", "writer")
    board.update("1", by="researcher", status="completed")
    with pytest.raises(BoardError, match="already completed"):
        board.claim("1", "researcher")
    reopened = board.update("1", by="researcher", status="pending", owner="")
    assert (reopened.status, reopened.owner) == ("pending", None)
    assert board.claim("1", "writer").owner == "writer"


def test_only_the_owner_changes_a_task_unless_forced(board: TaskBoard) -> None:
    board.create("A", "", owner="researcher")
    with pytest.raises(BoardError, match="owned by researcher"):
        board.update("1", by="writer", description="mine now")
    moved = board.update("1", by="lead", owner="writer", force=True)  # the lead reassigns it
    assert moved.owner == "writer"
    assert board.update("1", by="writer", owner="lead").owner == "lead"  # an owner hands it over


def test_cycles_and_unknown_dependencies_are_refused(board: TaskBoard) -> None:
    for name in "ABC":
        board.create(name, "")
    board.update("2", by="lead", add_blocked_by=["1"])
    board.update("3", by="lead", add_blocked_by=["2"])
    before = board.path.read_bytes()
    with pytest.raises(BoardError, match="cycle"):
        board.update("1", by="lead", add_blocked_by=["3"])
    with pytest.raises(BoardError, match="cycle"):
        board.update("3", by="lead", add_blocks=["1"])
    with pytest.raises(BoardError, match="cannot block itself"):
        board.update("2", by="lead", add_blocks=["2"])
    with pytest.raises(BoardError, match="no task #7"):
        board.update("2", by="lead", add_blocked_by=["7"])
    with pytest.raises(BoardError, match="no task #7"):
        board.create("D", "", blocked_by=["7"])
    assert board.path.read_bytes() == before and len(board.list()) == 3  # a refusal changes nothing
    assert board.update("3", by="lead", add_blocked_by=["#1"]).blocked_by == ("2", "1")


def test_a_refused_change_is_all_or_nothing(board: TaskBoard) -> None:
    board.create("A", "")
    board.create("B", "")
    with pytest.raises(BoardError, match="blocked by #2"):
        board.update("1", by="writer", subject="A2", add_blocked_by=["2"], status="in_progress")
    assert board.get("1") == TeamTask("1", "A", "") and board.get("2").blocks == ()


def test_delete_removes_dependencies_and_ids_are_not_reused(board: TaskBoard) -> None:
    board.create("A", "")
    board.create("B", "", blocked_by=["1"])
    deleted = board.delete("1", by="lead")
    assert deleted.subject == "A" and board.get("2").blocked_by == ()
    assert board.create("C", "").id == "3"
    assert TaskBoard(board.path).create("D", "").id == "4"


def test_reload_gives_the_same_state(board: TaskBoard) -> None:
    board.create("A", "a", active_form="Doing A")
    board.create("B", "b", blocked_by=["1"])
    board.create("C", "c", blocked_by=["1", "2"])
    board.claim("1", "researcher")
    board.delete("3", by="lead")
    again = TaskBoard(board.path)
    assert again.list() == board.list()
    assert again.create("D", "").id == "4"
    assert not list(board.path.parent.glob("*.tmp"))  # no temporary file left behind


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "Expecting property name"),
        (b"\xff\xfe", "codec"),
        (b'[{"id": "1"}]', "version 1"),
        (b'{"version": 1, "next_id": 2}', "'tasks'"),
        (b'{"version": 1, "next_id": 2, "tasks": [{"id": "1", "subject": "A"}]}', "status"),
        (
            b'{"version": 1, "next_id": 3, "tasks": [{"id": "1", "subject": "A", "description": "",'
            b' "status": "pending", "blockedBy": ["2"]}]}',
            "blocked by '2'",
        ),
        (
            b'{"version": 1, "next_id": 1, "tasks": [{"id": "1", "subject": "A", "description": "",'
            b' "status": "pending"}]}',
            "next_id 1",
        ),
    ],
)
def test_a_corrupt_file_is_a_clear_error_and_is_left_unchanged(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "tasks.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=problem) as info:
        TaskBoard(path)
    assert str(path) in str(info.value) and "left unchanged" in str(info.value)
    assert path.read_bytes() == content


def test_a_failed_write_leaves_board_and_file_as_they_were(
    board: TaskBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    board.create("A", "")
    before = board.path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        board.claim("1", "researcher")
    assert board.get("1").owner is None and board.path.read_bytes() == before
    assert not list(board.path.parent.glob("*.tmp"))
    monkeypatch.undo()
    assert board.create("B", "").id == "2"


def test_subscribers_hear_every_change(board: TaskBoard, caplog: pytest.LogCaptureFixture) -> None:
    heard: list[TaskChange] = []

    def broken(change: TaskChange) -> None:
        raise RuntimeError("the board widget broke")

    board.subscribe(broken)
    stop = board.subscribe(heard.append)
    with caplog.at_level(logging.ERROR, logger="agentbook"):
        board.create("A", "", by="lead")
        board.claim("1", "researcher")
        board.claim("1", "researcher")  # no change: not written, not announced
        board.delete("1", by="researcher")
    assert [(c.kind, c.task.id, c.by) for c in heard] == [
        ("created", "1", "lead"),
        ("updated", "1", "researcher"),
        ("deleted", "1", "researcher"),
    ]
    assert "subscriber of the task list" in caplog.text
    stop()
    board.create("B", "")
    assert len(heard) == 3


def test_fifty_asyncio_claimers_leave_exactly_one_owner(board: TaskBoard, ctx: ToolContext) -> None:
    board.create("The only task", "")
    tools = [TaskUpdateTool(board, f"mate-{n}") for n in range(50)]

    async def race() -> list[str | BaseException]:
        calls = [tool.run({"taskId": "1", "status": "in_progress"}, ctx) for tool in tools]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(race())
    won = [r for r in results if isinstance(r, str)]
    lost = [r for r in results if not isinstance(r, str)]
    assert len(won) == 1 and len(lost) == 49
    assert all(isinstance(r, ToolError) and "is owned by" in str(r) for r in lost)
    owner = board.get("1").owner
    assert won == [f"Updated task #1: status in_progress, owner {owner}"]
    assert TaskBoard(board.path).get("1").owner == owner


def test_eight_threads_claiming_every_task_never_share_one(board: TaskBoard) -> None:
    for n in range(20):
        board.create(f"Task {n}", "")
    barrier = threading.Barrier(8)
    won: dict[str, list[str]] = {}

    def claimer(name: str) -> None:
        ids = [str(n) for n in range(1, 21)]
        random.Random(name).shuffle(ids)
        barrier.wait()
        for id in ids:
            try:
                board.claim(id, name)
                won.setdefault(name, []).append(id)
            except BoardError:
                pass

    threads = [threading.Thread(target=claimer, args=(f"mate-{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = sorted((id for ids in won.values() for id in ids), key=int)
    assert claimed == [str(n) for n in range(1, 21)]  # every task once, none twice
    assert all(board.get(id).owner == name for name, ids in won.items() for id in ids)
    assert TaskBoard(board.path).list() == board.list()


# --- the task tools ------------------------------------------------------------------------------


def test_task_tools_through_run(board: TaskBoard, ctx: ToolContext) -> None:
    create, listing, get, update = task_tools(board, "lead", members=MEMBERS)
    assert [t.name for t in (create, listing, get, update)] == [
        "TaskCreate",
        "TaskList",
        "TaskGet",
        "TaskUpdate",
    ]
    assert run(listing, {}, ctx) == "No tasks found"
    out = run(
        create, {"subject": "Design the schema", "description": "Tables", "activeForm": "Designing"}, ctx
    )
    assert out == "Task #1 created successfully: Design the schema"
    run(create, {"subject": "Write the parser", "description": "From the schema"}, ctx)
    assert run(update, {"taskId": "2", "addBlockedBy": ["1"]}, ctx) == "Updated task #2: blockedBy #1"
    assert run(update, {"taskId": "1", "owner": "researcher"}, ctx) == "Updated task #1: owner researcher"
    assert run(listing, {}, ctx) == (
        "#1 [pending] Design the schema (owner: researcher)\n#2 [pending] Write the parser [blocked by #1]"
    )
    assert run(get, {"taskId": "2"}, ctx) == (
        "Task #2: Write the parser\nStatus: pending\nDescription: From the schema\nBlocked by: #1 (pending)"
    )
    mine = TaskUpdateTool(board, "researcher")
    assert run(mine, {"taskId": "1", "status": "completed"}, ctx) == "Updated task #1: status completed"
    assert run(listing, {}, ctx).splitlines()[1] == "#2 [pending] Write the parser"
    assert "Blocks: #2" in run(get, {"taskId": "1"}, ctx)
    assert run(update, {"taskId": "2", "status": "deleted"}, ctx) == "Task #2 deleted: Write the parser"
    assert run(mine, {"taskId": "1", "status": "completed"}, ctx) == "Task #1 unchanged"


@pytest.mark.parametrize(
    ("tool", "input", "message"),
    [
        ("get", {"taskId": 1}, "'taskId' must be of type string"),
        ("get", {}, "missing required parameter 'taskId'"),
        ("get", {"taskId": "9"}, "no task #9"),
        ("list", {"filter": "mine"}, "unknown parameter 'filter'"),
        ("create", {"subject": "A"}, "missing required parameter 'description'"),
        ("create", {"subject": "  ", "description": ""}, "needs a subject"),
        ("create", {"subject": "A", "description": "", "metadata": {}}, "unknown parameter 'metadata'"),
        ("update", {"taskId": "1", "status": "done"}, "'status' must be one of"),
        ("update", {"taskId": "1", "addBlockedBy": "2"}, "'addBlockedBy' must be of type array"),
        ("update", {"taskId": "1", "addBlocks": [2]}, "'addBlocks' must be an array of task id strings"),
        ("update", {"taskId": "1", "addBlocks": ["5"]}, "no task #5"),
        ("update", {"taskId": "1", "addBlockedBy": ["1"]}, "cannot block itself"),
        ("update", {"taskId": "1"}, "nothing to update"),
        ("update", {"taskId": "1", "owner": "stranger"}, "unknown owner 'stranger'; the team's members are"),
        ("update", {"taskId": "1", "status": "deleted", "owner": "lead"}, "without owner"),
        ("update", {"taskId": "2", "status": "in_progress"}, "owned by writer"),
        ("update", {"taskId": "2", "status": "deleted"}, "owned by writer"),
        ("update", {"taskId": "x", "subject": "B"}, "no task #x"),
    ],
)
def test_task_tool_mistakes_are_tool_errors(
    board: TaskBoard, ctx: ToolContext, tool: str, input: dict[str, Any], message: str
) -> None:
    board.create("A", "")
    board.create("B", "", owner="writer")
    tools: dict[str, Tool] = {
        "create": TaskCreateTool(board, "researcher"),
        "list": TaskListTool(board),
        "get": TaskGetTool(board),
        "update": TaskUpdateTool(board, "researcher", members=MEMBERS),
    }
    with pytest.raises(ToolError, match=message):
        run(tools[tool], input, ctx)
    assert len(board.list()) == 2 and board.get("1") == TeamTask("1", "A", "")


def test_the_lead_may_change_what_a_teammate_owns(board: TaskBoard, ctx: ToolContext) -> None:
    board.create("A", "", owner="writer")
    lead = TaskUpdateTool(board, "lead", lead=True)
    assert run(lead, {"taskId": "1", "owner": "researcher"}, ctx) == "Updated task #1: owner researcher"
    assert run(lead, {"taskId": "1", "owner": ""}, ctx) == "Updated task #1: owner (none)"


def test_schemas_match_claude_code() -> None:
    board_tools = {
        t.name: t.input_schema for t in task_tools(TaskBoard(Path("/nonexistent/tasks.json")), "me")
    }
    assert list(board_tools["TaskCreate"]["properties"]) == ["subject", "description", "activeForm"]
    assert board_tools["TaskCreate"]["required"] == ["subject", "description"]
    assert board_tools["TaskGet"]["required"] == ["taskId"] and board_tools["TaskList"]["properties"] == {}
    update = board_tools["TaskUpdate"]["properties"]
    assert set(update) == {
        "taskId",
        "subject",
        "description",
        "activeForm",
        "status",
        "addBlocks",
        "addBlockedBy",
        "owner",
    }
    assert update["status"]["enum"] == ["pending", "in_progress", "completed", "deleted"]
    send = SendMessageTool.input_schema
    assert set(send["properties"]) == {"to", "message", "summary"} and send["required"] == ["to", "message"]
    for schema in [*board_tools.values(), send]:
        assert schema["type"] == "object" and schema["additionalProperties"] is False


# --- the mailbox ---------------------------------------------------------------------------------


@pytest.fixture
def mailbox(tmp_path: Path) -> Mailbox:
    return Mailbox(tmp_path / "team" / "mailbox.jsonl", MEMBERS, clock=lambda: 1000.0)


def test_send_and_take_exactly_once(mailbox: Mailbox) -> None:
    [first] = mailbox.send("lead", "researcher", "Start on #1", summary="assign #1")
    assert first == MailMessage(1, "lead", "researcher", "Start on #1", "assign #1", 1000.0)
    mailbox.send("writer", "researcher", "Need the schema")
    assert mailbox.pending("researcher") == 2 and mailbox.pending("writer") == 0
    taken = mailbox.take("researcher")
    assert [m.text for m in taken] == ["Start on #1", "Need the schema"]
    assert mailbox.take("researcher") == [] and mailbox.pending("researcher") == 0
    assert mailbox.is_delivered(1) and len(mailbox.messages()) == 2


def test_delivery_survives_a_reload(mailbox: Mailbox) -> None:
    mailbox.send("lead", "researcher", "one")
    mailbox.send("lead", "researcher", "two")
    mailbox.take("researcher")
    mailbox.send("lead", "researcher", "three")
    again = Mailbox(mailbox.path, MEMBERS)
    assert again.messages() == mailbox.messages()
    assert [m.text for m in again.take("researcher")] == ["three"]
    assert Mailbox(mailbox.path, MEMBERS).take("researcher") == []
    assert again.send("lead", "writer", "four")[0].id == 4


def test_broadcast_reaches_everyone_but_the_sender(mailbox: Mailbox) -> None:
    heard: list[MailChange] = []
    mailbox.subscribe(heard.append)
    sent = mailbox.send("researcher", "*", "Found the bug", summary="bug found")
    assert [(m.id, m.recipient) for m in sent] == [(1, "lead"), (2, "writer")]
    assert mailbox.pending("researcher") == 0
    assert [m.text for m in mailbox.take("writer")] == ["Found the bug"]
    assert [(c.kind, [m.id for m in c.messages]) for c in heard] == [("sent", [1, 2]), ("delivered", [2])]
    assert Mailbox(mailbox.path.with_name("solo.jsonl"), ["lead"]).send("lead", "*", "anyone?") == []


def test_unknown_names_and_self_messages_are_refused(mailbox: Mailbox) -> None:
    with pytest.raises(
        MailError, match=r"unknown recipient 'reseacher'; the team's members are: lead, researcher, writer"
    ):
        mailbox.send("lead", "reseacher", "hi")
    with pytest.raises(ValueError, match="unknown sender 'user'"):
        mailbox.send("user", "lead", "hi")
    with pytest.raises(MailError, match=r"cannot send a message to yourself \(lead\)"):
        mailbox.send("lead", "lead", "hi")
    with pytest.raises(ValueError, match="members must be distinct"):
        Mailbox(mailbox.path, ["a", "a"])
    assert not mailbox.path.exists()


def test_a_torn_last_line_is_skipped_and_cut_before_the_next_append(mailbox: Mailbox) -> None:
    mailbox.send("lead", "researcher", "whole")
    with mailbox.path.open("ab") as file:
        file.write(b'{"kind":"sent","messages":[{"id":2,"sender":"lead","recip')  # a crash mid-append
    again = Mailbox(mailbox.path, MEMBERS)
    assert [m.text for m in again.messages()] == ["whole"]
    again.send("lead", "writer", "after the crash")
    lines = mailbox.path.read_bytes().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["kind"] == "sent" for line in lines)
    assert [m.text for m in Mailbox(mailbox.path, MEMBERS).take("writer")] == ["after the crash"]


def test_a_corrupt_line_is_a_clear_error(mailbox: Mailbox) -> None:
    mailbox.send("lead", "researcher", "one")
    mailbox.send("lead", "researcher", "two")
    lines = mailbox.path.read_bytes().splitlines(keepends=True)
    for bad in (b"garbage\n", b'{"kind":"gossip"}\n', b'{"kind":"delivered","ids":[9]}\n'):
        content = lines[0] + bad + lines[1]
        mailbox.path.write_bytes(content)
        with pytest.raises(ValueError, match=rf"{mailbox.path}, line 2: not a mailbox record"):
            Mailbox(mailbox.path, MEMBERS)
        assert mailbox.path.read_bytes() == content


def test_threads_sending_at_once_lose_nothing(mailbox: Mailbox) -> None:
    barrier = threading.Barrier(8)

    def sender(n: int) -> None:
        barrier.wait()
        for k in range(25):
            mailbox.send(MEMBERS[n % 3], MEMBERS[(n + 1) % 3], f"{n}-{k}")

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [m.id for m in mailbox.messages()] == list(range(1, 201))
    assert Mailbox(mailbox.path, MEMBERS).messages() == mailbox.messages()
    assert sum(len(mailbox.take(name)) for name in MEMBERS) == 200


def test_send_message_tool(mailbox: Mailbox, ctx: ToolContext) -> None:
    tool = SendMessageTool(mailbox, "lead")
    out = run(tool, {"to": "researcher", "message": "Start on #1", "summary": "assign #1"}, ctx)
    assert out == "Message sent to researcher"
    assert (
        run(tool, {"to": "*", "message": "Stop, all of you"}, ctx)
        == "Message sent to 2 teammates: researcher, writer"
    )
    [first, second] = mailbox.take("researcher")
    assert (first.sender, first.summary, second.summary) == ("lead", "assign #1", None)


@pytest.mark.parametrize(
    ("input", "message"),
    [
        ({"to": "researcher"}, "missing required parameter 'message'"),
        ({"to": "researcher", "message": 5}, "'message' must be of type string"),
        ({"to": "researcher", "message": {"type": "shutdown_response"}}, "'message' must be of type string"),
        ({"recipient": "researcher", "content": "hi"}, "unknown parameter"),
        ({"to": "nobody", "message": "hi"}, "unknown recipient 'nobody'"),
        ({"to": "lead", "message": "hi"}, "to yourself"),
        ({"to": "writer", "message": "  "}, "the message is empty"),
    ],
)
def test_send_message_mistakes_are_tool_errors(
    mailbox: Mailbox, ctx: ToolContext, input: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        run(SendMessageTool(mailbox, "lead"), input, ctx)
    assert mailbox.messages() == []
