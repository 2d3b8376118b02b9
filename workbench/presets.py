"""Versioned presets (`wb.presets`): Ollama Modelfiles whose every save is an immutable version.

References are `name` (= `name:latest`), `name:tag` and `name@3`; rollback appends, never rewrites. The text is
stored as written, validated in full first, and its FROM must resolve to a library model (docs/design.md §6.1).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InvalidModelFile, InvalidModelfile, InvalidName, NotFound
from .modelfile import parser as mf
from .records import LocalModel, Preset, PresetVersion
from .resolve import GGUFPath, HubReference, ModelMatch, NoMatch, Resolved, parse_preset_ref, resolve
from .tasks import CancelToken, ProgressCallback, no_progress

if TYPE_CHECKING:
    from .app import Workbench

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class ResolvedPreset:
    """A preset version parsed and bound to its library model: what a session or request runs."""

    version: PresetVersion
    modelfile: mf.Modelfile
    model: LocalModel


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_preset_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidName(f"preset name {name!r} is not allowed: use lowercase letters, digits, '.', '_' or '-'")
    return name


def check_adapter(adapter: str, line: int, model: LocalModel) -> None:
    """An ADAPTER must name an existing GGUF LoRA adapter made for the FROM model's architecture (as Ollama's
    create refuses a missing one); InvalidModelfile with the line otherwise. Relative paths are read from the
    current folder, as FROM's are."""
    from .gguf import read_gguf_info

    path = Path(adapter).expanduser()
    if not path.is_file():
        raise InvalidModelfile(f"ADAPTER {adapter}: no such file ({path.absolute()})", line)
    try:
        info = read_gguf_info(path)
    except (InvalidModelFile, OSError) as exc:
        raise InvalidModelfile(f"ADAPTER {adapter}: not a readable GGUF adapter ({exc})", line) from exc
    kind = (info.metadata.get("general.type"), info.metadata.get("adapter.type"))
    if kind != ("adapter", "lora"):  # what llama.cpp's llama_adapter_lora_init requires
        raise InvalidModelfile(f"ADAPTER {adapter}: not a LoRA adapter (general.type {kind[0] or 'unset'}, "
                               f"adapter.type {kind[1] or 'unset'})", line)
    if info.architecture and model.architecture and info.architecture != model.architecture:
        raise InvalidModelfile(f"ADAPTER {adapter}: made for the {info.architecture} architecture, but FROM "
                               f"{model.name} is {model.architecture}", line)
    weights: dict[str, tuple[int, ...]] = {}
    for file in model.files:
        weights.update(read_gguf_info(file).tensor_shapes)
    problem = lora_misfit(info.tensor_shapes, weights)
    if problem:
        raise InvalidModelfile(f"ADAPTER {adapter}: does not fit {model.name}: {problem}", line)


def lora_misfit(lora: dict[str, tuple[int, ...]], weights: dict[str, tuple[int, ...]]) -> str | None:
    """Why a LoRA's tensor pairs do not fit the model's weights (llama.cpp's own load-time checks, made at create
    so the preset is never saved), or None. ggml shapes: weight [n_in, n_out], lora_a [n_in, r], lora_b [r, n_out]."""
    pairs = [name.removesuffix(".lora_a") for name in lora if name.endswith(".lora_a")]
    if not pairs:
        return "it has no .lora_a/.lora_b tensor pairs"
    for base in pairs:
        a, b, weight = lora[base + ".lora_a"], lora.get(base + ".lora_b"), weights.get(base)
        if b is None:
            return f"{base}.lora_a has no {base}.lora_b"
        if weight is None:
            return f"the model has no tensor {base}"
        if len(a) < 2 or len(b) < 2 or a[1] != b[0] or (a[0], b[1]) != tuple(weight[:2]):
            return (f"{base} is {list(weight)} in the model, but the adapter's pair is {list(a)} x {list(b)} "
                    "(made for another model size?)")
    return None


