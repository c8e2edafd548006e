"""What a file is, judged by its content (magic bytes and a decoder), not only by its name.

Kinds and how each is recognised:

* **image** (JPEG, PNG, BMP, WebP): magic bytes, then Pillow reads the header (size, pixel cap
  of :data:`labelarts.media.resize.DEFAULT_MAX_PIXELS`) and checks the data: PNG chunk CRCs
  through ``IEND`` (``verify``), JPEG decoded at 1/8 scale (draft mode), BMP and WebP decoded.
  A truncated or corrupt image is refused. A plain JPEG (no APP1, grey or colour) is read and
  decoded at 1/8 scale by libjpeg-turbo through ``simplejpeg`` instead, with the same outcome.
* **audio** (WAV, MP3, FLAC): ``RIFF....WAVE``, an ``ID3`` tag or an MPEG audio frame header,
  ``fLaC``. Only the header is checked.
* **text** (``.txt`` / ``.csv`` only: text has no magic bytes, so the name must say so too):
  no NUL byte, and UTF-8 (a BOM is dropped) or else GBK, the two encodings the ModelArts guide
  allows.
* **other**: anything else; only free-format datasets (type 900) take it.

Size caps (constants, not settings): :data:`MAX_BYTES`.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import simplejpeg
from PIL import Image

from labelarts.media import ImageDecodeError, open_image
from labelarts.media.resize import DEFAULT_MAX_PIXELS

MIB: Final = 1024 * 1024
HEAD_BYTES: Final = 64
TEXT_SUFFIXES: Final = (".txt", ".csv")


class Kind(StrEnum):
    IMAGE = "image"
    TEXT = "text"
    AUDIO = "audio"
    OTHER = "other"


MAX_BYTES: Final[dict[Kind, int]] = {
    Kind.IMAGE: 64 * MIB,
    Kind.TEXT: 64 * MIB,
    Kind.AUDIO: 1024 * MIB,
    Kind.OTHER: 1024 * MIB,
}

# What each dataset type takes (None: importing files is not supported for that type).
_DATASET_KIND: Final[dict[int, Kind]] = {
    0: Kind.IMAGE,
    1: Kind.IMAGE,
    3: Kind.IMAGE,
    100: Kind.TEXT,
    101: Kind.TEXT,
    102: Kind.TEXT,
    200: Kind.AUDIO,
    201: Kind.AUDIO,
    202: Kind.AUDIO,
    900: Kind.OTHER,
}
_FORMATS_OF: Final[dict[Kind, str]] = {
    Kind.IMAGE: "a JPEG, PNG, BMP or WebP image",
    Kind.AUDIO: "a WAV, MP3 or FLAC audio file",
    Kind.TEXT: "a UTF-8 or GBK .txt or .csv file",
    Kind.OTHER: "a file",
}
# Channels per Pillow mode; "P" (palette) images are shown as RGB.
_DEPTH: Final[dict[str, int]] = {"1": 1, "L": 1, "P": 3, "LA": 2, "PA": 4, "I": 1, "F": 1, "I;16": 1}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, struct.error, EOFError, IndexError, TypeError)


class Rejected(Exception):
    """A file cannot become a sample; ``reason`` says why (it goes into the task report)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Magic:
    kind: Kind
    format: str


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    depth: int
    format: str


def dataset_kind(dataset_type: int) -> Kind | None:
    """The kind of file a dataset type takes; None for table and video datasets."""
    return _DATASET_KIND.get(dataset_type)


def describe(kind: Kind) -> str:
    return _FORMATS_OF[kind]


