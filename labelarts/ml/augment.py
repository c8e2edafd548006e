"""Deterministic image perturbations behind hard-example reasons 19-29.

A sample is a hard example for reason ``code`` when the model's prediction for ``AUGMENTATIONS[code](image)``
differs from its prediction for ``image``. Every perturbation is deterministic (no random parameters),
keeps the image size, and returns the input's mode for ``RGB`` and ``L`` images (other modes are converted to
``RGB`` first). Sizes that depend on the image are scaled from a 224-pixel reference, the feature extractor's
input size. Pillow and NumPy only; the superpixel filter is a small SLIC-like k-means (scikit-image is not a
dependency).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter, ImageOps

__all__ = ["AUGMENTATIONS", "AUGMENTATION_DESCRIPTIONS", "AUGMENTATION_NAMES"]

_REFERENCE_SIDE = 224.0
BLUR_RADIUS = 2.0  # Gaussian sigma at 224 px
CROP_FRACTION = 0.8
SCALE_FACTOR = 0.75
TRANSLATE_FRACTION = 0.1
SHEAR = 0.2
SUPERPIXEL_SEGMENTS = 64
SUPERPIXEL_WORK_SIDE = 48
SUPERPIXEL_ITERATIONS = 5
SUPERPIXEL_COMPACTNESS = 20.0
SHARPEN_RADIUS = 2.0  # unsharp-mask radius at 224 px
SHARPEN_PERCENT = 150
SHARPEN_THRESHOLD = 3
ADD_VALUE = 40


def _prepare(image: Image.Image) -> Image.Image:
    return image if image.mode in ("RGB", "L") else image.convert("RGB")


def _scaled(value: float, image: Image.Image) -> float:
    return value * max(image.size) / _REFERENCE_SIDE


def _from_array(array: NDArray[Any]) -> Image.Image:
    """An ``L`` (2-D) or ``RGB`` (h, w, 3) image from values rounded and clipped to [0, 255]."""
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))


def _edge_pad(image: Image.Image, top: int, bottom: int, left: int, right: int) -> NDArray[np.uint8]:
    """The image as an array padded by repeating its border pixels."""
    arr = np.asarray(image)
    widths: list[tuple[int, int]] = [(top, bottom), (left, right)]
    if arr.ndim == 3:
        widths.append((0, 0))
    return np.pad(arr, widths, mode="edge")


def gaussian_blur(image: Image.Image) -> Image.Image:
    """Gaussian blur with sigma 2 px at 224 px, scaled with the longer side (reason 19)."""
    image = _prepare(image)
    return image.filter(ImageFilter.GaussianBlur(radius=_scaled(BLUR_RADIUS, image)))


def flip_lr(image: Image.Image) -> Image.Image:
    """Mirror left-right (reason 20)."""
    return ImageOps.mirror(_prepare(image))


def center_crop(image: Image.Image) -> Image.Image:
    """Keep the central 80% of width and height, resized back to the original size (reason 21)."""
    image = _prepare(image)
    w, h = image.size
    cw, ch = max(1, round(w * CROP_FRACTION)), max(1, round(h * CROP_FRACTION))
    left, top = (w - cw) // 2, (h - ch) // 2
    box = (left, top, left + cw, top + ch)
    return image.resize((w, h), Image.Resampling.BILINEAR, box=box)


def flip_ud(image: Image.Image) -> Image.Image:
    """Flip upside down (reason 22)."""
    return ImageOps.flip(_prepare(image))


def scale(image: Image.Image) -> Image.Image:
    """Shrink to 75% and pad back to the original size, centred, repeating the border pixels (reason 23)."""
    image = _prepare(image)
    w, h = image.size
    sw, sh = max(1, round(w * SCALE_FACTOR)), max(1, round(h * SCALE_FACTOR))
    small = image.resize((sw, sh), Image.Resampling.BILINEAR)
    left, top = (w - sw) // 2, (h - sh) // 2
    return _from_array(_edge_pad(small, top, h - sh - top, left, w - sw - left))


def translate(image: Image.Image) -> Image.Image:
    """Shift right and down by 10% of width and height, filling with the border pixels (reason 24)."""
    image = _prepare(image)
    w, h = image.size
    dx, dy = round(w * TRANSLATE_FRACTION), round(h * TRANSLATE_FRACTION)
    padded = _edge_pad(image, dy, 0, dx, 0)
    return _from_array(padded[:h, :w])


def shear(image: Image.Image) -> Image.Image:
    """Horizontal shear ``x_in = x + 0.2 (y - h/2)`` about the centre, border pixels fill (reason 25)."""
    image = _prepare(image)
    w, h = image.size
    margin = math.ceil(SHEAR * h / 2) + 2
    padded = Image.fromarray(_edge_pad(image, 0, 0, margin, margin))
    # Image.transform maps output to input coordinates: x_in = x + SHEAR * y - SHEAR * h / 2.
    sheared = padded.transform(
        padded.size,
        Image.Transform.AFFINE,
        (1.0, SHEAR, -SHEAR * h / 2.0, 0.0, 1.0, 0.0),
        resample=Image.Resampling.BILINEAR,
    )
    return sheared.crop((margin, 0, margin + w, h))


def _superpixel_labels(work: NDArray[np.float64]) -> NDArray[np.intp]:
    """SLIC-like labels of a small (h, w, c) image: k-means on (colour, y, x) seeded on a regular grid.

    As in SLIC, a pixel may only join a centre within two grid steps of it, which keeps segments local.
    """
    h, w, _ = work.shape
    grid = max(1, round(math.sqrt(SUPERPIXEL_SEGMENTS)))
    gy, gx = min(grid, h), min(grid, w)
    step = math.sqrt(h * w / (gy * gx))
    ys, xs = np.mgrid[0:h, 0:w]
    colours = work.reshape(h * w, -1)
    positions = np.stack([ys.ravel(), xs.ravel()], axis=1).astype(np.float64)
    cy = ((np.arange(gy) + 0.5) * h / gy).astype(int)
    cx = ((np.arange(gx) + 0.5) * w / gx).astype(int)
    seeds = (cy[:, None] * w + cx[None, :]).ravel()
    centre_colours, centre_positions = colours[seeds].copy(), positions[seeds].copy()
    # One grid step of distance costs as much as SUPERPIXEL_COMPACTNESS colour units (0-255 scale).
    spatial_weight2 = (SUPERPIXEL_COMPACTNESS / step) ** 2
    k = len(seeds)
    labels = np.zeros(h * w, dtype=np.intp)
    for _ in range(SUPERPIXEL_ITERATIONS):
        colour_d2 = (
            (colours**2).sum(1)[:, None]
            - 2.0 * colours @ centre_colours.T
            + (centre_colours**2).sum(1)[None, :]
        )
        spatial_d2 = ((positions[:, None, :] - centre_positions[None, :, :]) ** 2).sum(2)
        d2 = colour_d2 + spatial_weight2 * spatial_d2
        d2[spatial_d2 > (2.0 * step) ** 2] = np.inf
        labels = np.argmin(d2, axis=1)
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        nonempty = counts > 0
        for values, centres in ((colours, centre_colours), (positions, centre_positions)):
            sums = np.stack(
                [np.bincount(labels, weights=values[:, j], minlength=k) for j in range(values.shape[1])],
                axis=1,
            )
            centres[nonempty] = sums[nonempty] / counts[nonempty, None]
    return labels.reshape(h, w)


def superpixels(image: Image.Image) -> Image.Image:
    """Replace every pixel by the mean colour of its superpixel, about 64 segments (reason 26).

    The segments come from a SLIC-like k-means (5 iterations on colour and position, seeded on an 8x8 grid)
    run on a copy whose longer side is 48 px; the label map is scaled back with nearest-neighbour sampling
    and the mean colours are taken over the full-size image.
    """
    image = _prepare(image)
    w, h = image.size
    factor = min(1.0, SUPERPIXEL_WORK_SIDE / max(w, h))
    small = image.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BILINEAR)
    work = np.asarray(small, dtype=np.float64)
    if work.ndim == 2:
        work = work[..., None]
    labels_small = _superpixel_labels(work)
    label_image = Image.fromarray(labels_small.astype(np.int32))
    labels = np.asarray(label_image.resize((w, h), Image.Resampling.NEAREST), dtype=np.intp).ravel()
    full = np.asarray(image, dtype=np.float64)
    flat = full.reshape(h * w, -1)
    n = int(labels.max()) + 1
    counts = np.maximum(np.bincount(labels, minlength=n), 1).astype(np.float64)
    sums = np.stack(
        [np.bincount(labels, weights=flat[:, j], minlength=n) for j in range(flat.shape[1])], axis=1
    ).astype(np.float64)
    out = (sums / counts[:, None])[labels].reshape(full.shape)
    return _from_array(out)


def sharpen(image: Image.Image) -> Image.Image:
    """Unsharp mask: radius 2 px at 224 px (scaled), 150%, threshold 3 (reason 27)."""
    image = _prepare(image)
    return image.filter(
        ImageFilter.UnsharpMask(
            radius=_scaled(SHARPEN_RADIUS, image), percent=SHARPEN_PERCENT, threshold=SHARPEN_THRESHOLD
        )
    )


def add(image: Image.Image) -> Image.Image:
    """Add 40 to every channel value, clipped to 255 (reason 28)."""
    image = _prepare(image)
    return _from_array(np.asarray(image, dtype=np.int16) + ADD_VALUE)


def invert(image: Image.Image) -> Image.Image:
    """Invert every channel: ``255 - value`` (reason 29)."""
    return ImageOps.invert(_prepare(image))


AUGMENTATIONS: dict[int, Callable[[Image.Image], Image.Image]] = {
    19: gaussian_blur,
    20: flip_lr,
    21: center_crop,
    22: flip_ud,
    23: scale,
    24: translate,
    25: shear,
    26: superpixels,
    27: sharpen,
    28: add,
    29: invert,
}
"""Reason code -> deterministic perturbation, as in the ModelArts ``hard_reasons`` table."""

AUGMENTATION_NAMES: dict[int, str] = {
    19: "GaussianBlur",
    20: "fliplr",
    21: "Crop",
    22: "flipud",
    23: "scale",
    24: "translate",
    25: "shear",
    26: "superpixels",
    27: "sharpen",
    28: "add",
    29: "invert",
}
"""Reason code -> the perturbation's name in the ModelArts ``hard_reasons`` table."""

AUGMENTATION_DESCRIPTIONS: dict[int, str] = {
    19: "Gaussian blur, sigma 2 px at 224 px",
    20: "mirrored left-right",
    21: "central 80% crop, resized back",
    22: "flipped upside down",
    23: "shrunk to 75% and padded back with border pixels",
    24: "shifted right and down by 10% of the size",
    25: "horizontal shear of 0.2",
    26: "about 64 superpixels, each filled with its mean colour",
    27: "unsharp mask, radius 2 px at 224 px, 150%, threshold 3",
    28: "40 added to every channel, clipped at 255",
    29: "colours inverted (255 - value)",
}
"""Reason code -> what the perturbation does, in words (shown in ``hard_details``)."""
