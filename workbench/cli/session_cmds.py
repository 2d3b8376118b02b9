"""Session commands: `run NAME [PROMPT]` and the `sessions` group — thin wrappers over `wb.chat`/`wb.sessions`.

`run` with a prompt streams one answer to stdout (nothing else, so it pipes); without one it opens the
interactive session (chat_repl.py). Ctrl-C stops the answer, stored `stopped`, not the session. Message text is
printed as-is, never read as rich markup.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from ..errors import InvalidParameter
from ..modelfile.parameters import parse_parameter
from ..records import ChatSession, Message, Provenance
from .answer_output import print_stats, stream_answer, title_from
from .chat_repl import Repl
from .common import app, column_table, console, console_err, first_start, open_workbench, print_table, say

if TYPE_CHECKING:
    from ..app import Workbench

sessions_app = typer.Typer(help="Stored chat sessions. Alone: list them.", invoke_without_command=True,
                           no_args_is_help=False)
app.add_typer(sessions_app, name="sessions")


def open_sessions():
    """The Workbench, with answers left `streaming` by killed processes marked `interrupted` first (answers
    still being written by a live process — the app, another `run` — are left alone)."""
    wb = open_workbench()
    try:
        wb.sessions.recover_interrupted()
    except BaseException:
        wb.close()
        raise
    return wb


# -- run ---------------------------------------------------------------------------------------------------
@app.command()
def run(
    name: str = typer.Argument("default", help="A preset (NAME, NAME:TAG, NAME@N), a library model, or a remote "
                                               "endpoint (remote:NAME)."),
    prompt: list[str] = typer.Argument(None, help="The prompt; without one, an interactive session."),
    session_id: int = typer.Option(None, "--session", "-s", help="Continue a stored session (NAME is ignored)."),
    verbose: bool = typer.Option(False, "--verbose", help="After each answer: tokens, TTFT, tok/s, seed."),
    raw: bool = typer.Option(False, "--raw", help="A prompt session: each message is sent as-is, without the "
                             "chat template, for the model to continue (base models, prompt work)."),
    think: str = typer.Option(None, "--think", help="A reasoning model's thinking: true, false, low, medium or "
                              "high (the session's `think` parameter)."),
    hide_thinking: bool = typer.Option(False, "--hide-thinking", help="Do not print a reasoning model's thinking "
                                       "(it is still stored with the answer)."),
    image: list[Path] = typer.Option(None, "--image", "-i", help="An image to ask about (repeatable; the model "
                                     "needs a projector: `workbench import --mmproj`)."),
) -> None:
    """Chat with a preset or a model: one answer to PROMPT, or an interactive session."""
    think = None if think is None else parse_parameter("think", think)  # a bad value: one line, no session
    images = _images(image)  # checked before a session is made: a bad file stores nothing
    with open_sessions() as wb:
        if session_id is None:
            _remember_loads(wb, name)
        if images and session_id is None:  # a model that cannot see: refused before a session is made
            _check_projector(wb, name)
        session = open_session(wb, name, session_id, kind="prompt" if raw else "chat")
        if think is not None:
            session = wb.sessions.set_overrides(session.id, parameters={**session.parameter_overrides,
                                                                        "think": think})
        if prompt:
            text = " ".join(prompt)
            if session_id is None:
                wb.sessions.rename(session.id, title_from(text))
            stream = wb.chat.send(session.id, text, images=images)
            message = stream_answer(stream, hide_thinking=hide_thinking)
            if verbose:
                print_stats(message)
            if message.status == "stopped":
                console_err.print("stopped", highlight=False)
                raise typer.Exit(130)
            return
        Repl(wb, session, verbose=verbose, hide_thinking=hide_thinking, images=images).loop()


def _remember_loads(wb: Workbench, name: str) -> None:
    """The model `name` loads is remembered for the next `run NAME`'s head start (workbench/engine/prefetch.py), and a
    guess from the last start that proved stale is freed once the real load is done."""
    from ..engine import prefetch

    audit_load = wb.runtime.on_load

    def on_load(model) -> None:
        if audit_load is not None:
            audit_load(model)
        prefetch.remember(wb.paths, name, **model.native_load)
        prefetch.discard()

    wb.runtime.on_load = on_load


def _images(paths: list[Path] | None) -> list:
    """--image files as checked Media (InvalidMedia names the file): with the PROMPT, or the session's first
    message."""
    from ..chat.media import Media

    return [Media.from_path(path) for path in paths or ()]


def _check_projector(wb: Workbench, name: str) -> None:
    from ..chat.prepare import resolve_target
    from ..errors import InvalidMedia

    model = resolve_target(wb, name).model
    if model.projector_path is None:
        raise InvalidMedia(f"{model.name} has no vision projector; pair one with `workbench import --mmproj FILE`")


def open_session(wb: Workbench, name: str, session_id: int | None, kind: str = "chat") -> ChatSession:
    """The stored session to continue, or a new one of `kind` on NAME (a preset version is pinned)."""
    from ..chat.prepare import resolve_target

    if session_id is not None:
        return wb.sessions.get(session_id)
    if name.startswith("remote:"):  # a registered remote endpoint answers (workbench/remote/chat_stream.py)
        return wb.sessions.create(model_name=name, kind=kind)
    first_start(wb)  # a fresh data dir: register the bundled model and its `default` preset first (else no-op)
    target = resolve_target(wb, name)
    if target.preset is not None:
        return wb.sessions.create(preset_ref=target.preset.ref, kind=kind)
    return wb.sessions.create(model_name=target.model.name, kind=kind)


# -- sessions ----------------------------------------------------------------------------------------------
@sessions_app.callback()
def _sessions(ctx: typer.Context) -> None:
    """Stored chat sessions. Alone: list them."""
    if ctx.invoked_subcommand is None:
        list_sessions()


@sessions_app.command("list")
def list_sessions() -> None:
    """List the sessions, most recently used first."""
    with open_sessions() as wb:
        rows = [(s, len(wb.sessions.messages(s.id))) for s in wb.sessions.list()]
    if not rows:
        console_err.print("no sessions yet: `workbench run NAME`", highlight=False)
        return
    table = column_table("ID", "TITLE", "ON", "MESSAGES", "UPDATED", fold=True)
    for s, count in rows:
        table.add_row(*(escape(c) for c in (str(s.id), s.title, s.preset_ref or s.model_name or "-", str(count),
                                              f"{s.updated_at:%Y-%m-%d %H:%M}")))
    print_table(table)


@sessions_app.command("show")
def show_session(
    session_id: int = typer.Argument(..., metavar="ID"),
    tree: bool = typer.Option(False, "--tree", help="The whole tree of branches, not only the current one."),
    provenance: bool = typer.Option(False, "--provenance", help="Everything recorded about each answer."),
) -> None:
    """The conversation on screen (current branch), or its whole tree with --tree."""
    with open_sessions() as wb:
        session = wb.sessions.get(session_id)
        messages = wb.sessions.messages(session_id) if tree else wb.sessions.path(session_id)
        on_path = {m.id for m in wb.sessions.path(session_id)}
    say(f"[bold]{escape(session.title)}[/bold] · session {session.id} · "
        f"{escape(session.preset_ref or session.model_name or '-')}")
    if tree:
        _print_tree(messages, on_path)
        return
    for m in messages:
        status = "" if m.status == "complete" else f" ({m.status})"
        say(f"\n[bold]{m.role}[/bold] #{m.id}{status}")
        console.print(m.content, markup=False, highlight=False, emoji=False, soft_wrap=True)
        for ref in m.media:  # the bytes are in the data folder's media/ (`sessions export` embeds them)
            say(f"[dim]\\[{ref.kind} {ref.mime}, {ref.size_bytes:,} bytes, sha256 {ref.sha256[:12]}][/dim]")
        if provenance and m.provenance:
            _print_provenance(m.provenance_record)


def _print_tree(messages: list[Message], on_path: set[int]) -> None:
    children: dict[int | None, list[Message]] = {}
    for m in messages:
        children.setdefault(m.parent_id, []).append(m)
    root = Tree("session", hide_root=True)

    def add(node: Tree, parent: int | None) -> None:
        for m in children.get(parent, []):
            mark = "*" if m.id in on_path else " "
            status = "" if m.status == "complete" else f" [{m.status}]"
            label = f"{mark} #{m.id} {m.role}{status}: {title_from(m.content or '', 70)}"
            add(node.add(escape(label)), m.id)

    add(root, None)
    console.print(root, highlight=False, emoji=False)


def _print_provenance(p: Provenance) -> None:
    table = Table(box=None, show_header=False, padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in p.as_dict().items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
        table.add_row(escape(key), escape(shown))
    print_table(table)


@sessions_app.command("search")
def search_sessions(
    query: str = typer.Argument(..., help="Words to find in any message of any session."),
    limit: int = typer.Option(50, "--limit", "-n", min=1),
) -> None:
    """Full-text search over every session's messages."""
    with open_sessions() as wb:
        hits = wb.sessions.search(query, limit)
    if not hits:
        console_err.print(f"no message matches {escape(query)}", highlight=False)
        return
    table = column_table("SESSION", "TITLE", "MESSAGE", "ROLE", "MATCH", fold=True)
    for h in hits:
        table.add_row(*(escape(c) for c in (str(h.session_id), h.session_title, str(h.message_id), h.role,
                                              " ".join(h.snippet.split()))))
    print_table(table)


