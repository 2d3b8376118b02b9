"""Versioned presets: Ollama Modelfiles whose every save is an immutable version.

A preset is a name plus a chain of versions (number, text, sha256 of the text, parent, time, message). Saving
text identical to the latest version is a no-op; rollback appends a new version holding an old text, so history
is never rewritten. Tags name versions (`name:stable`); `latest` always follows the newest. References:
`name` (= `name:latest`), `name:tag`, `name@3`.

The stored text is exactly what the user wrote (comments and layout kept, so diffs read naturally); it is parsed
and validated in full before anything is saved, and its FROM must resolve to a library model (a GGUF path is
imported, an `hf.co/...` reference pulled) so a saved version always records the sha256 of the model it ran on.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidModelfile, InvalidName, NotFound
from .modelfile import parser as mf
from .records import LocalModel, Preset, PresetVersion
from .tasks import CancelToken, ProgressCallback, no_progress

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_REF = re.compile(r"^(?P<name>[^:@]+)(?::(?P<tag>[^:@]+)|@(?P<number>\d+))?$")


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


def parse_ref(ref: str) -> tuple[str, int | str | None]:
    """'name' -> (name, None); 'name:tag' -> (name, 'tag'); 'name@3' -> (name, 3)."""
    match = _REF.match(ref.strip())
    if not match:
        raise InvalidName(f"{ref!r} is not a preset reference: use NAME, NAME:TAG or NAME@VERSION")
    if match["number"]:
        return match["name"], int(match["number"])
    return match["name"], match["tag"]


class Presets:
    def __init__(self, workbench):
        self._wb = workbench
        self._repo = workbench.store.presets

    # -- reading -----------------------------------------------------------------------------------------
    def list(self) -> list[Preset]:
        return self._repo.list()

    def exists(self, name: str) -> bool:
        return self._repo.exists(name)

    def get(self, ref: str) -> PresetVersion:
        name, selector = parse_ref(ref)
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

    def import_modelfile(self, path: Path, name: str | None = None, **kwargs) -> PresetVersion:
        """Import a real Ollama Modelfile from disk as a new preset (or a new version of an existing one)."""
        text = Path(path).read_text(encoding="utf-8")
        name = check_preset_name(name or Path(path).stem.lower().replace(" ", "-"))
        version, _ = self.save(name, text, message=f"imported from {Path(path).name}", **kwargs)
        return version

    # -- validation and FROM resolution ------------------------------------------------------------------
    def validate(self, text: str, *, on_progress: ProgressCallback = no_progress,
                 cancel: CancelToken | None = None) -> LocalModel:
        """Parse fully (raising InvalidModelfile with a line number) and resolve FROM to a library model."""
        parsed = mf.parse(text)
        model = self._obtain_model(parsed.from_, on_progress=on_progress, cancel=cancel)
        if model.context_length:
            mf.parse(text, max_context=model.context_length)  # num_ctx beyond what the model supports
        return model

    def _obtain_model(self, source: str, *, on_progress: ProgressCallback,
                      cancel: CancelToken | None) -> LocalModel:
        kind = mf.classify_from(source)
        if kind == "hub":
            return self._wb.hub.pull(source, on_progress=on_progress, cancel=cancel)
        if kind == "path":
            path = Path(source).expanduser()
            for model in self._wb.library.list():
                if model.path == path.resolve():
                    return model
            return self._wb.library.import_file(path, on_progress=on_progress, cancel=cancel)
        return self._library_model(source)

    def _library_model(self, source: str) -> LocalModel:
        kind = mf.classify_from(source)
        if kind == "path":
            path = Path(source).expanduser().resolve()
            for model in self._wb.library.list():
                if model.path == path:
                    return model
            raise NotFound(f"FROM {source}: that file is not in the library any more; import it again")
        if kind == "hub":
            model = self._wb.hub.find_local(source)
            if model is None:
                raise NotFound(f"FROM {source}: not pulled yet; run `workbench pull {source}`")
            return model
        try:
            return self._wb.library.get(source)
        except NotFound:
            raise InvalidModelfile(
                f"FROM {source}: no such model in the library (`workbench list`); import or pull it first", 1,
            ) from None
