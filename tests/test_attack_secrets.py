"""Adversarial review of issue 10: secrets (values of `*_API_KEY`, `*_TOKEN`, ... variables) must
never land in clear in what a run writes: run.json, transcripts, failures.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentbook.models import ScriptedModel
from agentbook.scheduler.launch import run_parallel

SECRET = "sk-ant-api03-VERYSECRETVALUE1234567890"


def written(run_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run_dir)): p.read_text(encoding="utf-8", errors="replace")
        for p in run_dir.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize("where", ["system", "task", "shared_context", "agent_prompt"])
def test_a_secret_in_a_prompt_is_not_written_in_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # The user pastes the key into a prompt (or a template fills it in): transcripts redact it,
    # run.json keeps it in clear (manifest.write does not redact).
    from agentbook.specs import AgentSpec

    monkeypatch.setenv("MY_SERVICE_TOKEN", SECRET)
    text = f"use the key {SECRET} to call the service"
    options: dict[str, object] = {}
    task: dict[str, object] = {"prompt": "do it"}
    if where == "system":
        options["system"] = text
    elif where == "task":
        task["prompt"] = text
    elif where == "shared_context":
        options["shared_context"] = text
    else:
        options["agents"] = {"caller": AgentSpec("caller", prompt=text, description="calls")}
        task["agent"] = "caller"
    run = run_parallel(
        {"t": task}, model=ScriptedModel(["ok"]), run_dir=tmp_path / "run", interactive=False, **options
    )  # type: ignore[arg-type]
    run.wait(timeout=20)
    leaks = [name for name, body in written(run.run_dir).items() if SECRET in body]
    assert leaks == []


@pytest.mark.parametrize("secret", ['pa"ss\\word-12345', "tab\there-12345"], ids=["quote-backslash", "tab"])
def test_a_secret_with_characters_json_escapes_is_still_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    # Transcripts are redacted after json.dumps: a secret holding '"', '\\' or a control
    # character is written escaped, no longer equal to the value, and so not redacted.
    import json

    monkeypatch.setenv("DB_PASSWORD", secret)
    run = run_parallel(
        {"t": f"connect with {secret} now"},
        model=ScriptedModel([f"I used {secret}"]),
        run_dir=tmp_path / "run",
        interactive=False,
    )
    run.wait(timeout=20)
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    for name, body in written(run.run_dir).items():
        if name != "run.json":  # run.json does not redact at all: see the test above
            assert secret not in body and escaped not in body, name


def test_a_secret_in_an_error_repr_is_redacted_in_failures_md(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A model error reaches failures.md as its text: redacted (this held).
    secret = "abc\\def'ghi-123456"
    monkeypatch.setenv("SERVICE_API_KEY", secret)

    def boom(request: object) -> object:
        raise RuntimeError(f"login failed for key {secret}")

    run = run_parallel({"t": "go"}, model=ScriptedModel([boom]), run_dir=tmp_path / "run", interactive=False)
    run.wait(timeout=20)
    assert run.status == {"t": "failed"}
    failures = (run.run_dir / "failures.md").read_text(encoding="utf-8")
    assert "login failed" in failures
    for form in (secret, repr(secret)[1:-1], secret.replace("\\", "\\\\")):
        assert form not in failures


def test_a_secret_in_a_harness_error_is_redacted_in_failures_md(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A harness error (here an on_start hook) is stored as repr(exc): repr doubles the
    # backslash, the escaped form no longer equals the secret, and failures.md has it.
    from agentbook.agent.hooks import Hooks

    secret = "abc\\def-ghi-123456"
    monkeypatch.setenv("SERVICE_API_KEY", secret)

    def start(agent: str) -> None:
        raise RuntimeError(f"cannot log in with {secret}")

    run = run_parallel(
        {"t": "go"},
        model=ScriptedModel(["ok"]),
        run_dir=tmp_path / "run",
        hooks=Hooks(on_start=[start]),
        interactive=False,
    )
    run.wait(timeout=20)
    assert run.status == {"t": "failed"}
    failures = (run.run_dir / "failures.md").read_text(encoding="utf-8")
    assert "cannot log in" in failures
    assert "def-ghi-123456" not in failures
    assert "def-ghi-123456" not in (run.records["t"].error or "")


def test_a_secret_in_a_model_error_is_redacted_wherever_the_run_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    model = ScriptedModel([RuntimeError(f"401 invalid x-api-key {SECRET}")])
    run = run_parallel({"t": "go"}, model=model, run_dir=tmp_path / "run", interactive=False)
    run.wait(timeout=20)
    shown = [run.records["t"].error or "", run.failures.to_string(), run.df.to_string(), repr(run)]
    assert "invalid x-api-key [REDACTED]" in shown[0]
    assert all(SECRET not in text for text in (*shown, *written(run.run_dir).values()))
