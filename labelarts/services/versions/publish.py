"""The ``publish`` task body: freeze the dataset's samples and labels, split, count, write.

1. **Freeze** (one transaction, one snapshot: :func:`~labelarts.storage.db.dialect.begin_snapshot`):
   two ``INSERT ... SELECT`` statements copy the samples (``version_samples``) and their
   labels (``version_labels``); no row passes through Python. The first statement also
   splits: each labeled (``__ALL__``) sample gets the stratum of its first label name, and
   within each stratum the samples are ranked by a hash of their position keyed by the
   version's stored ``seed`` (:func:`split_keys`); the first ``round(n * ratio)`` of a stratum of ``n`` are
   TRAIN, the rest EVAL. The same frozen samples, ratio and seed always give the same split.
2. **Count**: grouped queries over the frozen rows (sample and label counts, per split, the
   differences to the previous version).
3. **Write** the manifest (and the CSV of a CSV version) by keyset pages of the frozen rows,
   streamed to the object store under a temporary name and renamed when whole.
4. **Finish**: the version becomes normal (status 1) and the dataset's current version, in one
   transaction that first checks the task was not stopped.

A body that fails or is stopped leaves the version row at 0; its answered status is derived
from the task (4, error, once the task ended otherwise than succeeded; :mod:`.service`).
"""

from __future__ import annotations

import csv
import io
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    String,
    and_,
    case,
    cast,
    distinct,
    except_,
    exists,
    false,
    func,
    insert,
    literal,
    null,
    select,
    union,
)
from sqlalchemy.orm import Session, aliased

from labelarts.clock import now_ms
from labelarts.formats.modelarts_manifest import (
    USAGES,
    ManifestLabel,
    ManifestSample,
    manifest_chunks,
    source_uri,
)
from labelarts.jobs.runner import LeaseLost, StopRequested, TaskContext
from labelarts.services.samples.records import MANUAL, SAMPLE_DATA_MAX_CHARS
from labelarts.storage.db import Database
from labelarts.storage.db.dialect import begin_snapshot, uses_row_locks
from labelarts.storage.db.models import (
    Dataset,
    DatasetVersion,
    Label,
    Sample,
    SampleLabel,
    VersionLabel,
    VersionSample,
)
from labelarts.storage.objects import ObjectStore

log = logging.getLogger(__name__)

PUBLISH_KIND: Final = "publish"
CREATING, NORMAL, DELETING, DELETED, ERROR = 0, 1, 2, 3, 4
PAGE: Final = 2_000  # frozen samples per page while writing
# SQLite: the lease the freeze's transaction takes for its task, whose heartbeat cannot
# renew it until the transaction commits (PostgreSQL's freeze does not block the heartbeat).
FREEZE_LEASE_SECONDS: Final = 1_800
USAGE_KEY: Final = "@labelarts:usage"
# The split's order: a hash of each sample's position, keyed by the seed, in SQL integer
# arithmetic both databases share: an affine step, a square (not linear), another affine step,
# each modulo the prime 2^31 - 1, so no intermediate product reaches 2^63.
_PRIME: Final = 2_147_483_647
# Text-classification dataset type: the only one a CSV version is written for.
TEXT_CLASSIFICATION: Final = 100
SAMPLE_STATE_STATUS: Final[dict[str, str]] = {
    "__ALL__": MANUAL,
    "__NONE__": "UN_ANNOTATION",
    "__AUTO_ANNOTATION__": "AUTO_ANNOTATION",
}


def version_prefix(dataset_id: str, name: str) -> str:
    """Where a version's files live in the object store (deleted with the version)."""
    return f"datasets/{dataset_id}/annotation/{name}/"


def state_filter(sample_state: str | None) -> list[ColumnElement[bool]]:
    if sample_state is None:
        return []
    status = SAMPLE_STATE_STATUS.get(sample_state)
    return [false()] if status is None else [Sample.sample_status == status]


def split_keys(seed: int) -> tuple[int, int, int, int, int]:
    """The hash constants the seed stands for (multipliers in [1, p), offsets in [0, p))."""
    rng = random.Random(seed)
    return (
        rng.randrange(1, _PRIME),
        rng.randrange(_PRIME),
        rng.randrange(_PRIME),
        rng.randrange(1, _PRIME),
        rng.randrange(_PRIME),
    )


