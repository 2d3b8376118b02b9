"""Images (and audio clips) in request bodies → checked `chat.media.Media`, in the order a message holds them.

Every API's shape ends up as a message's `images` list (Ollama's shape, what chat/prepare.py reads): OpenAI's
`image_url` and `input_audio` content parts, Ollama's base64 `images`, the Responses API's `input_image` parts and
Anthropic's image blocks. A data: URL or base64 is decoded here; an http(s) URL is refused unless the user turned
on `fetch_image_urls` in the settings — the workbench makes no network request a user did not ask for.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from ..chat.media import MAX_BYTES, Media
from ..errors import InvalidMedia
from ..units import human_size

FETCH_TIMEOUT_SECONDS = 20.0
NO_FETCH = ("{where}: http(s) image URLs are not fetched (the workbench makes no network requests unless you allow "
            "it): send the image inline as a data: URL (data:image/png;base64,...), or set fetch_image_urls in "
            "the settings")


def image_from_url(url: Any, *, fetch: bool, where: str = "image_url") -> Media:
    """A data: URL → Media; an http(s) URL → fetched (only when `fetch`) and checked; anything else refused."""
    if not isinstance(url, str) or not url:
        raise InvalidMedia(f"{where}: the image URL is missing")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "data":
        try:
            return Media.from_data_url(url, kind_hint="image")
        except InvalidMedia as error:
            raise InvalidMedia(f"{where}: {error}") from None
    if scheme not in ("http", "https"):
        raise InvalidMedia(f"{where}: {scheme}: URLs are not accepted; send a data: URL")
    if not fetch:
        raise InvalidMedia(NO_FETCH.format(where=where))
    return Media.from_bytes(_fetch(url, where), kind_hint="image")


def _fetch(url: str, where: str) -> bytes:
    """The URL's body, at most MAX_BYTES (stdlib urllib: one GET needs no HTTP client dependency)."""
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
            data = response.read(MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise InvalidMedia(f"{where}: the image at {url} could not be fetched: {error}") from None
    if len(data) > MAX_BYTES:
        raise InvalidMedia(f"{where}: the image at {url} is over {human_size(MAX_BYTES)}")
    return data


def openai_part(part: Any, *, fetch: bool) -> Media | None:
    """An OpenAI chat content part (`image_url`, `input_audio`) or a Responses one (`input_image`); None for text."""
    kind = getattr(part, "type", None)
    if kind == "image_url":
        value = getattr(part, "image_url", None)
        url = value.get("url") if isinstance(value, dict) else value
        return image_from_url(url, fetch=fetch, where="image_url")
    if kind == "input_image":
        return image_from_url(getattr(part, "image_url", None), fetch=fetch, where="input_image")
    if kind == "input_audio":
        value = getattr(part, "input_audio", None) or {}
        if not isinstance(value, dict) or not isinstance(value.get("data"), str):
            raise InvalidMedia("input_audio needs {\"data\": base64 audio, \"format\": \"wav\" or \"mp3\"}")
        return Media.from_base64(value["data"], kind_hint="audio")
    return None


def message_media(message: Any, *, fetch: bool) -> list[Media]:
    """The media of a message whose content is a list of parts (OpenAI chat or Responses), in order."""
    content = getattr(message, "content", None)
    if not isinstance(content, list):
        return []
    return [item for item in (openai_part(part, fetch=fetch) for part in content) if item is not None]


def with_media(messages: list[dict], sources: list, *, fetch: bool) -> list[dict]:
    """formats.template_messages' output with each message's media (from its request message, the same index
    counted from the end: a system message may have been put first) as `images`."""
    for message, source in zip(messages[len(messages) - len(sources):], sources, strict=True):
        images = message_media(source, fetch=fetch)
        if images:
            message["images"] = images
    return messages


def ollama_images(images: list[str] | None) -> list[Media]:
    """Ollama's `images`: base64 strings (a data: URL is taken too, as some clients send one)."""
    out = []
    for index, text in enumerate(images or ()):
        try:
            out.append(Media.from_data_url(text, kind_hint="image") if text.startswith("data:")
                       else Media.from_base64(text, kind_hint="image"))
        except InvalidMedia as error:
            raise InvalidMedia(f"images[{index}]: {error}") from None
    return out


def anthropic_image(source: dict[str, Any] | None, *, fetch: bool) -> Media:
    """An Anthropic image block's `source`: {"type": "base64", "media_type", "data"} or {"type": "url", "url"}."""
    source = source or {}
    kind = source.get("type")
    if kind == "base64":
        if not isinstance(source.get("data"), str):
            raise InvalidMedia("an image block's base64 source needs its 'data'")
        try:
            return Media.from_base64(source["data"], kind_hint="image")
        except InvalidMedia as error:
            raise InvalidMedia(f"image block: {error}") from None
    if kind == "url":
        return image_from_url(source.get("url"), fetch=fetch, where="image source")
    raise InvalidMedia(f"image sources of type {kind!r} are not supported (base64, url)")
