"""Maintained counts (storage/db/counters.py) equal a recount after any sequence of writes.

A Hypothesis property test drives a real server through random sequences of imports (a
manifest with labels, hard flags and scores), uploads, label changes, confirmations and
rejections, sample deletions, label renames and deletions, and auto-label result writes (the
job's write phase with a made-up labeling); after each sequence the stored counters equal a
recount of the rows, and the dataset detail, the statistics and the list totals answer them;
and every label row carries its sample's top score (``sample_labels.sample_top_score``, the
copy database triggers keep for the label-and-score list: migration 0020). A second test runs
such writers on threads at once (PostgreSQL: row locks, atomic upserts).
Both run on SQLite and PostgreSQL (``LABELARTS_TEST_DATABASE``).
"""

from __future__ import annotations

import base64
import itertools
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select, text

from labelarts.ml.hard import HardExamples
from labelarts.services.autolabel.features import FeatureCache
from labelarts.services.autolabel.job import AutoLabelJob, JobSpec, Labeling, Snapshot
from labelarts.services.autolabel.writer import AutoLabel, SampleResult, write_results
from labelarts.storage.db import counters
from labelarts.storage.db.models import Label, Sample, SampleLabel
from tests.api import World, database_kind, unique_name
from tests.imports import create, jpeg, manifest_text, run_import, world_fixture, write

world = world_fixture("counters")

NAMES = ("cat", "dog", "bird")
# A label renamed or deleted meanwhile (4410), a rename target another writer took (4411), busy.
RACE_LOSSES = {(400, "ModelArts.4410"), (400, "ModelArts.4411"), (429, "ModelArts.6101")}
_seed = itertools.count(1)  # every file gets new bytes: no import or upload is skipped as a copy

label_sets = st.lists(st.sampled_from(NAMES), max_size=3)  # a name twice: two instances
pick = st.integers(min_value=0, max_value=10_000)

operations = st.one_of(
    st.tuples(
        st.just("import"),
        st.lists(st.tuples(label_sets, st.booleans(), st.booleans()), min_size=1, max_size=4),
        st.booleans(),
    ),
    st.tuples(st.just("upload"), st.lists(label_sets, min_size=1, max_size=3), st.booleans()),
    st.tuples(
        st.just("update"),
        st.lists(st.tuples(pick, st.one_of(st.none(), label_sets), st.sampled_from([None, 0.0, 1.0]))),
    ),
    st.tuples(st.just("delete"), st.lists(pick, min_size=1, max_size=3)),
    st.tuples(st.just("rename"), pick),
    st.tuples(st.just("delete_label"), pick, st.sampled_from([0, 1])),
    st.tuples(st.just("autolabel"), st.integers(min_value=0, max_value=2**31), st.sampled_from([1, 2, 50])),
)