class Presets:
    def __init__(self, workbench: Workbench):
        self._wb = workbench
        self._repo = workbench.store.presets

    # -- reading -----------------------------------------------------------------------------------------
    def list(self) -> list[Preset]:
        return self._repo.list()

    def exists(self, name: str) -> bool:
        return self._repo.exists(name)

    def get(self, ref: str) -> PresetVersion:
        name, selector = parse_preset_ref(ref)
        return self._repo.get_version(name, selector)

    def version_by_id(self, version_id: int) -> PresetVersion:
        return self._repo.version_by_id(version_id)

    def history(self, name: str) -> list[PresetVersion]:
        return self._repo.history(name)

    def diff(self, name: str, a: int, b: int) -> str:
        old, new = self._repo.get_version(name, a), self._repo.get_version(name, b)
        return "".join(difflib.unified_diff(
            old.content.splitlines(keepends=True), new.content.splitlines(keepends=True),
            fromfile=old.ref, tofile=new.ref))

    def export(self, ref: str) -> str:
        return self.get(ref).content

    def resolve(self, ref_or_version: str | PresetVersion) -> ResolvedPreset:
        version = self.get(ref_or_version) if isinstance(ref_or_version, str) else ref_or_version
        parsed = mf.parse(version.content)
        model = self._library_model(parsed.from_)
        return ResolvedPreset(version, parsed, model)

    # -- writing -----------------------------------------------------------------------------------------
    def create(self, name: str, text: str, *, message: str | None = None,
               on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> PresetVersion:
        check_preset_name(name)
        model = self.validate(text, on_progress=on_progress, cancel=cancel)
        version, _ = self._repo.save(name, text, content_hash(text), message=message or "created",
                                     model_sha256=model.sha256, create=True)
        self._wb.audit.preset("preset.saved", version, created=True)
        return version

    def save(self, name: str, text: str, *, message: str | None = None,
             on_progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
             ) -> tuple[PresetVersion, bool]:
        """Save text as the next version; (version, False) when it equals the latest (nothing is written)."""
        check_preset_name(name)
        model = self.validate(text, on_progress=on_progress, cancel=cancel)
        version, saved = self._repo.save(name, text, content_hash(text), message=message, model_sha256=model.sha256)
        if saved:
            self._wb.audit.preset("preset.saved", version, created=version.number == 1)
        return version, saved

    def rollback(self, name: str, number: int, *, message: str | None = None) -> PresetVersion:
        old = self._repo.get_version(name, number)
        version, _ = self._repo.save(name, old.content, old.content_sha256,
                                     message=message or f"rollback to version {number}",
                                     model_sha256=old.model_sha256)
        self._wb.audit.preset("preset.rolled_back", version, to_version=number)
        return version

    def tag(self, name: str, tag: str, number: int) -> PresetVersion:
        version = self._repo.set_tag(name, tag, number)
        self._wb.audit.preset("preset.tagged", version, tag=tag)
        return version

    def delete(self, name: str, *, force: bool = False) -> int:
        detached = self._repo.delete(name, force=force)
        self._wb.audit.record("preset.deleted", name, {"sessions_detached": detached, "force": force})
        return detached

    # -- validation and FROM resolution ------------------------------------------------------------------
    def validate(self, text: str, *, on_progress: ProgressCallback = no_progress,
                 cancel: CancelToken | None = None) -> LocalModel:
        """Parse fully (raising InvalidModelfile with a line number) and resolve FROM to a library model."""
        parsed = mf.parse(text)
        model = self._obtain_model(parsed.from_, on_progress=on_progress, cancel=cancel)
        if model.context_length:
            mf.parse(text, max_context=model.context_length)  # num_ctx beyond what the model supports
        adapters = mf.instruction_values(text, "ADAPTER")
        for line, adapter in adapters:
            check_adapter(adapter, line, model)
        if len(adapters) > 1:  # what the engine applies (chat/prepare.py)
            raise InvalidModelfile("one ADAPTER per preset: merge the LoRAs into one first", adapters[1][0])
        if parsed.projector is not None:
            model = self._pair_projector(model, *mf.instruction_values(text, "FROM")[1])
        return model

    def _pair_projector(self, model: LocalModel, line: int, projector: str) -> LocalModel:
        """A second FROM pairs its projector with the FROM model in the library (where a preset's model finds its
        projector at run time, as for a model imported with --mmproj); a file that is none is refused."""
        path = Path(projector).expanduser()
        if not path.is_file():
            raise InvalidModelfile(f"FROM {projector}: no such projector file ({path.absolute()})", line)
        if model.projector_path and Path(model.projector_path) == path.absolute():
            return model
        try:
            return self._wb.library.pair_projector(model.name, path)
        except InvalidModelFile as exc:
            raise InvalidModelfile(f"FROM {projector}: {exc}", line) from exc

    def _obtain_model(self, source: str, *, on_progress: ProgressCallback,
                      cancel: CancelToken | None) -> LocalModel:
        """FROM's model, fetched if need be: an hf.co reference is pulled (checked against the Hub on every
        save), a GGUF path not in the library is imported."""
        found = resolve(self._wb, source, scope="from")
        if isinstance(found, HubReference) or (isinstance(found, ModelMatch) and found.pulled_by is not None):
            return self._wb.hub.pull(source, on_progress=on_progress, cancel=cancel)
        if isinstance(found, GGUFPath) and found.model is None:
            return self._wb.library.import_file(found.path, on_progress=on_progress, cancel=cancel)
        return self._library_model(source, found)

    def _library_model(self, source: str, found: Resolved | None = None) -> LocalModel:
        """FROM's model as the library has it now (nothing is fetched)."""
        found = found or resolve(self._wb, source, scope="from")
        if isinstance(found, ModelMatch):
            return found.model
        if isinstance(found, GGUFPath):
            if found.model is None:
                raise NotFound(f"FROM {source}: that file is not in the library any more; import it again")
            return found.model
        if isinstance(found, HubReference):
            raise NotFound(f"FROM {source}: not pulled yet; run `workbench pull {source}`")
        hint = f"; did you mean {' or '.join(found.close)}?" if isinstance(found, NoMatch) and found.close else ""
        raise InvalidModelfile(
            f"FROM {source}: no such model in the library (`workbench list`); import or pull it first{hint}", 1)
