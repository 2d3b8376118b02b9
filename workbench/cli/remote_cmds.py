"""`workbench remote add|list|test|rm`: remote OpenAI-compatible endpoints, thin wrappers over `wb.remotes`.

A key is given as the name of an environment variable (`--key-env VAR`), never as an argument (shell history,
process lists); it goes to the OS keyring, or to a 0600 file where there is none, which `add` says.
"""

from __future__ import annotations

import json

import typer

from .common import app, column_table, console_err, open_workbench, print_table, say

remote_app = typer.Typer(help="Remote OpenAI-compatible endpoints (vLLM, TGI, llama-server, Ollama, hosted APIs) "
                              "usable as `remote:NAME` in chat, compare, eval suites and bench.", no_args_is_help=True)
app.add_typer(remote_app, name="remote")


@remote_app.command("add")
def add(
    name: str = typer.Argument(..., help="A short name; targets then say remote:NAME."),
    url: str = typer.Argument(..., help="The API's base URL, e.g. http://gpu-box:8000/v1 (a bare host gets /v1)."),
    model: str = typer.Option(..., "--model", "-m", help="The model id the server knows."),
    key_env: str = typer.Option(None, "--key-env", help="Read the API key from this environment variable."),
) -> None:
    """Register (or replace) a remote endpoint."""
    with open_workbench() as wb:
        endpoint = wb.remotes.add(name, url, model, key_env=key_env)
    say(f"added remote:{endpoint.name} → {endpoint.base_url} (model {endpoint.model})")
    if endpoint.key_store == "file":
        console_err.print("note: no OS keyring is available here, so the key was written to remote-keys.json in "
                          "the config folder with mode 0600 (readable by your user only)", highlight=False)
    elif endpoint.key_store == "keyring":
        say("the key is kept in the OS keyring")


@remote_app.command("list")
def list_remotes(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The registered remote endpoints (never their keys)."""
    with open_workbench() as wb:
        remotes = wb.remotes.list()
    if as_json:
        print(json.dumps([{"name": r.name, "base_url": r.base_url, "model": r.model, "key": r.key_store}
                          for r in remotes], indent=2))
        return
    table = column_table("NAME", "URL", "MODEL", "KEY", "ADDED")
    for r in remotes:
        table.add_row(r.name, r.base_url, r.model, r.key_store or "-", r.added_at)
    print_table(table)


@remote_app.command("test")
def test(name: str = typer.Argument(..., help="The remote to try.")) -> None:
    """Send one tiny request: latency and what the server reported about itself."""
    with open_workbench() as wb:
        answer = wb.remotes.test(name)
    facts = answer.provenance
    ttft = f"{answer.ttft_seconds * 1000:.0f} ms" if answer.ttft_seconds is not None else "-"
    say(f"remote:{name} answered in {answer.seconds * 1000:.0f} ms (first token {ttft}), "
        f"{answer.completion_tokens} tokens, finish {answer.finish_reason}")
    say(f"server model: {facts.get('reported_model') or '-'} · fingerprint: {facts.get('system_fingerprint') or '-'}")


@remote_app.command("rm")
def remove(name: str = typer.Argument(..., help="The remote to remove (its key too).")) -> None:
    """Remove a remote endpoint and its key."""
    with open_workbench() as wb:
        wb.remotes.remove(name)
    say(f"removed remote:{name}")