@dataclass(frozen=True)
class FreezeSpec:
    version_id: str
    dataset_id: str
    sample_state: str | None
    ratio: float
    seed: int
    keep_usage: bool
    clear_hard: bool


def freeze(session: Session, spec: FreezeSpec) -> None:
    """Copy the samples and labels into the version tables, split included (two statements).

    The split is ranked over narrow rows (id, position, stratum) and joined back to the
    samples for the copy, so the window functions never sort wide rows."""
    first_label = (
        select(func.min(SampleLabel.name)).where(SampleLabel.sample_id == Sample.id).scalar_subquery()
    )
    stratum = case((Sample.sample_status == MANUAL, first_label), else_=null())
    base = (
        select(
            Sample.id.label("sample_id"),
            func.row_number().over(order_by=Sample.id).label("position"),
            stratum.label("stratum"),
        )
        .where(Sample.dataset_id == spec.dataset_id, *state_filter(spec.sample_state))
        .subquery("base")
    )
    a, b, c, d, e = split_keys(spec.seed)
    first = (base.c.position * a + b) % _PRIME
    mixed = ((first * first + c) % _PRIME * d + e) % _PRIME
    ranked = select(
        base,
        func.row_number().over(partition_by=base.c.stratum, order_by=(mixed, base.c.sample_id)).label("rn"),
        func.count().over(partition_by=base.c.stratum).label("cnt"),
    ).subquery("ranked")
    split: ColumnElement[Any] = case(
        (ranked.c.stratum.is_(None), null()),
        (ranked.c.rn <= ranked.c.cnt * spec.ratio + 0.5, "TRAIN"),
        else_="EVAL",
    )
    if spec.keep_usage:
        existing = func.upper(Sample.metadata_[USAGE_KEY].as_string())
        kept = and_(ranked.c.stratum.is_not(None), existing.in_(sorted(USAGES)))
        split = case((kept, existing), else_=split)
    copied = [
        Sample.sample_type,
        Sample.sample_status,
        Sample.sample_name,
        Sample.sample_dir,
        Sample.source_kind,
        Sample.source_key,
        Sample.content_hash,
        Sample.sample_size,
        Sample.sample_time,
        Sample.top_score,
        Sample.import_origin,
        Sample.labeler,
        Sample.text,
    ]
    session.execute(
        insert(VersionSample).from_select(
            [
                "version_id",
                "sample_id",
                "position",
                "stratum",
                *(column.key for column in copied),
                "metadata",
                "hard",
                "hard_coefficient",
                "usage",
            ],
            select(
                literal(spec.version_id, String),
                Sample.id,
                ranked.c.position,
                ranked.c.stratum,
                *copied,
                Sample.metadata_,
                literal(False, Boolean) if spec.clear_hard else Sample.hard,
                cast(null(), Float) if spec.clear_hard else Sample.hard_coefficient,
                split,
            )
            .select_from(ranked)
            .join(Sample, Sample.id == ranked.c.sample_id)
            .order_by(Sample.id),
        )
    )
    session.execute(
        insert(VersionLabel).from_select(
            ["version_id", "label_id", "sample_id", "name", "type", "score", "property", "annotated_by"],
            select(
                literal(spec.version_id, String),
                SampleLabel.id,
                SampleLabel.sample_id,
                SampleLabel.name,
                SampleLabel.type,
                SampleLabel.score,
                SampleLabel.property,
                SampleLabel.annotated_by,
            )
            .select_from(VersionSample)
            .join(SampleLabel, SampleLabel.sample_id == VersionSample.sample_id)
            .where(VersionSample.version_id == spec.version_id)
            .order_by(SampleLabel.id),
        )
    )


# --- statistics -----------------------------------------------------------------------------


def _label_stats(
    session: Session, version_id: str, properties: dict[str, dict[str, Any]], usage: str | None = None
) -> list[dict[str, Any]]:
    """The reference's LabelStats of the version's labeled samples (``usage``: of one split)."""
    where = [
        VersionLabel.version_id == version_id,
        VersionSample.version_id == version_id,
        VersionSample.sample_id == VersionLabel.sample_id,
        VersionSample.sample_status == MANUAL,
    ]
    if usage is not None:
        where.append(VersionSample.usage == usage)
    rows = session.execute(
        select(
            VersionLabel.name, VersionLabel.type, func.count(), func.count(distinct(VersionLabel.sample_id))
        )
        .where(*where)
        .group_by(VersionLabel.name, VersionLabel.type)
        .order_by(VersionLabel.name, VersionLabel.type)
    ).all()
    return [
        {
            "name": name,
            "type": int(kind),
            "property": dict(properties.get(name, {})),
            "count": int(count),
            "sample_count": int(samples),
        }
        for name, kind, count, samples in rows
    ]


