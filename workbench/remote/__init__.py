"""Remote OpenAI-compatible endpoints (vLLM, TGI, llama-server, Ollama, LM Studio, hosted APIs) as targets.

`wb.remotes` (service.Remotes) registers them (registry.py: config/remotes.json, never a key), keeps their keys in
the OS keyring (keys.py) and streams answers with provenance (client.py). docs/design.md §15.
"""

from .client import RemoteAnswer
from .registry import RemoteEndpoint
from .service import REMOTE_PREFIX, Remotes, is_remote_ref, remote_name, url_ref

__all__ = ["REMOTE_PREFIX", "RemoteAnswer", "RemoteEndpoint", "Remotes", "is_remote_ref", "remote_name", "url_ref"]
