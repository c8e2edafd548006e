"""Paging equivalence: every page of every filter, in both orders, on both lists, equals a plain
``OFFSET``/``LIMIT`` reference query, before and after changes.

The list's fast path (page anchors, counts kept across edits: services/samples/pages.py) is
made to work on a small dataset by setting a low ``deep_offset`` and ``anchor_every``. The
changes in between are the ones the fast path follows (confirmations and corrections through
``PUT``, deletions through the API) and ones it does not see (rows written behind its back,
as an import in a worker process does), each after every entry has anchors.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from labelarts.services.samples.query import SampleQuery
from labelarts.services.samples.records import AUTO, bump_data_version
from labelarts.services.samples.search import parse_search_conditions
from labelarts.storage.db import counters
from labelarts.storage.db.models import Sample, SampleLabel
from tests.api import World, shared_world, unique_name
from tests.conftest import create_dataset

LABELS = ["cat", "dog", "bird"]
TYPES = {"cat": 0, "dog": 0, "bird": 1}  # a label name has one type
LIMIT = 6
BASE_TIME = 1_700_000_000_000

# (name, query parameters); every one is checked in both orders on both lists.
FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("all", {}),
    ("label", {"label_name": "cat"}),
    ("label type", {"label_type": 1}),
    ("score range", {"low_score": "0.2", "high_score": "0.7"}),
    ("label and low score", {"label_name": "dog", "low_score": "0.5"}),
    ("label and score range", {"label_name": "cat", "low_score": "0.1", "high_score": "0.8"}),
    ("hard", {"search_conditions": json.dumps([{"hard": "1"}])}),
    ("coefficient", {"search_conditions": json.dumps([{"coefficient": "0.3-0.9"}])}),
    (
        "label list",
        {"search_conditions": json.dumps([{"label_list": {"op": "OR", "labels": [{"name": "bird"}]}}])},
    ),
    (
        "label list OR",
        {
            "search_conditions": json.dumps(
                [{"label_list": {"op": "OR", "labels": [{"name": "dog"}, {"name": "bird", "type": 1}]}}]
            )
        },
    ),
    (
        "metadata",
        {"search_conditions": json.dumps([{"metadata": {"op": "AND", "props": {"camera": ["z9"]}}}])},
    ),
    ("state", {"sample_state": "__ALL__"}),
]


@dataclass
class Scene:
    world: World
    dataset_id: str
    rng: random.Random
    serial: int = 0

    def path(self, name: str) -> str:
        return self.world.alice.v2(f"/datasets/{self.dataset_id}/{name}/samples")

    def page(self, list_name: str, params: dict[str, Any], offset: int) -> dict[str, Any]:
        response = self.world.alice.aksk.get(
            self.path(list_name), params={**params, "limit": LIMIT, "offset": offset}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def reference(self, list_name: str, params: dict[str, Any], offset: int) -> tuple[list[str], int]:
        """The page's ids and the total from a plain OFFSET/LIMIT query (no anchors, no cache)."""
        scores = [float(params[k]) if k in params else None for k in ("low_score", "high_score")]
        query = SampleQuery(
            offset=offset,
            limit=LIMIT,
            order="asc" if params.get("order") == "asc" else "desc",
            sample_state=params.get("sample_state"),
            label_name=params.get("label_name"),
            label_type=params.get("label_type"),
            low_score=scores[0],
            high_score=scores[1],
            conditions=tuple(parse_search_conditions(params.get("search_conditions"))),
            fixed_status=AUTO if list_name == "auto-annotations" else None,
        )
        service = self.world.services.sample_list
        where = service._where(self.dataset_id, query)
        with self.world.services.db.session() as session:
            count = session.execute(select(func.count()).select_from(Sample).where(*where)).scalar_one()
            order = service._order_of(*service._sort_columns(query), query)
            stmt = select(Sample.id).where(*where).order_by(*order)
            ids = list(session.execute(stmt.offset(offset * LIMIT).limit(LIMIT)).scalars())
        return ids, int(count)

    def insert(self, count: int) -> list[str]:
        """Samples written straight to the database (as an import's worker does)."""
        ids = []
        with self.world.services.db.session() as session:
            for _ in range(count):
                self.serial += 1
                i = self.serial
                status = self.rng.choice(["UN_ANNOTATION", "MANUAL_ANNOTATION", "AUTO_ANNOTATION"])
                labels = []
                if status != "UN_ANNOTATION":
                    # A name may come twice (a detection sample's instances): listed once.
                    for name in self.rng.choices(LABELS, k=self.rng.choice([1, 1, 2, 3])):
                        score = round(self.rng.random(), 2) if status == "AUTO_ANNOTATION" else None
                        labels.append((name, TYPES[name], score))
                scores = [s for _, _, s in labels if s is not None]
                hard = self.rng.random() < 0.3
                sample_id = f"p{i:05d}{self.rng.randrange(16**6):06x}"
                ids.append(sample_id)
                session.add(
                    Sample(
                        id=sample_id,
                        dataset_id=self.dataset_id,
                        sample_type=0,
                        sample_status=status,
                        sample_name=f"img_{i}.jpg",
                        sample_dir="obs://a/",
                        source_kind="object",
                        source_key=f"k/{sample_id}",
                        sample_size=10,
                        # Equal times in threes: the id breaks the tie.
                        sample_time=BASE_TIME + (i // 3) * 1000,
                        metadata_={"camera": self.rng.choice(["x100", "z9"])},
                        hard=hard,
                        hard_coefficient=round(self.rng.random(), 2) if hard else None,
                        top_score=max(scores) if scores else None,
                    )
                )
                for name, label_type, score in labels:
                    session.add(
                        SampleLabel(
                            sample_id=sample_id,
                            dataset_id=self.dataset_id,
                            name=name,
                            type=label_type,
                            score=score,
                            property={},
                            sample_top_score=max(scores) if scores else None,
                        )
                    )
            session.flush()
            counters.rebuild(session, self.dataset_id)  # what an import's own hooks keep
            bump_data_version(session, self.dataset_id)
        return ids

    def all_ids(self) -> list[str]:
        with self.world.services.db.session() as session:
            return list(
                session.execute(select(Sample.id).where(Sample.dataset_id == self.dataset_id)).scalars()
            )

    def check_everything(self) -> None:
        """Every page (and one past the end) of every filter, order and list, against the reference."""
        for list_name in ("data-annotations", "auto-annotations"):
            for name, params in FILTERS:
                if list_name == "auto-annotations" and "sample_state" in params:
                    continue
                for order in ("desc", "asc"):
                    asked = {**params, "order": order}
                    _, count = self.reference(list_name, asked, 0)
                    # Pages in a random order (and one past the end): a page is then often
                    # read from anchors a change has moved, not from the page just before.
                    offsets = list(range(-(-count // LIMIT) + 1))
                    self.rng.shuffle(offsets)
                    for offset in offsets:
                        body = self.page(list_name, asked, offset)
                        ids, total = self.reference(list_name, asked, offset)
                        got = [s["sample_id"] for s in body["samples"]]
                        assert (got, body["sample_count"]) == (ids, total), (list_name, name, order, offset)

    def review(self, count: int) -> None:
        """Confirm, correct or clear ``count`` samples through PUT (scores dropped, labels changed)."""
        chosen = self.rng.sample(self.all_ids(), count)
        changes = []
        for sample_id in chosen:
            roll = self.rng.random()
            labels = [] if roll < 0.2 else [{"name": (name := self.rng.choice(LABELS)), "type": TYPES[name]}]
            changes.append({"sample_id": sample_id, "labels": labels})
        response = self.world.alice.aksk.put(self.path("data-annotations"), json={"samples": changes})
        assert response.status_code == 200, response.text

    def delete(self, count: int) -> None:
        chosen = self.rng.sample(self.all_ids(), count)
        response = self.world.alice.aksk.post(
            self.world.alice.v2(f"/datasets/{self.dataset_id}/data-annotations/samples/delete"),
            json={"samples": chosen},
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with shared_world(tmp_path_factory.mktemp("paging")) as world:
        service = world.services.sample_list
        old = (service.deep_offset, service.anchor_every)
        service.deep_offset, service.anchor_every = 8, 5
        try:
            dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("paging"))
            scene = Scene(world, dataset_id, random.Random(11))
            scene.insert(90)
            yield scene
        finally:
            service.deep_offset, service.anchor_every = old


def test_every_page_equals_the_reference_before_and_after_changes(scene: Scene) -> None:
    scene.check_everything()
    scene.review(12)  # followed by the list: counts and anchors moved, not rebuilt
    scene.check_everything()
    scene.delete(7)
    scene.check_everything()
    scene.insert(20)  # not seen by the list's writers: the entries start over
    scene.check_everything()
    scene.review(15)
    scene.delete(3)
    scene.check_everything()


def test_pages_stay_exact_when_changes_interleave_with_deep_paging(scene: Scene) -> None:
    """A reviewer's loop on confirmed samples: a deep page, a change, another page."""
    for order in ("desc", "asc"):
        params = {"sample_state": "__ALL__", "order": order}
        for step in range(10):
            offset = 6 - step % 7
            body = scene.page("data-annotations", params, offset)
            ids, count = scene.reference("data-annotations", params, offset)
            assert ([s["sample_id"] for s in body["samples"]], body["sample_count"]) == (ids, count), step
            # One sample leaves the confirmed ones, another one joins them.
            leaving, joining = scene.rng.sample(scene.all_ids(), 2)
            changes = [
                {"sample_id": leaving, "labels": []},
                {"sample_id": joining, "labels": [{"name": "cat"}]},
            ]
            response = scene.world.alice.aksk.put(scene.path("data-annotations"), json={"samples": changes})
            assert response.status_code == 200, response.text
            if step % 4 == 3:
                scene.insert(2)


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_deep_pages_of_a_score_ordered_list_follow_a_confirmation_in_the_middle(
    scene: Scene, order: str
) -> None:
    """Confirming samples in the middle of a list ordered by score moves the page anchors by
    those samples' scores: pages before them stay where they were, pages after them move up."""
    params = {"low_score": "0", "high_score": "1", "order": order}
    scene.insert(60)
    _, count = scene.reference("auto-annotations", params, 0)
    pages = -(-count // LIMIT)
    middle = pages // 2
    assert pages >= 6 and (middle - 1) * LIMIT >= 8  # a deep page (start >= 8) before the change
    for offset in range(pages):  # every page once: an anchor at the start of each
        scene.page("auto-annotations", params, offset)
    on_middle_page, _ = scene.reference("auto-annotations", params, middle)
    confirmed = on_middle_page[1:3]
    with scene.world.services.db.session() as session:
        names = {
            sample_id: name
            for sample_id, name in session.execute(
                select(SampleLabel.sample_id, SampleLabel.name).where(SampleLabel.sample_id.in_(confirmed))
            )
        }
    changes = [{"sample_id": i, "labels": [{"name": names[i], "type": TYPES[names[i]]}]} for i in confirmed]
    response = scene.world.alice.aksk.put(scene.path("data-annotations"), json={"samples": changes})
    assert response.status_code == 200, response.text
    # Pages read from the anchors the change moved first: the full pages before and after the
    # confirmed samples' page (a page served corrects the anchors at its own ends).
    for offset in [middle - 1, middle + 1, *range(pages)]:
        body = scene.page("auto-annotations", params, offset)
        ids, total = scene.reference("auto-annotations", params, offset)
        assert ([s["sample_id"] for s in body["samples"]], body["sample_count"]) == (ids, total), offset
        assert not set(confirmed) & set(ids)
