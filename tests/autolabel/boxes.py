"""Generated object-detection images: rectangles of distinct colours on noise, with their boxes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 70, 230)}
SIZE = (112, 96)


def box_image(seed: int, names: list[str]) -> tuple[bytes, list[tuple[str, list[float]]]]:
    """A PNG of grey noise with one filled rectangle per name (18-30 px sides, not overlapping),
    and the true ``(name, [x1, y1, x2, y2])`` boxes."""
    rng = np.random.default_rng(seed)
    width, height = SIZE
    pixels = rng.normal(128, 30, (height, width, 3))
    boxes: list[tuple[str, list[float]]] = []
    for name in names:
        for _ in range(200):
            w, h = (int(v) for v in rng.integers(18, 31, 2))
            x, y = int(rng.integers(2, width - w - 2)), int(rng.integers(2, height - h - 2))
            candidate = [float(x), float(y), float(x + w), float(y + h)]
            if all(_apart(candidate, other) for _, other in boxes):
                break
        pixels[y : y + h, x : x + w] = np.array(COLOURS[name]) + rng.normal(0, 12, (h, w, 3))
        boxes.append((name, candidate))
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "PNG")
    return out.getvalue(), boxes


def _apart(a: list[float], b: list[float]) -> bool:
    return a[2] + 4 <= b[0] or b[2] + 4 <= a[0] or a[3] + 4 <= b[1] or b[3] + 4 <= a[1]
