"""Sample edits, pre-signed sources and search conditions, over a real server on loopback.

Helpers shared by the modules here: images made with Pillow, uploads through the API, and
direct inserts of samples whose files live in the object store or in an import root.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import uuid
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from labelarts.clock import now_ms
from labelarts.container import Services
from labelarts.storage.db import counters
from labelarts.storage.db.models import Sample, SampleLabel
from tests.conftest import Tenant

__all__ = [
    "b64",
    "bomb_png",
    "edits_path",
    "image_bytes",
    "insert_sample",
    "stats",
    "upload",
]


def image_bytes(
    width: int = 40, height: int = 30, fmt: str = "JPEG", mode: str = "RGB", seed: int = 0
) -> bytes:
    """A small image with some noise, so that two seeds give different bytes."""
    rng = random.Random(seed)
    img = Image.new(mode, (width, height), (rng.randrange(256),) * len(mode) if mode != "1" else 1)
    for _ in range(20):
        x, y = rng.randrange(width), rng.randrange(height)
        img.putpixel((x, y), (rng.randrange(256),) * len(mode))
    buffer = io.BytesIO()
    img.save(buffer, fmt)
    return buffer.getvalue()


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` grey pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def edits_path(tenant: Tenant, dataset_id: str, suffix: str = "/samples") -> str:
    return tenant.v2(f"/datasets/{dataset_id}/data-annotations{suffix}")


def upload(
    tenant: Tenant, dataset_id: str, samples: Sequence[dict[str, Any]], **extra: Any
) -> httpx.Response:
    return tenant.aksk.post(edits_path(tenant, dataset_id), json={"samples": list(samples), **extra})


def stats(tenant: Tenant, dataset_id: str) -> dict[str, int]:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/stats"))
    assert response.status_code == 200, response.text
    figures = response.json()["sample_stats"]
    return {k: figures[k] for k in ("all", "un_annotation", "manual_annotation", "auto_annotation")}


def insert_sample(
    services: Services,
    dataset_id: str,
    data: bytes | None = None,
    *,
    name: str = "x.jpg",
    local_path: Path | None = None,
    labels: Sequence[str] = (),
    status: str | None = None,
    sample_dir: str = "",
    import_origin: str | None = None,
) -> str:
    """Insert a sample through storage: its file is ``data`` in the object store, or
    ``local_path`` (``source_kind`` "local"). Returns the sample id."""
    sample_id = uuid.uuid4().hex
    if local_path is not None:
        kind, key = "local", str(local_path)
    else:
        kind, key = "object", f"datasets/{dataset_id}/samples/{sample_id}/{name}"
        services.objects.put(key, data or b"")
    with services.db.session() as session:
        session.add(
            Sample(
                id=sample_id,
                dataset_id=dataset_id,
                sample_type=0,
                sample_status=status or ("MANUAL_ANNOTATION" if labels else "UN_ANNOTATION"),
                sample_name=name,
                sample_dir=sample_dir,
                source_kind=kind,
                source_key=key,
                sample_size=len(data or b""),
                sample_time=now_ms(),
                metadata_={},
                hard=False,
                import_origin=import_origin,
            )
        )
        session.flush()
        for label in labels:
            session.add(
                SampleLabel(
                    sample_id=sample_id,
                    dataset_id=dataset_id,
                    name=label,
                    type=0,
                    score=0.9 if status == "AUTO_ANNOTATION" else None,
                    property={},
                    annotated_by="auto" if status == "AUTO_ANNOTATION" else "human",
                )
            )
        counters.count_samples(session, dataset_id, [sample_id])  # the writers' hook
    return sample_id