class Driver:
    """Runs operations against one dataset through the HTTP API (and the job's write phase)."""

    def __init__(self, world: World, dataset_id: str, scratch: Path) -> None:
        self.world = world
        self.alice = world.alice
        self.dataset_id = dataset_id
        self.scratch = scratch
        self.renames = 0
        self.tolerate_races = False

    def ok(self, response: httpx.Response) -> None:
        """200; or, among concurrent writers, a lost race: a 404 (a sample deleted meanwhile),
        a 400 4410/4411 (a label renamed meanwhile) or a 429 (busy), never a 500."""
        if response.status_code == 200:
            return
        assert self.tolerate_races, response.text
        code = response.json().get("error_code")
        assert response.status_code == 404 or (response.status_code, code) in RACE_LOSSES, response.text

    def path(self, suffix: str) -> str:
        return self.alice.v2(f"/datasets/{self.dataset_id}{suffix}")

    def sample_ids(self) -> list[str]:
        with self.world.services.db.session() as session:
            return sorted(
                session.execute(select(Sample.id).where(Sample.dataset_id == self.dataset_id)).scalars()
            )

    def label_names(self) -> list[str]:
        with self.world.services.db.session() as session:
            return sorted(
                session.execute(select(Label.name).where(Label.dataset_id == self.dataset_id)).scalars()
            )

    def run(self, op: tuple[Any, ...]) -> None:
        getattr(self, "do_" + op[0])(*op[1:])

    def do_import(self, entries: list[tuple[list[str], bool, bool]], final: bool) -> None:
        root = self.world.imports / unique_name("counters")
        lines = []
        for i, (names, hard, scored) in enumerate(entries):
            write(root, {f"{i}.jpg": jpeg(next(_seed))})
            annotation = [
                {"type": "modelarts/image_classification", "name": name}
                | ({"confidence": 0.5 + 0.1 * j} if scored else {})
                for j, name in enumerate(names)
            ]
            lines.append(
                {"source": f"{i}.jpg", "hard": "true" if hard else "false", "annotation": annotation}
            )
        write(root, {"V001.manifest": manifest_text(lines)})
        run_import(
            self.world,
            self.dataset_id,
            root / "V001.manifest",
            import_type="manifest",
            final_annotation=final,
        )

    def do_upload(self, per_sample: list[list[str]], final: bool) -> None:
        body = {
            "final_annotation": final,
            "samples": [
                {
                    "name": f"u{next(_seed)}.jpg",
                    "data": base64.b64encode(jpeg(next(_seed))).decode(),
                    "labels": [{"name": name, "type": 0} for name in names],
                }
                for names in per_sample
            ],
        }
        response = self.alice.aksk.post(self.path("/data-annotations/samples"), json=body)
        self.ok(response)

    def do_update(self, changes: list[tuple[int, list[str] | None, float | None]]) -> None:
        """Confirm (labels as they are), correct (other labels), reject (no labels); hard flags."""
        ids = self.sample_ids()
        if not ids or not changes:
            return
        items: dict[str, dict[str, Any]] = {}
        current = self._labels_of(ids)
        for index, names, hard in changes:
            sample_id = ids[index % len(ids)]
            labels = current[sample_id] if names is None else names
            item: dict[str, Any] = {
                "sample_id": sample_id,
                "labels": [{"name": n, "type": 0} for n in labels],
            }
            if hard is not None:
                item["metadata"] = {"@modelarts:hard": hard}
            items[sample_id] = item
        response = self.alice.aksk.put(
            self.path("/data-annotations/samples"), json={"samples": list(items.values())}
        )
        self.ok(response)

    def _labels_of(self, ids: list[str]) -> dict[str, list[str]]:
        from labelarts.services.samples.records import labels_of

        with self.world.services.db.session() as session:
            return {i: [label.name for label in rows] for i, rows in labels_of(session, ids).items()}

    def do_delete(self, picks: list[int]) -> None:
        ids = self.sample_ids()
        if not ids:
            return
        chosen = sorted({ids[p % len(ids)] for p in picks})
        response = self.alice.aksk.post(
            self.path("/data-annotations/samples/delete"), json={"samples": chosen}
        )
        self.ok(response)

    def do_rename(self, index: int) -> None:
        names = self.label_names()
        if not names:
            return
        old = names[index % len(names)]
        self.renames += 1
        new = NAMES[self.renames % len(NAMES)]
        if new in names:
            new = f"{old}-{self.renames}"
        body = {"labels": [{"name": old, "property": {"@modelarts:rename_to": new}}]}
        response = self.alice.aksk.put(self.path("/data-annotations/labels"), json=body)
        self.ok(response)

    def do_delete_label(self, index: int, policy: int) -> None:
        names = self.label_names()
        if not names:
            return
        body = {"labels": [{"name": names[index % len(names)]}]}
        response = self.alice.aksk.post(
            self.path(f"/data-annotations/labels/delete?delete_policy={policy}"), json=body
        )
        self.ok(response)

    def do_autolabel(self, seed: int, write_rows: int) -> None:
        """The job's write phase over every unlabeled or auto-labeled sample, with random
        predictions and hard flags (the compute phase's answer, made up)."""
        classes = self.label_names()
        if not classes:
            return
        with self.world.services.db.session() as session:
            targets = session.execute(
                select(Sample.id, Sample.revision)
                .where(
                    Sample.dataset_id == self.dataset_id,
                    Sample.sample_status.in_(["UN_ANNOTATION", "AUTO_ANNOTATION"]),
                )
                .order_by(Sample.id)
            ).all()
        if not targets:
            return
        rng = np.random.default_rng(seed)
        n = len(targets)
        snap = Snapshot(
            dataset_type=0,
            classes=classes,
            label_types=dict.fromkeys(classes, 0),
            labeled_ids=[],
            y=np.zeros(0, dtype=np.int64),
            target_ids=[row[0] for row in targets],
            target_revisions=np.array([row[1] for row in targets], dtype=np.int64),
            total=n,
        )
        hard = rng.random(n) < 0.4
        labeling = Labeling(
            sample_ids=list(snap.target_ids),
            revisions=snap.target_revisions.copy(),
            predicted=rng.integers(0, len(classes), n).astype(np.int64),
            confidence=rng.random(n),
            hard=HardExamples(hard, np.where(hard, 0.7, 0.0), [[2] if h else [] for h in hard]),
        )
        job = self._job(write_rows)
        ctx = self.world.services.tasks.run_here(
            project_id=self.alice.project_id, dataset_id=self.dataset_id, kind="auto-label", config={}
        )
        job.write(ctx, snap, labeling)

    def _job(self, write_rows: int) -> AutoLabelJob:
        services = self.world.services
        spec = JobSpec(
            project_id=self.alice.project_id,
            dataset_id=self.dataset_id,
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
            models_dir=self.scratch,
            threads=1,
            spec=spec,
            memmap_bytes=0,
            scratch_dir=self.scratch,
            write_rows=write_rows,
        )


