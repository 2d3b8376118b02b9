"""`promote(wb, preset, engine)`: write what vLLM, TGI, llama-server or Ollama needs to serve a preset the same way.

One folder per promotion: the engine's files (from its module's `plan`), request_defaults.json and
prefix_messages.json for clients, compose.yaml, deployment.yaml and a README of what to do and what differs.
Every JSON/YAML file is checked against schemas.py before anything is written; files are written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..errors import InvalidParameter, WorkbenchError
from ..files import atomic_write_text
from . import deploy, llama_server, ollama, schemas, tgi, vllm
from .plan import EnginePlan, json_text, prefix_messages, request_defaults
from .source import PromotionSource, gather

if TYPE_CHECKING:
    from ..app import Workbench

ENGINES = {"vllm": vllm.plan, "tgi": tgi.plan, "llama-server": llama_server.plan, "ollama": ollama.plan}


@dataclass(frozen=True)
class Promotion:
    engine: str
    folder: Path
    files: tuple[str, ...]
    caveats: tuple[str, ...]
    model_note: str


def promote(wb: Workbench, preset_ref: str, engine: str, folder: Path | None = None) -> Promotion:
    if engine not in ENGINES:
        raise InvalidParameter(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    src = gather(wb, preset_ref)
    plan = ENGINES[engine](src)
    folder = Path(folder) if folder is not None else Path.cwd() / f"promote-{src.name}-{engine}"
    files = _files(src, plan)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if plan.needs_model_file:
            (folder / "models").mkdir(exist_ok=True)
        for name, text in files.items():
            atomic_write_text(folder / name, text)
    except OSError as exc:
        raise WorkbenchError(f"cannot write the promotion into {folder}: {exc.strerror or exc}") from None
    wb.audit.record("preset.promoted", src.preset.ref, {"engine": engine, "folder": str(folder),
                                                         "files": sorted(files)})
    return Promotion(engine, folder, tuple(sorted(files)), tuple(plan.caveats), plan.model_note)


def _files(src: PromotionSource, plan: EnginePlan) -> dict[str, str]:
    documents = {"request_defaults.json": request_defaults(src), "prefix_messages.json": prefix_messages(src),
                 "compose.yaml": deploy.compose(plan, src.name)}
    for name, text in plan.files.items():
        if name.endswith(".json"):
            documents[name] = json.loads(text)
    for name, document in documents.items():
        if name in schemas.FILE_SCHEMAS:
            schemas.check(document, schemas.FILE_SCHEMAS[name], name)
    kube = deploy.kubernetes(plan, src.name)
    schemas.check_kubernetes(kube)
    files = dict(plan.files)
    files["request_defaults.json"] = json_text(documents["request_defaults.json"])
    files["prefix_messages.json"] = json_text(documents["prefix_messages.json"])
    files["compose.yaml"] = yaml.safe_dump(documents["compose.yaml"], sort_keys=False, width=1000)
    files["deployment.yaml"] = deploy.yaml_text(kube)
    files["README.md"] = readme(src, plan)
    return files


def readme(src: PromotionSource, plan: EnginePlan) -> str:
    name = deploy.k8s_name(src.name, plan.engine)
    sampling = ", ".join(f"{k} {v}" for k, v in src.sampling.items()) or "the engine's defaults"
    lines = [
        f"# {src.preset.ref} on {plan.engine}", "",
        f"Written by `workbench promote {src.preset.ref} --to {plan.engine}`.", "",
        f"- Model: {plan.model_note}.",
        f"- Workbench ran: {src.model.name} ({src.model.quantization or 'unknown quantization'}, sha256 "
        f"{src.model.sha256[:12]}…)" + (f" from {src.hub_repo}/{src.gguf_file}." if src.hub_repo else "."),
        f"- Chat template: {src.template_origin}.",
        f"- Context: {src.context_length} tokens. Sampling: {sampling}. Stop strings: "
        f"{', '.join(repr(s) for s in src.stop) or 'none'}.", "",
        "## Run it", "", "```sh", "docker compose up -d    # one NVIDIA GPU; drop `deploy:` for CPU",
        f"kubectl create configmap {name}-config --from-file=. && kubectl apply -f deployment.yaml", "```", "",
        f"Then register it here: `workbench remote add {name} http://HOST:{deploy.HOST_PORTS[plan.engine]}/v1 "
        f"--model {src.name}` and compare: `workbench compare PROMPT -m {src.preset.ref} -m remote:{name}`.", "",
        "## Caveats", "", *[f"- {c}" for c in plan.caveats],
        "- request_defaults.json holds the preset's sampling and stops as OpenAI request fields; "
        "prefix_messages.json its SYSTEM and MESSAGE lines, to put before the user's messages.", ""]
    return "\n".join(lines)
