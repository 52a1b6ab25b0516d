"""Fuzz the HTTP API from its own OpenAPI schema (Schemathesis): no 5xx, no crash, errors in OpenAI's shape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from r2d_sdk.recipe import parse_recipe
from r2d_sdk.serve import Gateway, create_app

KEY = "sk-fuzz-test-key-0001"
os.environ.setdefault("FUZZ_GATEWAY_KEY", KEY)

RECIPE = """
models:
  target: {model: mock/target, mock: {replies: ["A short answer."], when: [{match: bomb, reply: "bomb parts"}]}}
serve:
  api_keys: ["${FUZZ_GATEWAY_KEY}"]
  max_messages: 16
  max_body_bytes: 50000
  log: false
  routes:
    chat:
      model: target
      defenses: [{name: blocklist, args: {patterns: [weapon]}}, none,
                 {name: blocklist, label: output-filter, args: {patterns: [bomb]}}]
"""

app = create_app(Gateway(parse_recipe(RECIPE, "fuzz recipe", Path("fuzz.yaml"))))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.parametrize("authorized", [True, False], ids=["with-key", "without-key"])
def test_no_input_makes_the_gateway_fail(case: schemathesis.Case, authorized: bool) -> None:
    headers = {"Authorization": f"Bearer {KEY}"} if authorized else {}
    response = case.call(headers=headers)
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and body["error"]["message"] and body["error"]["type"], body
        assert "Traceback" not in response.text
    elif case.path == "/v1/chat/completions" and not (case.body or {}).get("stream"):
        assert response.json()["object"] == "chat.completion"