def label_rows_without_their_sample_score(session: Any, dataset_id: str) -> list[Any]:
    """Label rows whose copy of the sample's top score is not the sample's (none expected)."""
    return session.execute(
        select(SampleLabel.id, SampleLabel.sample_top_score, Sample.top_score)
        .join(Sample, Sample.id == SampleLabel.sample_id)
        .where(
            SampleLabel.dataset_id == dataset_id,
            SampleLabel.sample_top_score.is_distinct_from(Sample.top_score),
        )
    ).all()


def check_counts(world: World, dataset_id: str) -> None:
    """Stored counters equal a recount, and every reader answers the recount."""
    with world.services.db.session() as session:
        truth = counters.recount(session, dataset_id)
        assert counters.stored(session, dataset_id) == truth
    alice = world.alice
    by_status = Counter[str]()
    hard = 0
    for (status, is_hard), n in truth.samples.items():
        by_status[status] += n
        hard += n if is_hard else 0
    total = sum(by_status.values())

    detail = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}")).json()
    assert (
        detail["total_sample_count"],
        detail["annotated_sample_count"],
        detail["unconfirmed_sample_count"],
    ) == (total, by_status["MANUAL_ANNOTATION"], by_status["AUTO_ANNOTATION"])
    listed = alice.aksk.get(alice.v2("/datasets"), params={"limit": 100}).json()["datasets"]
    assert [d["total_sample_count"] for d in listed if d["dataset_id"] == dataset_id] == [total]

    stats = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    assert stats["sample_stats"]["all"] == total
    assert stats["sample_stats"]["un_annotation"] == by_status["UN_ANNOTATION"]
    assert stats["sample_stats"]["manual_annotation"] == by_status["MANUAL_ANNOTATION"]
    assert stats["sample_stats"]["auto_annotation"] == by_status["AUTO_ANNOTATION"]
    assert stats["key_sample_stats"]["key_sample"] == hard
    per_label: dict[str, list[int]] = {}
    for (name, _), (carrying, instances) in truth.labels.items():
        entry = per_label.setdefault(name, [0, 0])
        entry[0] += instances
        entry[1] += carrying
    for entry in stats["label_stats"]:
        assert [entry["count"], entry["sample_count"]] == per_label.get(entry["name"], [0, 0])

    def listed_total(route: str, **params: str) -> int:
        response = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/{route}"), params={"limit": 1, **params})
        assert response.status_code == 200, response.text
        count: int = response.json()["sample_count"]
        return count

    assert listed_total("data-annotations/samples") == total
    assert listed_total("auto-annotations/samples") == by_status["AUTO_ANNOTATION"]
    for state, status in (("__ALL__", "MANUAL_ANNOTATION"), ("__NONE__", "UN_ANNOTATION")):
        assert listed_total("data-annotations/samples", sample_state=state) == by_status[status]
    for name in {name for name, _ in truth.labels}:
        carrying = sum(c for (n, _), (c, _) in truth.labels.items() if n == name)
        assert listed_total("data-annotations/samples", label_name=name) == carrying
        auto = truth.labels.get((name, "AUTO_ANNOTATION"), (0, 0))[0]
        assert listed_total("auto-annotations/samples", label_name=name) == auto


