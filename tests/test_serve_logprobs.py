"""Logprobs on the OpenAI-compatible endpoint: the real `openai` client against the real server, the tiny model.

Greedy requests send repeat_penalty 1.0: the logprobs are the model's raw distribution (before penalties), so
only without penalties is the greedy choice the raw argmax. Echo prompt logprobs are checked against an
independent computation: llama_cpp.Llama with logits_all over the same tokens, log-softmax in numpy.
"""

from __future__ import annotations

import math

import numpy as np
import openai
import pytest
from llama_cpp import Llama

from tests.serve_support import open_workbench, serving, tiny_server
from workbench.engine import GenerationRequest, SamplingParams, TextEvent

USER = [{"role": "user", "content": "Say something."}]
GREEDY = {"temperature": 0, "extra_body": {"repeat_penalty": 1.0}}
PROMPT = "Once upon a time, there was"


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_path):
    yield from tiny_server(tmp_path_factory, tiny_model_path, "serve-logprobs", parallel=2)


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def reference(tiny_model_path):
    """The independent computation: every position's log-softmax over the same tokens, in float64.

    flash_attn as the engine's contexts have it (auto = on here): with the other attention kernel this
    random-weight model's logprobs move by up to 1.4e-3 (measured), with the same kernel by 2.5e-7."""
    llm = Llama(model_path=str(tiny_model_path), n_ctx=512, logits_all=True, n_threads=2, flash_attn=True,
                verbose=False)
    tokens = llm.tokenize(PROMPT.encode(), add_bos=True, special=False)
    llm.eval(tokens)
    logits = np.asarray(llm.scores[:len(tokens)], dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    logsoftmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    pieces = [llm.detokenize([t]).decode("utf-8", "replace") for t in range(llm.n_vocab())]
    llm.close()
    return tokens, logsoftmax, pieces


def _check_chat_entries(entries, top_n: int, greedy: bool) -> None:
    for entry in entries:
        assert entry.logprob <= 0
        values = [alt.logprob for alt in entry.top_logprobs]
        assert len(values) == top_n and values == sorted(values, reverse=True)
        assert sum(math.exp(v) for v in values) <= 1 + 1e-9
        if greedy:
            assert entry.top_logprobs[0].token == entry.token
            assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob, abs=1e-9)


def test_chat_logprobs_non_streaming(client):
    reply = client.chat.completions.create(model="tiny:F32", messages=USER, max_tokens=12, logprobs=True,
                                           top_logprobs=4, **GREEDY)
    entries = reply.choices[0].logprobs.content
    assert len(entries) == reply.usage.completion_tokens == 12
    _check_chat_entries(entries, 4, greedy=True)
    assert b"".join(bytes(e.bytes) for e in entries).decode() == reply.choices[0].message.content
    assert reply.choices[0].logprobs.refusal is None


def test_chat_logprobs_streaming_carries_each_chunks_tokens(client):
    kwargs = {"model": "tiny:F32", "messages": USER, "max_tokens": 10, "logprobs": True, "top_logprobs": 2, **GREEDY}
    whole = client.chat.completions.create(**kwargs).choices[0]
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs))
    entries, text = [], ""
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            own = chunk.choices[0].logprobs.content
            assert b"".join(bytes(e.bytes) for e in own).decode() == chunk.choices[0].delta.content
            entries += own
            text += chunk.choices[0].delta.content
    assert len(entries) == chunks[-1].usage.completion_tokens == 10
    assert text == whole.message.content
    assert [(e.token, e.logprob) for e in entries] == [(e.token, e.logprob) for e in whole.logprobs.content]
    _check_chat_entries(entries, 2, greedy=True)


def test_chat_logprobs_without_top_and_sampled(client):
    reply = client.chat.completions.create(model="tiny:F32", messages=USER, max_tokens=8, logprobs=True,
                                           temperature=1.0, seed=7)
    entries = reply.choices[0].logprobs.content
    assert len(entries) == 8 and all(e.top_logprobs == [] and e.logprob <= 0 for e in entries)
    plain = client.chat.completions.create(model="tiny:F32", messages=USER, max_tokens=8, temperature=1.0, seed=7)
    assert plain.choices[0].logprobs is None  # not asked: not computed, and the same text
    assert plain.choices[0].message.content == reply.choices[0].message.content


def _check_offsets(block, text: str, start: int = 0) -> None:
    offsets = block.text_offset
    assert offsets[0] == start and offsets == sorted(offsets)
    for i, token in enumerate(block.tokens):
        end = offsets[i + 1] if i + 1 < len(offsets) else len(text)
        assert text[offsets[i]:end] == token


