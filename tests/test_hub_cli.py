"""The hub CLI verbs: search, files, pull (progress, errors, Ctrl-C → 130 with the partial kept), estimate."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from tests.test_hub_pull import PULL_SCRIPT, wait_for
from workbench.cli import main
from workbench.hub.download import partial_path

REPO = "alice/tiny-GGUF"


@pytest.fixture
def served(fake_hub: FakeHub, tiny_model_path: Path) -> FakeHub:  # noqa: F811
    data = tiny_model_path.read_bytes()
    fake_hub.add_repo(REPO, {"tiny-Q8_0.gguf": data, "tiny-Q4_K_M.gguf": data}, downloads=1234)
    return fake_hub


def test_search_and_files(served: FakeHub, capsys: pytest.CaptureFixture) -> None:
    assert main(["search", "tiny", "--sort", "likes"]) == 0
    out = capsys.readouterr().out
    assert REPO in out and "1.2K" in out
    assert main(["files", REPO]) == 0
    out = capsys.readouterr().out
    assert "Q8_0" in out and "Q4_K_M" in out and "436.9 KB" in out and served.repos[REPO].commit[:12] in out


def test_pull_then_estimate_the_local_model(served: FakeHub, capsys: pytest.CaptureFixture) -> None:
    assert main(["pull", f"hf.co/{REPO}", "--name", "tiny:q4"]) == 0
    out = capsys.readouterr().out
    assert "pulled tiny:q4" in out and f"{REPO}@{served.repos[REPO].commit[:12]}" in out
    assert main(["estimate", "tiny:q4", "--ctx", "2048"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fits") and "KV cache" in out and "RAM free" in out


def test_estimate_a_remote_model(served: FakeHub, capsys: pytest.CaptureFixture) -> None:
    assert main(["estimate", f"hf.co/{REPO}:Q8_0", "--ctx", "1024", "--cache-type", "q8_0"]) == 0
    assert "q8_0 KV cache" in capsys.readouterr().out
    assert served.cdn_gets() and all("range" in r.headers for r in served.cdn_gets())


def test_errors_are_one_line_and_exit_1(served: FakeHub, capsys: pytest.CaptureFixture) -> None:
    assert main(["pull", f"hf.co/{REPO}:IQ1_S"]) == 1
    err = capsys.readouterr().err
    assert "has no IQ1_S file" in err and "Traceback" not in err
    assert main(["pull", "not-a-ref"]) == 1
    assert "is not a Hub reference" in capsys.readouterr().err
    assert main(["search", "x", "--sort", "stars"]) == 1


def test_ctrl_c_exits_130_and_keeps_the_partial(served: FakeHub, workbench_home: Path,
                                                tiny_model_path: Path) -> None:
    gate = served.pause_at(100_000)
    part = partial_path(workbench_home / "data" / "models" / "partial",
                        hashlib.sha256(tiny_model_path.read_bytes()).hexdigest())
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home), "HF_ENDPOINT": served.endpoint}
    proc = subprocess.Popen([sys.executable, "-c", PULL_SCRIPT, "pull", f"hf.co/{REPO}:Q8_0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert gate.reached.wait(60)
        assert wait_for(lambda: part.exists() and part.stat().st_size == 100_000)
        proc.send_signal(signal.SIGINT)
        gate.release()  # the next chunk arrives after the interrupt
        _, err = proc.communicate(timeout=60)
    finally:
        gate.release()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "partial download is kept" in err
    assert part.exists() and 100_000 <= part.stat().st_size < tiny_model_path.stat().st_size


def test_http_proxy_from_the_environment_is_used(served: FakeHub, workbench_home: Path) -> None:
    """HTTP(S)_PROXY reaches huggingface_hub's httpx client: the fake Hub, acting as the proxy, gets absolute URLs
    for a Hub host that does not even resolve."""
    env = {k: v for k, v in os.environ.items() if k.upper() != "NO_PROXY"}
    env.update(WORKBENCH_HOME=str(workbench_home), HF_ENDPOINT="http://hub.invalid", HTTP_PROXY=served.endpoint)
    out = subprocess.run([sys.executable, "-c", PULL_SCRIPT, "files", REPO], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Q8_0" in out.stdout
    assert any(r.path.startswith(f"http://hub.invalid/api/models/{REPO}") for r in served.requests)


def test_custom_ca_bundle_via_ssl_cert_file(tmp_path: Path, workbench_home: Path, tiny_model_path: Path) -> None:
    """A Hub behind a private CA (corporate TLS inspection): SSL_CERT_FILE is honoured; REQUESTS_CA_BUNDLE,
    which requests-era huggingface_hub read, is not any more (httpx2)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True, timeout=60)
    hub = FakeHub(tls=(str(cert), str(key))).start()
    try:
        hub.add_repo(REPO, {"tiny-Q8_0.gguf": tiny_model_path.read_bytes()})
        base = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR",
                                                                   "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        base.update(WORKBENCH_HOME=str(workbench_home), HF_ENDPOINT=hub.endpoint, NO_PROXY="127.0.0.1")

        def run(**extra: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-c", PULL_SCRIPT, "pull", f"hf.co/{REPO}:Q8_0"],
                                  env={**base, **extra}, capture_output=True, text=True, timeout=120)

        refused = run(REQUESTS_CA_BUNDLE=str(cert))
        assert refused.returncode == 1 and "cannot reach the Hub" in refused.stderr
        assert "SSL_CERT_FILE" in refused.stderr  # the message names the variable that would help
        trusted = run(SSL_CERT_FILE=str(cert))
        assert trusted.returncode == 0, trusted.stderr
        assert "pulled" in trusted.stdout
    finally:
        hub.close()
