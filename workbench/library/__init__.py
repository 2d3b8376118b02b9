"""Local models: the library of GGUF files known by sha256, their names, and the bundled default model.

`service.Library` imports, registers, verifies and removes models (`Workbench.library`); `names.py` derives and
validates model names; `facts.py` describes a model for people (CLI, Library page, /api/show); `bundled.py`
prepares the bundled gemma-3-270m and its `default` preset.
The package itself imports nothing: a command pays only for the modules it uses (cold start).
"""
