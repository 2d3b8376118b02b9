"""A tiny random vision projector GGUF that libmtmd loads beside tests/tinymodel.py's text model (≈60 KB).

`write_tiny_projector(path, seed=0)` writes a LLaVA-style projector (clip.projector_type "mlp", the simplest type
llama.cpp's tools/mtmd/clip.cpp loads: a plain ViT, then a two-layer MLP into the text model's embedding space):
32 × 32 input images cut into 8 × 8 patches → 16 image tokens, a 2-block ViT of width 32, F32 weights. Its
output width equals the tiny text model's N_EMBD (mtmd refuses a pair whose widths differ), and channel 0 of
every image embedding is the text model's constant bias channel, so answers stay printable ASCII like the text
model's own (tests/tinymodel.py says why).
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from tests.tinymodel import N_EMBD as TEXT_EMBD

IMAGE_SIZE = 32
PATCH_SIZE = 8
N_IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2  # 16: no class token, every patch becomes one token
V_EMBD = 32
V_HEAD = 2
V_FF = 48  # ≠ V_EMBD: clip.cpp swaps ffn up/down of old LLaVA files when ffn_down's input width equals n_embd
V_LAYER = 2  # LLaVA reads the second-to-last block's output, so the last block is loaded but unused
_BIAS = 8.0  # tests/tinymodel.py's bias channel value


def _rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)


def _write_metadata(writer: gguf.GGUFWriter, image_size: int, width: int, layers: int,
                    projector_type: str = "mlp", text_width: int = TEXT_EMBD) -> None:
    writer.add_name("tiny-vision-projector")
    writer.add_type("mmproj")
    writer.add_string("clip.projector_type", projector_type)
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.use_gelu", True)
    writer.add_uint32("clip.vision.image_size", image_size)
    writer.add_uint32("clip.vision.patch_size", PATCH_SIZE)
    writer.add_uint32("clip.vision.embedding_length", width)
    writer.add_uint32("clip.vision.feed_forward_length", width * V_FF // V_EMBD)
    writer.add_uint32("clip.vision.projection_dim", text_width)
    writer.add_uint32("clip.vision.attention.head_count", V_HEAD)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_uint32("clip.vision.block_count", layers)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)


def _write_vit(writer: gguf.GGUFWriter, rng: np.random.Generator, image_size: int, width: int, layers: int) -> None:
    """The ViT both image projector types share (CLIP's for LLaVA, SigLIP's for Gemma 3: the same tensors)."""
    # numpy shapes are ggml's reversed: a [n_in → n_out] weight is (n_out, n_in)
    n_ff = width * V_FF // V_EMBD
    writer.add_tensor("v.patch_embd.weight",
                      _rand(rng, width, 3, PATCH_SIZE, PATCH_SIZE) / PATCH_SIZE)
    writer.add_tensor("v.position_embd.weight", _rand(rng, (image_size // PATCH_SIZE) ** 2, width))
    writer.add_tensor("v.pre_ln.weight", np.ones(width, np.float32))
    writer.add_tensor("v.pre_ln.bias", np.zeros(width, np.float32))
    for i in range(layers):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            writer.add_tensor(f"v.blk.{i}.{name}.weight", _rand(rng, width, width))
            writer.add_tensor(f"v.blk.{i}.{name}.bias", np.zeros(width, np.float32))
        for name in ("ln1", "ln2"):
            writer.add_tensor(f"v.blk.{i}.{name}.weight", np.ones(width, np.float32))
            writer.add_tensor(f"v.blk.{i}.{name}.bias", np.zeros(width, np.float32))
        writer.add_tensor(f"v.blk.{i}.ffn_up.weight", _rand(rng, n_ff, width))
        writer.add_tensor(f"v.blk.{i}.ffn_up.bias", np.zeros(n_ff, np.float32))
        writer.add_tensor(f"v.blk.{i}.ffn_down.weight", _rand(rng, width, n_ff))
        writer.add_tensor(f"v.blk.{i}.ffn_down.bias", np.zeros(width, np.float32))


def _write_tensors(writer: gguf.GGUFWriter, rng: np.random.Generator, image_size: int, width: int,
                   layers: int, text_width: int) -> None:
    _write_vit(writer, rng, image_size, width, layers)
    writer.add_tensor("mm.0.weight", _rand(rng, text_width, width))
    writer.add_tensor("mm.0.bias", np.zeros(text_width, np.float32))
    out = _rand(rng, text_width, text_width)
    bias = np.zeros(text_width, np.float32)
    if text_width == TEXT_EMBD:
        out[0, :] = 0.0  # the tiny text model's bias channel: constant, as in every token embedding
        bias[0] = _BIAS
    writer.add_tensor("mm.2.weight", out)
    writer.add_tensor("mm.2.bias", bias)


def write_tiny_projector(path: Path, *, seed: int = 0, image_size: int = IMAGE_SIZE, width: int = V_EMBD,
                         layers: int = V_LAYER, text_width: int = TEXT_EMBD) -> Path:
    """Write the tiny projector to `path` (parent directories created) and return the path. A larger
    image_size / width / layers makes a heavier encoder of the same type, and text_width pairs it with another
    text model (tests/benchmarks/bench_vision.py); it makes (image_size / 8)² image tokens."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "clip")
    _write_metadata(writer, image_size, width, layers, text_width=text_width)
    _write_tensors(writer, np.random.default_rng(seed), image_size, width, layers, text_width)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def tiny_png(seed: int = 0, size: int = IMAGE_SIZE) -> bytes:
    """A small random RGB PNG (different seeds → different images)."""
    import io

    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


