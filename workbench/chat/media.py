"""Media attached to a chat message: an image (or audio clip), checked once where it enters.

`Media` holds the bytes as given, their kind and MIME type, and their sha256 (the content address that sessions
store it under and that the engine's prefix reuse keys an image by). Every way in — a file, a data: URL, raw bytes
from an API body — goes through `Media.from_bytes`, which refuses what is not an image, a truncated one, a pixel
bomb or too many bytes with an `InvalidMedia` naming the problem, before anything is stored or decoded in full.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidMedia
from ..units import human_size

MAX_BYTES = 20_000_000  # per image or clip (OpenAI accepts about this much per image)
MAX_PIXELS = 50_000_000  # 50 MP: far above any projector's input size, far below a decompression bomb
IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif",
                 "BMP": "image/bmp", "TIFF": "image/tiff"}
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,",
                       re.IGNORECASE)


@dataclass(frozen=True)
class Media:
    """Checked media bytes. kind is "image" or "audio"; sha256 is the hex digest of `data`."""

    data: bytes
    kind: str
    mime: str
    sha256: str

    def __repr__(self) -> str:  # never dump megabytes into a log line or a test failure
        return f"Media({self.kind}, {self.mime}, {len(self.data)} bytes, sha256={self.sha256[:12]})"

    @classmethod
    def from_bytes(cls, data: bytes, *, kind_hint: str | None = None) -> Media:
        """Check `data` and wrap it; kind_hint "image"/"audio" says what the caller expects (None: either)."""
        if kind_hint not in (None, "image", "audio"):
            raise InvalidMedia(f"media kind must be image or audio, not {kind_hint!r}")
        if not isinstance(data, bytes | bytearray) or not data:
            raise InvalidMedia("the attachment is empty")
        if len(data) > MAX_BYTES:
            raise InvalidMedia(f"the attachment is {human_size(len(data))}; at most {human_size(MAX_BYTES)} per "
                               "image or audio clip")
        data = bytes(data)
        audio_mime = _audio_mime(data)
        if audio_mime is not None and kind_hint != "image":
            if audio_mime == "audio/wav":
                _check_wav(data)
            return cls(data, "audio", audio_mime, hashlib.sha256(data).hexdigest())
        if kind_hint == "audio":
            raise InvalidMedia("the attachment is not audio: WAV, MP3 and FLAC are accepted")
        return cls(data, "image", _checked_image_mime(data), hashlib.sha256(data).hexdigest())

    @classmethod
    def from_path(cls, path: str | Path, *, kind_hint: str | None = None) -> Media:
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise InvalidMedia(f"{path} is {human_size(size)}; at most {human_size(MAX_BYTES)} per image or "
                                   "audio clip")
            data = path.read_bytes()
        except FileNotFoundError:
            raise InvalidMedia(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InvalidMedia(f"{path} is a directory, not an image") from None
        except OSError as error:
            raise InvalidMedia(f"{path} cannot be read: {error.strerror or error}") from None
        try:
            return cls.from_bytes(data, kind_hint=kind_hint)
        except InvalidMedia as error:
            raise InvalidMedia(f"{path}: {error}") from None

    @classmethod
    def from_data_url(cls, url: str, *, kind_hint: str | None = None) -> Media:
        """A `data:[mime];base64,...` URL (what OpenAI's image_url carries) → Media."""
        match = _DATA_URL.match(url or "")
        if match is None:
            raise InvalidMedia("not a data: URL (expected data:image/png;base64,...)")
        if not match.group("b64"):
            raise InvalidMedia("the data: URL is not base64-encoded (expected ;base64,)")
        return cls.from_base64(url[match.end():], kind_hint=kind_hint)

    @classmethod
    def from_base64(cls, text: str, *, kind_hint: str | None = None) -> Media:
        """Base64 text (Ollama's `images`, Anthropic's image source) → Media."""
        if len(text) > MAX_BYTES * 4 // 3 + 4:
            raise InvalidMedia(f"the attachment is over {human_size(MAX_BYTES)}: that much per image or audio clip "
                               "at most")
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidMedia("the attachment is not valid base64") from None
        return cls.from_bytes(data, kind_hint=kind_hint)

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode()}"

    def rgb(self) -> tuple[int, int, bytes]:
        """(width, height, RGB bytes) of an image, for the projector; decoded only here, after the checks."""
        from PIL import Image, ImageOps

        with Image.open(io.BytesIO(self.data)) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")  # a phone photo the way up it was taken
            return image.width, image.height, image.tobytes()


def _audio_mime(data: bytes) -> str | None:
    """The container by its magic bytes (libmtmd decodes these three through miniaudio)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:4] == b"fLaC":
        return "audio/flac"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    return None


def _check_wav(data: bytes) -> None:
    """A WAV's header and all the frames it announces (stdlib `wave`; MP3 and FLAC are checked by their decoder
    when the projector reads them)."""
    import wave

    try:
        with wave.open(io.BytesIO(data)) as clip:
            frames = clip.getnframes()
            complete = len(clip.readframes(frames)) == frames * clip.getnchannels() * clip.getsampwidth()
    except (wave.Error, EOFError, ValueError) as error:
        raise InvalidMedia(f"the WAV file is corrupt ({error})") from None
    if not complete or frames == 0:
        raise InvalidMedia("the WAV file is truncated or empty")


def _checked_image_mime(data: bytes) -> str:
    """The MIME type of an image Pillow can read in full; InvalidMedia for anything else.

    The header is read first (cheap): its size is checked against MAX_PIXELS before a single pixel is decoded,
    so a 50,000 × 50,000 PNG of a few kilobytes is refused without allocating gigabytes.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format, image.size
            if fmt not in IMAGE_FORMATS:
                raise InvalidMedia(f"{fmt} images are not accepted: send PNG, JPEG, WebP, GIF, BMP or TIFF")
            if width * height > MAX_PIXELS:
                raise InvalidMedia(f"the image is {width} × {height} pixels; at most {MAX_PIXELS // 1_000_000} "
                                   "megapixels are accepted")
            image.load()  # decodes every pixel: a truncated or corrupt file fails here
    except InvalidMedia:
        raise
    except UnidentifiedImageError:
        raise InvalidMedia("the attachment is not an image (PNG, JPEG, WebP, GIF, BMP or TIFF) or audio "
                           "(WAV, MP3, FLAC)") from None
    except Image.DecompressionBombError:
        raise InvalidMedia(f"the image is larger than {MAX_PIXELS // 1_000_000} megapixels") from None
    except Exception as error:  # a hostile file can make a decoder raise almost anything
        raise InvalidMedia(f"the image is truncated or corrupt ({error})") from None
    return IMAGE_FORMATS[fmt]
