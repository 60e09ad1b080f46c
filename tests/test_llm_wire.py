"""What LLMClient puts on the wire, checked against a real local HTTP endpoint that records requests."""

from __future__ import annotations


import pytest
from llm_stub import StubLLM

from llmmusic.generation.llm import LLMClient

REPLY = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
         "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "{}"}}],
         "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "piece", "strict": True,
                                                  "schema": {"type": "object", "properties": {}}}}


@pytest.fixture
def endpoint():
    with StubLLM(answer=lambda body: (200, REPLY)) as stub:
        yield stub.base_url, stub.bodies


@pytest.mark.parametrize("json_object", [False, True])
def test_schema_form_on_the_wire_and_in_the_cache(endpoint, tmp_path, json_object):
    url, bodies = endpoint
    client = LLMClient(base_url=url, model="m", cache=tmp_path / "c.sqlite", json_object_schemas=json_object)
    reply = client.chat([{"role": "user", "content": "hi"}], response_format=SCHEMA, seed=1)
    assert reply.text == "{}" and not reply.cached
    sent = bodies[-1]["response_format"]
    if json_object:  # llama-cpp-python's server only accepts this form
        assert sent == {"type": "json_object", "schema": SCHEMA["json_schema"]["schema"]}
    else:
        assert sent == SCHEMA
    # the cache key is the same request either way: the OpenAI form
    other = LLMClient(base_url=url, model="m", cache=tmp_path / "c.sqlite", json_object_schemas=not json_object)
    assert other.chat([{"role": "user", "content": "hi"}], response_format=SCHEMA, seed=1).cached
    assert len(bodies) == 1


def test_closed_client_sends_nothing_and_starts_no_server(endpoint, tmp_path):
    """A run that is stopping must not start (or restart) a server from its last worker threads."""
    url, bodies = endpoint
    for client in (LLMClient(base_url=url, model="m"), LLMClient(cache=tmp_path / "c.sqlite")):
        client.close()
        with pytest.raises(RuntimeError, match="closed"):
            client.chat([{"role": "user", "content": "hi"}])
        assert client.server_info is None
    assert bodies == []


@pytest.mark.parametrize("extra, reused", [
    ({"timings": {"cache_n": 523, "prompt_n": 101}}, 523),  # llama-server
    ({"usage": {**REPLY["usage"], "prompt_tokens_details": {"cached_tokens": 2}}}, 2),  # OpenAI
    ({}, None),  # the server says nothing: nothing is recorded
])
def test_reused_prompt_tokens_are_read_from_either_form_and_kept_in_the_cache(tmp_path, extra, reused):
    with StubLLM(answer=lambda body: (200, {**REPLY, **extra})) as stub:
        client = LLMClient(base_url=stub.base_url, model="m", cache=tmp_path / "c.sqlite")
        reply = client.chat([{"role": "user", "content": "hi"}], seed=1)
        assert reply.usage.get("cached_prompt_tokens") == reused
        assert client.stats.cached_prompt_tokens == (reused or 0)
        again = LLMClient(base_url=stub.base_url, model="m", cache=tmp_path / "c.sqlite")
        assert again.chat([{"role": "user", "content": "hi"}], seed=1).usage == reply.usage
