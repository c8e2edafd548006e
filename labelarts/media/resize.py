"""OBS ``image/resize`` processing, as ModelArts' ``process_parameter`` query parameter uses it.

Three layers, each usable alone:

* :func:`parse_process_parameter` turns ``image/resize,m_lfit,h_200`` into a validated
  :class:`ResizeSpec` (or raises :class:`ProcessParameterError`, a 400 for the HTTP layer);
* :func:`target_geometry` is pure, exact arithmetic: source size + spec -> :class:`Geometry`;
* :func:`resize_image` decodes with Pillow (JPEG draft mode, EXIF orientation, pixel cap),
  applies the geometry and encodes JPEG or PNG (or raises :class:`ImageDecodeError`).

Semantics (OBS and OSS documentation, and LabelArts' choices where they are silent):

* ``m`` - ``lfit`` (default): the largest proportional size inside ``w`` x ``h``; ``mfit``: the
  smallest proportional size covering ``w`` x ``h``; ``fill``: ``mfit``, then a centred crop to
  exactly ``w`` x ``h``; ``pad``: ``lfit``, then centred on a ``w`` x ``h`` canvas of ``color``;
  ``fixed``: exactly ``w`` x ``h``, aspect ratio ignored.
* Only one of ``w``/``h`` (or only ``l``, or only ``s``): the other side follows the aspect
  ratio, and every mode gives that same proportional size (nothing to crop or pad).
* ``l``/``s`` (long/short side) are used only when neither ``w`` nor ``h`` is given (OSS: "if
  w or h is specified, l and s do not take effect"). They name the image's own sides: the
  long side is the longer one (width when square). ``l`` and ``s`` together form the box
  ``l`` x ``s`` turned the way the image is (landscape: ``w=l, h=s``; portrait: ``w=s, h=l``),
  and ``m`` applies to that box exactly as to ``w`` x ``h``.
* ``p`` alone scales the source by ``p`` percent. With ``w``/``h``/``l``/``s`` it scales the
  requested box (so ``w_200,h_100,p_50`` behaves as ``w_100,h_50``): the result of the sizing
  is scaled by ``p``, with a single rounding at the end.
* ``limit_1`` (default) never magnifies pixels: if the scaled image would be larger than the
  source in either dimension, the result is the source unchanged, for every mode. The
  ``pad`` canvas itself may be larger than the source (only the image is never enlarged).
  ``limit_0`` allows enlarging.
* Rounding: exact rational arithmetic, one round-half-up per output side, never below 1 px.
  Crop/pad offsets are ``floor(|difference| / 2)``: an odd leftover pixel goes right/bottom.
* A result may not exceed 9,999 px on a side or 24,999,999 px in area (OBS's documented
  limits) unless it is no larger than the source in that respect; otherwise
  :func:`target_geometry` raises :class:`ProcessParameterError`.
"""

from __future__ import annotations

import io
import math
import re
import struct
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Final, Literal, cast, get_args

from PIL import Image, ImageFile, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "KEY_VERSION",
    "MAX_OUTPUT_PIXELS",
    "MAX_OUTPUT_SIDE",
    "MAX_PARAMETER_LENGTH",
    "MAX_PERCENT",
    "MAX_SIDE",
    "Geometry",
    "ImageDecodeError",
    "Mode",
    "ProcessParameterError",
    "ResizeSpec",
    "decode_for_target",
    "image_size",
    "open_image",
    "parse_process_parameter",
    "resize_image",
    "target_geometry",
]

Mode = Literal["lfit", "mfit", "fill", "pad", "fixed"]
MODES: Final[tuple[str, ...]] = get_args(Mode)

MAX_PARAMETER_LENGTH: Final = 256
MAX_SIDE: Final = 4096
"""Largest ``w``, ``h``, ``l`` or ``s`` accepted."""
MAX_PERCENT: Final = 1000
DEFAULT_MAX_PIXELS: Final = 50_000_000
MAX_OUTPUT_SIDE: Final = 9_999
MAX_OUTPUT_PIXELS: Final = 24_999_999
KEY_VERSION: Final = 1
"""Bumped whenever the geometry or rendering of a given spec changes, so cached results expire."""

