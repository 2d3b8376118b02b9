"""The one error tree every caller (CLI, endpoint, app) catches.

A `WorkbenchError`'s message names the problem and says what to do next, so a caller shows `str(error)` as-is
(the CLI as one line with exit code 1, the endpoint as a 4xx body, the app in a dialog); each class is also the
matching stdlib type. Anything that is not a WorkbenchError is a bug (docs/design.md §2).
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base of every user-facing error. `http_status` lets the endpoint map it without a lookup table."""

    http_status = 400
    code = "invalid_request_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(WorkbenchError, LookupError):
    http_status = 404
    code = "not_found"


class AlreadyExists(WorkbenchError, FileExistsError):
    http_status = 409
    code = "already_exists"


class InvalidName(WorkbenchError, ValueError):
    """A model/preset name or a path that would escape the data dir."""


class InvalidModelFile(WorkbenchError, ValueError):
    """A GGUF file that is corrupt, truncated, hostile or not a GGUF at all."""


class InvalidModelfile(WorkbenchError, ValueError):
    """A Modelfile (preset recipe) with an error; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


class InvalidParameter(WorkbenchError, ValueError):
    """A sampling or load parameter of the wrong type or out of range."""


class InvalidMedia(InvalidParameter):
    """An image or audio clip that is not one, is truncated, too large, or sent to a model without a projector."""

    code = "invalid_media"


class Cancelled(WorkbenchError):
    """A long operation stopped because its CancelToken was cancelled (Ctrl-C, Cancel button, disconnect)."""

    code = "cancelled"


class ChecksumMismatch(WorkbenchError, ValueError):
    """Downloaded or stored bytes do not hash to the expected sha256."""


class DiskFull(WorkbenchError, OSError):
    http_status = 507
    code = "insufficient_storage"


class OfflineError(WorkbenchError, ConnectionError):
    """Network access was requested while offline mode is on."""

    http_status = 503
    code = "offline"


class HubError(WorkbenchError, ConnectionError):
    """The Hugging Face Hub (or its proxy) could not be reached or answered with an error."""

    http_status = 502
    code = "hub_error"


class GatedRepo(HubError, PermissionError):
    http_status = 403
    code = "gated_repo"


class ModelLoadError(WorkbenchError, RuntimeError):
    """llama.cpp refused to load a model (unsupported architecture, not enough memory, bad file)."""

    http_status = 500
    code = "model_load_error"


class ContextLengthExceeded(WorkbenchError, ValueError):
    """A prompt does not fit the model's context window."""

    code = "context_length_exceeded"

    def __init__(self, prompt_tokens: int, limit: int, *, media_tokens: int = 0):
        self.prompt_tokens = prompt_tokens
        self.limit = limit
        images = f" ({media_tokens} of them for its images or audio)" if media_tokens else ""
        fix = "attach fewer or smaller images (or shorter audio), shorten the prompt or raise num_ctx" \
            if media_tokens else "shorten the prompt or raise num_ctx"
        super().__init__(f"the prompt is {prompt_tokens} tokens{images} but the context holds {limit}: {fix}")


class EngineError(WorkbenchError, RuntimeError):
    """llama.cpp failed while decoding; the request is ended, the process is not."""

    http_status = 500
    code = "engine_error"


class QueueFull(WorkbenchError):
    """Every slot is busy and the waiting queue is at its bound."""

    http_status = 503
    code = "queue_full"


class TemplateError(WorkbenchError, ValueError):
    """A chat template that cannot be rendered (syntax, missing template, too slow or too large)."""

    code = "template_error"


class TemplateSecurityError(TemplateError):
    """A chat template tried to reach outside the sandbox (e.g. the CVE-2024-34359 payload)."""

    code = "template_security_error"