def test_completions_legacy_logprobs(client):
    reply = client.completions.create(model="tiny:F32", prompt=PROMPT, max_tokens=9, logprobs=3, **GREEDY)
    choice = reply.choices[0]
    block = choice.logprobs
    assert len(block.tokens) == len(block.token_logprobs) == reply.usage.completion_tokens == 9
    _check_offsets(block, choice.text)
    for token, value, top in zip(block.tokens, block.token_logprobs, block.top_logprobs, strict=True):
        assert len(top) == 3 and value <= 0
        assert max(top, key=top.get) == token and top[token] == pytest.approx(value, abs=1e-9)
    streamed = [c.choices[0].logprobs for c in client.completions.create(
        model="tiny:F32", prompt=PROMPT, max_tokens=9, logprobs=3, stream=True, **GREEDY) if c.choices[0].text]
    assert [t for s in streamed for t in s.tokens] == block.tokens
    assert [o for s in streamed for o in s.text_offset] == block.text_offset  # offsets run on across chunks


def test_echo_prompt_logprobs_match_an_independent_computation(client, reference):
    tokens, logsoftmax, pieces = reference
    reply = client.completions.create(model="tiny:F32", prompt=PROMPT, max_tokens=0, echo=True, logprobs=2)
    choice = reply.choices[0]
    block = choice.logprobs
    assert choice.text == PROMPT and reply.usage.completion_tokens == 0
    assert len(block.tokens) == reply.usage.prompt_tokens == len(tokens)
    assert block.token_logprobs[0] is None and block.top_logprobs[0] is None
    for pos in range(1, len(tokens)):
        expected = logsoftmax[pos - 1]
        assert block.tokens[pos] == pieces[tokens[pos]]
        assert block.token_logprobs[pos] == pytest.approx(expected[tokens[pos]], abs=1e-3)
        best = np.argsort(-expected)[:2]
        assert list(block.top_logprobs[pos]) == [pieces[t] for t in best]
        assert list(block.top_logprobs[pos].values()) == pytest.approx(expected[best].tolist(), abs=1e-3)
    _check_offsets(block, choice.text)


def test_echo_then_generated_logprobs(client):
    reply = client.completions.create(model="tiny:F32", prompt=PROMPT, max_tokens=5, echo=True, logprobs=1,
                                      **GREEDY)
    choice, usage = reply.choices[0], reply.usage
    block = choice.logprobs
    assert choice.text.startswith(PROMPT) and len(choice.text) > len(PROMPT)
    assert len(block.tokens) == usage.prompt_tokens + usage.completion_tokens
    assert block.text_offset[usage.prompt_tokens] == len(PROMPT)
    _check_offsets(block, choice.text)
    streamed = list(client.completions.create(model="tiny:F32", prompt=PROMPT, max_tokens=5, echo=True,
                                              logprobs=1, stream=True, **GREEDY))
    assert streamed[0].choices[0].text == PROMPT
    assert streamed[0].choices[0].logprobs.token_logprobs == block.token_logprobs[:usage.prompt_tokens]


def test_token_id_prompt_scored_as_lm_eval_harness_asks(client, reference):
    """local-completions' loglikelihood request: its own token ids, echo, logprobs 1, max_tokens 1; it sums
    token_logprobs[ctxlen:-1] (the continuation, without the generated token)."""
    tokens, logsoftmax, _ = reference
    reply = client.completions.create(model="tiny:F32", prompt=[tokens], max_tokens=1, logprobs=1, echo=True,
                                      temperature=0, seed=1234)
    block = reply.choices[0].logprobs
    assert reply.choices[0].text.startswith(PROMPT) and reply.usage.prompt_tokens == len(tokens)
    assert len(block.token_logprobs) == len(tokens) + 1
    ctxlen = 6
    expected = sum(logsoftmax[pos - 1][tokens[pos]] for pos in range(ctxlen, len(tokens)))
    assert sum(block.token_logprobs[ctxlen:-1]) == pytest.approx(expected, abs=1e-3 * len(tokens))
    as_text = client.completions.create(model="tiny:F32", prompt=PROMPT, max_tokens=1, logprobs=1, echo=True,
                                        temperature=0, seed=1234).choices[0].logprobs
    assert as_text.token_logprobs == block.token_logprobs and as_text.tokens == block.tokens
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="tiny:F32", prompt=[[1, 10**9]], max_tokens=1)