WHITE: Final = (255, 255, 255)

# Formats LabelArts decodes. Keeping the list short keeps Pillow's rarely used (and rarely
# fuzzed) decoders, and the EPS plugin's Ghostscript call, away from user data.
_FORMATS: Final = ("JPEG", "PNG", "GIF", "BMP", "WEBP")
_MIME: Final = {"JPEG": "image/jpeg", "PNG": "image/png"}
# What Pillow raises on malformed input (besides DecompressionBombError, handled apart).
_DECODE_ERRORS: Final = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)
# A JPEG cut short after its frame header (the reference's own upload example is one) opens
# header-only on Pillow 13, but Pillow 12 (which Datumaro pins) refuses it because the data
# ends before a start-of-scan marker. An empty start-of-scan segment lets Pillow 12 read the
# same header; decoding such an image still fails as truncated.
_JPEG_START: Final = b"\xff\xd8\xff"
_EMPTY_START_OF_SCAN: Final = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
_ORIENTATION_TAG: Final = 0x0112
_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_DRAFT_GAP: Final = 2
_DIGITS: Final = re.compile(r"[0-9]+", re.ASCII)
_HEX_COLOR: Final = re.compile(r"[0-9A-Fa-f]{6}", re.ASCII)
_KEYS: Final = ("m", "w", "h", "l", "s", "p", "limit", "color")


class ProcessParameterError(ValueError):
    """The ``process_parameter`` string is malformed or asks for something unsupported (HTTP 400)."""


class ImageDecodeError(ValueError):
    """The bytes are not a decodable image: unknown format, truncated, corrupt, or too many pixels."""


@dataclass(frozen=True)
class ResizeSpec:
    """A validated OBS resize request. See the module docstring for the semantics.

    ``w``, ``h``, ``l``, ``s`` are 1..:data:`MAX_SIDE` or None; ``p`` is a percentage
    1..:data:`MAX_PERCENT` or None; at least one of the five is set. ``limit`` True means
    never enlarge. ``color`` (RGB, 0..255 each) is the ``pad`` background.
    Construction validates and raises :class:`ProcessParameterError`.
    """

    mode: Mode = "lfit"
    w: int | None = None
    h: int | None = None
    l: int | None = None  # noqa: E741 - OBS's parameter name
    s: int | None = None
    p: int | None = None
    limit: bool = True
    color: tuple[int, int, int] = WHITE

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ProcessParameterError(
                f"unknown resize mode {self.mode!r}; expected one of {', '.join(MODES)}"
            )
        for name in ("w", "h", "l", "s"):
            _check_range(name, getattr(self, name), MAX_SIDE)
        _check_range("p", self.p, MAX_PERCENT)
        if all(v is None for v in (self.w, self.h, self.l, self.s, self.p)):
            raise ProcessParameterError("resize needs a size: at least one of w, h, l, s or p")
        if not isinstance(self.limit, bool):
            raise ProcessParameterError("limit must be a bool")
        if (
            not isinstance(self.color, tuple)
            or len(self.color) != 3
            or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in self.color)
        ):
            raise ProcessParameterError(f"color must be three integers 0..255, got {self.color!r}")

    def cache_key(self) -> str:
        """A canonical string naming this spec's effect, for caching rendered images.

        Contract: equal for specs that differ only in parameter order or in parameters
        that have no effect (``l``/``s`` when ``w`` or ``h`` is given, ``color`` unless
        ``m_pad``); different whenever the output could differ. It is ``v<N>:`` followed
        by a canonical ``image/resize,...`` string that :func:`parse_process_parameter`
        accepts; ``N`` changes when LabelArts changes how a spec renders. Encoder settings
        (``quality``) are not part of the key.
        """
        parts = [f"m_{self.mode}"]
        sides = ("w", "h") if self.w is not None or self.h is not None else ("l", "s")
        parts += [f"{k}_{getattr(self, k)}" for k in (*sides, "p") if getattr(self, k) is not None]
        parts.append(f"limit_{int(self.limit)}")
        if self.mode == "pad":
            parts.append("color_{:02X}{:02X}{:02X}".format(*self.color))
        return f"v{KEY_VERSION}:image/resize," + ",".join(parts)


