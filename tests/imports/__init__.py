"""Import tests over a real server on loopback: generated folders, object-store prefixes and
manifests, read back sample by sample from the database.

Helpers: file makers (Pillow images, ``wave`` WAVs, Pascal VOC XML, manifests), a dataset
maker, ``run_import`` (POST an import task and wait for it), and ``samples_of`` (every sample of
a dataset with its labels, keyed by a readable name).
"""

from __future__ import annotations

import io
import json
import random
import struct
import wave
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from labelarts.storage.db.models import Sample, SampleLabel
from tests.api import World, shared_world, unique_name, wait_for_import

__all__ = [
    "Row",
    "create",
    "image_bytes",
    "jpeg",
    "labels_by_name",
    "manifest_text",
    "png",
    "run_import",
    "samples_of",
    "voc_xml",
    "wav_bytes",
    "world_fixture",
    "write",
]


def world_fixture(name: str) -> Any:
    """A module-scoped ``world`` fixture (one server, two tenants) for a test module."""

    @pytest.fixture(scope="module")
    def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
        with shared_world(tmp_path_factory.mktemp(name)) as w:
            yield w

    return world


# --- files -------------------------------------------------------------------------------


def image_bytes(
    width: int = 24, height: int = 16, fmt: str = "JPEG", *, seed: int = 0, mode: str = "RGB"
) -> bytes:
    """A small image; different seeds give different bytes."""
    rng = random.Random(seed)
    colour = tuple(rng.randrange(256) for _ in mode) if mode not in ("1", "L", "P") else rng.randrange(256)
    img = Image.new(mode, (width, height), colour)
    img.putpixel((rng.randrange(width), rng.randrange(height)), colour)
    buffer = io.BytesIO()
    img.save(buffer, fmt)
    return buffer.getvalue()


def jpeg(seed: int = 0, width: int = 24, height: int = 16) -> bytes:
    return image_bytes(width, height, "JPEG", seed=seed)


def png(seed: int = 0, width: int = 24, height: int = 16, mode: str = "RGB") -> bytes:
    return image_bytes(width, height, "PNG", seed=seed, mode=mode)


def wav_bytes(seed: int = 0, frames: int = 800) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(struct.pack("<h", (i * (seed + 3)) % 2000) for i in range(frames)))
    return buffer.getvalue()


def voc_xml(filename: str, objects: Iterable[dict[str, Any]], size: tuple[int, int] = (24, 16)) -> str:
    """Pascal VOC; each object: name, and bndbox (4-tuple) or polygon (points), plus extras."""
    parts = [
        "<annotation>",
        "<folder>NA</folder>",
        f"<filename>{filename}</filename>",
        f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>",
        "<segmented>0</segmented>",
    ]
    for obj in objects:
        parts.append(f"<object><name>{obj['name']}</name><pose>Unspecified</pose>")
        for key in ("truncated", "difficult", "occluded", "confidence"):
            if key in obj:
                parts.append(f"<{key}>{obj[key]}</{key}>")
        if "bndbox" in obj:
            xmin, ymin, xmax, ymax = obj["bndbox"]
            parts.append(
                f"<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>"
            )
        if "polygon" in obj:
            points = "".join(
                f"<x{i}>{x}</x{i}><y{i}>{y}</y{i}>" for i, (x, y) in enumerate(obj["polygon"], start=1)
            )
            parts.append(f"<polygon>{points}</polygon>")
        parts.append("</object>")
    parts.append("</annotation>")
    return "\n".join(parts)


def manifest_text(lines: Iterable[Any]) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def write(root: Path, files: dict[str, bytes | str]) -> Path:
    """Write ``{relative path: content}`` under ``root``; return ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return root


# --- API ---------------------------------------------------------------------------------


def create(world: World, dataset_type: int = 0, **extra: Any) -> str:
    """An empty dataset of ``alice``; returns its id once its (empty) initial import ended."""
    body: dict[str, Any] = {
        "dataset_name": unique_name(),
        "dataset_type": dataset_type,
        "data_sources": [{"data_type": 0}],
        "work_path": "/out/work/",
        "work_path_type": 0,
    }
    body.update(extra)
    response = world.alice.aksk.post(world.alice.v2("/datasets"), json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    wait_for_import(
        world.alice.aksk,
        world.alice.v2(f"/datasets/{created['dataset_id']}/import-tasks/{created['import_task_id']}"),
    )
    dataset_id: str = created["dataset_id"]
    return dataset_id


def run_import(world: World, dataset_id: str, import_path: str | Path, **body: Any) -> dict[str, Any]:
    """POST an import task, wait for it, check it COMPLETED; return its detail."""
    response = world.alice.aksk.post(
        world.alice.v2(f"/datasets/{dataset_id}/import-tasks"), json={"import_path": str(import_path), **body}
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"task_id"}
    task_id = response.json()["task_id"]
    task = wait_for_import(world.alice.aksk, world.alice.v2(f"/datasets/{dataset_id}/import-tasks/{task_id}"))
    assert task["status"] == "COMPLETED", task
    return task


@dataclass
class Row:
    """A sample as stored, with its labels (sorted by name, then feature)."""

    sample: Sample
    labels: list[SampleLabel]

    @property
    def names(self) -> list[str]:
        return sorted({label.name for label in self.labels})


def samples_of(world: World, dataset_id: str, key: str = "name") -> dict[str, Row]:
    """Every sample of the dataset, keyed by ``sample_name`` (``key="source"``: by source key;
    ``key="text"``: by the text of a text sample)."""
    with world.services.db.session() as session:
        samples = list(session.execute(select(Sample).where(Sample.dataset_id == dataset_id)).scalars())
        labels = list(
            session.execute(
                select(SampleLabel).where(SampleLabel.dataset_id == dataset_id).order_by(SampleLabel.id)
            ).scalars()
        )
    by_sample: dict[str, list[SampleLabel]] = {}
    for label in labels:
        by_sample.setdefault(label.sample_id, []).append(label)
    rows: dict[str, Row] = {}
    for sample in samples:
        if key == "name":
            name = sample.sample_name
        elif key == "source":
            name = sample.source_key
        else:
            name = world.services.objects.get(sample.source_key).decode("utf-8")
        assert name not in rows, f"two samples named {name}"
        rows[name] = Row(sample, by_sample.get(sample.id, []))
    return rows


def labels_by_name(world: World, dataset_id: str) -> dict[str, int]:
    """The dataset's label table: name -> type (through the API)."""
    response = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/data-annotations/labels"))
    assert response.status_code == 200, response.text
    return {label["name"]: label["type"] for label in response.json()["labels"]}
