"""A library model described for people, once: the summary row of `workbench list` and the Library page's table,
the labelled facts of `workbench show` and the page's details panel, and the texts /api/tags and /api/show reuse.
"""

from __future__ import annotations

from ..records import LocalModel
from ..units import human_count, human_size

# the summary's columns: (label, the CLI's narrow header)
SUMMARY_COLUMNS = (("Name", "NAME"), ("Architecture", "ARCH"), ("Parameters", "PARAMS"), ("Quantization", "QUANT"),
                   ("Size", "SIZE"), ("Context", "CTX"), ("Source", "SOURCE"), ("Added", "ADDED"))
MISSING = "-"


def parameters(m: LocalModel) -> str | None:
    """The parameter count in short form ("270.0M", "1.2B"); None when the file does not say."""
    return human_count(m.parameter_count) if m.parameter_count else None


def context(m: LocalModel) -> str | None:
    return f"{m.context_length:,}" if m.context_length else None


def source(m: LocalModel) -> str:
    """Where the model's bytes came from: its Hub repo, the model it was quantized from, or a local file."""
    if m.source_repo:
        return f"hf.co/{m.source_repo}"
    if m.parent_sha256:
        return f"quantized from {m.parent_sha256[:12]}"
    return "in place" if m.in_place else "copied"


def summary_row(m: LocalModel) -> tuple[str, ...]:
    """One model's cells under SUMMARY_COLUMNS."""
    return (m.name, m.architecture or MISSING, parameters(m) or MISSING, m.quantization or MISSING,
            human_size(m.size_bytes), context(m) or MISSING, source(m), f"{m.added_at:%Y-%m-%d %H:%M}")


def detail_rows(m: LocalModel) -> list[tuple[str, str]]:
    """Every fact the library keeps about a model, as (label, text) rows (the GGUF metadata is separate)."""
    def n(value: int | None) -> str:
        return MISSING if value is None else f"{value:,}"

    hub = f" {m.source_file} @ {(m.source_revision or '')[:12]}" if m.source_repo else ""
    rows = [
        ("name", m.name), ("sha256", m.sha256),
        ("path", str(m.path)), *(("shard", str(p)) for p in m.split_paths),
        ("stored", "in place (the file stays where it is)" if m.in_place else "copy in the library's store"),
        ("size", human_size(m.size_bytes)), ("architecture", m.architecture or MISSING),
        ("parameters", f"{parameters(m) or MISSING} ({n(m.parameter_count)})"),
        ("quantization", m.quantization or MISSING), ("context length", n(m.context_length)),
        ("embedding length", n(m.embedding_length)), ("layers", n(m.block_count)),
        ("attention heads", f"{n(m.head_count)} (KV {n(m.head_count_kv)})"),
        ("tokenizer", m.tokenizer_model or MISSING),
        ("chat template", f"yes (sha256 {m.chat_template_sha256[:12]})" if m.chat_template_sha256 else "none"),
        ("license", m.license or MISSING), ("general.name", m.general_name or MISSING),
        ("tensors", n(m.tensor_count)), ("source", source(m) + hub), ("added", f"{m.added_at:%Y-%m-%d %H:%M} UTC"),
    ]
    if m.parent_sha256:
        rows.append(("parent", m.parent_sha256 + (" (requantized)" if m.requantized else "")))
    rows.append(("input", " / ".join(("text", *m.modalities))))
    if m.projector_path:
        rows.append(("projector", f"{m.projector_path} (sha256 {(m.projector_sha256 or '')[:12]})"))
    return rows
