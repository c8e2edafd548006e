"""The write phase of an auto-labeling task, against a real server on SQLite and PostgreSQL.

The job's phases are run one by one (read, then a person's edits through the HTTP API, then the
write), so what happens between the task's read and its write is fixed rather than left to
timing; every outcome is checked through the API a person uses.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from labelarts.errors import BusyError
from labelarts.jobs.runner import TaskContext
from labelarts.ml.hard import HardExamples
from labelarts.services.autolabel import job as job_module
from labelarts.services.autolabel.features import FeatureCache
from labelarts.services.autolabel.job import AutoLabelJob, JobSpec, Labeling, Snapshot
from labelarts.storage.db import engine as engine_module
from tests.api import World, add_sample, sample_labels, shared_world, unique_name
from tests.conftest import Tenant, create_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("autolabel-write")) as built:
        yield built


def make_job(world: World, dataset_id: str, scratch: Path, write_rows: int) -> AutoLabelJob:
    services = world.services
    spec = JobSpec(
        project_id=world.alice.project_id,
        dataset_id=dataset_id,
        mode="fast",
        target_precision=0.95,
        feature_model=None,
        confidence_scope=None,
        augment_budget=0,
    )
    return AutoLabelJob(
        services.db,
        services.sources,
        FeatureCache(services.db),
        models_dir=scratch,
        threads=1,
        spec=spec,
        memmap_bytes=0,
        scratch_dir=scratch,
        write_rows=write_rows,
    )


def dataset_with_targets(world: World, n_targets: int, n_auto: int = 0) -> tuple[str, list[str], list[str]]:
    """Five labeled "cat" and five "dog"; ``n_targets`` unlabeled samples then ``n_auto`` with an
    unconfirmed "dog" from an earlier task. Returns (dataset id, labeled ids, target ids)."""
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name())
    labeled = [add_sample(world.services, dataset_id, [name]) for name in ("cat", "dog") for _ in range(5)]
    targets = [add_sample(world.services, dataset_id) for _ in range(n_targets)]
    targets += [
        add_sample(world.services, dataset_id, ["dog"], status="AUTO_ANNOTATION") for _ in range(n_auto)
    ]
    return dataset_id, labeled, targets


def everything_is_a_cat(snap: Snapshot) -> Labeling:
    """What the compute phase would hand over: every target predicted "cat" at 0.9, none hard."""
    n = len(snap.target_ids)
    cat = snap.classes.index("cat")
    return Labeling(
        sample_ids=list(snap.target_ids),
        revisions=snap.target_revisions.copy(),
        predicted=np.full(n, cat, dtype=np.int64),
        confidence=np.full(n, 0.9),
        hard=HardExamples(np.zeros(n, dtype=bool), np.full(n, 0.1), [[] for _ in range(n)]),
    )


def task_context(world: World, dataset_id: str) -> TaskContext:
    return world.services.tasks.run_here(
        project_id=world.alice.project_id, dataset_id=dataset_id, kind="auto-label", config={}
    )


def put_labels(tenant: Tenant, dataset_id: str, sample_id: str, labels: list[str]) -> httpx.Response:
    return tenant.aksk.put(
        tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
        json={"samples": [{"sample_id": sample_id, "labels": [{"name": n, "type": 0} for n in labels]}]},
    )


def seen(tenant: Tenant, dataset_id: str, sample_id: str) -> tuple[str, list[str]]:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples/{sample_id}"))
    assert response.status_code == 200, response.text
    body = response.json()
    return body["sample_status"], [label["name"] for label in body["labels"]]


def auto_count(tenant: Tenant, dataset_id: str) -> int:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/auto-annotations/samples"))
    assert response.status_code == 200, response.text
    count: int = response.json()["sample_count"]
    return count


def test_a_person_s_label_saved_between_the_read_and_the_write_is_kept(world: World, tmp_path: Path) -> None:
    alice = world.alice
    dataset_id, _, targets = dataset_with_targets(world, n_targets=7, n_auto=2)
    job = make_job(world, dataset_id, tmp_path, write_rows=4)
    snap = job.read()
    assert sorted(snap.target_ids) == sorted(targets)
    relabeled, rejected = targets[3], targets[-1]
    # After the read: a person labels an unlabeled sample, and rejects an earlier auto label
    # (back to unlabeled: a status the task labels, so only the revision tells it changed).
    assert put_labels(alice, dataset_id, relabeled, ["dog"]).status_code == 200
    assert put_labels(alice, dataset_id, rejected, []).status_code == 200

    outcome = job.write(task_context(world, dataset_id), snap, everything_is_a_cat(snap))

    assert (outcome.written, outcome.skipped) == (len(targets) - 2, 2)
    assert seen(alice, dataset_id, relabeled) == ("__ALL__", ["dog"])
    assert seen(alice, dataset_id, rejected) == ("__NONE__", [])
    for sample_id in set(targets) - {relabeled, rejected}:
        assert seen(alice, dataset_id, sample_id) == ("__AUTO_ANNOTATION__", ["cat"])
    assert auto_count(alice, dataset_id) == len(targets) - 2
    stats = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    assert stats["sample_stats"]["auto_annotation"] == len(targets) - 2


def test_label_updates_during_the_write_succeed_and_are_never_overwritten(
    world: World, tmp_path: Path
) -> None:
    """Updates between two result transactions, and one racing the next transaction: all 200,
    each sample ends as the person left it, and the task counts what it skipped."""
    alice = world.alice
    dataset_id, labeled, targets = dataset_with_targets(world, n_targets=12)
    job = make_job(world, dataset_id, tmp_path, write_rows=3)
    snap = job.read()
    labeling = everything_is_a_cat(snap)
    order = labeling.sample_ids  # the write goes through them in this order, 3 per transaction
    already_written, not_yet = order[0], order[-1]
    statuses: list[int] = []
    progress: list[tuple[int, int]] = []
    racing: list[threading.Thread] = []

    def race() -> None:  # a person relabels a labeled sample while the next chunk is written
        statuses.append(put_labels(alice, dataset_id, labeled[1], ["dog"]).status_code)

    def between_chunks(written: int, total: int) -> None:
        progress.append((written, total))
        if len(progress) == 1:
            assert 0 < auto_count(alice, dataset_id) < len(targets)  # part written, part not
            for sample_id, labels in ((already_written, ["dog"]), (not_yet, ["dog"]), (labeled[0], ["dog"])):
                statuses.append(put_labels(alice, dataset_id, sample_id, labels).status_code)
            racing.append(threading.Thread(target=race))
            racing[0].start()

    outcome = job.write(task_context(world, dataset_id), snap, labeling, on_chunk=between_chunks)
    for thread in racing:
        thread.join(timeout=60)

    assert statuses == [200, 200, 200, 200]
    assert progress == [(3, 12), (6, 12), (9, 12), (12, 12)]
    assert (outcome.written, outcome.skipped) == (11, 1)  # only not_yet was skipped
    assert seen(alice, dataset_id, already_written) == ("__ALL__", ["dog"])
    assert seen(alice, dataset_id, not_yet) == ("__ALL__", ["dog"])
    assert seen(alice, dataset_id, labeled[0]) == ("__ALL__", ["dog"])
    assert seen(alice, dataset_id, labeled[1]) == ("__ALL__", ["dog"])
    final = sample_labels(world.services, dataset_id)
    for sample_id in set(targets) - {already_written, not_yet}:
        assert final[sample_id] == ("AUTO_ANNOTATION", ["cat"])
    # Status and labels agree on every sample.
    for status, names in final.values():
        assert (status == "UN_ANNOTATION") == (not names)


def test_a_second_write_of_the_same_read_changes_nothing(world: World, tmp_path: Path) -> None:
    """The write bumps every revision it writes, so replaying it (a retried task with an old
    read) skips everything instead of writing twice."""
    dataset_id, _, targets = dataset_with_targets(world, n_targets=5)
    job = make_job(world, dataset_id, tmp_path, write_rows=2)
    snap = job.read()
    labeling = everything_is_a_cat(snap)
    first = job.write(task_context(world, dataset_id), snap, labeling)
    second = job.write(task_context(world, dataset_id), snap, labeling)
    assert (first.written, first.skipped) == (5, 0)
    assert (second.written, second.skipped) == (0, 5)
    assert auto_count(world.alice, dataset_id) == len(targets)


def test_a_chunk_that_loses_a_lock_race_is_written_again_once(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL breaking a lock cycle (or SQLite's busy timeout) rolls a chunk's transaction
    back after part of it ran: the task runs that chunk again instead of failing, and every
    sample and count ends written once."""
    alice = world.alice
    dataset_id, _, targets = dataset_with_targets(world, n_targets=7, n_auto=2)
    job = make_job(world, dataset_id, tmp_path, write_rows=3)
    snap = job.read()
    real_write = job_module.write_results
    calls: list[int] = []

    def loses_its_second_chunk_once(session: Any, *args: Any, **kwargs: Any) -> list[str]:
        written = real_write(session, *args, **kwargs)  # the chunk's statements ran...
        calls.append(len(written))
        if len(calls) == 2:
            session.flush()
            raise BusyError()  # ...and then the database broke the cycle: all rolled back
        return written

    monkeypatch.setattr(job_module, "write_results", loses_its_second_chunk_once)
    outcome = job.write(task_context(world, dataset_id), snap, everything_is_a_cat(snap))

    assert calls == [3, 3, 3, 3]  # chunk 2 twice, each time claiming its 3 samples
    assert (outcome.written, outcome.skipped) == (len(targets), 0)
    for sample_id in targets:
        assert seen(alice, dataset_id, sample_id) == ("__AUTO_ANNOTATION__", ["cat"])
    assert auto_count(alice, dataset_id) == len(targets)
    stats = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    assert stats["sample_stats"]["auto_annotation"] == len(targets)
    assert stats["sample_stats"]["un_annotation"] == 0


def test_a_chunk_that_keeps_losing_fails_the_write_with_the_earlier_chunks_whole(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = world.alice
    dataset_id, _, _ = dataset_with_targets(world, n_targets=6)
    job = make_job(world, dataset_id, tmp_path, write_rows=3)
    snap = job.read()
    real_write = job_module.write_results
    calls: list[int] = []

    def loses_every_chunk_after_the_first(session: Any, *args: Any, **kwargs: Any) -> list[str]:
        written = real_write(session, *args, **kwargs)
        calls.append(len(written))
        if len(calls) > 1:
            raise BusyError()
        return written

    monkeypatch.setattr(job_module, "write_results", loses_every_chunk_after_the_first)
    monkeypatch.setattr(engine_module, "BUSY_FIRST_PAUSE_S", 0.001)
    with pytest.raises(BusyError):
        job.write(task_context(world, dataset_id), snap, everything_is_a_cat(snap))
    assert calls == [3] + [3] * engine_module.BUSY_ATTEMPTS
    assert auto_count(alice, dataset_id) == 3  # the first chunk, whole; nothing of the second
    stats = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    assert (stats["sample_stats"]["auto_annotation"], stats["sample_stats"]["un_annotation"]) == (3, 3)
