"""Auto-labeling test helpers: generated, separable data and task polling.

The data are made so that a pretrained encoder separates the classes with certainty (reddish
vs bluish textured pictures; sentences about two distinct topics; low vs high tones), so the
tests can check every auto label sample by sample.
"""

from __future__ import annotations

import base64
import io
import math
import struct
import time
import wave
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from tests.conftest import Tenant

FINAL_STATUSES = (2, 3, 5)


def picture(kind: str, seed: int, size: int = 64) -> bytes:
    """A JPEG: "red" = warm noisy blobs, "blue" = cool noisy stripes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    if kind == "red":
        base = np.stack([0.85 + 0 * xx, 0.25 + 0.2 * np.sin(9 * xx * yy), 0.15 + 0 * xx], axis=-1)
    else:
        base = np.stack([0.1 + 0 * xx, 0.35 + 0.25 * np.sin(14 * yy), 0.9 + 0 * xx], axis=-1)
    pixels = np.clip(base + rng.normal(0, 0.06, base.shape), 0, 1)
    out = io.BytesIO()
    Image.fromarray((pixels * 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


_TOPICS = {
    "sport": [
        "The striker scored twice in the final match",
        "The team won the championship game",
        "Our goalkeeper saved a penalty in overtime",
        "The tennis player won the tournament",
        "Fans cheered as the runner broke the record",
        "The coach praised the defence after the match",
        "The basketball team lost in the last second",
        "She won gold in the swimming final",
        "The football club signed a new midfielder",
        "The cyclist won the mountain stage",
    ],
    "cooking": [
        "Whisk the eggs with sugar and butter",
        "Bake the bread in a hot oven for an hour",
        "Chop the onions and fry them in olive oil",
        "Season the soup with salt and pepper",
        "Simmer the tomato sauce with garlic and basil",
        "Knead the dough until it is smooth",
        "Roast the vegetables with rosemary",
        "Stir the rice until it absorbs the broth",
        "Melt the chocolate and fold in the cream",
        "Grill the fish with lemon and herbs",
    ],
}


def sentence(kind: str, index: int) -> bytes:
    return _TOPICS[kind][index % len(_TOPICS[kind])].encode()


def tone(kind: str, seed: int, rate: int = 16000) -> bytes:
    """A 16-bit mono WAV: "low" = 220-300 Hz hum, "high" = 2-3 kHz whistle, with noise."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(220, 300) if kind == "low" else rng.uniform(2000, 3000)
    t = np.arange(int(rate * 1.0)) / rate
    signal = 0.5 * np.sin(2 * math.pi * freq * t) + rng.normal(0, 0.02, t.size)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(struct.pack(f"<{t.size}h", *(np.clip(signal, -1, 1) * 32000).astype(int)))
    return out.getvalue()


def upload(tenant: Tenant, dataset_id: str, items: Sequence[tuple[str, bytes, str | None]]) -> list[str]:
    """Add (name, data, label or None) samples through the API; return their ids."""
    ids: list[str] = []
    for start in range(0, len(items), 50):
        batch = items[start : start + 50]
        body = {
            "samples": [
                {
                    "name": name,
                    "data": base64.b64encode(data).decode(),
                    **({"labels": [{"name": label, "type": 0}]} if label else {}),
                }
                for name, data, label in batch
            ]
        }
        response = tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples"), json=body)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert all(r["success"] for r in results), results
        ids.extend(r["info"] for r in results)
    return ids


def start_task(tenant: Tenant, dataset_id: str, **config: Any) -> str:
    response = tenant.aksk.post(
        tenant.v2(f"/datasets/{dataset_id}/tasks"), json={"task_type": "auto-label", "config": config}
    )
    assert response.status_code == 200, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def wait_for_task(tenant: Tenant, dataset_id: str, task_id: str, timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/tasks/{task_id}"))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in FINAL_STATUSES:
            return body
        assert body["status"] in (-1, 1, 4), body
        assert time.monotonic() < deadline, f"task still at status {body['status']}: {body}"
        time.sleep(0.1)