def _check_range(name: str, value: int | None, maximum: int) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProcessParameterError(f"{name} must be an integer, got {value!r}")
    if not 1 <= value <= maximum:
        raise ProcessParameterError(f"{name} must be between 1 and {maximum}, got {value}")


def parse_process_parameter(text: str) -> ResizeSpec:
    """Parse an already URL-decoded ``process_parameter`` such as ``image/resize,m_lfit,h_200``.

    Grammar: ``image/resize`` then ``,key_value`` items, keys ``m w h l s p limit color``,
    each at most once, in any order; surrounding whitespace is ignored, nothing else is
    (no ``x-image-process=`` prefix, no percent-encoding, no other or chained actions).
    Values: ``m`` one of ``lfit mfit fill pad fixed``; ``w h l s`` integers 1..4096; ``p``
    1..1000; ``limit`` ``0`` or ``1``; ``color`` six hex digits. At least one of
    ``w h l s p``. Anything else raises :class:`ProcessParameterError` saying what is wrong.
    """
    if len(text) > MAX_PARAMETER_LENGTH:
        raise ProcessParameterError(f"process_parameter is longer than {MAX_PARAMETER_LENGTH} characters")
    text = text.strip()
    if not text.startswith("image/"):
        raise ProcessParameterError("process_parameter must start with 'image/', e.g. image/resize,w_200")
    actions = text[len("image/") :].split("/")
    if len(actions) > 1:
        raise ProcessParameterError("only a single image/resize action is supported, not a chain of actions")
    action, *items = actions[0].split(",")
    if action != "resize":
        raise ProcessParameterError(f"unsupported image action {action!r}: only 'resize' is supported")

    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("_")
        if not item or not sep or not value:
            raise ProcessParameterError(f"malformed resize parameter {item!r}: expected key_value")
        if key not in _KEYS:
            raise ProcessParameterError(
                f"unknown resize parameter {key!r}; expected one of {', '.join(_KEYS)}"
            )
        if key in values:
            raise ProcessParameterError(f"resize parameter {key!r} is given more than once")
        values[key] = value

    mode = values.get("m", "lfit")
    if mode not in MODES:
        raise ProcessParameterError(f"unknown resize mode {mode!r}; expected one of {', '.join(MODES)}")
    limit = values.get("limit", "1")
    if limit not in ("0", "1"):
        raise ProcessParameterError(f"limit must be 0 or 1, got {limit!r}")
    color = values.get("color", "FFFFFF")
    if not _HEX_COLOR.fullmatch(color):
        raise ProcessParameterError(f"color must be six hex digits such as FF0000, got {color!r}")
    return ResizeSpec(
        mode=cast(Mode, mode),
        w=_parse_int(values, "w"),
        h=_parse_int(values, "h"),
        l=_parse_int(values, "l"),
        s=_parse_int(values, "s"),
        p=_parse_int(values, "p"),
        limit=limit == "1",
        color=(int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)),
    )


def _parse_int(values: dict[str, str], key: str) -> int | None:
    raw = values.get(key)
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw):
        raise ProcessParameterError(f"{key} must be a positive integer, got {raw!r}")
    return int(raw)  # at most 256 digits (the length cap); ResizeSpec checks the range