def sniff(head: bytes) -> Magic | None:
    """Recognise an image or audio format from the first :data:`HEAD_BYTES` bytes."""
    if head.startswith(b"\xff\xd8\xff"):
        return Magic(Kind.IMAGE, "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Magic(Kind.IMAGE, "PNG")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Magic(Kind.IMAGE, "WEBP")
    if _is_bmp(head):
        return Magic(Kind.IMAGE, "BMP")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Magic(Kind.AUDIO, "WAV")
    if head.startswith(b"fLaC"):
        return Magic(Kind.AUDIO, "FLAC")
    if head.startswith(b"ID3") or _is_mpeg_frame(head):
        return Magic(Kind.AUDIO, "MP3")
    return None


def _is_bmp(head: bytes) -> bool:
    # "BM" alone is too weak (a text file may start with it): also require a known DIB header size.
    if len(head) < 18 or not head.startswith(b"BM"):
        return False
    (dib_size,) = struct.unpack_from("<I", head, 14)
    return dib_size in (12, 40, 52, 56, 64, 108, 124)


def _is_mpeg_frame(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0x3, (head[1] >> 1) & 0x3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0x3
    return version != 1 and layer != 0 and bitrate not in (0, 0xF) and rate != 3


def looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut at the end of the head
    return True


def check_kind(head: bytes, name: str, wanted: Kind) -> Kind:
    """The kind of the file if the dataset takes it; otherwise raise :class:`Rejected`."""
    magic = sniff(head)
    if wanted is Kind.OTHER:
        return magic.kind if magic else Kind.OTHER
    if magic is not None:
        if magic.kind is wanted:
            return wanted
        raise Rejected(
            f"content is {describe(magic.kind)} ({magic.format}); this dataset takes {describe(wanted)}"
        )
    if wanted is Kind.TEXT:
        if not name.lower().endswith(TEXT_SUFFIXES):
            raise Rejected("unsupported file type: text datasets take .txt and .csv files")
        return Kind.TEXT
    hint = " (it looks like text)" if looks_like_text(head) else ""
    raise Rejected(f"content is not {describe(wanted)}{hint}")


def inspect_image(data: bytes) -> ImageInfo:
    """Size, depth and format of a complete image; :class:`Rejected` if it is not whole.

    A plain JPEG (:func:`_inspect_plain_jpeg`) is read and decoded by libjpeg-turbo alone.
    Any other image is opened once by Pillow: its header gives the displayed size
    (:func:`open_image`) and the same open image is then verified or decoded."""
    plain = _inspect_plain_jpeg(data)
    return plain if plain is not None else inspect_image_with_pillow(data)


def inspect_image_with_pillow(data: bytes) -> ImageInfo:
    """:func:`inspect_image` by Pillow alone, for any image."""
    try:
        opened, (width, height) = open_image(data)
    except ImageDecodeError as exc:
        raise Rejected(f"not a decodable image: {exc}") from None
    try:
        # Pillow warns about odd but readable files (e.g. corrupt EXIF); those stay importable,
        # and a warning must not turn into an error when warnings are errors (the test suite).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with opened as img:
                fmt = img.format or "?"
                depth = _DEPTH.get(img.mode, len(img.getbands()))
                if fmt == "PNG":
                    img.verify()  # every chunk's CRC, up to IEND: catches truncation and bit flips
                else:
                    if fmt == "JPEG":
                        img.draft(None, (max(1, img.width // 8), max(1, img.height // 8)))
                    img.load()
    except Image.DecompressionBombError as exc:
        raise Rejected(f"image has too many pixels: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise Rejected(f"image data is truncated or corrupt: {exc}") from None
    return ImageInfo(width, height, depth, fmt)


# simplejpeg's names for a JPEG's colour space -> the depth Pillow gives its mode (L, RGB).
_PLAIN_JPEG_DEPTH: Final[dict[str, int]] = {"Gray": 1, "YCbCr": 3, "RGB": 3}


def _inspect_plain_jpeg(data: bytes) -> ImageInfo | None:
    """The check of the most common image, about 2.5 times cheaper than Pillow's (which parses
    the header in Python): a JPEG without an APP1 segment (so no EXIF or XMP orientation can
    turn it), grey or colour, under the pixel cap, whose 1/8-scale decode by libjpeg-turbo
    (``simplejpeg``) finished without even a warning (truncation included).

    None when any of that does not hold: Pillow's path (:func:`inspect_image`) then decides,
    with its own reasons, so a file refused here is judged exactly as before. The bytes
    ``FF E1`` cannot occur in the entropy-coded data (a coded ``FF`` is followed by ``00`` or a
    restart marker), so their absence means no APP1 segment."""
    if not data.startswith(b"\xff\xd8") or b"\xff\xe1" in data:
        return None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        depth = _PLAIN_JPEG_DEPTH.get(colorspace)
        if depth is None or width * height > DEFAULT_MAX_PIXELS:
            return None
        simplejpeg.decode_jpeg(data, min_width=1, min_height=1, strict=True, fastdct=True, fastupsample=True)
    except ValueError:  # what simplejpeg raises for anything libjpeg refused or warned about
        return None
    return ImageInfo(width, height, depth, "JPEG")


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM dropped) or GBK text without NUL bytes; :class:`Rejected` otherwise."""
    if b"\x00" in data:
        raise Rejected("content is binary (NUL bytes), not text")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gbk")
    except UnicodeDecodeError:
        raise Rejected("text is neither UTF-8 nor GBK") from None
