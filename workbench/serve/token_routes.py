"""llama-server's `/tokenize` and `/detokenize`, with a `model` field (this endpoint serves many models).

`POST /tokenize {model, content, add_special, with_pieces}` → `{"tokens": [...]}`; `POST /detokenize {model,
tokens}` → `{"content": ...}`. The model loads as on any request; the work runs off the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ..errors import InvalidParameter
from .response_schemas import Detokenized, Tokens, documented
from .schemas import DetokenizeRequest, TokenizeRequest

router = APIRouter()


async def _with_model(request: Request, name: str, work):
    """work(loaded model) in a worker thread (a first request loads the model)."""
    state = request.app.state.serve
    request.state.model = name
    return await run_in_threadpool(lambda: work(state.load_model(state.resolve(name))))


@router.post("/tokenize", responses=documented("openai", Tokens))
async def tokenize(body: TokenizeRequest, request: Request):
    def work(loaded):
        tokens = loaded.tokenize(body.content, add_special=body.add_special, parse_special=True)
        if not body.with_pieces:
            return tokens
        return [{"id": t, "piece": loaded.detokenize([t], render_special=True)} for t in tokens]

    return {"tokens": await _with_model(request, body.model, work)}


@router.post("/detokenize", responses=documented("openai", Detokenized))
async def detokenize(body: DetokenizeRequest, request: Request):
    def work(loaded):
        bad = [t for t in body.tokens if not 0 <= t < loaded.n_vocab]
        if bad:
            raise InvalidParameter(f"token {bad[0]} is outside the vocabulary ({loaded.n_vocab} tokens)")
        return loaded.detokenize(body.tokens)

    return {"content": await _with_model(request, body.model, work)}
