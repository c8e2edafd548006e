"""The sample list against an answer each test computes on its own from the inserted rows."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from labelarts.services.samples.records import bump_data_version
from labelarts.storage.db import counters
from labelarts.storage.db.models import Sample, SampleLabel
from tests.api import World, shared_world, unique_name
from tests.conftest import assert_error, create_dataset

NOW = datetime.now(UTC)
DAY = 86_400_000
LABELS = ["cat", "dog", "bird"]


@dataclass
class Row:
    """What the test knows about one inserted sample."""

    id: str
    status: str
    sample_type: int
    name: str
    dir: str
    time: int
    hard: bool
    coefficient: float | None
    origin: str | None
    labeler: str | None
    parent: str | None
    metadata: dict[str, Any]
    labels: list[tuple[str, int, float | None, dict[str, Any]]] = field(default_factory=list)

    @property
    def top_score(self) -> float | None:
        scores = [s for _, _, s, _ in self.labels if s is not None]
        return max(scores) if scores else None


@dataclass
class Fixture:
    world: World
    dataset_id: str
    rows: list[Row]

    def get(self, path: str, **params: Any) -> Any:
        response = self.world.alice.aksk.get(
            self.world.alice.v2(f"/datasets/{self.dataset_id}{path}"), params=params
        )
        assert response.status_code == 200, response.text
        return response.json()

    def all_ids(self, path: str = "/data-annotations/samples", **params: Any) -> list[str]:
        ids: list[str] = []
        page = 0
        while True:
            body = self.get(path, limit=7, offset=page, **params)
            if not body["samples"]:
                return ids
            assert body["sample_count"] >= len(body["samples"])
            ids.extend(s["sample_id"] for s in body["samples"])
            page += 1


def expected(
    rows: list[Row], keep: Callable[[Row], bool], *, by_score: bool = False, asc: bool = False
) -> list[str]:
    chosen = [r for r in rows if keep(r)]
    key = (lambda r: (r.top_score, r.id)) if by_score else (lambda r: (r.time, r.id))
    return [r.id for r in sorted(chosen, key=key, reverse=not asc)]


def _make_rows(dataset_id: str, count: int) -> list[Row]:
    rng = random.Random(7)
    base = int((NOW - timedelta(days=60)).timestamp() * 1000)
    rows = []
    for i in range(count):
        status = rng.choice(["UN_ANNOTATION", "MANUAL_ANNOTATION", "AUTO_ANNOTATION"])
        labels: list[tuple[str, int, float | None, dict[str, Any]]] = []
        if status != "UN_ANNOTATION":
            for name in rng.sample(LABELS, rng.choice([1, 1, 2])):
                score = round(rng.random(), 3) if status == "AUTO_ANNOTATION" or rng.random() < 0.3 else None
                props = {"@modelarts:color": rng.choice(["red", "blue"])}
                labels.append((name, rng.choice([0, 0, 1]), score, props))
        hard = rng.random() < 0.25
        rows.append(
            Row(
                id=f"s{i:04d}{uuid.uuid4().hex[:8]}",
                status=status,
                sample_type=rng.choice([0, 0, 1]),
                name=f"img_{i % 40}.jpg",
                dir=rng.choice(["obs://a/", "obs://b/", "obs://a/c/"]),  # granted: shown as stored
                # A few equal times, so the id tie-break matters.
                time=base + rng.randrange(0, 60) * DAY + (i % 3),
                hard=hard,
                coefficient=round(rng.random(), 2) if hard else None,
                origin=rng.choice(["0", "1", None]),
                labeler=rng.choice(["ann@example.com", "bob@example.com", None]),
                parent=rng.choice([None, None, "parent-1"]),
                metadata={"camera": rng.choice(["x100", "z9"]), "@modelarts:size": [8, 8, 3]},
                labels=labels,
            )
        )
    return rows


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    with shared_world(tmp_path_factory.mktemp("listing")) as world:
        dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name())
        rows = _make_rows(dataset_id, 160)
        with world.services.db.session() as session:
            for r in rows:
                session.add(
                    Sample(
                        id=r.id,
                        dataset_id=dataset_id,
                        sample_type=r.sample_type,
                        sample_status=r.status,
                        sample_name=r.name,
                        sample_dir=r.dir,
                        source_kind="object",
                        source_key=f"k/{r.id}",
                        sample_size=10,
                        sample_time=r.time,
                        metadata_=r.metadata,
                        hard=r.hard,
                        hard_coefficient=r.coefficient,
                        top_score=r.top_score,
                        import_origin=r.origin,
                        labeler=r.labeler,
                        parent_sample_id=r.parent,
                    )
                )
            session.flush()
            for r in rows:
                for name, label_type, score, props in r.labels:
                    session.add(
                        SampleLabel(
                            sample_id=r.id,
                            dataset_id=dataset_id,
                            name=name,
                            type=label_type,
                            score=score,
                            property=props,
                            sample_top_score=r.top_score,
                        )
                    )
            session.flush()
            counters.rebuild(session, dataset_id)  # rows written without the writers' hooks
            bump_data_version(session, dataset_id)
        yield Fixture(world, dataset_id, rows)


def test_default_order_is_time_desc_and_asc_is_its_exact_reverse(fx: Fixture) -> None:
    desc = fx.all_ids()
    assert desc == expected(fx.rows, lambda r: True)
    assert fx.all_ids(order="asc") == list(reversed(desc))
    assert len(set(desc)) == len(fx.rows)  # paging covers every sample exactly once


def test_sample_count_and_pages_past_the_end(fx: Fixture) -> None:
    body = fx.get("/data-annotations/samples", limit=100, offset=0)
    assert body["sample_count"] == len(fx.rows) and len(body["samples"]) == 100
    assert fx.get("/data-annotations/samples", limit=100, offset=5) == {
        "sample_count": len(fx.rows),
        "samples": [],
    }


STATES = {
    "__ALL__": "MANUAL_ANNOTATION",
    "__NONE__": "UN_ANNOTATION",
    "__AUTO_ANNOTATION__": "AUTO_ANNOTATION",
    "MANUAL_ANNOTATION": "MANUAL_ANNOTATION",
    "UN_ANNOTATION": "UN_ANNOTATION",
    "AUTO_ANNOTATION": "AUTO_ANNOTATION",
}
TEAM_STATES = [
    "__UNCHECK__",
    "__ACCEPTED__",
    "__REJECTED__",
    "__UNREVIEWED__",
    "__REVIEWED__",
    "__WORKFORCE_SAMPLED__",
    "__WORKFORCE_SAMPLED_UNCHECK__",
    "__WORKFORCE_SAMPLED_CHECKED__",
    "__WORKFORCE_SAMPLED_ACCEPTED__",
    "__WORKFORCE_SAMPLED_REJECTED__",
]


@pytest.mark.parametrize("state", sorted(STATES))
def test_sample_state(fx: Fixture, state: str) -> None:
    assert fx.all_ids(sample_state=state) == expected(fx.rows, lambda r: r.status == STATES[state])


@pytest.mark.parametrize("state", TEAM_STATES)
def test_team_labeling_states_match_nothing_yet(fx: Fixture, state: str) -> None:
    assert fx.get("/data-annotations/samples", sample_state=state) == {"sample_count": 0, "samples": []}


def test_each_sample_is_shown_as_the_reference_describes_it(fx: Fixture) -> None:
    rows = {r.id: r for r in fx.rows}
    body = fx.get("/data-annotations/samples", limit=100)
    wire = {
        "UN_ANNOTATION": "__NONE__",
        "MANUAL_ANNOTATION": "__ALL__",
        "AUTO_ANNOTATION": "__AUTO_ANNOTATION__",
    }
    for sample in body["samples"]:
        row = rows[sample["sample_id"]]
        assert sample["sample_status"] == wire[row.status]
        assert sample["sample_type"] == row.sample_type
        assert sample["sample_name"] == row.name and sample["sample_dir"] == row.dir
        assert sample["sample_time"] == row.time
        assert sample["metadata"]["@modelarts:hard"] == (1.0 if row.hard else 0.0)
        assert sample["metadata"]["camera"] == row.metadata["camera"]
        got = sorted((lab["name"], lab["type"], lab.get("score")) for lab in sample["labels"])
        assert got == sorted((n, t, s) for n, t, s, _ in row.labels)
        assert sample["source"].startswith(fx.world.server.url + "/files/")


@pytest.mark.parametrize("name", [*LABELS, "nothing"])
def test_label_name(fx: Fixture, name: str) -> None:
    assert fx.all_ids(label_name=name) == expected(fx.rows, lambda r: any(n == name for n, *_ in r.labels))


@pytest.mark.parametrize("label_type", [0, 1, 3])
def test_label_type(fx: Fixture, label_type: int) -> None:
    assert fx.all_ids(label_type=label_type) == expected(
        fx.rows, lambda r: any(t == label_type for _, t, *_ in r.labels)
    )


@pytest.mark.parametrize("sample_type", [0, 1, 2])
def test_sample_type(fx: Fixture, sample_type: int) -> None:
    assert fx.all_ids(sample_type=sample_type) == expected(fx.rows, lambda r: r.sample_type == sample_type)


@pytest.mark.parametrize(
    ("low", "high"), [("0.2", "0.6"), ("0", "1"), ("0.5", None), (None, "0.3"), ("0.42", "0.42")]
)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_score_range_on_the_top_label_sorted_by_score(
    fx: Fixture, low: str | None, high: str | None, order: str
) -> None:
    lo = float(low) if low is not None else 0.0
    hi = float(high) if high is not None else 1.0
    params: dict[str, Any] = {"order": order}
    if low is not None:
        params["low_score"] = low
    if high is not None:
        params["high_score"] = high
    want = expected(
        fx.rows,
        lambda r: r.top_score is not None and lo <= r.top_score <= hi,
        by_score=True,
        asc=order == "asc",
    )
    assert fx.all_ids(**params) == want


def test_label_filter_sorted_by_score(fx: Fixture) -> None:
    want = expected(
        fx.rows,
        lambda r: any(n == "dog" for n, *_ in r.labels) and r.top_score is not None,
        by_score=True,
    )
    assert fx.all_ids(label_name="dog", low_score="0", high_score="1") == want


def _in_day_range(first: datetime, last: datetime) -> Callable[[Row], bool]:
    start = int(first.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)
    end = int(last.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000) + DAY
    return lambda r: start <= r.time < end


def _today_start() -> int:
    return int(NOW.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


D1, D2 = NOW - timedelta(days=40), NOW - timedelta(days=25)
CONDITIONS: list[tuple[str, list[dict[str, Any]], Callable[[Row], bool]]] = [
    ("hard 1", [{"hard": "1"}], lambda r: r.hard),
    ("hard 0", [{"hard": "0"}], lambda r: not r.hard),
    (
        "coefficient >=",
        [{"coefficient": "0.5"}],
        lambda r: r.coefficient is not None and r.coefficient >= 0.5,
    ),
    (
        "coefficient range",
        [{"coefficient": "0.1-0.4"}],
        lambda r: r.coefficient is not None and 0.1 <= r.coefficient <= 0.4,
    ),
    ("score range", [{"score": "0.3-0.8"}], lambda r: r.top_score is not None and 0.3 <= r.top_score <= 0.8),
    ("sample_name", [{"sample_name": "img_3.jpg"}], lambda r: r.name == "img_3.jpg"),
    ("sample_dir", [{"sample_dir": "obs://a/"}], lambda r: r.dir == "obs://a/"),
    (
        "sample_time range",
        [{"sample_time": f"{D1:%Y%m%d}-{D2:%Y%m%d}"}],
        _in_day_range(D1, D2),
    ),
    ("sample_time month", [{"sample_time": "month"}], lambda r: r.time >= _today_start() - 30 * DAY),
    ("sample_time day", [{"sample_time": "day"}], lambda r: r.time >= _today_start() - DAY),
    ("import_origin", [{"import_origin": "1"}], lambda r: r.origin == "1"),
    ("labeler", [{"labeler": "bob@example.com"}], lambda r: r.labeler == "bob@example.com"),
    ("parent_sample_id", [{"parent_sample_id": "parent-1"}], lambda r: r.parent == "parent-1"),
    (
        "label_list one",
        [{"label_list": {"labels": [{"name": "cat"}]}}],
        lambda r: any(n == "cat" for n, *_ in r.labels),
    ),
    (
        "label_list OR",
        [{"label_list": {"op": "OR", "labels": [{"name": "cat"}, {"name": "bird"}]}}],
        lambda r: any(n in ("cat", "bird") for n, *_ in r.labels),
    ),
    (
        "label_list AND",
        [{"label_list": {"op": "AND", "labels": [{"name": "cat"}, {"name": "dog"}]}}],
        lambda r: {"cat", "dog"} <= {n for n, *_ in r.labels},
    ),
    (
        "label_list type and property",
        [{"label_list": {"labels": [{"name": "dog", "type": 1, "property": {"@modelarts:color": ["red"]}}]}}],
        lambda r: any(n == "dog" and t == 1 and p["@modelarts:color"] == "red" for n, t, _, p in r.labels),
    ),
    (
        # One label must meet all of an entry (name, type and property together), not one each.
        "label_list OR of entries with type and property",
        [
            {
                "label_list": {
                    "op": "OR",
                    "labels": [
                        {"name": "dog", "type": 1, "property": {"@modelarts:color": ["red"]}},
                        {"name": "cat"},
                    ],
                }
            }
        ],
        lambda r: any(
            (n == "dog" and t == 1 and p["@modelarts:color"] == "red") or n == "cat"
            for n, t, _, p in r.labels
        ),
    ),
    (
        "label_list property null means any",
        [{"label_list": {"labels": [{"name": "dog", "property": {"@modelarts:color": None}}]}}],
        lambda r: any(n == "dog" for n, *_ in r.labels),
    ),
    ("metadata props", [{"metadata": {"props": {"camera": ["z9"]}}}], lambda r: r.metadata["camera"] == "z9"),
    ("metadata hard", [{"metadata": {"props": {"@modelarts:hard": ["1"]}}}], lambda r: r.hard),
    (
        "two conditions are ANDed",
        [{"hard": "1"}, {"sample_dir": "obs://b/"}],
        lambda r: r.hard and r.dir == "obs://b/",
    ),
    (
        "two keys are ANDed",
        [{"hard": "0", "labeler": "ann@example.com"}],
        lambda r: not r.hard and r.labeler == "ann@example.com",
    ),
    ("dicom keys match nothing", [{"kvp": "1"}], lambda r: False),
    ("video keys match nothing", [{"time_in_video": "00:01"}], lambda r: False),
    ("empty list", [], lambda r: True),
]


@pytest.mark.parametrize(("case", "conditions", "keep"), CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_search_conditions(
    fx: Fixture, case: str, conditions: list[dict[str, Any]], keep: Callable[[Row], bool]
) -> None:
    assert fx.all_ids(search_conditions=json.dumps(conditions)) == expected(fx.rows, keep)


def test_search_conditions_encoded_twice_and_combined_with_filters(fx: Fixture) -> None:
    twice = quote(json.dumps([{"hard": "1"}]), safe="")
    assert fx.all_ids(search_conditions=twice, sample_state="__AUTO_ANNOTATION__") == expected(
        fx.rows, lambda r: r.hard and r.status == "AUTO_ANNOTATION"
    )


def test_auto_annotation_list_holds_only_samples_to_confirm(fx: Fixture) -> None:
    want = expected(fx.rows, lambda r: r.status == "AUTO_ANNOTATION")
    assert fx.all_ids("/auto-annotations/samples") == want
    hard_auto = expected(fx.rows, lambda r: r.status == "AUTO_ANNOTATION" and r.hard)
    assert fx.all_ids("/auto-annotations/samples", search_conditions='[{"hard": "1"}]') == hard_auto
    body = fx.get("/auto-annotations/samples", limit=100)
    for sample in body["samples"]:
        assert sample["sample_status"] == "__AUTO_ANNOTATION__"
        assert all(0 <= lab["score"] <= 1 for lab in sample["labels"] if "score" in lab)
    one = want[0]
    assert fx.get(f"/auto-annotations/samples/{one}")["sample_id"] == one
    manual = expected(fx.rows, lambda r: r.status == "MANUAL_ANNOTATION")[0]
    response = fx.world.alice.aksk.get(
        fx.world.alice.v2(f"/datasets/{fx.dataset_id}/auto-annotations/samples/{manual}")
    )
    assert_error(response, 404)


def test_sample_detail(fx: Fixture) -> None:
    row = fx.rows[5]
    body = fx.get(f"/data-annotations/samples/{row.id}")
    assert body["sample_id"] == row.id and body["sample_name"] == row.name
    response = fx.world.alice.aksk.get(
        fx.world.alice.v2(f"/datasets/{fx.dataset_id}/data-annotations/samples/nope")
    )
    assert_error(response, 404)


def test_process_parameter_goes_into_image_sources_only(fx: Fixture) -> None:
    body = fx.get("/data-annotations/samples", limit=100, process_parameter="image/resize,m_lfit,h_200")
    for sample in body["samples"]:
        processed = "x-image-process=" in sample["source"]
        assert processed == (sample["sample_type"] == 0), sample


def test_deep_pages_through_the_skip_index_match_plain_paging(fx: Fixture) -> None:
    service = fx.world.services.sample_list
    plain = fx.all_ids()
    plain_hard = fx.all_ids(search_conditions='[{"hard": "0"}]', order="asc")
    old = (service.deep_offset, service.anchor_every)
    service.deep_offset, service.anchor_every = 10, 4
    try:
        assert fx.all_ids() == plain
        assert fx.all_ids(search_conditions='[{"hard": "0"}]', order="asc") == plain_hard
        # A change to the dataset invalidates the skip index: the list stays exact.
        victim = plain[len(plain) // 2]
        with fx.world.services.db.session() as session:
            session.query(SampleLabel).filter(SampleLabel.sample_id == victim).delete()
            session.query(Sample).filter(Sample.id == victim).delete()
            bump_data_version(session, fx.dataset_id)
        fx.rows[:] = [r for r in fx.rows if r.id != victim]
        assert fx.all_ids() == [i for i in plain if i != victim]
    finally:
        service.deep_offset, service.anchor_every = old


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": -5},
        {"limit": "abc"},
        {"offset": -1},
        {"offset": "abc"},
        {"low_score": "abc"},
        {"high_score": "x"},
        {"low_score": "0.8", "high_score": "0.2"},
        {"low_score": "nan"},
        {"label_type": "x"},
        {"sample_type": "x"},
        {"order": "up"},
        {"sample_state": "__BOGUS__"},
        {"search_conditions": "{not json"},
        {"search_conditions": "42"},
        {"search_conditions": '"hard"'},
        {"search_conditions": '{"hard": "1"}'},
        {"search_conditions": "[1, 2]"},
        {"search_conditions": '[{"bogus_key": 1}]'},
        {"search_conditions": '[{"hard": "maybe"}]'},
        {"search_conditions": '[{"sample_time": "20240230-20240301"}]'},
        {"search_conditions": '[{"sample_time": "20240301-20240201"}]'},
        {"search_conditions": '[{"score": "0.9-0.1"}]'},
        {"search_conditions": '[{"label_list": {"op": "XOR", "labels": [{"name": "cat"}]}}]'},
        {"search_conditions": '[{"label_list": {"labels": "cat"}}]'},
        {"search_conditions": '[{"metadata": {"props": {"camera": "z9"}}}]'},
        {"process_parameter": "image/resize,m_bogus,h_200"},
        {"process_parameter": "image/crop,w_10"},
        {"version_id": "v1"},
    ],
)
def test_bad_parameters_are_400(fx: Fixture, params: dict[str, Any]) -> None:
    response = fx.world.alice.aksk.get(
        fx.world.alice.v2(f"/datasets/{fx.dataset_id}/data-annotations/samples"), params=params
    )
    assert_error(response, 400)


@pytest.mark.parametrize("value", ["-1", "2", "1e300"])
def test_scores_outside_zero_one_are_not_errors(fx: Fixture, value: str) -> None:
    response = fx.world.alice.aksk.get(
        fx.world.alice.v2(f"/datasets/{fx.dataset_id}/data-annotations/samples"), params={"high_score": value}
    )
    assert response.status_code == 200


def test_other_projects_samples_are_not_reachable(fx: Fixture) -> None:
    mallory = fx.world.mallory
    response = mallory.aksk.get(mallory.v2(f"/datasets/{fx.dataset_id}/data-annotations/samples"))
    assert_error(response, 404)
    response = mallory.aksk.get(
        mallory.v2(f"/datasets/{fx.dataset_id}/data-annotations/samples/{fx.rows[0].id}")
    )
    assert_error(response, 404)
