"""Search, file listing, errors and offline mode: the real huggingface_hub client against the local fake Hub."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakehub import FakeHub, fake_hub  # noqa: F401  (fixture)
from workbench.errors import GatedRepo, HubError, InvalidName, InvalidParameter, NotFound, OfflineError
from workbench.hub.types import DEFAULT_QUANT


@pytest.fixture
def populated(fake_hub: FakeHub, tiny_model_path: Path) -> FakeHub:  # noqa: F811
    tiny = tiny_model_path.read_bytes()
    fake_hub.add_repo("alice/tiny-GGUF", {
        "README.md": b"# tiny\n", "tiny-Q8_0.gguf": tiny, "tiny-Q4_K_M.gguf": tiny[:-1] + b"\x01",
        "split/tiny-F16-00001-of-00002.gguf": tiny[:1000], "split/tiny-F16-00002-of-00002.gguf": tiny[1000:],
    }, downloads=500, likes=3, last_modified=datetime(2025, 3, 1, tzinfo=UTC))
    fake_hub.add_repo("bob/popular-GGUF", {"p-Q4_K_M.gguf": tiny}, downloads=9000, likes=1,
                      last_modified=datetime(2024, 1, 1, tzinfo=UTC))
    fake_hub.add_repo("carol/liked-tiny-GGUF", {"l-Q4_K_M.gguf": tiny}, downloads=10, likes=99, gated=True,
                      token="hf_carol", last_modified=datetime(2025, 6, 1, tzinfo=UTC))
    fake_hub.add_repo("dave/safetensors-only", {"model.safetensors": b"x"}, tags=("transformers",))
    fake_hub.add_repo("erin/private-GGUF", {"x-Q4_K_M.gguf": tiny}, private=True, token="hf_erin")
    return fake_hub


def test_search_filters_gguf_and_sorts(wb, populated: FakeHub) -> None:
    by_downloads = wb.hub.search()
    assert [m.repo for m in by_downloads] == ["bob/popular-GGUF", "alice/tiny-GGUF", "carol/liked-tiny-GGUF"]
    assert wb.hub.search(sort="likes")[0].repo == "carol/liked-tiny-GGUF"
    assert wb.hub.search(sort="updated")[0].repo == "carol/liked-tiny-GGUF"
    tiny = wb.hub.search("TINY", limit=1)
    assert [m.repo for m in tiny] == ["alice/tiny-GGUF"]
    hit = tiny[0]
    assert (hit.author, hit.downloads, hit.likes, hit.gated) == ("alice", 500, 3, False)
    assert hit.last_modified == datetime(2025, 3, 1, tzinfo=UTC)
    assert wb.hub.search("liked")[0].gated is True
    search_requests = [r for r in populated.requests if r.path.startswith("/api/models?")]
    assert search_requests and all("filter=gguf" in r.path for r in search_requests)


def test_search_rejects_bad_sort(wb) -> None:
    with pytest.raises(InvalidParameter, match="cannot sort by 'stars'"):
        wb.hub.search("x", sort="stars")


def test_files_lists_quants_sizes_sha_and_groups_splits(wb, populated: FakeHub, tiny_model_path: Path) -> None:
    import hashlib

    listing = wb.hub.files("alice/tiny-GGUF")
    repo = populated.repos["alice/tiny-GGUF"]
    assert listing.revision == repo.commit and not listing.gated
    by_quant = {e.quant: e for e in listing.entries}
    assert set(by_quant) == {"Q8_0", "Q4_K_M", "F16"}  # README is not a GGUF entry
    q8 = by_quant["Q8_0"]
    assert q8.size == tiny_model_path.stat().st_size
    assert q8.files[0].sha256 == hashlib.sha256(tiny_model_path.read_bytes()).hexdigest()
    split = by_quant["F16"]
    assert split.split and split.name == "split/tiny-F16.gguf" and split.size == q8.size
    assert [f.path.rsplit("-", 3)[-3] for f in split.files] == ["00001", "00002"]
    assert wb.hub.files("hf.co/carol/liked-tiny-GGUF").gated  # listing a gated repo works without a token


def test_resolve_default_quant_and_missing_quant(wb, populated: FakeHub) -> None:
    resolution = wb.hub.resolve("hf.co/alice/tiny-GGUF")
    assert resolution.entry.quant == DEFAULT_QUANT
    assert resolution.commit == populated.repos["alice/tiny-GGUF"].commit
    with pytest.raises(NotFound) as info:
        wb.hub.resolve("hf.co/alice/tiny-GGUF:IQ1_S")
    assert "available quantizations are F16, Q4_K_M, Q8_0" in str(info.value)


def test_missing_repo_revision_and_private(wb, populated: FakeHub) -> None:
    with pytest.raises(NotFound, match="repo nobody/nothing was not found"):
        wb.hub.files("nobody/nothing")
    with pytest.raises(NotFound, match="revision 'v9' was not found in alice/tiny-GGUF"):
        wb.hub.files("alice/tiny-GGUF", revision="v9")
    with pytest.raises(NotFound, match="if it is private, set a token"):
        wb.hub.files("erin/private-GGUF")
    wb.update_settings(hf_token="hf_erin")
    assert wb.hub.files("erin/private-GGUF").entries[0].quant == "Q4_K_M"
    with pytest.raises(InvalidName):
        wb.hub.files("not a repo")


def test_unreachable_hub_is_a_hub_error(wb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    # (files, not search: huggingface_hub retries list_models with backoff for ~23 s before giving up)
    with pytest.raises(HubError) as info:
        wb.hub.files("alice/tiny-GGUF")
    assert "cannot reach the Hub at http://127.0.0.1:9" in str(info.value) and "HTTPS_PROXY" in str(info.value)
    assert not isinstance(info.value, GatedRepo)


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record (and refuse) every attempt to open a network connection."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("a connection was attempted in offline mode")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.mark.parametrize("how", ["setting", "WORKBENCH_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_refuses_at_once_without_a_socket(wb, populated: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                                  no_sockets: list, how: str) -> None:
    if how == "setting":
        wb.update_settings(offline=True)
    else:
        monkeypatch.setenv(how, "1")
    seen_before = len(populated.requests)
    calls = [lambda: wb.hub.search("tiny"), lambda: wb.hub.files("alice/tiny-GGUF"),
             lambda: wb.hub.pull("hf.co/alice/tiny-GGUF:Q8_0"),
             lambda: wb.hub.estimate("hf.co/alice/tiny-GGUF:Q8_0", context=512)]
    for call in calls:
        with pytest.raises(OfflineError, match="offline mode is on"):
            call()
    assert no_sockets == [] and len(populated.requests) == seen_before
    assert wb.store.models.list() == []  # everything local keeps working
