"""No API key in any stored or printed error, even when the provider echoes the request's
Authorization header in its error body (a fake OpenAI-compatible server that does just that)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from fake_openai import Reply, fake_openai
from sqlalchemy import text

import r2d_sdk
from r2d_sdk import Judgment, R2DError
from r2d_sdk._calls import CallRecord
from r2d_sdk.cli import cli
from r2d_sdk.cli._common import friendly_errors
from r2d_sdk.store import Base, SampleRecord, Store

KEY = "sk-r2d-test-3f9a1c77e2b04d5b8e61"


def _echo_authorization(headers: dict[str, str]) -> str:
    """A careless provider: the 401 body quotes the header it rejected."""
    return json.dumps({"error": {"message": f"Incorrect API key. Received Authorization: {headers.get('Authorization')}"
                                            f" (headers: {headers})", "type": "invalid_request_error"}})


def _leaky_recipe(write_recipe: Callable[..., Path], url: str) -> Path:
    models = (f"  target:\n    model: openai/fake-model\n    api_base: {url}\n    api_key: ${{R2D_TEST_LEAKY_KEY}}\n"
              "    max_retries: 0\n")
    return write_recipe(items=3, models=models, defenses="[none]")


def _database_text(url: str) -> str:
    store = Store(url)
    with store.engine.connect() as connection:
        rows = [repr(tuple(row)) for table in Base.metadata.sorted_tables
                for row in connection.execute(text(f"SELECT * FROM {table.name}"))]
    store.close()
    return "\n".join(rows)


def test_a_key_echoed_by_the_provider_is_stored_nowhere(write_recipe: Callable[..., Path], database_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2D_TEST_LEAKY_KEY", KEY)
    db = database_url
    with fake_openai(Reply(status=401, body=_echo_authorization)) as server:
        result = r2d_sdk.evaluate(_leaky_recipe(write_recipe, server.url), db=db)
        assert server.requests and server.requests[0].headers["Authorization"] == f"Bearer {KEY}"
    assert result.samples == {"error": 3}
    dump = _database_text(db)
    assert KEY not in dump and KEY[3:] not in dump
    assert "AuthenticationError" in dump and "[REDACTED]" in dump  # the errors are there, without the key


def test_the_cli_prints_no_key(write_recipe: Callable[..., Path], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2D_TEST_LEAKY_KEY", KEY)
    db = str(tmp_path / "r.db")
    runner = CliRunner()
    with fake_openai(Reply(status=401, body=_echo_authorization)) as server:
        ran = runner.invoke(cli, ["run", str(_leaky_recipe(write_recipe, server.url)), "--db", db, "--quiet"])
    shown = runner.invoke(cli, ["sql", "SELECT error FROM samples UNION ALL SELECT error FROM model_calls "
                                       "UNION ALL SELECT error FROM judgments", "--db", db])
    # Every sample failed (401): the run exits 3, printing the first error, still without the key.
    assert ran.exit_code == 3 and shown.exit_code == 0, ran.output + shown.output
    assert "401" in ran.output or "AuthenticationError" in ran.output
    for result in (ran, shown):
        assert KEY not in result.output + result.stderr
    assert "Authorization: [REDACTED]" in shown.output  # the stored errors were shown, without the key


def test_the_store_redacts_what_it_is_given(database_url: str) -> None:
    # Defense in depth: an error text made elsewhere (a plugin, a judge) with a bearer token in it.
    leaked = "upstream said: Authorization: Bearer abcDEF123456789xyz is not valid"
    store = Store(database_url)
    run_id = store.create_run("t", "name: t", "hash", 0)
    call = CallRecord("judge", "openai/x", [], {}, None, "judge", error=leaked)
    store.write_samples(run_id, [SampleRecord(
        dataset="d", item_id="1", item_label="harmful", category=None, goal="g", model="m", model_id="mock/m",
        attack="direct", defense="none", prompt_index=0, prompt="p", messages=[], response=None, status="error",
        error=leaked, calls=[call], judgments=[("j", Judgment.failed(leaked))])])
    store.write_orphan_calls(run_id, [call])
    store.set_status(run_id, "failed", leaked)
    store.close()
    dump = _database_text(database_url)
    assert dump.count("upstream said: Authorization: [REDACTED] is not valid") == 5
    assert "abcDEF123456789xyz" not in dump


def test_friendly_errors_print_no_key() -> None:
    r2d_sdk.Model("leaky", "openai/x", api_key="plain-key-without-a-known-shape-1234")

    @click.command()
    @friendly_errors
    def failing() -> None:
        raise R2DError("provider said: key plain-key-without-a-known-shape-1234 is bad, token sk-abcdefghijkl1234",
                       fix="retry with Authorization: Bearer zzzzzzzz99999999")

    result = CliRunner().invoke(failing, [])
    assert result.exit_code == 1
    printed = result.output + result.stderr
    assert "error: provider said: key [REDACTED] is bad, token [REDACTED]" in printed
    assert "fix: retry with Authorization: [REDACTED]" in printed
    assert "plain-key" not in printed and "sk-abc" not in printed and "zzzzzzzz" not in printed