@sessions_app.command("export")
def export_session(
    session_id: int = typer.Argument(..., metavar="ID"),
    fmt: str = typer.Option("md", "--format", "-f", help="md (for people) or json (with provenance)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Export a session to Markdown or to JSON with every answer's provenance."""
    if fmt not in ("md", "json"):
        raise InvalidParameter(f"--format must be md or json, not {fmt!r}")
    with open_sessions() as wb:
        if fmt == "json":
            text = json.dumps(wb.sessions.export_json(session_id), indent=2, ensure_ascii=False) + "\n"
        else:
            text = wb.sessions.export_markdown(session_id)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    say(f"wrote session {session_id} to {escape(str(output))}")


@sessions_app.command("import")
def import_session(file: Path = typer.Argument(..., help="A JSON export (`workbench sessions export --format json`).")
                   ) -> None:
    """Import an exported session (JSON) as a new session."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidParameter(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidParameter(f"{file} is not a JSON session export ({exc})") from None
    with open_sessions() as wb:
        session = wb.sessions.import_json(data)
        count = len(wb.sessions.messages(session.id))
    say(f"[green]imported[/green] session {session.id} ({escape(session.title)}, {count} messages)")


@sessions_app.command("rename")
def rename_session(session_id: int = typer.Argument(..., metavar="ID"),
                   title: str = typer.Argument(..., help="The new title.")) -> None:
    """Rename a session."""
    with open_sessions() as wb:
        session = wb.sessions.rename(session_id, title)
    say(f"session {session.id} is now {escape(session.title)}")


@sessions_app.command("switch")
def switch_branch(message_id: int = typer.Argument(..., metavar="MESSAGE_ID", help="Any message of the branch.")
                  ) -> None:
    """Show the branch through a message (`sessions show ID --tree` lists them); `run --session` continues it."""
    with open_sessions() as wb:
        session = wb.sessions.switch_to(message_id)
        depth = len(wb.sessions.path(session.id))
    say(f"session {session.id} now shows the branch through message {message_id} ({depth} messages, "
        f"leaf #{session.current_leaf_id})")


@sessions_app.command("rm")
def rm_session(session_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Delete a session and all its messages."""
    with open_sessions() as wb:
        session = wb.sessions.get(session_id)
        wb.sessions.delete(session_id)
    say(f"deleted session {session.id} ({escape(session.title)})")