@dataclass(frozen=True)
class Geometry:
    """Where the resized image goes. All values are pixels.

    The source is scaled to ``scaled_width`` x ``scaled_height``, then placed with its
    top-left corner at (``offset_x``, ``offset_y``) on a ``width`` x ``height`` canvas:
    offsets are <= 0 for ``fill`` (a centred crop) and >= 0 for ``pad`` (centred padding);
    for the other modes the canvas is the scaled image and the offsets are 0.
    ``unchanged`` is True when the result is the source as it is (same size, nothing to do).
    """

    width: int
    height: int
    scaled_width: int
    scaled_height: int
    offset_x: int = 0
    offset_y: int = 0
    unchanged: bool = False

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def scaled_size(self) -> tuple[int, int]:
        return (self.scaled_width, self.scaled_height)


def _round(value: Fraction) -> int:
    """Round half up, never below 1."""
    return max(1, math.floor(value + Fraction(1, 2)))


def _centre(canvas: int, scaled: int) -> int:
    offset = abs(canvas - scaled) // 2
    return offset if canvas >= scaled else -offset


def _requested_box(width: int, height: int, spec: ResizeSpec) -> tuple[Fraction | None, Fraction | None]:
    """The (w, h) box the spec asks for in this image's orientation, ``p`` applied."""
    box_w: int | None
    box_h: int | None
    if spec.w is not None or spec.h is not None:
        box_w, box_h = spec.w, spec.h
    elif width >= height:
        box_w, box_h = spec.l, spec.s
    else:
        box_w, box_h = spec.s, spec.l
    pct = Fraction(spec.p if spec.p is not None else 100, 100)
    return (
        None if box_w is None else box_w * pct,
        None if box_h is None else box_h * pct,
    )