def _differences(session: Session, version_id: str, previous_id: str) -> dict[str, int]:
    """Samples added, deleted and relabeled (their set of label names and types changed)
    since the previous version, by set operations over the frozen rows."""

    outer = aliased(VersionSample, name="outer_samples")

    def only_in(a: str, b: str) -> int:
        other = select(VersionSample.sample_id).where(
            VersionSample.version_id == b, VersionSample.sample_id == outer.sample_id
        )
        return int(
            session.execute(
                select(func.count()).select_from(outer).where(outer.version_id == a, ~exists(other))
            ).scalar_one()
        )

    added, deleted = only_in(version_id, previous_id), only_in(previous_id, version_id)

    def label_set(a: str) -> Any:
        return select(VersionLabel.sample_id, VersionLabel.name, VersionLabel.type).where(
            VersionLabel.version_id == a
        )

    # Each EXCEPT in its own subquery: SQLite takes no parenthesised compound SELECTs.
    gone = except_(label_set(previous_id), label_set(version_id)).subquery("gone")
    came = except_(label_set(version_id), label_set(previous_id)).subquery("came")
    changed = union(select(gone.c.sample_id), select(came.c.sample_id)).subquery("changed")
    both = and_(
        exists(
            select(VersionSample.sample_id).where(
                VersionSample.version_id == version_id, VersionSample.sample_id == changed.c.sample_id
            )
        ),
        exists(
            select(VersionSample.sample_id).where(
                VersionSample.version_id == previous_id, VersionSample.sample_id == changed.c.sample_id
            )
        ),
    )
    modified = session.execute(select(func.count()).select_from(changed).where(both)).scalar_one()
    return {
        "add_sample_count": added,
        "deleted_sample_count": deleted,
        "modified_sample_count": int(modified),
    }


def statistics(session: Session, version: DatasetVersion) -> dict[str, Any]:
    """Every figure the version's answer shows, from the frozen rows."""
    vid = version.id
    by_status = dict(
        session.execute(
            select(VersionSample.sample_status, func.count())
            .where(VersionSample.version_id == vid)
            .group_by(VersionSample.sample_status)
        ).all()
    )
    by_usage = {
        str(usage): int(count)
        for usage, count in session.execute(
            select(VersionSample.usage, func.count())
            .where(VersionSample.version_id == vid, VersionSample.usage.is_not(None))
            .group_by(VersionSample.usage)
        ).all()
    }
    properties = {
        name: dict(prop or {})
        for name, prop in session.execute(
            select(Label.name, Label.property).where(Label.dataset_id == version.dataset_id)
        ).all()
    }
    per_sample = (
        select(func.count(distinct(VersionLabel.name)).label("names"))
        .where(
            VersionLabel.version_id == vid,
            VersionSample.version_id == vid,
            VersionSample.sample_id == VersionLabel.sample_id,
            VersionSample.sample_status == MANUAL,
        )
        .group_by(VersionLabel.sample_id)
        .subquery()
    )
    multi = session.execute(select(func.count()).where(per_sample.c.names > 1)).scalar_one() > 0
    total = sum(int(n) for n in by_status.values())
    stats: dict[str, Any] = {
        "total_sample_count": total,
        "annotated_sample_count": int(by_status.get(MANUAL, 0)),
        "unconfirmed_sample_count": int(by_status.get("AUTO_ANNOTATION", 0)),
        "label_stats": _label_stats(session, vid, properties),
        "label_type": "multi" if multi else "single",
        "splits": {
            usage: {
                "sample_count": int(by_usage.get(usage, 0)),
                "label_stats": _label_stats(session, vid, properties, usage),
            }
            for usage in sorted(by_usage)
        },
        "add_sample_count": total,
        "deleted_sample_count": 0,
        "modified_sample_count": 0,
    }
    previous = version.previous_version_id
    if previous is not None:
        before = session.execute(
            select(
                func.count(),
                func.sum(case((VersionSample.sample_status == MANUAL, 1), else_=0)),
            ).where(VersionSample.version_id == previous)
        ).one()
        stats["previous_total_sample_count"] = int(before[0])
        stats["previous_annotated_sample_count"] = int(before[1] or 0)
        stats.update(_differences(session, vid, previous))
    return stats


