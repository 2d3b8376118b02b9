"""A tiny random-weight llama-architecture GGUF for fast engine tests (≈430 KB, milliseconds per step).

`write_tiny_model(path, seed=0)` writes it with `gguf.GGUFWriter`, deterministically: 2 layers, n_embd 64, 4 query
heads over 2 KV heads (grouped-query attention), F32 weights, a 4,096-token context, a byte-level "gpt2" vocabulary
(token id == byte value) and a small Jinja chat template. Why its weights keep the output printable ASCII (a
`Llama.create_completion` pitfall): docs/design.md §13.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 2
N_LAYER = 2
N_FF = 128
CONTEXT_LENGTH = 4096

MERGED_TOKEN = "Ġt"
SPECIAL_TOKENS = ("<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
MERGED_ID = 256
BOS_ID, EOS_ID, SYSTEM_ID, USER_ID, ASSISTANT_ID, END_ID = range(257, 257 + len(SPECIAL_TOKENS))
N_VOCAB = 257 + len(SPECIAL_TOKENS)

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)

_BIAS = 8.0  # value of the bias channel in every token embedding
_SUPPRESS = -3.0  # output weight on the bias channel for suppressed tokens: about -15 logits after the norm


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character map (the form byte tokens take in a gpt2 vocabulary)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def _vocab() -> tuple[list[str], list[int]]:
    b2u = _bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)] + [MERGED_TOKEN, *SPECIAL_TOKENS]
    types = [gguf.TokenType.NORMAL] * 257 + [gguf.TokenType.CONTROL] * len(SPECIAL_TOKENS)
    return tokens, [int(t) for t in types]


def _output_weights(rng: np.random.Generator) -> np.ndarray:
    out = rng.standard_normal((N_VOCAB, N_EMBD)).astype(np.float32) * 0.3  # logits of a few units: sampling varies
    allowed = [b for b in range(256) if 0x20 <= b < 0x7F or b == 0x0A] + [MERGED_ID]
    out[:, 0] = _SUPPRESS
    out[allowed, 0] = 0.0
    return out


def _write_tensors(writer: gguf.GGUFWriter, rng: np.random.Generator) -> None:
    head_dim = N_EMBD // N_HEAD

    def rand(*shape: int) -> np.ndarray:
        # 1/sqrt(fan_in) keeps the residual stream at unit scale, so the bias channel is not drowned out
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)

    embd = rng.standard_normal((N_VOCAB, N_EMBD)).astype(np.float32)
    embd[:, 0] = _BIAS
    writer.add_tensor("token_embd.weight", embd)
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, np.float32))
    writer.add_tensor("output.weight", _output_weights(rng))
    blind = np.ones(N_EMBD, np.float32)
    blind[0] = 0.0  # the layers never see the bias channel...
    for i in range(N_LAYER):
        attn_out, ffn_down = rand(N_EMBD, N_EMBD), rand(N_EMBD, N_FF)
        attn_out[0, :] = 0.0  # ...and never write to it, so it stays constant through the residual stream
        ffn_down[0, :] = 0.0
        writer.add_tensor(f"blk.{i}.attn_norm.weight", blind)
        writer.add_tensor(f"blk.{i}.attn_q.weight", rand(N_EMBD, N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_k.weight", rand(N_HEAD_KV * head_dim, N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_v.weight", rand(N_HEAD_KV * head_dim, N_EMBD))
        writer.add_tensor(f"blk.{i}.attn_output.weight", attn_out)
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", blind)
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", rand(N_FF, N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", rand(N_FF, N_EMBD))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", ffn_down)


def _write_metadata(writer: gguf.GGUFWriter) -> None:
    writer.add_name("tiny-llama")
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(N_VOCAB)
    tokens, types = _vocab()
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(["Ġ t"])
    writer.add_bos_token_id(BOS_ID)
    writer.add_eos_token_id(EOS_ID)
    writer.add_eot_token_id(END_ID)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)


def write_tiny_model(path: Path, *, seed: int = 0) -> Path:
    """Write the tiny model to `path` (parent directories created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "llama")
    _write_metadata(writer)
    _write_tensors(writer, rng)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_tiny_lora(path: Path, *, seed: int = 1, rank: int = 4, alpha: float = 8.0, arch: str = "llama") -> Path:
    """A LoRA adapter for the tiny model (random A/B on every layer's q and v projections), as llama.cpp reads it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    head_dim = N_EMBD // N_HEAD
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", alpha)
    for i in range(N_LAYER):
        for name, n_out in (("attn_q", N_EMBD), ("attn_v", N_HEAD_KV * head_dim)):
            # ggml shapes: lora_a [n_in, rank], lora_b [rank, n_out] (numpy shapes are reversed)
            writer.add_tensor(f"blk.{i}.{name}.weight.lora_a", rng.standard_normal((rank, N_EMBD)).astype(np.float32))
            writer.add_tensor(f"blk.{i}.{name}.weight.lora_b", rng.standard_normal((n_out, rank)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
