"""Helpers of the version tests: publish and wait, read a version's samples and manifest."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from tests.api import World, unique_name
from tests.imports import create, jpeg, run_import, write

TIMEOUT = 60.0
_seeds = itertools.count(1)


def classes(world: World, counts: dict[str, int], unlabeled: int = 0) -> str:
    """A new image-classification dataset imported from class folders (``counts[name]``
    pictures of each class) and ``unlabeled`` pictures at the root; its id."""
    root = world.imports / unique_name("v")
    files: dict[str, bytes | str] = {
        f"{name}/{name}{i}.jpg": jpeg(next(_seeds)) for name, n in counts.items() for i in range(n)
    }
    files.update({f"u{i}.jpg": jpeg(next(_seeds)) for i in range(unlabeled)})
    write(root, files)
    dataset_id = create(world, 0)
    run_import(world, dataset_id, root)
    return dataset_id


def publish(world: World, dataset_id: str, **body: Any) -> str:
    """POST a version and return its id (201)."""
    response = world.alice.aksk.post(world.alice.v2(f"/datasets/{dataset_id}/versions"), json=body)
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"version_id"}
    version_id: str = response.json()["version_id"]
    return version_id


def wait_version(world: World, dataset_id: str, version_id: str) -> dict[str, Any]:
    """GET the version until it is no longer creating (status 0); return its body."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        response = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/versions/{version_id}"))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] != 0:
            return body
        assert time.monotonic() < deadline, "version still creating"
        time.sleep(0.05)


def published(world: World, dataset_id: str, **body: Any) -> dict[str, Any]:
    """Publish, wait, check the version is normal (1); return its detail."""
    version = wait_version(world, dataset_id, publish(world, dataset_id, **body))
    assert version["status"] == 1, version
    return version


def manifest_lines(world: World, dataset_id: str, version_id: str) -> list[dict[str, Any]]:
    response = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/versions/{version_id}/manifest"))
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def all_samples(world: World, dataset_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every sample of the list (all pages), optionally of a version (``version_id=``)."""
    samples: list[dict[str, Any]] = []
    page = 0
    while True:
        response = world.alice.aksk.get(
            world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
            params={"limit": 100, "offset": page, **params},
        )
        assert response.status_code == 200, response.text
        batch = response.json()["samples"]
        samples += batch
        if len(batch) < 100:
            return samples
        page += 1


def label_view(samples: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """sample name -> its labels as (name, type, score, annotated_by, property), sorted."""
    return {
        s["sample_name"]: sorted(
            (
                x["name"],
                x["type"],
                x.get("score"),
                x["annotated_by"],
                json.dumps(x["property"], sort_keys=True),
            )
            for x in s["labels"]
        )
        for s in samples
    }