@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(operations, min_size=2, max_size=6))
def test_counts_equal_a_recount_after_any_writes(world: World, tmp_path: Path, ops: list[Any]) -> None:
    dataset_id = create(world, labels=[{"name": name, "type": 0} for name in NAMES[:2]])
    driver = Driver(world, dataset_id, tmp_path)
    # Samples of every status carrying the labels, so that every operation has work to do.
    driver.do_upload([["cat"], ["dog", "dog"], ["cat", "dog"], []], final=True)
    driver.do_upload([["cat"], ["dog"]], final=False)
    for op in ops:
        driver.run(op)
        with world.services.db.session() as session:
            assert counters.stored(session, dataset_id) == counters.recount(session, dataset_id), op
            assert label_rows_without_their_sample_score(session, dataset_id) == [], op
    check_counts(world, dataset_id)
    response = world.alice.aksk.delete(world.alice.v2(f"/datasets/{dataset_id}"))
    assert response.status_code == 204, response.text
    with world.services.db.session() as session:
        assert counters.stored(session, dataset_id) == counters.Snapshot({}, {})


def test_concurrent_writers_leave_exact_counts(world: World, tmp_path: Path) -> None:
    """Uploads, label corrections, confirmations, deletions, renames and auto-label writes on
    threads at once over one dataset (on PostgreSQL they really overlap): exact counts."""
    dataset_id = create(world, labels=[{"name": name, "type": 0} for name in NAMES])
    seeder = Driver(world, dataset_id, tmp_path)
    seeder.do_upload([[NAMES[i % 3]] for i in range(12)], final=False)
    seeder.do_upload([[NAMES[i % 3], NAMES[(i + 1) % 3]] for i in range(12)], final=True)
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        rng = random.Random(number)
        driver = Driver(world, dataset_id, tmp_path / str(number))
        driver.tolerate_races = True
        (tmp_path / str(number)).mkdir()
        try:
            for _ in range(6):
                kind = rng.choice(["upload", "update", "update", "delete", "autolabel", "rename"])
                if kind == "upload":
                    driver.do_upload([rng.sample(NAMES, rng.randint(0, 2))], final=rng.random() < 0.5)
                elif kind == "update":
                    changes = [
                        (rng.randrange(10_000), rng.choice([None, [], ["cat"], ["dog", "bird"]]), None)
                        for _ in range(3)
                    ]
                    driver.do_update(changes)
                elif kind == "delete":
                    driver.do_delete([rng.randrange(10_000)])
                elif kind == "autolabel":
                    driver.do_autolabel(rng.randrange(2**31), 3)
                else:
                    driver.do_rename(rng.randrange(10_000))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    check_counts(world, dataset_id)
    with world.services.db.session() as session:
        assert label_rows_without_their_sample_score(session, dataset_id) == []


@pytest.mark.parametrize("policy", [0, 1])
def test_deleting_a_label_carried_with_others_keeps_their_counts(
    world: World, tmp_path: Path, policy: int
) -> None:
    dataset_id = create(world, labels=[{"name": name, "type": 0} for name in NAMES])
    driver = Driver(world, dataset_id, tmp_path)
    driver.do_upload([["cat"], ["cat", "cat"], ["cat", "dog"], ["dog"], []], final=True)
    driver.do_upload([["cat"], ["bird", "cat"]], final=False)
    driver.do_delete_label(1, policy)  # the labels in name order: bird, cat, dog
    check_counts(world, dataset_id)