def target_geometry(width: int, height: int, spec: ResizeSpec) -> Geometry:
    """Compute the output geometry for a ``width`` x ``height`` source (EXIF orientation applied).

    Pure arithmetic following the module docstring's semantics. Guarantees: every size is
    >= 1; for ``fill`` the scaled image covers the canvas, for ``pad`` it fits inside it;
    with ``spec.limit`` the scaled size never exceeds the source in either dimension.
    Raises ValueError for a source side < 1, and :class:`ProcessParameterError` if the
    result would exceed :data:`MAX_OUTPUT_SIDE` / :data:`MAX_OUTPUT_PIXELS` while being
    larger than the source.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    box_w, box_h = _requested_box(width, height, spec)
    if box_w is None and box_h is None:  # p only
        scale = Fraction(spec.p if spec.p is not None else 100, 100)
        scaled = canvas = (_round(width * scale), _round(height * scale))
    elif box_w is None or box_h is None:  # one side: proportional, whatever the mode
        scale = box_w / width if box_w is not None else cast(Fraction, box_h) / height
        scaled = canvas = (_round(width * scale), _round(height * scale))
    elif spec.mode == "fixed":
        scaled = canvas = (_round(box_w), _round(box_h))
    else:
        ratios = (box_w / width, box_h / height)
        scale = min(ratios) if spec.mode in ("lfit", "pad") else max(ratios)
        scaled = (_round(width * scale), _round(height * scale))
        canvas = (_round(box_w), _round(box_h)) if spec.mode in ("fill", "pad") else scaled

    if spec.limit and (scaled[0] > width or scaled[1] > height):
        return Geometry(width, height, width, height, unchanged=True)
    for w, h in (scaled, canvas):
        if max(w, h) > max(MAX_OUTPUT_SIDE, width, height) or w * h > max(MAX_OUTPUT_PIXELS, width * height):
            raise ProcessParameterError(
                f"resizing {width}x{height} gives {w}x{h}, over the limit of {MAX_OUTPUT_SIDE} px "
                f"per side and {MAX_OUTPUT_PIXELS} px in all"
            )
    return Geometry(
        width=canvas[0],
        height=canvas[1],
        scaled_width=scaled[0],
        scaled_height=scaled[1],
        offset_x=_centre(canvas[0], scaled[0]),
        offset_y=_centre(canvas[1], scaled[1]),
        unchanged=scaled == canvas == (width, height),
    )


# -- decoding ---------------------------------------------------------------------------------


def _open(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    """Open ``data`` lazily (header only) and enforce the pixel cap before any pixel is decoded."""
    if max_pixels < 1:
        raise ValueError("max_pixels must be positive")
    if not data:
        raise ImageDecodeError("empty image data")
    Image.init()  # registers the optional plugins, so the format filter below is accurate
    formats = tuple(f for f in _FORMATS if f in Image.OPEN)
    try:
        # Pillow warns past Image.MAX_IMAGE_PIXELS; our own cap below replaces that warning,
        # so it must neither escape nor (under warnings-as-errors) abort the open. Pillow's
        # hard limit (DecompressionBombError) still applies and is converted below.
        # catch_warnings swaps the process-wide filter list (not thread-safe before 3.14);
        # the worst a race can do is leave this one "ignore" filter installed, which is harmless.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                img = Image.open(io.BytesIO(data), formats=formats)
            except UnidentifiedImageError:
                if not (data.startswith(_JPEG_START) and b"\xff\xda" not in data):
                    raise
                img = Image.open(io.BytesIO(data + _EMPTY_START_OF_SCAN), formats=formats)
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image has too many pixels: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("not an image in a supported format (JPEG, PNG, GIF, BMP, WebP)") from exc
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(f"image header is corrupt: {exc}") from exc
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageDecodeError(f"image declares an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageDecodeError(f"image is {width}x{height}, more than the limit of {max_pixels} pixels")
    return img


def _orientation(img: Image.Image) -> int:
    """EXIF orientation (1..8) as found in the header, without decoding pixels.

    ``Image.Image.getexif`` (not a subclass override, which may decode the whole PNG) reads
    only what the header gave: a JPEG's APP1, a WebP's EXIF chunk, a PNG eXIf chunk placed
    before the pixel data, or XMP ``tiff:Orientation``. One source of truth keeps
    :func:`image_size` and :func:`resize_image` consistent.
    """
    try:
        value = Image.Image.getexif(img).get(_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1  # unreadable metadata is not worth refusing the image for
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _swaps_sides(orientation: int) -> bool:
    return orientation in (5, 6, 7, 8)


def _oriented_size(img: Image.Image, orientation: int) -> tuple[int, int]:
    width, height = img.size
    return (height, width) if _swaps_sides(orientation) else (width, height)


def _decode(img: ImageFile.ImageFile, orientation: int, target: tuple[int, int] | None) -> Image.Image:
    """Decode pixels (at reduced JPEG scale when ``target`` allows) and apply the orientation."""
    try:
        if target is not None and img.format == "JPEG":
            raw_target = (target[1], target[0]) if _swaps_sides(orientation) else target
            # Keep the colour mode; only ask libjpeg for a 1/2, 1/4 or 1/8 DCT scale that
            # still yields at least raw_target.
            img.draft(None, raw_target)
        img.load()
        if orientation in _TRANSPOSE:
            return img.transpose(_TRANSPOSE[orientation])
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image has too many pixels: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(f"image data is truncated or corrupt: {exc}") from exc
    return img


def image_size(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` as displayed (EXIF orientation applied), read from the header only.

    Raises :class:`ImageDecodeError` when the format is not one LabelArts decodes or the
    image has more than ``max_pixels`` pixels. Corrupt pixel data is not detected here.
    """
    img, size = open_image(data, max_pixels=max_pixels)
    with img:
        return size


def open_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[ImageFile.ImageFile, tuple[int, int]]:
    """The image opened lazily (header only, the pixel cap enforced) and its size as displayed
    (what :func:`image_size` answers), for a caller that then decodes or verifies the pixels of
    the same open image instead of opening it twice. The caller closes it.

    Raises :class:`ImageDecodeError` like :func:`image_size`.
    """
    img = _open(data, max_pixels)
    try:
        return img, _oriented_size(img, _orientation(img))
    except BaseException:
        img.close()
        raise


