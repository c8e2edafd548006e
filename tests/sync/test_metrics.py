"""``GET .../metrics``: series that agree with the dataset's statistics after imports, syncs
and label changes; one stored point per hour; bad input is a 4xx; projects stay apart."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from labelarts.client import LabelArtsClient
from labelarts.clock import now_ms
from labelarts.services.monitoring import HOUR_MS, SERIES
from labelarts.storage.db.models import DatasetMetricPoint
from tests.api import World
from tests.cli import run_cli
from tests.conftest import assert_error
from tests.imports import jpeg, samples_of, world_fixture, write
from tests.sync.test_sync import folder_dataset, stats, sync

world = world_fixture("metrics")
FAR = 10**15


def metrics(world: World, dataset_id: str, start: int = 0, end: int = FAR) -> dict[str, dict[str, int]]:
    response = world.alice.aksk.get(
        world.alice.v2(f"/datasets/{dataset_id}/metrics"), params={"start_time": start, "end_time": end}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"metrics"}
    assert set(body["metrics"]) == set(SERIES)
    series: dict[str, dict[str, int]] = body["metrics"]
    return series


def latest(series: dict[str, dict[str, int | float]]) -> dict[str, int | float]:
    return {name: points[max(points, key=int)] for name, points in series.items() if points}


def test_metrics_follow_imports_syncs_and_labels(world: World) -> None:
    dataset_id, root = folder_dataset(world, {"a/1.jpg": jpeg(1), "a/2.jpg": jpeg(2), "3.jpg": jpeg(3)})
    series = metrics(world, dataset_id)
    now = latest(series)
    counts = stats(world, dataset_id)["sample_stats"]
    assert now["total"] == counts["total"] == 3
    assert now["manual_annotation"] == counts["manual_annotation"] == 2
    assert now["un_annotation"] == counts["un_annotation"] == 1
    assert now["auto_annotation"] == 0
    assert (now["success"], now["queuing"], now["unfinished"], now["failed"]) == (1, 0, 0, 0)
    # The initial import stored a point as it ended (its own task still counted as running).
    with world.services.db.session() as session:
        stored = list(
            session.execute(
                select(DatasetMetricPoint).where(DatasetMetricPoint.dataset_id == dataset_id)
            ).scalars()
        )
    assert len(stored) == 1 and stored[0].values["total"] == 3
    assert str(stored[0].at_ms) in series["total"]

    (root / "a/1.jpg").unlink()
    write(root, {"b/4.jpg": jpeg(4), "b/5.jpg": jpeg(5)})
    assert sync(world, dataset_id)["status"] == "COMPLETED"
    now = latest(metrics(world, dataset_id))
    counts = stats(world, dataset_id)["sample_stats"]
    assert now["total"] == counts["total"] == 4
    assert now["manual_annotation"] == counts["manual_annotation"] == 3
    assert now["un_annotation"] == counts["un_annotation"] == 1
    assert now["success"] == 2

    # Unlabel a sample by hand: the live point follows at once.
    sample_id = samples_of(world, dataset_id)["4.jpg"].sample.id
    update = world.alice.aksk.put(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
        json={"samples": [{"sample_id": sample_id, "labels": []}]},
    )
    assert update.status_code == 200, update.text
    now = latest(metrics(world, dataset_id))
    assert (now["manual_annotation"], now["un_annotation"]) == (2, 2)

    # At most one stored point per hour: the sync's replaced the import's if in the same hour.
    with world.services.db.session() as session:
        hours = [
            at // HOUR_MS
            for at in session.execute(
                select(DatasetMetricPoint.at_ms).where(DatasetMetricPoint.dataset_id == dataset_id)
            ).scalars()
        ]
    assert len(hours) == len(set(hours)) >= 1


def test_metrics_range_and_client(world: World) -> None:
    dataset_id, _root = folder_dataset(world, {"x.jpg": jpeg(9)})
    # A range before the dataset existed holds nothing.
    empty = metrics(world, dataset_id, 0, 1000)
    assert all(points == {} for points in empty.values())
    client = LabelArtsClient(
        world.server.url,
        world.alice.project_id,
        access_key=world.alice.creds.access_key,
        secret_key=world.alice.creds.secret_key,
    )
    with client:
        body = client.get_dataset_metrics(dataset_id, start_time=now_ms() - 60_000, end_time=FAR)
    assert latest(body.metrics)["total"] == 1
    auth = ["--endpoint", world.server.url, "--project-id", world.alice.project_id]
    auth += ["--ak", world.alice.creds.access_key, "--sk", world.alice.creds.secret_key]
    shown = run_cli("dataset", "metrics", dataset_id, *auth, "--hours", "1", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert latest(json.loads(shown.stdout)["metrics"])["total"] == 1
    table = run_cli("dataset", "metrics", dataset_id, *auth)
    assert table.returncode == 0 and "un_annotation" in table.stdout, table.stderr


def test_metrics_refusals(world: World) -> None:
    alice, mallory = world.alice, world.mallory
    dataset_id, _root = folder_dataset(world, {"y.jpg": jpeg(10)})
    path = alice.v2(f"/datasets/{dataset_id}/metrics")
    for params in (
        {},
        {"start_time": 0},
        {"end_time": 5},
        {"start_time": "abc", "end_time": 5},
        {"start_time": -1, "end_time": 5},
        {"start_time": 10, "end_time": 5},
        {"start_time": 0, "end_time": "99999999999999999999999"},
    ):
        assert_error(alice.aksk.get(path, params=params), 400)
    assert_error(
        alice.aksk.get(path, params={"start_time": 0, "end_time": 5, "workforce_task_id": "w1"}), 404
    )
    other = mallory.v2(f"/datasets/{dataset_id}/metrics")
    assert_error(mallory.aksk.get(other, params={"start_time": 0, "end_time": FAR}), 404, "ModelArts.4352")
