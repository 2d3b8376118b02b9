"""The interactive `workbench run NAME` session, like `ollama run`: a prompt loop with slash commands.

Answers stream to stdout; Ctrl-C stops the answer, not the session; Ctrl-D or `/bye` ends it. `/set`, `/unset`,
`/show`, `/retry`, `/clear` and `/save NAME` change or show the stored session (`/?` lists them); `/image FILE`
attaches an image to the next message. On a terminal
readline keeps a history in the cache dir; piped stdin is read line by line without prompts.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

from rich.markup import escape

from ..errors import WorkbenchError
from ..modelfile.parameters import PARAMETERS, parse_parameter
from .answer_output import print_stats, stream_answer, title_from
from .common import console_err, say

if TYPE_CHECKING:
    from ..app import Workbench

HELP = """Available commands:
  /set parameter NAME VALUE   set a parameter for this session (e.g. temperature 0.2; stop takes several)
  /set system TEXT            set the system message
  /unset parameter NAME       back to the preset's value
  /unset system               back to the preset's system message
  /show [info|parameters|system|modelfile|template]
  /retry                      another answer to the last question (a sibling)
  /clear                      the next message starts a new branch from the top
  /save NAME                  save this session (preset, overrides, messages) as the preset NAME
  /image FILE                 attach an image to the next message (a vision model's)
  /bye                        exit (Ctrl-D too)
  /?, /help                   this help
Use \"\"\" to begin and end a multi-line message. Ctrl-C stops an answer."""


class Repl:
    def __init__(self, wb: Workbench, session, *, verbose: bool = False, hide_thinking: bool = False,
                 images: list | None = None):
        self.wb = wb
        self.images = list(images or [])  # checked Media for the next message (`run --image`, /image)
        self.session = session
        self.verbose = verbose
        self.hide_thinking = hide_thinking
        self.fresh_branch = False  # /clear: the next message starts a new root
        self.titled = bool(wb.sessions.messages(session.id))
        self.tty = sys.stdin.isatty()
        self.history_file = None  # readline's history, on a terminal with readline
        if self.tty:
            self._setup_readline()

    # -- input ---------------------------------------------------------------------------------------------
    def _setup_readline(self) -> None:
        try:
            import readline
        except ImportError:  # Windows without pyreadline: plain input()
            return
        self.history_file = self.wb.paths.cache / "run_history"
        with contextlib.suppress(OSError):
            readline.read_history_file(self.history_file)
        readline.set_history_length(1000)

    def _save_history(self) -> None:
        if self.history_file is not None:
            import readline

            with contextlib.suppress(OSError):
                readline.write_history_file(self.history_file)

    def _line(self, prompt: str) -> str | None:
        """One line (None at end of input). Ctrl-C at the prompt only reminds how to leave."""
        while True:
            try:
                if self.tty:
                    return input(prompt)
                line = sys.stdin.readline()
                return line.rstrip("\r\n") if line else None
            except EOFError:
                return None
            except KeyboardInterrupt:
                console_err.print("\nUse Ctrl + d or /bye to exit.", highlight=False)

    def _message(self) -> str | None:
        first = self._line(">>> ")
        if first is None or not first.lstrip().startswith('"""'):
            return first
        body = first.lstrip()[3:]
        lines: list[str] = []
        while not body.rstrip().endswith('"""'):
            lines.append(body)
            body = self._line("... ")
            if body is None:
                return "\n".join(lines)
        lines.append(body.rstrip()[:-3])
        return "\n".join(lines).strip("\n")

    # -- the loop ------------------------------------------------------------------------------------------
    def loop(self) -> None:
        if self.tty:
            console_err.print(f"session {self.session.id} on {escape(self._on())} · /? for help, /bye to exit",
                              highlight=False)
        try:
            while (text := self._message()) is not None:
                if not text.strip():
                    continue
                try:
                    if text.startswith("/"):
                        if self.command(text) == "bye":
                            break
                    else:
                        self.ask(text)
                except WorkbenchError as exc:  # one clear line; the session goes on
                    console_err.print("[red]error:[/red] " + escape(str(exc)), highlight=False, emoji=False)
        finally:
            self._save_history()

    def _on(self) -> str:
        return self.session.preset_ref or self.session.model_name or "?"

    def ask(self, text: str) -> None:
        images, self.images = self.images, []  # sent (or refused) with this message, not carried further
        if self.fresh_branch:  # after /clear: a new root, not under the current leaf
            user = self.wb.sessions.add_message(self.session.id, None, "user", text, images=images)
            stream = self.wb.chat.answer(user.id)
            self.fresh_branch = False
        else:
            stream = self.wb.chat.send(self.session.id, text, images=images)
        if not self.titled:
            self.wb.sessions.rename(self.session.id, title_from(text))
            self.titled = True
        self._show(stream)

    def _show(self, stream) -> None:
        message = stream_answer(stream, hide_thinking=self.hide_thinking)
        if self.verbose:
            print_stats(message)
        if message.status == "stopped":
            console_err.print("(stopped)", highlight=False)

    # -- commands ------------------------------------------------------------------------------------------
    def command(self, text: str) -> str | None:
        words = text.split()
        name, args = words[0].lower(), words[1:]
        if name in ("/bye", "/exit"):
            return "bye"
        handler = {"/set": self.cmd_set, "/unset": self.cmd_unset, "/show": self.cmd_show, "/retry": self.cmd_retry,
                   "/clear": self.cmd_clear, "/save": self.cmd_save, "/image": self.cmd_image, "/?": self.cmd_help,
                   "/help": self.cmd_help}.get(name)
        if handler is None:
            console_err.print(f"Unknown command {escape(words[0])!r}. Type /? for help", highlight=False)
            return None
        rest = text.split(None, 2)[2] if len(words) > 2 else ""
        handler(args, rest)
        return None

    def cmd_image(self, args, rest) -> None:
        from ..chat.media import Media

        if not args:
            console_err.print("usage: /image FILE", highlight=False)
            return
        path = " ".join(args)  # a path with spaces in it
        self.images.append(Media.from_path(path))  # InvalidMedia: one error line, nothing attached
        console_err.print(f"attached {escape(path)} to the next message ({len(self.images)} image"
                          f"{'s' if len(self.images) > 1 else ''})", highlight=False, soft_wrap=True)

    def cmd_help(self, args, rest) -> None:
        console_err.print(HELP, markup=False, highlight=False)

    def cmd_set(self, args, rest) -> None:
        if len(args) >= 3 and args[0] == "parameter":
            self._set_parameter(args[1], args[2:])
        elif len(args) >= 2 and args[0] == "system":
            self.session = self.wb.sessions.set_overrides(self.session.id, system=rest)
            say("Set system message.")
        else:
            console_err.print("usage: /set parameter NAME VALUE | /set system TEXT", highlight=False)

    def _set_parameter(self, name: str, values: list[str]) -> None:
        spec = PARAMETERS.get(name)
        if spec is None:
            raise WorkbenchError(f"unknown parameter {name!r}: /show parameters lists them, "
                                 "`workbench show` docs list all")
        context = self.wb.chat.target(self.session).model.context_length
        if spec.repeatable:
            value: object = [parse_parameter(name, v, max_context=context) for v in values]
        else:
            value = parse_parameter(name, " ".join(values), max_context=context)
        overrides = {**self.session.parameter_overrides, name: value}
        self.session = self.wb.sessions.set_overrides(self.session.id, parameters=overrides)
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        say(f"Set parameter {escape(name)!r} to {escape(shown)!r}")

    def cmd_unset(self, args, rest) -> None:
        if len(args) == 2 and args[0] == "parameter":
            overrides = {k: v for k, v in self.session.parameter_overrides.items() if k != args[1]}
            self.session = self.wb.sessions.set_overrides(self.session.id, parameters=overrides)
            say(f"Unset parameter {escape(args[1])!r}")
        elif args == ["system"]:
            self.session = self.wb.sessions.set_overrides(self.session.id, system="")
            say("Unset system message.")
        else:
            console_err.print("usage: /unset parameter NAME | /unset system", highlight=False)

    def cmd_show(self, args, rest) -> None:
        what = args[0] if args else "info"
        target = self.wb.chat.target(self.session)
        mf = target.modelfile
        if what == "info":
            say(f"session {self.session.id} · {escape(self._on())} · model {escape(target.model.name)} "
                f"(sha256 {target.model.sha256[:12]})")
            self._show_parameters(target)
        elif what == "parameters":
            self._show_parameters(target)
        elif what == "system":
            text = self.session.system_override or (mf.system if mf else None)
            _raw(text or "(no system message)")
        elif what == "modelfile":
            _raw(self.wb.chat.session_modelfile(self.session.id))
        elif what == "template":
            _raw((mf.template if mf and mf.template else None)
                 or target.model.metadata.get("tokenizer.chat_template") or "(no template)")
        else:
            console_err.print("usage: /show [info|parameters|system|modelfile|template]", highlight=False)

    def _show_parameters(self, target) -> None:
        from ..chat.prepare import merge_parameters

        effective = merge_parameters(target.base_parameters(), self.session.parameter_overrides)
        for key, value in effective.items():
            marker = " (session)" if key in self.session.parameter_overrides else ""
            say(f"  {escape(key):<20} {escape(str(value))}{marker}")
        if not effective:
            say("  (engine defaults)")

    def cmd_retry(self, args, rest) -> None:
        leaf = self.wb.sessions.get(self.session.id).current_leaf_id
        message = self.wb.sessions.message(leaf) if leaf is not None else None
        if message is None or message.role != "assistant":
            raise WorkbenchError("nothing to retry yet: ask something first")
        self._show(self.wb.chat.regenerate(message.id))

    def cmd_clear(self, args, rest) -> None:
        self.fresh_branch = True
        say("Cleared session context (the next message starts a new branch; the old one is kept).")

    def cmd_save(self, args, rest) -> None:
        if len(args) != 1:
            console_err.print(f"usage: /save NAME (this session is always stored: session {self.session.id})",
                              highlight=False)
            return
        text = self.wb.chat.session_modelfile(self.session.id)
        version, created = self.wb.presets.save(args[0], text, message=f"saved from session {self.session.id}")
        say(f"Saved as preset {escape(version.ref)}" if created else f"{escape(version.ref)} is already this")


def _raw(text: str) -> None:
    sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
    sys.stdout.flush()