@pytest.mark.parametrize(("route", "body"), [
    ("chat", {"logprobs": True, "top_logprobs": 21}),
    ("chat", {"top_logprobs": 2}),
    ("chat", {"max_tokens": 0}),
    ("completions", {"logprobs": 21}),
    ("completions", {"max_tokens": 0, "logprobs": 1}),
])
def test_bad_logprob_requests_are_400s(client, route, body):
    with pytest.raises(openai.BadRequestError):
        if route == "chat":
            client.chat.completions.create(model="tiny:F32", messages=USER, **{"max_tokens": 2, **body})
        else:
            client.completions.create(model="tiny:F32", prompt=PROMPT, **{"max_tokens": 2, **body})


def test_echo_prompt_over_the_context_is_a_400_and_serving_goes_on(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="tiny:F32", prompt="x" * 600, max_tokens=0, echo=True, logprobs=1)
    assert caught.value.body["code"] == "context_length_exceeded"
    reply = client.completions.create(model="tiny:F32", prompt=PROMPT, max_tokens=3, logprobs=0)
    assert len(reply.choices[0].logprobs.tokens) == 3


# -- the engine's alignment of entries with text (a grammar forces a character split across byte tokens) ----


def _events(server, **request):
    loaded = server.workbench.runtime.acquire(server.workbench.library.get("tiny:F32"))
    sampling = SamplingParams(temperature=0, grammar='root ::= "h\u00e9llo world"')
    generation = loaded.generate(GenerationRequest(prompt="Hi", sampling=sampling, logprobs=1, **request))
    return [event for event in generation if isinstance(event, TextEvent)], generation.final


def test_engine_entries_go_with_the_text_that_carries_them(server):
    events, final = _events(server)
    text = "".join(e.text for e in events)
    assert text == "h\u00e9llo world" and final.completion_tokens == len(text.encode())
    for event in events:  # the two bytes of é are two tokens: their entries come with the piece that has é
        assert b"".join(e.bytes for e in event.logprobs).decode() == event.text
    assert sum(len(e.logprobs) for e in events) == final.completion_tokens


def test_engine_drops_the_entries_of_a_stop_string(server):
    events, final = _events(server, stop=("lo w",))
    entries = [entry for event in events for entry in event.logprobs]
    assert "".join(e.text for e in events) == "h\u00e9l" and final.finish_reason == "stop"
    assert b"".join(e.bytes for e in entries) == "h\u00e9l".encode()


# -- gemma-3-270m: a 262,144-token vocabulary, sliding-window attention, Q4_K_M kernels ------------------------

GEMMA_PROMPT = "The capital of France is Paris. The capital of Germany is"


@pytest.fixture(scope="module")
def gemma_client(tmp_path_factory, gemma_model_path):
    """Throughput mode (the endpoint's default): repacked weights, as llama_cpp.Llama loads them. In reproducible
    mode the K-quant matmuls run other kernels, and gemma's prompt logprobs differ from Llama's by up to 0.27."""
    wb = open_workbench(tmp_path_factory.mktemp("serve-logprobs-gemma"), default_context=512)
    wb.library.import_file(gemma_model_path, name="gemma")
    with serving(wb, parallel=1) as srv:
        yield openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
    wb.close()


@pytest.mark.gemma
def test_gemma_echo_and_generated_logprobs(gemma_client, gemma_model_path):
    llm = Llama(model_path=str(gemma_model_path), n_ctx=512, logits_all=True, n_threads=2, flash_attn=True,
                verbose=False)
    tokens = llm.tokenize(GEMMA_PROMPT.encode(), add_bos=True, special=False)
    llm.eval(tokens)
    logits = np.asarray(llm.scores[:len(tokens)], dtype=np.float64)
    llm.close()
    expected = logits - logits.max(axis=1, keepdims=True)
    expected -= np.log(np.exp(expected).sum(axis=1, keepdims=True))
    reply = gemma_client.completions.create(model="gemma", prompt=GEMMA_PROMPT, max_tokens=6, echo=True,
                                            logprobs=5, temperature=0, extra_body={"repeat_penalty": 1.0})
    block, n = reply.choices[0].logprobs, len(tokens)
    assert reply.usage.prompt_tokens == n and len(block.tokens) == n + reply.usage.completion_tokens
    got = np.array(block.token_logprobs[1:n])
    assert np.abs(got - expected[np.arange(n - 1), tokens[1:]]).max() < 1e-3
    assert reply.choices[0].text.startswith(GEMMA_PROMPT + " Berlin")
    for token, value, top in zip(block.tokens[n:], block.token_logprobs[n:], block.top_logprobs[n:], strict=True):
        assert max(top, key=top.get) == token and top[token] == pytest.approx(value, abs=1e-9)
        assert len(top) == 5 and sum(math.exp(v) for v in top.values()) <= 1 + 1e-9
