"""Decoding, encoding, naming and the box rules shared by the processing operators."""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from labelarts.ml.processing.base import Box

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "JPEG_QUALITY",
    "DecodedImage",
    "ImageDecodeError",
    "added_sample_id",
    "apply_box_rules",
    "decode",
    "encode",
    "extension_for",
    "suffixed_name",
    "to_rgb",
]

DEFAULT_MAX_PIXELS = 100_000_000
"""Images with more pixels are refused before decoding (a decompression-bomb guard)."""
JPEG_QUALITY = 95
# Formats Pillow may open here. No plugin that shells out (EPS) or is rarely trusted.
_OPEN_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM", "TGA", "ICO")
# The formats the guide calls supported, and the extensions each may carry.
_KEPT_FORMATS: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg"),
    "PNG": (".png",),
    "BMP": (".bmp",),
}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, RuntimeError, struct.error)
MIN_BOX_SIDE = 2.0
MAX_OUTSIDE_FRACTION = 0.5


class ImageDecodeError(ValueError):
    """The bytes are not a fully decodable image of a format LabelArts reads."""


@dataclass
class DecodedImage:
    image: Image.Image
    """Fully decoded, in the file's own mode, not yet oriented."""
    format: str
    """Pillow's format name, ``"JPEG"`` for MPO too."""
    orientation: int
    """EXIF orientation 1-8 (1 when absent)."""


def decode(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode every pixel of ``data`` (a truncated file fails here, not later).

    Raises :class:`ImageDecodeError` for empty data, unknown formats, more than
    ``max_pixels`` pixels and any decoder error.
    """
    if not data:
        raise ImageDecodeError("the file is empty")
    try:
        # Our own pixel cap replaces Pillow's warning, which must not abort the open.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.init()  # registers every plugin, so the filter below is accurate
            formats = tuple(f for f in _OPEN_FORMATS if f in Image.OPEN)
            image = Image.open(io.BytesIO(data), formats=formats)
            width, height = image.size
            if width < 1 or height < 1:
                raise ImageDecodeError(f"the image declares an empty size {width}x{height}")
            if width * height > max_pixels:
                raise ImageDecodeError(
                    f"the image is {width}x{height}, more than the limit of {max_pixels} pixels"
                )
            fmt = "JPEG" if image.format == "MPO" else str(image.format)
            try:
                orientation = int(image.getexif().get(0x0112, 1))
            except _DECODE_ERRORS:
                orientation = 1
            image.load()
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"the image has too many pixels: {exc}") from exc
    except UnidentifiedImageError:
        raise ImageDecodeError("not an image in a format LabelArts reads") from None
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(f"the image cannot be decoded: {exc}") from exc
    return DecodedImage(image, fmt, orientation if orientation in range(1, 9) else 1)


def oriented(decoded: DecodedImage) -> Image.Image:
    """The image upright, as its EXIF orientation says."""
    if decoded.orientation == 1:
        return decoded.image
    transposed = ImageOps.exif_transpose(decoded.image)
    assert transposed is not None
    return transposed


def to_rgb(image: Image.Image) -> Image.Image:
    """An RGB copy: transparency flattened onto white, 16-bit and float grey scaled to 8 bits.

    16-bit (``I;16*`` and ``I``) pixels are divided by 257, so 65535 maps to 255 (Pillow's own
    conversion clips them at 255 instead); float pixels are clipped to [0, 255].
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I;16") or mode == "I":
        pixels = np.asarray(image, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)).convert("RGB")
    if mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def extension_for(fmt: str) -> str:
    """The file extension for an output format (``.jpg`` for JPEG)."""
    return _KEPT_FORMATS[fmt][0] if fmt in _KEPT_FORMATS else ".jpg"


def output_format(fmt: str) -> str:
    """JPEG, PNG and BMP stay as they are; every other format becomes JPEG."""
    return fmt if fmt in _KEPT_FORMATS else "JPEG"


def extension_matches(name: str, fmt: str) -> bool:
    return PurePosixPath(name).suffix.lower() in _KEPT_FORMATS.get(fmt, ())


def encode(image: Image.Image, fmt: str) -> bytes:
    """``image`` as a JPEG (quality 95), PNG or BMP file."""
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    elif fmt == "PNG":
        image.save(buffer, "PNG")
    elif fmt == "BMP":
        image.save(buffer, "BMP")
    else:
        raise ValueError(f"cannot encode {fmt}")
    return buffer.getvalue()


def suffixed_name(name: str, suffix: str, extension: str | None = None) -> str:
    """``cat.jpg`` -> ``cat{suffix}{extension}`` (the original extension when not given)."""
    path = PurePosixPath(name)
    stem = path.stem if path.suffix else path.name
    ext = extension if extension is not None else path.suffix
    return f"{stem}{suffix}{ext}"


def added_sample_id(source_id: str, new_name: str) -> str:
    """The id of a sample an operator adds: MD5 of the source id and the new file name.

    The source id is part of it so two inputs with the same file name get different ids.
    """
    return hashlib.md5(f"{source_id}/{new_name}".encode(), usedforsecurity=False).hexdigest()


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def box_text(box: Box) -> str:
    return f"{box.label} [{_fmt(box.xmin)}, {_fmt(box.ymin)}, {_fmt(box.xmax)}, {_fmt(box.ymax)}]"


def apply_box_rules(boxes: Iterable[Box], width: int, height: int) -> tuple[tuple[Box, ...], list[str]]:
    """The guide's box rules for an image of ``width`` x ``height`` pixels.

    In order: a box whose min exceeds its max is dropped; a box more than half outside the
    image (by area) is dropped, one less is clipped to the image; a box narrower or shorter
    than 2 px (after clipping) is dropped. Answers the boxes kept and one line per change.
    """
    kept: list[Box] = []
    lines: list[str] = []
    for box in boxes:
        if box.xmin > box.xmax or box.ymin > box.ymax:
            lines.append(f"dropped box {box_text(box)}: min exceeds max")
            continue
        area = (box.xmax - box.xmin) * (box.ymax - box.ymin)
        ix = max(0.0, min(box.xmax, width) - max(box.xmin, 0.0))
        iy = max(0.0, min(box.ymax, height) - max(box.ymin, 0.0))
        inside = ix * iy
        if area > 0 and inside < area:
            outside = 1.0 - inside / area
            if outside > MAX_OUTSIDE_FRACTION:
                lines.append(f"dropped box {box_text(box)}: {outside:.0%} outside the image")
                continue
            clipped = replace(
                box,
                xmin=max(box.xmin, 0.0),
                ymin=max(box.ymin, 0.0),
                xmax=min(box.xmax, float(width)),
                ymax=min(box.ymax, float(height)),
            )
            lines.append(f"clipped box {box_text(box)} to {box_text(clipped)}")
            box = clipped
        elif area <= 0 and not (0 <= box.xmin <= width and 0 <= box.ymin <= height):
            lines.append(f"dropped box {box_text(box)}: outside the image")
            continue
        if box.xmax - box.xmin < MIN_BOX_SIDE or box.ymax - box.ymin < MIN_BOX_SIDE:
            lines.append(f"dropped box {box_text(box)}: narrower or shorter than 2 px")
            continue
        kept.append(box)
    return tuple(kept), lines


def scale_boxes(boxes: Iterable[Box], sx: float, sy: float) -> tuple[Box, ...]:
    return tuple(
        replace(b, xmin=b.xmin * sx, ymin=b.ymin * sy, xmax=b.xmax * sx, ymax=b.ymax * sy) for b in boxes
    )
