"""Ollama Modelfiles: parse, validate and render (`parser.py`), edit in place (`edit.py`), the PARAMETER table
(`parameters.py`) and the translation of Ollama's Go templates into Jinja (`gotemplate.py`, `goparse.py`).

Pure text in, text or records out: nothing here touches the store, the engine or the disk.
"""

from .parser import Diagnostic, Message, Modelfile, ModelfileErrors, classify_from, parse, render, validate

__all__ = ["Diagnostic", "Message", "Modelfile", "ModelfileErrors", "classify_from", "parse", "render", "validate"]
