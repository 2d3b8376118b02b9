"""Session titles from the first question: a new session is named after its preset or model ("default@1")
until its first question is asked, then after that question, as chat apps do."""

from __future__ import annotations

from ..records import ChatSession

TITLE_LENGTH = 60


def title_from_question(text: str, limit: int = TITLE_LENGTH) -> str:
    """The first non-empty line of `text`, whitespace collapsed, cut at a word boundary with an ellipsis."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    line = " ".join(line.split())
    if len(line) <= limit:
        return line
    cut = line.rfind(" ", 0, limit)
    return line[:cut if cut > limit // 2 else limit].rstrip(" ,.;:") + "…"


def automatic_title(session: ChatSession) -> bool:
    """Whether the title is still the one `Sessions.create` gave (nobody renamed it, no question yet)."""
    return session.title in {session.preset_ref, session.model_name, "untitled"}


def retitle_after_question(repo, session_id: int, question: str) -> None:
    """Name the session after its first question, unless it has a title of its own already."""
    session = repo.get(session_id)
    title = title_from_question(question)
    if title and automatic_title(session):
        repo.update(session_id, title=title)