# --- writing ---------------------------------------------------------------------------------


class FrozenSample(NamedTuple):
    """What writing needs of a frozen sample (one row of :data:`_FROZEN_COLUMNS`)."""

    sample_id: str
    sample_status: str
    sample_name: str
    source_kind: str
    source_key: str
    text: str | None
    usage: str | None
    hard: bool
    hard_coefficient: float | None


_FROZEN_COLUMNS = (
    VersionSample.sample_id,
    VersionSample.sample_status,
    VersionSample.sample_name,
    VersionSample.source_kind,
    VersionSample.source_key,
    VersionSample.text,
    VersionSample.usage,
    VersionSample.hard,
    VersionSample.hard_coefficient,
)


class PublishBody:
    """Runs one ``publish`` task (:meth:`run`), from its row alone."""

    def __init__(
        self, db: Database, objects: ObjectStore, ctx: TaskContext, version_id: str | None = None
    ) -> None:
        self._db = db
        self._objects = objects
        self._ctx = ctx
        self._version_id = version_id if version_id is not None else str(ctx.config["version_id"])
        self._written = 0
        self._total = 0
        self._full_text_misses = 0

    def run(self) -> dict[str, Any]:
        with self._db.session() as session:
            version = session.get(DatasetVersion, self._version_id)
            if version is None or version.status != CREATING:
                raise LeaseLost  # deleted (with its dataset) before it started
            spec = FreezeSpec(
                version_id=version.id,
                dataset_id=version.dataset_id,
                sample_state=version.sample_state,
                ratio=version.train_ratio,
                seed=version.seed,
                keep_usage=not version.remove_sample_usage,
                clear_hard=version.clear_hard_property,
            )
            name, fmt, header = version.name, version.version_format, version.with_column_header
            dataset_type = version.dataset_type
        self._ctx.report(0.01)
        started = time.perf_counter()
        with self._db.session() as session:
            begin_snapshot(session)
            if not uses_row_locks(session):  # SQLite: the heartbeat waits for this transaction
                self._ctx.hold_lease(session, FREEZE_LEASE_SECONDS)
            freeze(session, spec)
        timings = {"freeze_seconds": round(time.perf_counter() - started, 3)}
        self._ctx.report(0.3)
        return self.complete(name, fmt, header, dataset_type, spec, started, timings)

    def complete(
        self,
        name: str,
        fmt: str,
        header: bool,
        dataset_type: int,
        spec: FreezeSpec,
        started: float,
        timings: dict[str, float],
        extra_stats: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Steps 2-4 over rows already in the version tables (the freeze's, or those a
        processing run wrote: ``extra_stats`` then replaces figures of the statistics)."""
        with self._db.session() as session:
            version = session.get(DatasetVersion, self._version_id)
            if version is None:
                raise LeaseLost
            stats = statistics(session, version)
        if extra_stats:
            stats.update(extra_stats)
        timings["statistics_seconds"] = round(time.perf_counter() - started - sum(timings.values()), 3)
        self._total = int(stats["total_sample_count"])
        self._ctx.report(0.4, total_sample_count=self._total)
        prefix = version_prefix(spec.dataset_id, name)
        manifest_key = f"{prefix}{name}.manifest"
        manifest_bytes = self._objects.put_stream(
            manifest_key,
            manifest_chunks(self._manifest_samples(dataset_type), with_hard=not spec.clear_hard),
        )
        csv_key: str | None = None
        if fmt == "CSV":
            csv_key = f"{prefix}{name}.csv"
            self._written = 0
            self._objects.put_stream(csv_key, self._csv_chunks(header))
        timings["write_seconds"] = round(time.perf_counter() - started - sum(timings.values()), 3)
        stats["manifest_bytes"] = manifest_bytes
        if self._full_text_misses:
            stats["text_cut_sample_count"] = self._full_text_misses
        with self._db.session(write=True) as session:
            if self._ctx.stop_requested(session):
                raise StopRequested
            version = session.get(DatasetVersion, self._version_id)
            if version is None:
                raise LeaseLost
            version.status = NORMAL
            version.stats = stats
            version.manifest_key = manifest_key
            version.csv_key = csv_key
            version.update_time = now_ms()
            session.flush()
            dataset = session.get(Dataset, spec.dataset_id)
            if dataset is not None:
                dataset.current_version_id = version.id
        return {
            "version_id": self._version_id,
            "total_sample_count": stats["total_sample_count"],
            "annotated_sample_count": stats["annotated_sample_count"],
            "manifest_bytes": manifest_bytes,
            **timings,
        }

    def _pages(self) -> Iterator[tuple[list[FrozenSample], dict[str, list[ManifestLabel]]]]:
        """The frozen samples by sample id, a page at a time, each with its labels (a range
        of the ``(version_id, sample_id)`` index, no id list bound). Plain column tuples:
        no ORM objects, and the samples' metadata is not read."""
        after = ""
        while True:
            with self._db.session() as session:
                rows = [
                    FrozenSample(*row)
                    for row in session.execute(
                        select(*_FROZEN_COLUMNS)
                        .where(VersionSample.version_id == self._version_id, VersionSample.sample_id > after)
                        .order_by(VersionSample.sample_id)
                        .limit(PAGE)
                    )
                ]
                if not rows:
                    return
                labels: dict[str, list[ManifestLabel]] = {row.sample_id: [] for row in rows}
                for sample_id, name, kind, score, prop, by in session.execute(
                    select(
                        VersionLabel.sample_id,
                        VersionLabel.name,
                        VersionLabel.type,
                        VersionLabel.score,
                        VersionLabel.property,
                        VersionLabel.annotated_by,
                    )
                    .where(
                        VersionLabel.version_id == self._version_id,
                        VersionLabel.sample_id >= rows[0].sample_id,
                        VersionLabel.sample_id <= rows[-1].sample_id,
                    )
                    .order_by(VersionLabel.sample_id, VersionLabel.label_id)
                ):
                    labels[sample_id].append(ManifestLabel(name, kind, score, prop or {}, by))
            yield rows, labels
            after = rows[-1].sample_id
            self._written += len(rows)
            share = self._written / self._total if self._total else 1.0
            self._ctx.report(0.4 + 0.59 * min(share, 1.0))

    def _text_of(self, row: FrozenSample) -> str | None:
        """A text sample's whole text (the row keeps it cut; the object holds all of it)."""
        if row.text is None or len(row.text) < SAMPLE_DATA_MAX_CHARS:
            return row.text
        try:
            return self._objects.get(row.source_key).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            self._full_text_misses += 1
            log.warning("version %s: the text of sample %s is cut", self._version_id, row.sample_id)
            return row.text

    def _manifest_samples(self, dataset_type: int) -> Iterator[ManifestSample]:
        for rows, labels in self._pages():
            for row in rows:
                text = self._text_of(row)
                carried = labels[row.sample_id] if row.sample_status == MANUAL else []
                yield ManifestSample(
                    source=source_uri(kind=row.source_kind, key=row.source_key, text=text),
                    labels=carried,
                    # content:// lines carry the sample's name as their id: the reader names
                    # the sample after it (a file sample is named after its file).
                    id=row.sample_name if text is not None else row.sample_id,
                    usage=row.usage,
                    hard=row.hard,
                    hard_coefficient=row.hard_coefficient,
                )

    def _csv_chunks(self, header: bool) -> Iterator[bytes]:
        """A text-classification CSV: ``text,label,usage`` (labels joined with ``;``)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if header:
            writer.writerow(["text", "label", "usage"])
        for rows, labels in self._pages():
            for row in rows:
                carried = labels[row.sample_id] if row.sample_status == MANUAL else []
                names = ";".join(dict.fromkeys(x.name for x in carried))
                writer.writerow([_csv_safe(self._text_of(row) or ""), _csv_safe(names), row.usage or ""])
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
        rest = buffer.getvalue()
        if rest:
            yield rest.encode("utf-8")


def _csv_safe(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (the guide: a leading =, +, - or @ gets
    a tab before it)."""
    return f"\t{value}" if value[:1] in ("=", "+", "-", "@") else value