def decode_for_target(
    data: bytes, target: tuple[int, int] | None = None, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode ``data`` upright (EXIF orientation applied), no smaller than ``target`` if given.

    For a JPEG, JPEG draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale when the
    result still covers ``target`` (displayed orientation) in both dimensions, so the
    returned image may be smaller than the source; other formats decode at full size.
    Raises :class:`ImageDecodeError` for anything that cannot be fully decoded, and for
    more than ``max_pixels`` pixels (checked on the header, before decoding).
    """
    img = _open(data, max_pixels)
    return _decode(img, _orientation(img), target)


# -- rendering --------------------------------------------------------------------------------


def resize_image(
    data: bytes, spec: ResizeSpec, *, max_pixels: int = DEFAULT_MAX_PIXELS, quality: int = 85
) -> tuple[bytes, str]:
    """Apply ``spec`` to the encoded image ``data``; return ``(encoded bytes, content type)``.

    JPEGs are decoded in draft mode at the smallest DCT scale (1/2, 1/4, 1/8) that keeps at
    least twice the scaled size, then resized with LANCZOS. The output is upright (EXIF
    orientation applied, no metadata kept) and has exactly the canvas size that
    :func:`target_geometry` gives for the displayed source size. It is PNG when the result
    has any transparent pixel, otherwise JPEG at ``quality``. When the geometry leaves the
    image unchanged and the source is an upright JPEG or PNG, the source bytes are returned
    as they are (after a full decode, which validates them).

    Raises :class:`ImageDecodeError` for undecodable, truncated or corrupt data and for more
    than ``max_pixels`` pixels (checked before decoding), :class:`ProcessParameterError` when
    the result would be too large (see :func:`target_geometry`), and ValueError for a
    ``quality`` outside 1..100.
    """
    if not 1 <= quality <= 100:
        raise ValueError("quality must be between 1 and 100")
    with _open(data, max_pixels) as img:
        orientation = _orientation(img)
        geometry = target_geometry(*_oriented_size(img, orientation), spec)
        draft = None
        if not geometry.unchanged:
            # Like Image.thumbnail: let libjpeg shrink only to twice the final size, so the
            # LANCZOS pass still has pixels to filter (a bare 1/8 DCT scale is a box filter).
            draft = (geometry.scaled_width * _DRAFT_GAP, geometry.scaled_height * _DRAFT_GAP)
        decoded = _decode(img, orientation, draft)
        if geometry.unchanged and orientation == 1 and img.format in _MIME:
            return data, _MIME[img.format]
        return _encode(_render(decoded, geometry, spec.color), quality)


def _render(img: Image.Image, geometry: Geometry, color: tuple[int, int, int]) -> Image.Image:
    if img.mode in ("I", "I;16", "I;16B", "I;16L"):
        # 16-bit greyscale (a PNG's 16-bit grey opens as I;16 or I): convert() would clip to
        # 255, so map 0..65535 onto 0..255 first.
        img = img.convert("I").point(lambda v: v / 257).convert("L")
    img = img.convert("RGBA" if img.has_transparency_data else "RGB")
    if img.size != geometry.scaled_size:
        img = img.resize(geometry.scaled_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if img.size == geometry.size:
        return img
    if img.width >= geometry.width and img.height >= geometry.height:  # fill: centred crop
        left, top = -geometry.offset_x, -geometry.offset_y
        return img.crop((left, top, left + geometry.width, top + geometry.height))
    fill = color if img.mode == "RGB" else (*color, 255)
    canvas = Image.new(img.mode, geometry.size, fill)
    canvas.paste(img, (geometry.offset_x, geometry.offset_y))
    return canvas


def _encode(img: Image.Image, quality: int) -> tuple[bytes, str]:
    if img.mode == "RGBA" and img.getchannel("A").getextrema()[0] == 255:
        img = img.convert("RGB")  # an alpha channel with nothing transparent: JPEG will do
    buffer = io.BytesIO()
    if img.mode == "RGBA":
        img.save(buffer, "PNG")
        return buffer.getvalue(), "image/png"
    img.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue(), "image/jpeg"
