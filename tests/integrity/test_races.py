"""Concurrent edits of the same samples serialise: many HTTP clients at once, bounded rounds,
then what a user checks (status against labels, statistics against the sample list)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from labelarts.client import SdkHmacAuth
from labelarts.storage.db.models import Label, SampleLabel
from tests.api import World, shared_world, unique_name
from tests.conftest import create_dataset
from tests.integrity import bulk_samples, consistency_problems, sample_count

CLIENTS = 8
SAMPLES = 20
ROUNDS = 10
TIMEOUT = 120.0  # a request may queue behind every other client's writes on a loaded machine


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("races")) as w:
        yield w


def own_client(world: World) -> httpx.Client:
    """Alice's AK/SK client for one thread."""
    creds = world.alice.creds
    return httpx.Client(
        base_url=world.server.url,
        auth=SdkHmacAuth(creds.access_key, creds.secret_key, creds.project_id),
        timeout=TIMEOUT,
    )


def samples_path(world: World, dataset_id: str, suffix: str = "") -> str:
    return world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples{suffix}")


def label_update(sample_ids: list[str], label: str | None) -> dict[str, Any]:
    return {"samples": [{"sample_id": s, "labels": [{"name": label}] if label else []} for s in sample_ids]}


def run_clients(count: int, work: Any) -> list[list[int]]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(work, range(count)))


def test_parallel_label_edits_of_the_same_samples_stay_consistent(world: World) -> None:
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("race"))
    ids = bulk_samples(world, dataset_id, SAMPLES, lambda i: [])

    def client(number: int) -> list[int]:
        # Half the clients set a label, half clear it; each request a shuffled subset, so on
        # PostgreSQL the row locks are requested in every order.
        rng = random.Random(number)
        codes = []
        with own_client(world) as http:
            for _round in range(ROUNDS):
                chosen = rng.sample(ids, rng.randint(SAMPLES // 2, SAMPLES))
                body = label_update(chosen, "cat" if number % 2 == 0 else None)
                codes.append(http.put(samples_path(world, dataset_id), json=body).status_code)
        return codes

    codes = run_clients(CLIENTS, client)
    assert {code for per_client in codes for code in per_client} == {200}
    assert consistency_problems(world, dataset_id) == []


def test_deletes_racing_updates_answer_only_2xx_or_404(world: World) -> None:
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("race"))
    ids = bulk_samples(world, dataset_id, 2 * SAMPLES, lambda i: ["cat"])
    updaters = CLIENTS - 2

    def client(number: int) -> list[int]:
        rng = random.Random(number)
        order = rng.sample(ids, len(ids))
        codes = []
        with own_client(world) as http:
            if number < updaters:  # label each sample, one request each, twice over
                for sample_id in order + order:
                    response = http.put(
                        samples_path(world, dataset_id), json=label_update([sample_id], "dog")
                    )
                    codes.append(response.status_code)
            else:  # the two deleters share the samples out, and each deletes them one by one
                for sample_id in ids[number - updaters :: 2]:
                    response = http.post(
                        samples_path(world, dataset_id, "/delete"), json={"samples": [sample_id]}
                    )
                    codes.append(response.status_code)
        return codes

    codes = run_clients(CLIENTS, client)
    update_codes = {code for per_client in codes[:updaters] for code in per_client}
    delete_codes = {code for per_client in codes[updaters:] for code in per_client}
    assert update_codes <= {200, 404}, update_codes
    assert delete_codes == {200}  # the deleters never ask for the same sample
    assert sample_count(world, dataset_id) == 0
    with world.services.db.session() as session:
        orphans = session.execute(select(SampleLabel.id).where(SampleLabel.dataset_id == dataset_id)).all()
    assert orphans == []
    assert consistency_problems(world, dataset_id) == []


def test_a_label_deleted_while_samples_get_it_never_dangles(world: World) -> None:
    dataset_id = create_dataset(
        world.alice.aksk, world.alice.project_id, unique_name("race"), labels=[{"name": "temp"}]
    )
    ids = bulk_samples(world, dataset_id, SAMPLES, lambda i: [])
    labellers = CLIENTS - 2

    def client(number: int) -> list[int]:
        rng = random.Random(number)
        codes = []
        with own_client(world) as http:
            for _round in range(ROUNDS):
                if number < labellers:  # put "temp" on some samples (created again if gone)
                    body = label_update(rng.sample(ids, SAMPLES // 4), "temp")
                    codes.append(http.put(samples_path(world, dataset_id), json=body).status_code)
                else:  # delete "temp" from the dataset and from every sample
                    response = http.post(
                        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/labels/delete"),
                        json={"labels": [{"name": "temp"}]},
                    )
                    codes.append(response.status_code)
        return codes

    codes = run_clients(CLIENTS, client)
    assert {code for per_client in codes[:labellers] for code in per_client} == {200}
    # A delete that finds the label gone (deleted by the other deleter, not yet re-created)
    # is a 400 "label not found", never a 500.
    assert {code for per_client in codes[labellers:] for code in per_client} <= {200, 400}
    with world.services.db.session() as session:
        carried = set(
            session.execute(select(SampleLabel.name).where(SampleLabel.dataset_id == dataset_id)).scalars()
        )
        defined = set(session.execute(select(Label.name).where(Label.dataset_id == dataset_id)).scalars())
    assert carried <= defined, f"samples carry labels the dataset no longer has: {carried - defined}"
    assert consistency_problems(world, dataset_id) == []
