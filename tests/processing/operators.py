"""Operators for the service tests, until the real ones (labelarts/ml/processing) are on main:
they follow the operator interface exactly, with behaviour simple enough to check by hand."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from labelarts.ml.processing.base import Box, ProcessingInput, ProcessingOutcome, ProcessingParameterError


class Validation:
    """Undecodable -> deleted; wider than ``image_max_width`` -> halved (modified); else kept."""

    name = "MetaValidation"
    kind = "sample"

    def parse_params(self, raw: Mapping[str, object]) -> object:
        value = raw.get("image_max_width", -1)
        try:
            return int(str(value))
        except ValueError:
            raise ProcessingParameterError("ModelArts.0104", "image_max_width must be an integer") from None

    def process(self, item: ProcessingInput, params: Any, rng: np.random.Generator) -> ProcessingOutcome:
        try:
            with Image.open(io.BytesIO(item.data)) as image:
                image.load()
                rgb = image.convert("RGB")
        except Exception:
            return ProcessingOutcome(item.sample_id, 2, ("MetaValidation: cannot decode",))
        if params > 0 and rgb.width > params:
            half = rgb.resize((rgb.width // 2, rgb.height // 2))
            out = io.BytesIO()
            half.save(out, "JPEG")
            stem = item.name.rsplit(".", 1)[0]
            boxes = tuple(Box(b.label, b.xmin / 2, b.ymin / 2, b.xmax / 2, b.ymax / 2) for b in item.boxes)
            return ProcessingOutcome(
                item.sample_id,
                1,
                (f"resized {rgb.width}x{rgb.height} -> {half.width}x{half.height}",),
                name=f"{stem}_checked.jpg",
                data=out.getvalue(),
                labels=item.labels,
                boxes=boxes,
            )
        return ProcessingOutcome(item.sample_id, 0, ())


class Dedup:
    """Equal SHA-256 -> duplicates; the first (lowest sample id among them) is kept."""

    name = "SimDeduplication"
    kind = "set"

    def parse_params(self, raw: Mapping[str, object]) -> object:
        value = float(str(raw.get("simlarity_threshold", "0.9")))
        if not 0.0 < value <= 1.0:
            raise ProcessingParameterError("ModelArts.0104", "simlarity_threshold must be in (0, 1]")
        return value

    def select(
        self,
        items: Iterable[ProcessingInput],
        params: Any,
        embed: Callable[[Sequence[ProcessingInput]], np.ndarray],
        rng: np.random.Generator,
    ) -> Iterator[ProcessingOutcome]:
        seen: dict[str, str] = {}
        for item in items:
            first = seen.setdefault(item.sha256, item.sample_id)
            if first == item.sample_id:
                yield ProcessingOutcome(item.sample_id, 0, ())
            else:
                yield ProcessingOutcome(item.sample_id, 2, (f"duplicate of {first} (similarity 1.0)",))


class Flip:
    """A mirrored copy of each sample (added), boxes mirrored with it."""

    name = "Flip"
    kind = "sample"

    def parse_params(self, raw: Mapping[str, object]) -> object:
        if raw.get("lr_ud", "lr") not in ("lr", "ud"):
            raise ProcessingParameterError("ModelArts.0104", "lr_ud must be lr or ud")
        return raw.get("lr_ud", "lr")

    def process(self, item: ProcessingInput, params: Any, rng: np.random.Generator) -> ProcessingOutcome:
        with Image.open(io.BytesIO(item.data)) as image:
            rgb = image.convert("RGB")
        flipped = rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out = io.BytesIO()
        flipped.save(out, "PNG")
        w = rgb.width
        boxes = tuple(Box(b.label, w - b.xmax, b.ymin, w - b.xmin, b.ymax) for b in item.boxes)
        stem = item.name.rsplit(".", 1)[0]
        return ProcessingOutcome(
            item.sample_id,
            3,
            ("Flip: lr",),
            name=f"{stem}_flip.png",
            data=out.getvalue(),
            labels=item.labels,
            boxes=boxes,
        )


class Gate(Validation):
    """Validation that waits at its ``block_at``-th sample until ``release`` is set."""

    def __init__(self, block_at: int) -> None:
        self.block_at = block_at
        self.seen = 0
        self.reached = threading.Event()
        self.release = threading.Event()

    def process(self, item: ProcessingInput, params: Any, rng: np.random.Generator) -> ProcessingOutcome:
        self.seen += 1
        if self.seen == self.block_at:
            self.reached.set()
            assert self.release.wait(30)
        return super().process(item, params, rng)


def lookup(*operators: Any) -> Callable[[str], Any]:
    table = {op.name: op for op in operators}

    def find(name: str) -> Any:
        if name not in table:
            raise ProcessingParameterError("ModelArts.4396", f"Operator {name} is not supported.")
        return table[name]

    return find


FAKES = lookup(Validation(), Dedup(), Flip())
