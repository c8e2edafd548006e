"""A running task changes: a labeler leaves (their unfinished work is dealt again), new
samples join (``synchronize_data``), auto labels become drafts, updates and deletes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from labelarts.storage.db.models import WorkforceAssignment
from tests.api import World, shared_world
from tests.conftest import assert_error
from tests.samples import b64, image_bytes, upload
from tests.team_tasks.helpers import add_person, add_team, cat, make_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("team-changes")) as w:
        yield w


def assignments(world: World, task_id: str) -> list[tuple[str, str, str]]:
    with world.services.db.session() as session:
        rows = session.execute(
            select(
                WorkforceAssignment.sample_id, WorkforceAssignment.worker_id, WorkforceAssignment.state
            ).where(WorkforceAssignment.task_id == task_id)
        ).all()
        return [(r[0], r[1], r[2]) for r in rows]


def test_a_removed_labeler_s_unfinished_work_is_dealt_again(world: World) -> None:
    team_id = add_team(world.alice)
    people = [add_person(world.server, world.alice, team_id, 0) for _ in range(3)]
    try:
        dataset_id, ids = make_dataset(world.alice, 12)
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        config = {"workforces": [{"workforce_id": team_id, "workers": [{"email": p.email} for p in people]}]}
        r = world.alice.aksk.post(
            base, json={"task_name": "leave", "repetition": 2, "workforces_config": config}
        )
        task_id = r.json()["task_id"]
        before = assignments(world, task_id)
        assert Counter(w for _, w, _ in before) == {p.worker_id: 8 for p in people}
        # The leaver finishes two samples first: those stay theirs.
        leaver = people[2]
        own = sorted(s for s, w, _ in before if w == leaver.worker_id)
        put = leaver.client.put(
            f"{base}/{task_id}/data-annotations/samples",
            json={"samples": [{"sample_id": s, "labels": cat()} for s in own[:2]]},
        )
        assert put.json()["success"] is True
        # With two labelers left, repetition 2 needs them both; the leaver's 6 open go to them.
        keep = {
            "workforces": [{"workforce_id": team_id, "workers": [{"email": p.email} for p in people[:2]]}]
        }
        r = world.alice.aksk.put(f"{base}/{task_id}", json={"workforces_config": keep})
        assert r.status_code == 200, r.text
        after = assignments(world, task_id)
        per_sample = Counter(s for s, _, _ in after)
        assert set(per_sample) == set(ids)
        # Each open sample still has 2 different labelers; the finished two keep the leaver.
        assert len(after) == len(set((s, w) for s, w, _ in after))
        assert all(n == 2 for n in per_sample.values())
        assert sorted(s for s, w, _ in after if w == leaver.worker_id) == own[:2]
        shares = Counter(w for _, w, _ in after)
        assert shares[leaver.worker_id] == 2
        assert shares[people[0].worker_id] + shares[people[1].worker_id] == 22
        # Leaving everyone but one is refused: repetition 2 needs two.
        one = {"workforces": [{"workforce_id": team_id, "workers": [{"email": people[0].email}]}]}
        assert_error(world.alice.aksk.put(f"{base}/{task_id}", json={"workforces_config": one}), 400)
        # The leaver no longer sees the task.
        assert_error(leaver.client.get(f"{base}/{task_id}"), 404)
    finally:
        for p in people:
            p.close()


def test_new_samples_join_a_synchronizing_task(world: World) -> None:
    team_id = add_team(world.alice)
    people = [add_person(world.server, world.alice, team_id, 0) for _ in range(2)]
    try:
        dataset_id, _ = make_dataset(world.alice, 4)
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        body: dict[str, Any] = {
            "task_name": "sync",
            "workforces_config": {"workforces": [{"workforce_id": team_id}]},
        }
        synced = world.alice.aksk.post(base, json={**body, "synchronize_data": True}).json()["task_id"]
        r = upload(
            world.alice,
            dataset_id,
            [{"name": f"new{i}.jpg", "data": b64(image_bytes(seed=100 + i))} for i in range(4)],
        )
        assert r.status_code == 200, r.text
        detail = world.alice.aksk.get(f"{base}/{synced}").json()
        assert detail["sample_stats"]["total_sample_count"] == 8
        shares = Counter(w for _, w, _ in assignments(world, synced))
        assert sorted(shares.values()) == [4, 4]
        # A second task cannot take samples the first holds; data_sync_type must agree with the flags.
        second = world.alice.aksk.post(base, json={**body, "task_name": "second"}).json()["task_id"]
        assert assignments(world, second) == []
        assert_error(
            world.alice.aksk.post(
                base, json={**body, "task_name": "bad", "synchronize_data": False, "data_sync_type": 1}
            ),
            400,
            "ModelArts.0104",
        )
        # Names are unique per dataset.
        assert_error(world.alice.aksk.post(base, json={**body, "task_name": "sync"}), 400, "ModelArts.4620")
        # Update and delete.
        assert (
            world.alice.aksk.put(
                f"{base}/{synced}", json={"task_name": "renamed", "description": "d"}
            ).status_code
            == 200
        )
        assert world.alice.aksk.get(f"{base}/{synced}").json()["task_name"] == "renamed"
        assert world.alice.aksk.delete(f"{base}/{second}").status_code == 204
        assert_error(world.alice.aksk.get(f"{base}/{second}"), 404, "ModelArts.4619")
        listing = world.alice.aksk.get(base).json()
        assert listing["count"] == 1 and listing["tasks"][0]["task_id"] == synced
    finally:
        for p in people:
            p.close()


def test_agency_task_waits_for_its_administrator(world: World) -> None:
    team_id = add_team(world.alice)
    labeler = add_person(world.server, world.alice, team_id, 0)
    admin = add_person(world.server, world.alice, team_id, 2)
    try:
        dataset_id, ids = make_dataset(world.alice, 3, dataset_type=1)
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        config = {"agency": admin.email, "workforces": [{"workforce_id": team_id}]}
        task_id = world.alice.aksk.post(base, json={"task_name": "ag", "workforces_config": config}).json()[
            "task_id"
        ]
        assert world.alice.aksk.get(f"{base}/{task_id}").json()["status"] == 6
        assert_error(labeler.client.post(f"{base}/{task_id}", json={}), 403, "ModelArts.4600")
        assert admin.client.post(f"{base}/{task_id}", json={}).status_code == 200
        detail = world.alice.aksk.get(f"{base}/{task_id}").json()
        assert detail["status"] == 1 and detail["sample_stats"]["total_sample_count"] == 3
        assert detail["workforces_config"]["agency"] == admin.email
        assert_error(admin.client.post(f"{base}/{task_id}", json={}), 400, "ModelArts.4621")
        # Detection boxes: agreeing boxes (IoU >= 0.5) of two labelers merge; see test_merging.
        box = [
            {
                "name": "cat",
                "type": 1,
                "property": {"@modelarts:shape": "bndbox", "@modelarts:feature": [[1, 1], [9, 9]]},
            }
        ]
        put = labeler.client.put(
            f"{base}/{task_id}/data-annotations/samples",
            json={"samples": [{"sample_id": s, "labels": box} for s in ids]},
        )
        assert put.json()["success"] is True
        assert (
            world.alice.aksk.post(f"{base}/{task_id}/acceptance", json={"sampling_num": 1}).status_code == 200
        )
        assert (
            world.alice.aksk.put(f"{base}/{task_id}/acceptance/status", json={"action": 0}).status_code == 200
        )
        samples = world.alice.aksk.get(
            world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples")
        ).json()
        for sample in samples["samples"]:
            assert [label["property"]["@modelarts:feature"] for label in sample["labels"]] == [
                [[1, 1], [9, 9]]
            ]
    finally:
        labeler.close()
        admin.close()


def test_deleting_a_worker_deals_their_unfinished_work_again(world: World) -> None:
    """DeleteWorker (the people side) hands the task side the leaver: their unfinished
    assignments go to the others, nothing is lost or dealt twice, finished work stays theirs."""
    team_id = add_team(world.alice)
    people = [add_person(world.server, world.alice, team_id, 0) for _ in range(3)]
    try:
        dataset_id, ids = make_dataset(world.alice, 9)
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        config = {"workforces": [{"workforce_id": team_id}]}
        task_id = world.alice.aksk.post(base, json={"task_name": "del", "workforces_config": config}).json()[
            "task_id"
        ]
        before = assignments(world, task_id)
        assert Counter(w for _, w, _ in before) == {p.worker_id: 3 for p in people}
        leaver = people[0]
        own = sorted(s for s, w, _ in before if w == leaver.worker_id)
        put = leaver.client.put(
            f"{base}/{task_id}/data-annotations/samples",
            json={"samples": [{"sample_id": own[0], "labels": cat()}]},
        )
        assert put.json()["success"] is True
        r = world.alice.aksk.delete(world.alice.v2(f"/workforces/{team_id}/workers/{leaver.worker_id}"))
        assert r.status_code == 204, r.text
        after = assignments(world, task_id)
        # Every sample still has exactly one labeler; the leaver keeps only what they handed in.
        assert sorted(s for s, _, _ in after) == sorted(ids)
        assert [s for s, w, _ in after if w == leaver.worker_id] == [own[0]]
        shares = Counter(w for _, w, _ in after if w != leaver.worker_id)
        assert sorted(shares.values()) == [4, 4]
        assert_error(leaver.client.get(f"{base}/{task_id}"), 404, "ModelArts.4619")
        # The team is used by an unfinished task: it cannot go.
        assert_error(world.alice.aksk.delete(world.alice.v2(f"/workforces/{team_id}")), 400, "ModelArts.4603")
    finally:
        for p in people:
            p.close()
