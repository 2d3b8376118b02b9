"""JSON Schemas for the files a promotion writes (only the fields it emits, typed as each engine reads them).

Written by hand from the compose specification, the Kubernetes apps/v1 Deployment and v1 Service, Hugging Face's
GenerationConfig and OpenAI's chat request: the official schemas are large downloads and the promotion needs a
check of what it writes, not of every field those formats allow. Every file is checked before it is written.
"""

from __future__ import annotations

import jsonschema

from ..errors import WorkbenchError

_STR_LIST = {"type": "array", "items": {"type": "string"}}
_NUMBER = {"type": "number"}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1}
_NAME = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"}

_GPU_DEVICE = {"type": "object", "required": ["capabilities"],
               "properties": {"driver": {"type": "string"}, "count": {"type": "integer", "minimum": 1},
                              "capabilities": _STR_LIST}}
_DEPLOY = {"type": "object", "properties": {"resources": {"type": "object", "properties": {
    "reservations": {"type": "object", "properties": {"devices": {"type": "array", "items": _GPU_DEVICE}}}}}}}
_COMPOSE_SERVICE = {
    "type": "object", "required": ["image"], "additionalProperties": False,
    "properties": {
        "image": {"type": "string", "minLength": 1}, "command": _STR_LIST, "entrypoint": _STR_LIST,
        "ports": {"type": "array", "items": {"type": "string", "pattern": r"^\d+:\d+$"}},
        "volumes": {"type": "array", "items": {"type": "string", "pattern": r"^[^:]+:/[^:]*(:ro)?$"}},
        "environment": {"type": "object", "additionalProperties": {"type": "string"}},
        "ipc": {"enum": ["host", "private", "shareable"]},
        "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
        "deploy": _DEPLOY,
    },
}
COMPOSE = {"type": "object", "required": ["services"], "additionalProperties": False,
           "properties": {"services": {"type": "object", "minProperties": 1,
                                       "additionalProperties": _COMPOSE_SERVICE}}}

_CONTAINER = {
    "type": "object", "required": ["name", "image"],
    "properties": {
        "name": _NAME, "image": {"type": "string", "minLength": 1}, "command": _STR_LIST, "args": _STR_LIST,
        "ports": {"type": "array", "items": {"type": "object", "required": ["containerPort"], "properties": {
            "containerPort": {"type": "integer", "minimum": 1, "maximum": 65535}}}},
        "resources": {"type": "object", "properties": {"limits": {"type": "object", "required": ["nvidia.com/gpu"],
                                                                  "additionalProperties": {"type": ["integer",
                                                                                                     "string"]}}}},
        "volumeMounts": {"type": "array", "items": {"type": "object", "required": ["name", "mountPath"]}},
        "env": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        "readinessProbe": {"type": "object", "required": ["httpGet"]},
    },
}

DEPLOYMENT = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "apps/v1"}, "kind": {"const": "Deployment"},
        "metadata": {"type": "object", "required": ["name"], "properties": {"name": _NAME, "labels": _LABELS}},
        "spec": {"type": "object", "required": ["selector", "template"], "properties": {
            "replicas": {"type": "integer", "minimum": 0},
            "selector": {"type": "object", "required": ["matchLabels"], "properties": {"matchLabels": _LABELS}},
            "template": {"type": "object", "required": ["metadata", "spec"], "properties": {
                "metadata": {"type": "object", "required": ["labels"], "properties": {"labels": _LABELS}},
                "spec": {"type": "object", "required": ["containers"], "properties": {
                    "containers": {"type": "array", "minItems": 1, "items": _CONTAINER},
                    "volumes": {"type": "array", "items": {"type": "object", "required": ["name"]}}}}}}}},
    },
}

SERVICE = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {"apiVersion": {"const": "v1"}, "kind": {"const": "Service"},
                   "metadata": {"type": "object", "required": ["name"], "properties": {"name": _NAME}},
                   "spec": {"type": "object", "required": ["selector", "ports"], "properties": {
                       "selector": _LABELS, "ports": {"type": "array", "minItems": 1, "items": {
                           "type": "object", "required": ["port"],
                           "properties": {"port": {"type": "integer"}, "targetPort": {"type": "integer"}}}}}}},
}

GENERATION_CONFIG = {
    "type": "object", "additionalProperties": False,
    "properties": {"temperature": {"type": "number", "minimum": 0}, "top_p": _NUMBER, "top_k": {"type": "integer"},
                   "min_p": _NUMBER, "repetition_penalty": _NUMBER, "max_new_tokens": {"type": "integer"}},
}

REQUEST_DEFAULTS = {
    "type": "object", "additionalProperties": False,
    "properties": {"temperature": _NUMBER, "top_p": _NUMBER, "top_k": {"type": "integer"}, "seed": {"type": "integer"},
                   "max_tokens": {"type": "integer"}, "presence_penalty": _NUMBER, "frequency_penalty": _NUMBER,
                   "stop": _STR_LIST},
}

PREFIX_MESSAGES = {"type": "array", "items": {"type": "object", "required": ["role", "content"], "properties": {
    "role": {"enum": ["system", "user", "assistant"]}, "content": {"type": "string"}}}}

TOKENIZER_CONFIG = {"type": "object", "required": ["chat_template"],
                    "properties": {"chat_template": {"type": "string", "minLength": 1}}}

FILE_SCHEMAS = {"compose.yaml": COMPOSE, "generation_config.json": GENERATION_CONFIG,
                "request_defaults.json": REQUEST_DEFAULTS, "prefix_messages.json": PREFIX_MESSAGES,
                "tokenizer_config.json": TOKENIZER_CONFIG}


def check(document, schema: dict, what: str) -> None:
    """WorkbenchError naming the file and the first problem: a promotion never writes a file its engine rejects."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top level"
        raise WorkbenchError(f"{what} would be invalid at {where}: {error.message}")


def check_kubernetes(documents: list[dict]) -> None:
    for document in documents:
        check(document, DEPLOYMENT if document.get("kind") == "Deployment" else SERVICE,
              f"deployment.yaml ({document.get('kind')})")
