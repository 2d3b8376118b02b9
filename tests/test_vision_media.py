"""Media checks where images enter (workbench/chat/media.py): real Pillow on real bytes — not an image, truncated,
a decompression bomb built cheaply (a PNG whose header claims 50,000 × 50,000), too many bytes, data: URLs."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib

import pytest

from tests.tinyvision import tiny_png, tiny_wav
from workbench.chat import media as media_module
from workbench.chat.media import Media
from workbench.errors import InvalidMedia, InvalidParameter


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header (IHDR with a correct CRC) claiming `width` × `height`, with a few bytes of pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def test_a_png_is_accepted_with_its_kind_mime_and_content_address():
    data = tiny_png(0)
    item = Media.from_bytes(data)
    assert (item.kind, item.mime, item.sha256) == ("image", "image/png", hashlib.sha256(data).hexdigest())
    width, height, rgb = item.rgb()
    assert (width, height, len(rgb)) == (32, 32, 32 * 32 * 3)
    assert Media.from_data_url(item.data_url()) == item
    assert Media.from_base64(base64.b64encode(data).decode()) == item


def test_a_file_that_is_not_an_image_is_refused(tmp_path):
    with pytest.raises(InvalidMedia, match="not an image"):
        Media.from_bytes(b"hello, this is a text file")
    path = tmp_path / "notes.png"
    path.write_text("not really a png")
    with pytest.raises(InvalidMedia, match=r"notes\.png: the attachment is not an image"):
        Media.from_path(path)
    with pytest.raises(InvalidMedia, match="no such file"):
        Media.from_path(tmp_path / "missing.png")
    assert issubclass(InvalidMedia, InvalidParameter)  # a bad-input error: 400 on the endpoint


def test_a_truncated_png_is_refused():
    data = tiny_png(1)
    with pytest.raises(InvalidMedia, match="truncated or corrupt"):
        Media.from_bytes(data[: len(data) // 2])


def test_a_decompression_bomb_is_refused_from_its_header_alone():
    bomb = png_claiming(50_000, 50_000)
    assert len(bomb) < 200
    with pytest.raises(InvalidMedia, match="megapixels"):
        Media.from_bytes(bomb)
    with pytest.raises(InvalidMedia, match="8000 × 8000 pixels; at most 50 megapixels"):
        Media.from_bytes(png_claiming(8000, 8000))  # over our limit, under Pillow's own bomb threshold


def test_too_many_bytes_are_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(media_module, "MAX_BYTES", 1000)
    with pytest.raises(InvalidMedia, match=r"the attachment is \d.*; at most 1\.0 KB"):
        Media.from_bytes(tiny_png(2, size=64))
    with pytest.raises(InvalidMedia, match=r"the attachment is over 1\.0 KB"):
        Media.from_base64("A" * 5000)


def test_data_urls_and_base64_errors_name_the_problem():
    with pytest.raises(InvalidMedia, match="not a data: URL"):
        Media.from_data_url("https://example.com/cat.png")
    with pytest.raises(InvalidMedia, match="not base64-encoded"):
        Media.from_data_url("data:image/png,rawbytes")
    with pytest.raises(InvalidMedia, match="not valid base64"):
        Media.from_data_url("data:image/png;base64,@@@@")
    with pytest.raises(InvalidMedia, match="is empty"):
        Media.from_bytes(b"")


def test_audio_is_recognised_by_its_header_and_a_wav_is_checked_to_its_last_frame():
    wav = tiny_wav(0)
    assert (Media.from_bytes(wav).kind, Media.from_bytes(wav).mime) == ("audio", "audio/wav")
    with pytest.raises(InvalidMedia, match="WAV file is truncated"):
        Media.from_bytes(wav[: len(wav) // 2])
    with pytest.raises(InvalidMedia, match="WAV file is corrupt"):
        Media.from_bytes(b"RIFF" + struct.pack("<I", 36) + b"WAVEjunk" + b"\0" * 24)
    with pytest.raises(InvalidMedia, match="not audio"):
        Media.from_bytes(tiny_png(0), kind_hint="audio")
