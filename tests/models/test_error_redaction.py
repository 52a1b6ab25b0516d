"""Secrets out of model-call error text: every configured key, and anything shaped like one."""

from __future__ import annotations

import pytest

from r2d_sdk import MockScript, Model, ModelCallError, user
from r2d_sdk._calls import collect
from r2d_sdk._redact import REDACTED, redact, register_secret


@pytest.mark.parametrize(("text", "expected"), [
    ("Received Authorization: Bearer abc.DEF-123_456 from you", f"Received Authorization: {REDACTED} from you"),
    ("{'authorization': 'Basic dXNlcjpwYXNz', 'accept': 'json'}", f"{{'authorization': '{REDACTED}', 'accept': 'json'}}"),
    ('headers {"x-api-key": "k-123456789", "a": 1}', f'headers {{"x-api-key": "{REDACTED}", "a": 1}}'),
    ("GET /v1/models?api_key=abc123456&x=1", f"GET /v1/models?api_key={REDACTED}&x=1"),
    ("token bearer eyJhbGciOi.payload.sig rejected", f"token bearer {REDACTED} rejected"),
    ("key sk-proj-AbCdEf0123456789 is invalid", f"key {REDACTED} is invalid"),
    ("hf_abcdefghijklmnopqrstuvwxyz and AIzaSyA-abcdefghijklmnopqrstuvwxyz01234", f"{REDACTED} and {REDACTED}"),
    # What names no credential is left alone.
    ("fix: check the model string, api_base and API key variable",
     "fix: check the model string, api_base and API key variable"),
    ("Connection refused at http://127.0.0.1:9/v1", "Connection refused at http://127.0.0.1:9/v1"),
])
def test_credential_shapes_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_registered_keys_are_redacted_whatever_their_shape() -> None:
    register_secret("my-own-key-7d1e")
    register_secret("my-own-key-7d1e-longer")  # one key containing another goes whole
    register_secret("abc")  # too short to be a key: redacting every "abc" would garble text
    assert redact("got my-own-key-7d1e-longer and my-own-key-7d1e; abc") == f"got {REDACTED} and {REDACTED}; abc"
    assert redact(None) is None and redact("") == ""


async def test_a_model_registers_its_key_and_its_errors_never_carry_it() -> None:
    key = "unshaped-secret-value-42"
    leaking = MockScript(replies=lambda _m: PermissionError(f"key {key} refused"))
    model = Model("t", "mock/t", api_key=key, mock=leaking, max_retries=0)
    with collect() as calls, pytest.raises(ModelCallError) as raised:
        await model.generate([user("q")])
    assert key not in str(raised.value) and key not in (calls[0].error or "")
    assert f"key {REDACTED} refused" in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no traceback shows the original
