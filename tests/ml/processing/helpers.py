"""Small images and inputs for the processing tests."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

from labelarts.ml.processing import Box, ProcessingInput


def encoded(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def gradient(width: int = 32, height: int = 24) -> Image.Image:
    """Red rises left to right, green top to bottom, blue 60."""
    xs = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    ys = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([xs, ys, np.full_like(xs, 60)], axis=2).astype(np.uint8))


def item(
    data: bytes,
    name: str = "sample.png",
    *,
    sample_id: str = "s1",
    boxes: tuple[Box, ...] = (),
    labels: tuple[str, ...] = (),
    labeled: bool = False,
    sample_time: int = 0,
) -> ProcessingInput:
    return ProcessingInput(
        sample_id=sample_id,
        name=name,
        data=data,
        labels=labels,
        boxes=boxes,
        sha256=hashlib.sha256(data).hexdigest(),
        labeled=labeled,
        sample_time=sample_time,
    )


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
