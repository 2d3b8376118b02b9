"""A docker compose file and a Kubernetes Deployment (+ Service) for an EnginePlan, checked against schemas.py.

Both mount the promotion folder read-only at /config (compose: a bind mount; Kubernetes: a ConfigMap made from
the folder) and, when the engine needs the GGUF file itself, ./models (Kubernetes: a PersistentVolumeClaim).
Each asks for one NVIDIA GPU; remove the request for a CPU-only host.
"""

from __future__ import annotations

import re

import yaml

from .plan import CONFIG_DIR, MODELS_DIR, EnginePlan

HOST_PORTS = {"vllm": 8000, "tgi": 8080, "llama-server": 8080, "ollama": 11434}


def k8s_name(preset: str, engine: str) -> str:
    """A DNS-1123 label (lowercase letters, digits, '-'; at most 63 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"{preset}-{engine}".lower()).strip("-")
    return name[:63].rstrip("-") or engine


def compose(plan: EnginePlan, preset: str) -> dict:
    service: dict = {"image": plan.image, "ports": [f"{HOST_PORTS[plan.engine]}:{plan.port}"],
                     "volumes": [f"./:{CONFIG_DIR}:ro"] + ([f"./models:{MODELS_DIR}"] if plan.needs_model_file
                                                           else []),
                     "environment": {"HF_TOKEN": "${HF_TOKEN:-}"},
                     "deploy": {"resources": {"reservations": {"devices": [
                         {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]}}},
                     "restart": "unless-stopped"}
    if plan.entrypoint is not None:
        service["entrypoint"] = plan.entrypoint
    if plan.args:
        service["command"] = plan.args
    if plan.engine in ("vllm", "tgi"):
        service["ipc"] = "host"  # both use shared memory between worker processes (their docs ask for it)
    return {"services": {k8s_name(preset, plan.engine): service}}


def kubernetes(plan: EnginePlan, preset: str) -> list[dict]:
    name = k8s_name(preset, plan.engine)
    labels = {"app": name}
    mounts = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]
    volumes = [{"name": "config", "configMap": {"name": f"{name}-config"}}]
    if plan.needs_model_file:
        mounts.append({"name": "models", "mountPath": MODELS_DIR})
        volumes.append({"name": "models", "persistentVolumeClaim": {"claimName": f"{name}-models"}})
    container = {"name": plan.engine, "image": plan.image, "ports": [{"containerPort": plan.port}],
                 "resources": {"limits": {"nvidia.com/gpu": 1}}, "volumeMounts": mounts,
                 "env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token",
                                                                              "optional": True}}}],
                 "readinessProbe": {"httpGet": {"path": plan.health_path, "port": plan.port},
                                    "periodSeconds": 10, "failureThreshold": 60}}
    if plan.entrypoint is not None:
        container["command"] = plan.entrypoint
    if plan.args:
        container["args"] = plan.args
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
                  "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                           "template": {"metadata": {"labels": labels},
                                        "spec": {"containers": [container], "volumes": volumes}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels},
               "spec": {"selector": labels, "ports": [{"port": plan.port, "targetPort": plan.port}]}}
    return [deployment, service]


def yaml_text(documents: list[dict]) -> str:
    return "---\n".join(yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=1000) for d in documents)
