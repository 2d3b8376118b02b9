"""Cold start: what a `workbench serve --preload NAME` or `run NAME` does before llama.cpp reads a byte.

The command modules a command does not need are not imported, llama.cpp's log is silenced while a model loads
(a Python callback per line made loads beside a busy thread 3x slower), and the file a name loaded last time is
loaded on a thread before the store is even imported (workbench/engine/prefetch.py). Real parts: the tiny model on the
real runtime, real `workbench` processes, the real hint file.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import llama_cpp
import pytest

from tests.serve_support import tiny_workbench
from workbench.cli import COMMAND_MODULES, prefetch_names, register_commands
from workbench.engine import GenerationRequest, LoadOptions, SamplingParams, native, native_log, prefetch
from workbench.errors import ModelLoadError

CLI = "import sys; from workbench.cli import main; raise SystemExit(main(sys.argv[1:]))"


def _owning_module(command) -> str:
    return command.callback.__module__.rsplit(".", 1)[-1]


def test_every_command_is_listed_under_the_module_that_registers_it():
    from workbench.cli.common import app

    register_commands([])
    registered = {(c.name or c.callback.__name__).replace("_", "-"): _owning_module(c) for c in app.registered_commands}
    for group in app.registered_groups:
        registered[group.name] = _owning_module(group.typer_instance.registered_commands[0])
    registered.pop("version")  # common.py's own
    listed = {name: module for module, names in COMMAND_MODULES.items() for name in names}
    assert registered == listed


def test_serve_imports_only_its_own_command_module():
    code = ("import sys; from workbench.cli import register_commands; register_commands(['serve', '--help']); "
            "print(sorted(m for m in sys.modules if m.startswith('workbench.cli.') and m.endswith('_cmds')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['workbench.cli.serve_cmds']"


def test_help_still_lists_every_command():
    out = subprocess.run([sys.executable, "-c", CLI, "--help"], capture_output=True, text=True).stdout
    for names in COMMAND_MODULES.values():
        for name in names:
            assert f" {name} " in out, name


@pytest.mark.parametrize(("argv", "names"), [
    (["serve", "--preload", "a", "--port", "1", "--preload=b"], ["a", "b"]),
    (["serve", "--port", "1"], []),
    (["run", "terse", "hello"], ["terse"]),
    (["run", "--verbose", "terse"], []),  # a guess only: an option first means no head start
    (["list"], []),
    ([], []),
])
def test_the_names_a_cold_start_loads_are_read_from_the_raw_arguments(argv, names):
    assert prefetch_names(argv) == names


@pytest.fixture
def remembered(tmp_path, tiny_model_path):
    """A Workbench whose tiny model was loaded through the runtime (throughput mode: weights repacked) and
    remembered as `tiny`, as serve and run do, then unloaded: (wb, the load's file and flags)."""
    wb = tiny_workbench(tmp_path, tiny_model_path)
    loaded = wb.runtime.acquire(wb.library.get("tiny:F32"), LoadOptions(n_ctx=256, reproducible=False))
    prefetch.remember(wb.paths, "tiny", **loaded.native_load)
    wb.runtime.unload(loaded)
    yield wb, loaded.native_load
    prefetch.discard()
    wb.close()


def test_a_remembered_load_is_started_early_and_taken_over_by_the_real_load(remembered):
    wb, flags = remembered
    assert prefetch.start(wb.paths, ["tiny", "unknown"]) == 1
    assert prefetch.pending() == [(str(flags["path"]), flags["gpu_layers"], flags["use_extra_bufts"])]
    model = wb.runtime.acquire(wb.library.get("tiny:F32"), LoadOptions(n_ctx=128, reproducible=False))
    assert prefetch.pending() == []  # claimed, not loaded a second time
    _, final = model.generate(GenerationRequest(prompt="hello", max_tokens=4,
                                                sampling=SamplingParams(temperature=0))).collect()
    assert final.completion_tokens == 4


def test_a_load_with_other_flags_does_not_take_it_and_discard_frees_it(remembered):
    wb, flags = remembered
    assert flags["use_extra_bufts"]  # throughput mode
    assert prefetch.start(wb.paths, ["tiny"]) == 1
    wb.runtime.acquire(wb.library.get("tiny:F32"), LoadOptions(n_ctx=256, reproducible=True))
    assert len(prefetch.pending()) == 1
    prefetch.discard()
    assert prefetch.pending() == []


def test_a_changed_file_or_a_damaged_hint_file_starts_nothing(remembered):
    wb, flags = remembered
    hint_file = wb.paths.cache / prefetch.HINT_FILE
    hints = json.loads(hint_file.read_text())
    hints["tiny"]["mtime_ns"] -= 1  # the file changed since
    hint_file.write_text(json.dumps(hints))
    assert prefetch.start(wb.paths, ["tiny"]) == 0
    hint_file.write_text("{not json")
    assert prefetch.start(wb.paths, ["tiny"]) == 0
    assert flags["path"].is_file()


def test_run_remembers_what_its_name_loaded(tmp_path, tiny_model_path):
    tiny_workbench(tmp_path, tiny_model_path).close()
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path)}
    for _ in range(2):  # the second run starts with the head start and answers the same way
        result = subprocess.run([sys.executable, "-c", CLI, "run", "terse", "hello"], env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    hints = json.loads((tmp_path / "cache" / prefetch.HINT_FILE).read_text())
    assert list(hints) == ["terse"] and os.path.isfile(hints["terse"]["path"])


def _current_callback() -> int | None:
    callback, user_data = llama_cpp.llama_log_callback(), ctypes.c_void_p()
    llama_cpp.llama_log_get(ctypes.byref(callback), ctypes.byref(user_data))
    return ctypes.cast(callback, ctypes.c_void_p).value


def test_the_garbage_collector_is_paused_while_a_command_starts_and_back_on_after():
    code = ("import gc, sys; from workbench.cli import main, startup; "
            "startup.resume = lambda real=startup.resume: (print('paused' if not gc.isenabled() else 'on'), real()); "
            "main(['serve', '--port', '-1']); print('after', gc.isenabled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == ["paused", "after", "True"]  # a usage error: main's own resume, the collector on after
    code = ("import gc; from workbench.cli import main; gc.disable(); main(['serve', '--port', '-1']); "
            "print(gc.isenabled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == ["False"]  # turned off by the caller: left off


def test_loads_run_without_the_python_log_callback_unless_someone_captures():
    native.ensure_backend()
    python_callback = ctypes.cast(native_log.LOG_CALLBACK, ctypes.c_void_p).value
    assert _current_callback() == python_callback
    with native_log.quiet():
        assert _current_callback() not in (python_callback, None)
        with native_log.LogCapture():
            assert _current_callback() == python_callback  # a capture on any thread needs every line
        assert _current_callback() != python_callback
    assert _current_callback() == python_callback


def test_a_failed_quiet_load_still_says_why(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    with pytest.raises(ModelLoadError) as caught:
        native.load_model(bad, gpu_layers=0, use_extra_bufts=True)
    assert "gave no reason" not in str(caught.value) and str(bad) in str(caught.value)


def test_the_app_starts_loading_its_first_preset_before_the_window_is_built(tmp_path, tiny_model_path):
    """The app preloads a preset through wb.chat.preload, which remembers it; at the next start ui/main.py asks
    Workbench.prefetch for the default preset before anything else, and the preload takes that load over."""
    from workbench.app import Workbench

    wb = tiny_workbench(tmp_path, tiny_model_path)
    try:
        wb.chat.preload("terse")
        wb.runtime.unload(wb.library.get("tiny:F32"))
        assert wb.runtime.loaded() == []
        Workbench.prefetch(wb.paths, ["terse"])
        assert len(prefetch.pending()) == 1
        wb.chat.preload("terse")
        assert prefetch.pending() == [] and len(wb.runtime.loaded()) == 1
    finally:
        prefetch.discard()
        wb.close()
