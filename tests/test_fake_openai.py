"""The test suite's fake OpenAI-compatible server answers the official client and LiteLLM alike."""

from __future__ import annotations

import asyncio

from fake_openai import FakeOpenAI, Reply

from r2d_sdk import Model, user


def test_litellm_and_the_openai_client_reach_it_and_it_counts_requests() -> None:
    import openai

    with FakeOpenAI(lambda request: Reply(f"echo: {request.last_user}")) as server:
        client = openai.OpenAI(base_url=server.url, api_key="k", max_retries=0)
        answer = client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "echo: hi"
        streamed = "".join(chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "one two"}], stream=True) if chunk.choices)
        assert streamed == "echo: one two"
        model = Model("target", "openai/fake", api_base=server.url, api_key="k", max_retries=0)
        output = asyncio.run(model.generate([user("there")]))
        assert output.text == "echo: there" and output.completion_tokens == 2
        assert len(server.requests) == 3 and server.requests[-1].headers["Authorization"] == "Bearer k"
