"""Per-image statistics behind hard-example reasons 5-10.

``image_stats`` returns six numbers per image, in :data:`STAT_NAMES` order. The hard-example
detector compares each one with the labeled images' distribution (see ``docs/hard-examples.md``):

* ``resolution``: ``sqrt(w * h)`` of the original image, in pixels;
* ``aspect_ratio``: ``w / h`` of the original image;
* ``brightness``: mean luma (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B), in [0, 255];
* ``saturation``: mean HSV saturation ``(max - min) / max`` of R, G, B, scaled to [0, 255];
* ``colorfulness``: the Hasler-Suesstrunk metric ``sqrt(sd_rg^2 + sd_yb^2) + 0.3 * sqrt(mu_rg^2 + mu_yb^2)``
  with ``rg = R - G`` and ``yb = (R + G) / 2 - B`` on 0-255 values (0 for grey images, 100+ for vivid ones);
* brightness, saturation and colorfulness are computed on a copy area-averaged by an integer factor so
  that its longer side is at most about :data:`COLOR_SIDE` pixels (speed: they are computed for every image);
* ``sharpness``: variance of the 4-neighbour Laplacian of the grayscale image after resizing it so that its
  longer side is :data:`SHARPNESS_SIDE` pixels (area averaging when shrinking, bilinear when enlarging), so
  that the figure does not depend on the resolution.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["SHARPNESS_SIDE", "STAT_NAMES", "STAT_REASONS", "image_stats", "laplacian_variance"]

STAT_NAMES: tuple[str, ...] = (
    "resolution",
    "aspect_ratio",
    "brightness",
    "saturation",
    "colorfulness",
    "sharpness",
)
STAT_REASONS: dict[str, int] = {
    "resolution": 5,
    "aspect_ratio": 6,
    "brightness": 7,
    "saturation": 8,
    "colorfulness": 9,
    "sharpness": 10,
}
SHARPNESS_SIDE = 128
# Brightness, saturation and colorfulness are computed on an area-averaged copy this small.
COLOR_SIDE = 64


def _rgb_array(image: Image.Image) -> NDArray[np.float64]:
    """The image as float64 (h, w, 3) RGB in [0, 255]; alpha is dropped, palettes are expanded."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.asarray(rgb, dtype=np.float64)


def laplacian_variance(gray: NDArray[np.float64]) -> float:
    """Variance of the 4-neighbour Laplacian over the interior pixels (0 for images under 3x3)."""
    if gray.shape[0] < 3 or gray.shape[1] < 3:
        return 0.0
    lap = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4.0 * gray[1:-1, 1:-1]
    return float(lap.var())


def _sharpness(image: Image.Image) -> float:
    gray = image.convert("L") if image.mode != "L" else image
    w, h = gray.size
    scale = SHARPNESS_SIDE / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size != gray.size:
        # Area averaging when shrinking, so a big copy of a picture scores like the picture itself.
        resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
        gray = gray.resize(size, resample)
    return laplacian_variance(np.asarray(gray, dtype=np.float64))


def _color_sample(image: Image.Image) -> Image.Image:
    """An area-averaged copy at most COLOR_SIDE pixels on its longer side: the four colour
    means barely move, and they cost a twentieth of the time on a 224-pixel image."""
    w, h = image.size
    factor = max(1, max(w, h) // COLOR_SIDE)
    return image.reduce(factor) if factor > 1 else image


def image_stats(image: Image.Image, original_size: tuple[int, int]) -> NDArray[np.float64]:
    """The six statistics of one image, float64 (6,) in :data:`STAT_NAMES` order.

    ``original_size`` is ``(width, height)`` of the stored image: resolution and aspect ratio come from it,
    the other four from ``image`` (which may be a resized copy).
    """
    w, h = original_size
    if w <= 0 or h <= 0:
        raise ValueError(f"original_size must be positive, got {original_size!r}")
    rgb = _rgb_array(_color_sample(image))
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    brightness = float((0.299 * r + 0.587 * g + 0.114 * b).mean())
    cmax = rgb.max(axis=2)
    cmin = rgb.min(axis=2)
    sat = np.divide(cmax - cmin, cmax, out=np.zeros_like(cmax), where=cmax > 0)
    saturation = float(sat.mean() * 255.0)
    rg = r - g
    yb = 0.5 * (r + g) - b
    colorfulness = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    return np.array(
        [
            float(np.sqrt(float(w) * float(h))),
            float(w) / float(h),
            brightness,
            saturation,
            colorfulness,
            _sharpness(image),
        ],
        dtype=np.float64,
    )
