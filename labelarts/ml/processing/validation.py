"""MetaValidation (``sys_data_validation``): repair what can be repaired, drop what cannot.

Images (the guide's table, processing.md §3.1):

* decoded fully with Pillow; undecodable, truncated, empty, or over
  :data:`~labelarts.ml.processing.images.DEFAULT_MAX_PIXELS` pixels -> deleted (2);
* EXIF orientation applied to the pixels;
* colour modes other than RGB (L, LA, P, CMYK, I;16, RGBA, ...) -> RGB (transparency onto white);
* formats other than JPEG, PNG and BMP -> JPEG (quality 95);
* a wrong extension -> the real one;
* wider than ``image_max_width`` or taller than ``image_max_height`` -> scaled down
  proportionally to fit both (boxes scaled alike).

Boxes (detection): the §3.1 rules of :func:`~labelarts.ml.processing.images.apply_box_rules`.
An image left without boxes is kept, unlabeled.

Any change makes the sample modified (1) and adds ``_checked`` before the extension; an
untouched sample is unmodified (0) with the description ``("MetaValidation: ok",)``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from labelarts.ml.processing import images
from labelarts.ml.processing.base import (
    DELETED,
    MODIFIED,
    UNMODIFIED,
    ProcessingInput,
    ProcessingOutcome,
)
from labelarts.ml.processing.params import CommonParams, common_fields, parse_int

__all__ = ["MetaValidation", "MetaValidationParams"]

MAX_SIDE_LIMIT = 100_000
_NAME = "MetaValidation"


@dataclass(frozen=True, kw_only=True)
class MetaValidationParams(CommonParams):
    image_max_width: int = -1
    """-1: no limit."""
    image_max_height: int = -1


class MetaValidation:
    name = _NAME
    kind: Literal["sample"] = "sample"

    def parse_params(self, raw: Mapping[str, object]) -> MetaValidationParams:
        return MetaValidationParams(
            **common_fields(raw),
            image_max_width=parse_int(raw, "image_max_width", -1, low=1, high=MAX_SIDE_LIMIT, also=(-1,)),
            image_max_height=parse_int(raw, "image_max_height", -1, low=1, high=MAX_SIDE_LIMIT, also=(-1,)),
        )

    def process(self, item: ProcessingInput, params: object, rng: np.random.Generator) -> ProcessingOutcome:
        assert isinstance(params, MetaValidationParams)
        return validate(item, params)


def _line(text: str) -> str:
    return f"{_NAME}: {text}"


def validate(item: ProcessingInput, params: MetaValidationParams) -> ProcessingOutcome:
    """MetaValidation of one sample (see the module docstring)."""
    try:
        decoded = images.decode(item.data)
    except images.ImageDecodeError as exc:
        return ProcessingOutcome(item.sample_id, DELETED, (_line(f"deleted: {exc}"),))
    lines: list[str] = []
    image = decoded.image
    pixels_changed = False
    if decoded.orientation != 1:
        image = images.oriented(decoded)
        lines.append(f"applied EXIF orientation {decoded.orientation}")
        pixels_changed = True
    if image.mode != "RGB":
        lines.append(f"converted {image.mode} to RGB")
        image = images.to_rgb(image)
        pixels_changed = True
    fmt = images.output_format(decoded.format)
    if fmt != decoded.format:
        lines.append(f"converted {decoded.format} to JPEG")
        pixels_changed = True
    width, height = image.size
    boxes = item.boxes
    new_size = _fitted_size(width, height, params.image_max_width, params.image_max_height)
    if new_size != (width, height):
        image = image.resize(new_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        lines.append(f"resized {width}x{height} -> {new_size[0]}x{new_size[1]}")
        boxes = images.scale_boxes(boxes, new_size[0] / width, new_size[1] / height)
        pixels_changed = True
    kept, box_lines = images.apply_box_rules(boxes, *new_size)
    lines.extend(box_lines)
    if item.boxes and not kept:
        lines.append("no boxes left; kept unlabeled")
    ext = images.extension_for(fmt)
    name_changed = not images.extension_matches(item.name, fmt)
    if name_changed and fmt == decoded.format:
        suffix = _suffix(item.name)
        lines.append(
            f"renamed: the file is {decoded.format}, "
            + (f"not {suffix}" if suffix else "without an extension")
        )
    if not lines:
        return ProcessingOutcome(item.sample_id, UNMODIFIED, (_line("ok"),))
    if not name_changed:
        ext = _suffix(item.name)  # keep .jpeg as .jpeg
    data = item.data
    if pixels_changed:
        icc = decoded.image.info.get("icc_profile") if decoded.image.mode == "RGB" else None
        data = _encode(image, fmt, icc)
    return ProcessingOutcome(
        item.sample_id,
        MODIFIED,
        tuple(_line(text) for text in lines),
        name=images.suffixed_name(item.name, "_checked", ext),
        data=data,
        labels=item.labels,
        boxes=kept,
    )


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot > name.rfind("/") and dot != -1 else ""


def _fitted_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest proportional size within the limits (-1: none); never enlarged."""
    scale = 1.0
    if max_width > 0 and width > max_width:
        scale = min(scale, max_width / width)
    if max_height > 0 and height > max_height:
        scale = min(scale, max_height / height)
    if scale >= 1.0:
        return width, height
    new_width = min(max(1, round(width * scale)), max_width if max_width > 0 else width)
    new_height = min(max(1, round(height * scale)), max_height if max_height > 0 else height)
    return new_width, new_height


def _encode(image: Image.Image, fmt: str, icc: object) -> bytes:
    if isinstance(icc, bytes) and fmt in ("JPEG", "PNG"):
        buffer = io.BytesIO()
        if fmt == "JPEG":
            image.save(buffer, "JPEG", quality=images.JPEG_QUALITY, icc_profile=icc)
        else:
            image.save(buffer, "PNG", icc_profile=icc)
        return buffer.getvalue()
    return images.encode(image, fmt)
