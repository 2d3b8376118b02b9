"""What a model name refers to — a preset version, a library model, an hf.co reference not pulled yet, a GGUF
path, or nothing — answered in one place for the CLI, the endpoint, the GUI and Modelfile FROM lines.

`resolve(wb, name)` returns one of the typed results below; each caller decides which kinds it accepts.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .errors import InvalidModelfile, InvalidName, NotFound
from .hub.refs import parse_ref as parse_hub_ref
from .hub.types import HubRef
from .modelfile.parser import classify_from
from .records import LocalModel, PresetVersion

if TYPE_CHECKING:
    from .app import Workbench

_PRESET_REF = re.compile(r"^(?P<name>[^:@]+)(?::(?P<tag>[^:@]+)|@(?P<number>\d+))?$")

Scope = Literal["any", "latest", "models", "from"]
"""Which names count, and in which order:
- "any": a preset by NAME, NAME:TAG or NAME@N, else a model (chat, compare, the endpoint's generation routes);
- "latest": a preset only by NAME or NAME:latest, else a model (Ollama's delete, and a copy's destination:
  there a tag names a model);
- "models": no presets (a name that must be a model);
- "from": a Modelfile FROM: no presets, and the syntax decides first — an hf.co reference is the Hub and a
  path is a file even when a library model has that name (Ollama reads FROM the same way).
"""


@dataclass(frozen=True)
class PresetMatch:
    """A preset version (not yet bound to its model: `Presets.resolve(match.version)` does that)."""

    version: PresetVersion


@dataclass(frozen=True)
class ModelMatch:
    """A library model: by name or alias, a unique sha256 prefix, a unique case-insensitive name, or the
    hf.co reference it was pulled by (`pulled_by`)."""

    model: LocalModel
    pulled_by: HubRef | None = None


@dataclass(frozen=True)
class HubReference:
    """An hf.co reference no library model was pulled by yet (`workbench pull` fetches it)."""

    ref: HubRef


@dataclass(frozen=True)
class GGUFPath:
    """A path to a GGUF file (as written, `~` expanded); `model` is the library model registered there, if any."""

    path: Path
    model: LocalModel | None = None


@dataclass(frozen=True)
class NoMatch:
    """Nothing by that name. `message` says so and offers the closest names; `preset` is set when the name
    picked a tag or version that preset does not have (the message is then the preset's own)."""

    name: str
    message: str
    close: tuple[str, ...] = ()
    preset: str | None = None

    def error(self) -> NotFound:
        return NotFound(self.message)


Resolved = PresetMatch | ModelMatch | HubReference | GGUFPath | NoMatch


def parse_preset_ref(ref: str) -> tuple[str, int | str | None]:
    """'name' -> (name, None); 'name:tag' -> (name, 'tag'); 'name@3' -> (name, 3)."""
    match = _PRESET_REF.match(ref.strip())
    if not match:
        raise InvalidName(f"{ref!r} is not a preset reference: use NAME, NAME:TAG or NAME@VERSION")
    if match["number"]:
        return match["name"], int(match["number"])
    return match["name"], match["tag"]


def resolve(wb: Workbench, name: str, *, scope: Scope = "any") -> Resolved:
    """What `name` refers to. A preset wins over a library model of the same name (like Ollama, where a model
    made from a Modelfile shadows its base). A miss is a NoMatch; raised are only InvalidName (an ambiguous
    sha256 prefix; in "from" scope a malformed hf.co reference) and, in "from" scope, InvalidModelfile for
    what is no name at all. On a library holding `tiny:F32` (also named `spare:F32`, pulled by
    hf.co/alice/tiny-GGUF:F32) and the preset `helper`:

        resolve(wb, "helper@1")                    → PresetMatch(version=<helper@1>)
        resolve(wb, "spare:F32")                   → ModelMatch(model=<spare:F32>)
        resolve(wb, "hf.co/alice/tiny-GGUF:F32")   → ModelMatch(model=<tiny:F32>, pulled_by=HubRef(...))
        resolve(wb, "hf.co/alice/tiny-GGUF:Q8_0")  → HubReference(ref=HubRef(repo="alice/tiny-GGUF", ...))
        resolve(wb, "~/models/x.gguf")             → GGUFPath(path=/home/me/models/x.gguf, model=None)
        resolve(wb, "helpr")                       → NoMatch(..., close=("helper",))
    """
    if scope == "from":
        return _from_line(wb, name)
    if scope in ("any", "latest"):
        preset = _preset(wb, name, any_version=scope == "any")
        if isinstance(preset, PresetMatch):
            return preset
        if isinstance(preset, NoMatch):  # the preset exists but not that tag or version: a model may be meant
            found = _model(wb, name)
            return found if isinstance(found, ModelMatch) else preset
    return _model(wb, name, presets=scope != "models")


def _preset(wb: Workbench, name: str, *, any_version: bool) -> PresetMatch | NoMatch | None:
    try:
        preset, selector = parse_preset_ref(name)
    except InvalidName:  # "hf.co/org/repo:Q4_K_M", a path and the like cannot name a preset
        return None
    if not (any_version or selector in (None, "latest")) or not wb.presets.exists(preset):
        return None
    try:
        return PresetMatch(wb.presets.get(name))
    except NotFound as exc:  # "gemma-3-270m:Q4_K_M" reads as a preset tag too
        return NoMatch(name, str(exc), preset=preset)


def _model(wb: Workbench, name: str, *, presets: bool = False) -> ModelMatch | HubReference | GGUFPath | NoMatch:
    """A library model by name (Library.get's rules), else an hf.co reference (pulled or not), else a path."""
    model = wb.library.find(name)
    if model is not None:
        return ModelMatch(model)
    try:
        ref = parse_hub_ref(name)
    except InvalidName:
        ref = None
    if ref is not None:
        return _hub(wb, ref)
    if _syntax(name) == "path":
        return _path(wb, name)
    return _no_match(wb, name, presets=presets)


def _from_line(wb: Workbench, source: str) -> Resolved:
    kind = classify_from(source)  # InvalidModelfile for what is none of the three
    if kind == "hub":
        return _hub(wb, parse_hub_ref(source))
    if kind == "path":
        return _path(wb, source)
    model = wb.library.find(source)
    return ModelMatch(model) if model is not None else _no_match(wb, source, presets=False)


def _hub(wb: Workbench, ref: HubRef) -> ModelMatch | HubReference:
    model = wb.hub.find_local(ref)  # no network: the library remembers what each model was pulled by
    return ModelMatch(model, pulled_by=ref) if model is not None else HubReference(ref)


def _path(wb: Workbench, text: str) -> GGUFPath:
    path = Path(text)
    try:
        path = path.expanduser()
        absolute = path.resolve()
    except (OSError, ValueError, RuntimeError):  # ~nobody, a NUL byte, a loop of links: names come from HTTP too
        return GGUFPath(path)
    return GGUFPath(path, next((m for m in wb.library.list() if m.path == absolute), None))


def _syntax(name: str) -> str | None:
    try:
        return classify_from(name)
    except InvalidModelfile:  # not even a model name
        return None


def _no_match(wb: Workbench, name: str, *, presets: bool) -> NoMatch:
    names = [m.name for m in wb.library.list()]
    if presets:
        names += [p.name for p in wb.presets.list()]
    close = tuple(difflib.get_close_matches(name, dict.fromkeys(names), n=3, cutoff=0.6))
    if presets:
        message = f"{name!r} is neither a preset (`workbench presets`) nor a library model (`workbench list`)"
    else:
        message = f"no model named {name!r}: `workbench list` shows the library"
    if close:
        message += f"; did you mean {' or '.join(close)}?"
    return NoMatch(name, message, close)
