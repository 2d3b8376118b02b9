"""Conversations: prompt preparation, sessions (message trees), and the chat service that streams answers into
them with provenance.

`prepare.py` turns a target + messages + overrides into one engine request (used by every caller); `sessions.py`
stores the trees (`Workbench.sessions`); `service.py` is `Workbench.chat` (send, regenerate, edit, rerun).
The package itself imports nothing: a command pays only for the modules it uses (cold start).
"""