@pytest.mark.skipif(database_kind() != "postgresql", reason="row locks (SQLite: one write lock)")
def test_auto_label_write_locks_samples_in_id_order_whatever_the_scan(world: World, tmp_path: Path) -> None:
    """An edit that holds the first sample (in id order, as every writer locks) and then asks for
    the second gets it while an auto-label write of both waits: the write takes no sample before
    the first, even when the scan visits the second first. Before, the write's UPDATE locked in
    scan order, closing a lock cycle that PostgreSQL broke with a 429 (seen under load in CI)."""
    dataset_id = create(world, labels=[{"name": name, "type": 0} for name in NAMES])
    Driver(world, dataset_id, tmp_path).do_upload([[], []], final=False)
    db = world.services.db
    with db.session() as session:
        first, second = sorted(
            session.execute(select(Sample.id).where(Sample.dataset_id == dataset_id)).scalars()
        )
    # The heap must hold the second before the first. A new row version of the first did that
    # only while no earlier test of this database had left room before the second (a freed line
    # pointer, free space on an earlier page): rewriting the table in descending id order does
    # it whatever came before.
    with db.engine.connect() as connection:
        connection.execute(text("CREATE INDEX ix_test_samples_id_desc ON samples (id DESC)"))
        connection.execute(text("CLUSTER samples USING ix_test_samples_id_desc"))
        connection.execute(text("DROP INDEX ix_test_samples_id_desc"))
        connection.commit()
    with db.session() as session:
        in_heap = session.execute(
            text("SELECT id FROM samples WHERE dataset_id = :d ORDER BY ctid"), {"d": dataset_id}
        ).scalars()
        assert list(in_heap) == [second, first]
        revisions = dict(
            session.execute(select(Sample.id, Sample.revision).where(Sample.dataset_id == dataset_id)).all()
        )
    written: list[str] = []
    errors: list[BaseException] = []

    def auto_label_write() -> None:
        try:
            with db.session(write=True) as session:
                for scan in ("indexscan", "indexonlyscan", "bitmapscan"):  # scan in heap order
                    session.execute(text(f"SET LOCAL enable_{scan} = off"))
                results = [
                    SampleResult(
                        sample_id, revisions[sample_id], [AutoLabel("cat", 0.9)], hard=False, coefficient=0.0
                    )
                    for sample_id in (first, second)
                ]
                written.extend(write_results(session, dataset_id, results))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with db.engine.connect() as editor:
        editor.execute(text("SET lock_timeout = '20s'"))
        lock = text("SELECT id FROM samples WHERE id = :id FOR UPDATE")
        editor.execute(lock, {"id": first}).all()
        writer = threading.Thread(target=auto_label_write)
        writer.start()
        deadline = time.monotonic() + 30
        with db.engine.connect() as watcher:  # until the write waits for a lock
            waiting = text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            while not watcher.execute(waiting).scalar_one() and time.monotonic() < deadline:
                watcher.rollback()
                time.sleep(0.05)
        editor.execute(lock, {"id": second}).all()  # a cycle: PostgreSQL aborts one within 1 s
        editor.commit()
    writer.join(timeout=60)
    assert not errors, errors
    assert sorted(written) == [first, second]
    check_counts(world, dataset_id)


@pytest.mark.skipif(database_kind() != "postgresql", reason="row locks (SQLite: one write lock)")
def test_a_rename_to_a_name_an_auto_label_write_puts_on_samples_meanwhile_counts_once(
    world: World, tmp_path: Path
) -> None:
    """A rename to a name the dataset lacks counted the carriers of the new name as "the old
    name's carriers" (no sample could carry a name the dataset lacks). An auto-label write that
    put that name on another sample and committed between the rename's UPDATE and its count
    had that sample counted twice (seen in CI). The write now creates the label it writes, so
    the rename conflicts (4411) and nothing is counted twice."""
    dataset_id = create(world, labels=[{"name": name, "type": 0} for name in ("x", "cat")])
    Driver(world, dataset_id, tmp_path).do_upload([["x"], []], final=True)
    db = world.services.db
    with db.session() as session:
        rows = session.execute(
            select(Sample.id, Sample.revision, Sample.sample_status).where(Sample.dataset_id == dataset_id)
        ).all()
    unlabeled = next(row for row in rows if row[2] == "UN_ANNOTATION")
    written: list[str] = []
    errors: list[BaseException] = []

    def auto_label_write() -> None:
        try:
            with db.session(write=True) as session:
                result = SampleResult(
                    unlabeled[0], unlabeled[1], [AutoLabel("bird", 0.9)], hard=True, coefficient=0.5
                )
                written.extend(write_results(session, dataset_id, [result]))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def between_the_rename_and_its_count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if written or errors or not statement.startswith("UPDATE sample_labels SET name"):
            return
        writer = threading.Thread(target=auto_label_write)
        writer.start()
        writer.join(timeout=60)

    event.listen(db.engine, "after_cursor_execute", between_the_rename_and_its_count)
    try:
        response = world.alice.aksk.put(
            world.alice.v2(f"/datasets/{dataset_id}/data-annotations/labels"),
            json={"labels": [{"name": "x", "property": {"@modelarts:rename_to": "bird"}}]},
        )
    finally:
        event.remove(db.engine, "after_cursor_execute", between_the_rename_and_its_count)
    assert not errors, errors
    assert written == [unlabeled[0]]  # the write went through between the two
    assert response.status_code == 400 and response.json()["error_code"] == "ModelArts.4411", response.text
    check_counts(world, dataset_id)
