"""Small projector (mmproj) GGUFs for library-side tests: metadata only, never loaded into llama.cpp.

The real, loadable tiny projector for engine tests is tests/tinyvision.py's; these only need to look like one.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np


def write_projector(path: Path, *, vision: bool = True, audio: bool = False, seed: int = 0,
                    general_type: str | None = "mmproj") -> Path:
    """A few-KB GGUF with `general.type = mmproj` and clip.* keys (which encoders it has)."""
    writer = gguf.GGUFWriter(str(path), "clip")
    if general_type is not None:
        writer.add_type(general_type)
    writer.add_bool("clip.has_vision_encoder", vision)
    writer.add_bool("clip.has_audio_encoder", audio)
    writer.add_string("clip.projector_type", "mlp")
    writer.add_tensor("mm.0.weight", np.random.default_rng(seed).standard_normal((8, 8)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