A_MEL = 128  # Whisper's mel bins as Qwen2-Audio uses them
A_EMBD = 32
A_POSITIONS = 1500  # 30 s of audio: 3,000 mel frames, halved by the second convolution


def write_tiny_audio_projector(path: Path, *, seed: int = 0) -> Path:
    """A tiny random Qwen2-Audio-style audio projector (clip.projector_type "qwen2a": a Whisper encoder — two
    convolutions, a 2-block transformer — average-pooled, then one linear layer into the text model's width)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_type("mmproj")
    writer.add_string("clip.projector_type", "qwen2a")
    writer.add_bool("clip.has_audio_encoder", True)
    for key, value in (("embedding_length", A_EMBD), ("feed_forward_length", A_EMBD * 2),
                       ("projection_dim", TEXT_EMBD), ("attention.head_count", 2), ("block_count", 2),
                       ("num_mel_bins", A_MEL)):
        writer.add_uint32(f"clip.audio.{key}", value)
    writer.add_float32("clip.audio.attention.layer_norm_epsilon", 1e-5)
    # numpy shapes are ggml's reversed: a conv1d kernel is (out, in, width), its bias (out, 1)
    writer.add_tensor("a.conv1d.1.weight", _rand(rng, A_EMBD, A_MEL, 3))
    writer.add_tensor("a.conv1d.1.bias", np.zeros((A_EMBD, 1), np.float32))
    writer.add_tensor("a.conv1d.2.weight", _rand(rng, A_EMBD, A_EMBD, 3))
    writer.add_tensor("a.conv1d.2.bias", np.zeros((A_EMBD, 1), np.float32))
    writer.add_tensor("a.position_embd.weight", _rand(rng, A_POSITIONS, A_EMBD))
    for i in range(2):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            writer.add_tensor(f"a.blk.{i}.{name}.weight", _rand(rng, A_EMBD, A_EMBD))
            if name != "attn_k":  # Whisper's key projection has no bias
                writer.add_tensor(f"a.blk.{i}.{name}.bias", np.zeros(A_EMBD, np.float32))
        for name in ("ln1", "ln2"):
            writer.add_tensor(f"a.blk.{i}.{name}.weight", np.ones(A_EMBD, np.float32))
            writer.add_tensor(f"a.blk.{i}.{name}.bias", np.zeros(A_EMBD, np.float32))
        writer.add_tensor(f"a.blk.{i}.ffn_up.weight", _rand(rng, A_EMBD * 2, A_EMBD))
        writer.add_tensor(f"a.blk.{i}.ffn_up.bias", np.zeros(A_EMBD * 2, np.float32))
        writer.add_tensor(f"a.blk.{i}.ffn_down.weight", _rand(rng, A_EMBD, A_EMBD * 2))
        writer.add_tensor(f"a.blk.{i}.ffn_down.bias", np.zeros(A_EMBD, np.float32))
    out = _rand(rng, TEXT_EMBD, A_EMBD)
    out[0, :] = 0.0  # the text model's bias channel, as for images
    bias = np.zeros(TEXT_EMBD, np.float32)
    bias[0] = _BIAS
    writer.add_tensor("mm.a.fc.weight", out)
    writer.add_tensor("mm.a.fc.bias", bias)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def tiny_wav(seed: int = 0, seconds: float = 1.0, rate: int = 16_000) -> bytes:
    """A short mono 16-bit WAV of random noise (different seeds → different clips)."""
    import io
    import wave

    samples = (np.random.default_rng(seed).standard_normal(int(seconds * rate)) * 3000).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


GEMMA3_IMAGE_SIZE = 64  # 8 × 8 patches, average-pooled 2 × 2 → 16 image tokens
N_GEMMA3_IMAGE_TOKENS = (GEMMA3_IMAGE_SIZE // PATCH_SIZE // 2) ** 2


def write_tiny_gemma3_projector(path: Path, *, seed: int = 0) -> Path:
    """A tiny random Gemma-3-style projector (clip.projector_type "gemma3": a SigLIP ViT, 2 × 2 average pooling,
    an RMS norm and a linear map into the text model's width). Its image tokens attend to each other both ways:
    the engine decodes each image in one piece with causal attention off (engine/vision.py)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "clip")
    _write_metadata(writer, GEMMA3_IMAGE_SIZE, V_EMBD, V_LAYER, projector_type="gemma3")
    writer.add_uint32("clip.vision.projector.scale_factor", 2)
    _write_vit(writer, rng, GEMMA3_IMAGE_SIZE, V_EMBD, V_LAYER)
    writer.add_tensor("mm.soft_emb_norm.weight", np.ones(V_EMBD, np.float32))
    writer.add_tensor("mm.input_projection.weight", _rand(rng, V_EMBD, TEXT_EMBD))  # ggml [text width, ViT width]
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
