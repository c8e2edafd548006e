"""A generated duplicate set (re-encodes, resizes, flips, crops, brightness, unrelated images),
a cheap embedder, and the precision/recall of a de-duplication run. Shared by the tests and
``benchmarks/bench_processing_ops.py``."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from labelarts.ml.processing import DELETED, ProcessingInput, ProcessingOutcome

VARIANTS = ("jpeg", "resize", "flip", "crop", "bright")


def random_picture(rng: np.random.Generator, width: int = 96, height: int = 72) -> Image.Image:
    """A background gradient with a dozen random shapes: unrelated pictures differ everywhere."""
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, width)[None, :, None] * rng.uniform(0.3, 1.0) + np.linspace(0, 1, height)[
        :, None, None
    ] * rng.uniform(0.0, 0.7)
    t = np.clip(t, 0, 1)
    array = (c0[None, None, :] * (1 - t) + c1[None, None, :] * t).astype(np.uint8)
    image = Image.fromarray(array)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.uniform(-10, width), rng.uniform(-10, height)
        x1, y1 = x0 + rng.uniform(8, width / 2), y0 + rng.uniform(8, height / 2)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif shape == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 6)))
    return image


def variant(image: Image.Image, kind: str) -> Image.Image:
    width, height = image.size
    if kind == "resize":
        return image.resize((width * 2 // 3, height * 2 // 3), Image.Resampling.BILINEAR)
    if kind == "flip":
        return ImageOps.mirror(image)
    if kind == "crop":
        dx, dy = width // 20, height // 20  # 5 % off each side
        return image.crop((dx, dy, width - dx, height - dy))
    if kind == "bright":
        return ImageEnhance.Brightness(image).enhance(1.15)
    return image  # "jpeg": the same picture, re-encoded below at another quality


def _encode(image: Image.Image, fmt: str, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, "JPEG", quality=quality)
    else:
        image.save(buffer, fmt)
    return buffer.getvalue()


@dataclass(frozen=True)
class DuplicateSet:
    items: list[ProcessingInput]
    family: dict[str, int]
    """sample id -> id of the original picture it was made from."""


def generate(
    families: int, unrelated: int, seed: int = 0, side: int = 96
) -> Iterator[tuple[ProcessingInput, int]]:
    """Samples and the id of the picture each was made from, one picture at a time: each of
    the first ``families`` pictures comes with an exact copy and one copy per variant kind,
    the ``unrelated`` ones alone."""
    rng = np.random.default_rng(seed)
    count = 0
    for fid in range(families + unrelated):
        picture = random_picture(rng, side, side * 3 // 4)
        original = _encode(picture, "JPEG", 92)
        files = [(original, f"p{fid}.jpg")]
        if fid < families:
            files.append((original, f"p{fid}_copy.jpg"))
            for kind in VARIANTS:
                quality = 60 if kind == "jpeg" else 90
                files.append((_encode(variant(picture, kind), "JPEG", quality), f"p{fid}_{kind}.jpg"))
        for data, name in files:
            sample_id = f"{count:06d}"
            yield (
                ProcessingInput(
                    sample_id, name, data, (), (), hashlib.sha256(data).hexdigest(), False, count
                ),
                fid,
            )
            count += 1


def duplicate_set(families: int, unrelated: int, seed: int = 0, side: int = 96) -> DuplicateSet:
    """:func:`generate`'s samples in a random order."""
    pairs = list(generate(families, unrelated, seed, side))
    order = np.random.default_rng(seed + 1).permutation(len(pairs))
    return DuplicateSet([pairs[i][0] for i in order], {sample.sample_id: fid for sample, fid in pairs})


def tiny_embed(batch: Sequence[ProcessingInput]) -> np.ndarray:
    """A cheap deterministic embedder: the central 80 % at 12x12 grey, mean removed, unit length.

    Stands in for EfficientNet-Lite in tests (no model to load): near-identical framings give
    cosines near 1, unrelated pictures near 0.
    """
    rows = []
    for item in batch:
        try:
            image = Image.open(io.BytesIO(item.data)).convert("L")
        except OSError:
            rows.append(np.full(144, np.nan))
            continue
        width, height = image.size
        box = (width * 0.1, height * 0.1, width * 0.9, height * 0.9)
        small = np.asarray(image.resize((12, 12), Image.Resampling.BOX, box=box), dtype=np.float64).ravel()
        small -= small.mean()
        norm = np.linalg.norm(small)
        rows.append(small / norm if norm > 0 else small)
    return np.array(rows, dtype=np.float32)


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    deleted: int
    expected: int


def score(dataset: DuplicateSet | dict[str, int], outcomes: Iterable[ProcessingOutcome]) -> Score:
    """Precision: deletions whose kept sample is of the same picture. Recall: correct deletions
    over the ideal number (every family member but one)."""
    family = dataset.family if isinstance(dataset, DuplicateSet) else dataset
    deleted = correct = 0
    for outcome in outcomes:
        if outcome.result_property != DELETED:
            continue
        deleted += 1
        kept = outcome.description[0].split("duplicate of ")[1].split(" ")[0]
        correct += family[kept] == family[outcome.sample_id]
    sizes: dict[int, int] = {}
    for fid in family.values():
        sizes[fid] = sizes.get(fid, 0) + 1
    expected = sum(size - 1 for size in sizes.values())
    return Score(
        correct / deleted if deleted else 1.0, correct / expected if expected else 1.0, deleted, expected
    )
