"""Sample edits: add in batches, delete in batches, update labels in batches; search conditions.

Every batch is all or nothing: it is checked as a whole and written in one transaction, and
an error anywhere (a bad sample, an unknown sample id) leaves the dataset as it was. Objects
are written before the transaction (and removed again if it fails) and deleted only after it
committed, so a failure never leaves a row without its file. See docs/api.md ("Sample edits").

Concurrent edits of the same samples serialise: each write transaction holds the write lock
from its first read (SQLite) and locks the labels it uses, then the samples it changes, in a
stable order (PostgreSQL), so labels and status are always written from fresh rows and a
sample deleted meanwhile is a 404 (docs/architecture.md, "Integrity").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from labelarts.clock import new_sample_id, now_ms
from labelarts.errors import (
    SampleNotFoundError,
    SampleUploadError,
    ValidationFailedError,
)
from labelarts.media import ImageDecodeError, open_image
from labelarts.schemas.samples import (
    HARD,
    HARD_COEFFICIENT,
    SIZE,
    DeleteSamplesRequest,
    SampleLabelIn,
    UpdateSampleIn,
    UpdateSamplesRequest,
    UploadSampleIn,
    UploadSamplesRequest,
)
from labelarts.services.labels import (
    default_label_type,
    label_to_dict,
    share_labels,
    share_or_create_labels,
)
from labelarts.services.ownership import get_owned_dataset, owned_dataset_version
from labelarts.services.samples.pages import ChangeTracker, PageIndex
from labelarts.services.samples.records import (
    AUTO,
    BY_AUTO,
    BY_HUMAN,
    MANUAL,
    SAMPLE_TYPE,
    LabelInput,
    bump_data_version,
    lock_samples,
    new_sample,
    replace_sample_labels,
    set_sample_labels,
)
from labelarts.services.samples.sources import SampleFiles, unshared_sources
from labelarts.storage.db import Database, counters
from labelarts.storage.db.dialect import chunked
from labelarts.storage.db.models import Dataset, Label, Sample, SampleLabel
from labelarts.storage.objects import ObjectStore

log = logging.getLogger("labelarts.samples")

IMAGE_DATASET_TYPES = frozenset({0, 1, 3})
TEXT_DATASET_TYPES = frozenset({100, 101, 102})
# "Currently, to-be-confirmed datasets only support image classification and object detection."
UNCONFIRMED_DATASET_TYPES = frozenset({0, 1})
UPLOAD_MAX_PIXELS = 150_000_000
"""Largest image (width x height, read from its header) an upload accepts."""
MAX_LABELS_PER_REQUEST = 10_000
SEARCH_VALUES_LIMIT = 1_000
_MAX_KEY_NAME_BYTES = 200
_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp"}
_DEPTH = {"1": 1, "L": 1, "P": 3, "I": 1, "F": 1, "I;16": 1, "LA": 2, "RGBA": 4, "CMYK": 4}
_CODECS = {"UTF-8": "utf-8", "GBK": "gbk", "GB2312": "gb2312"}
_WHITESPACE = re.compile(r"\s+")


def decode_base64(text: str) -> bytes:
    """The bytes of a base64 string (standard or URL-safe alphabet, padding optional,
    whitespace and a ``data:...;base64,`` prefix tolerated); ValueError if it is not base64."""
    if text.startswith("data:") and ";base64," in text[:200]:
        text = text.split(",", 1)[1]
    if any(c in text for c in " \t\r\n"):
        text = _WHITESPACE.sub("", text)
    if len(text) % 4 == 1:
        raise ValueError("truncated base64")
    text += "=" * (-len(text) % 4)
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        return base64.b64decode(text, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(str(exc)) from None


def image_header(data: bytes) -> tuple[int, int, int, str]:
    """``(width, height, depth, format)`` from an image's header; ImageDecodeError otherwise.

    Only the header is read (as for the reference's own example, a truncated JPEG): the
    pixels are decoded when a thumbnail is first asked for.
    """
    img, (width, height) = open_image(data, max_pixels=UPLOAD_MAX_PIXELS)
    with img:
        return width, height, _DEPTH.get(img.mode, 3), str(img.format)


def _key_name(name: str) -> str:
    """The file-name part of an object key: the sample name unless too long for a file system."""
    if len(name.encode()) <= _MAX_KEY_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and stem and len(ext.encode()) <= 16 else ""
    return hashlib.sha256(name.encode()).hexdigest()[:40] + suffix


def apply_metadata(
    sample: Sample, metadata: dict[str, Any] | None, computed: dict[str, Any] | None = None
) -> None:
    """Merge metadata into the sample: null removes a key; ``@modelarts:hard`` and
    ``@modelarts:hard_coefficient`` go to their columns (the wire form reads them there)."""
    merged = dict(sample.metadata_)
    for key, value in {**(metadata or {}), **(computed or {})}.items():
        if key == HARD:
            sample.hard = bool(value) if value is not None else False
            merged.pop(key, None)
        elif key == HARD_COEFFICIENT:
            sample.hard_coefficient = float(value) if value is not None else None
            merged.pop(key, None)
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if merged != sample.metadata_:
        sample.metadata_ = merged  # a new dict, so the JSON column is seen as changed


def resolve_labels(
    session: Session,
    dataset: Dataset,
    per_sample: Sequence[Sequence[SampleLabelIn]],
    where: Callable[[int], str],
    *,
    annotated_by: str = BY_HUMAN,
) -> list[list[LabelInput]]:
    """Turn request labels into :class:`LabelInput` s, creating the dataset labels they name.

    A label the dataset has keeps its type (a different explicit ``type`` is a 400); a new one
    gets the given type or the dataset's default label type. The labels stay locked until the
    transaction ends (:func:`~labelarts.services.labels.share_or_create_labels`, which also
    settles a race with requests that create or delete the same names): call it before
    locking samples.
    """
    names = sorted({label.name for labels in per_sample for label in labels if label.name})
    known = share_labels(session, dataset.id, names)
    # The type each new name is created with: given once, or the dataset's default.
    created: dict[str, int] = {}
    named: list[list[tuple[str, SampleLabelIn]]] = []
    for i, labels in enumerate(per_sample):
        named.append([])
        for j, label in enumerate(labels):
            if not label.name:
                raise ValidationFailedError(f"{where(i)}.labels[{j}]: name is required.")
            named[i].append((label.name, label))
            if label.name not in known:
                label_type = default_label_type(dataset.dataset_type) if label.type is None else label.type
                if created.setdefault(label.name, label_type) != label_type:
                    raise ValidationFailedError(
                        f"{where(i)}.labels[{j}]: new label {label.name[:128]!r} is given two types."
                    )
    if created:
        # A concurrent request may have created a name first, with its own type: checked below.
        known.update(share_or_create_labels(session, dataset.id, created))
    result: list[list[LabelInput]] = []
    for i, pairs in enumerate(named):
        inputs = []
        for j, (name, label) in enumerate(pairs):
            label_type = known[name]
            if label.type is not None and label.type != label_type:
                raise ValidationFailedError(
                    f"{where(i)}.labels[{j}]: label {name[:128]!r} has type {label_type} in "
                    f"this dataset, not {label.type}."
                )
            inputs.append(
                LabelInput(
                    name=name,
                    type=label_type,
                    score=label.score,
                    property=dict(label.property or {}),
                    annotated_by=label.annotated_by or annotated_by,
                )
            )
        result.append(inputs)
    return result


@dataclass
class PreparedSample:
    """An upload, checked and decoded, ready to store."""

    index: int
    sample_id: str
    name: str
    key: str
    data: bytes
    content_hash: str
    sample_type: int
    labels: list[SampleLabelIn]
    metadata: dict[str, Any]
    computed: dict[str, Any] = field(default_factory=dict)
    text: str | None = None  # a text sample's text (sample_data)


class SampleEditService:
    def __init__(
        self,
        db: Database,
        objects: ObjectStore,
        files: SampleFiles,
        *,
        track_changes: Callable[[str], ChangeTracker] | None = None,
    ) -> None:
        self._db = db
        self._objects = objects
        self._files = files
        # Keeps the sample list's counts and page anchors exact across these changes.
        self._track_changes = track_changes or (
            lambda dataset_id: ChangeTracker(PageIndex(), dataset_id, _nobody)
        )

    # -- add --------------------------------------------------------------------------------------

    def add_samples(
        self, project_id: str, dataset_id: str, request: UploadSamplesRequest, *, labeler: str
    ) -> list[dict[str, Any]]:
        """Store the samples (all or none); return one ``UploadSampleResp`` per sample.

        A sample whose name and bytes equal a sample already in the dataset (or earlier in the
        request) is not stored twice: that sample is updated instead (labels when given,
        metadata merged) and its id is returned, so a retried upload is harmless.
        """
        with self._db.session() as session:  # 404 first, whatever the body
            dataset_type = get_owned_dataset(session, project_id, dataset_id).dataset_type
        items = request.samples or []
        if not items:
            raise ValidationFailedError("samples must contain at least one sample.")
        if sum(len(item.labels or []) for item in items) > MAX_LABELS_PER_REQUEST:
            raise ValidationFailedError(f"At most {MAX_LABELS_PER_REQUEST} labels per request.")
        if not request.final_annotation and dataset_type not in UNCONFIRMED_DATASET_TYPES:
            raise ValidationFailedError(
                "final_annotation false (to-be-confirmed labels) is only available for image "
                "classification and object detection datasets."
            )
        prepared = [self._prepare(i, item, dataset_id, dataset_type) for i, item in enumerate(items)]
        written: list[str] = []
        try:
            for sample in prepared:
                self._objects.put(sample.key, sample.data)
                written.append(sample.key)

            with self._db.session(write=True) as session:
                dataset = get_owned_dataset(session, project_id, dataset_id)
                results, unused = self._insert(session, dataset, prepared, request.final_annotation, labeler)
                bump_data_version(session, dataset.id)
        except BaseException:
            self._files.delete_objects(written)
            raise
        self._files.delete_objects(unused)
        return results

    def _prepare(
        self, index: int, item: UploadSampleIn, dataset_id: str, dataset_type: int
    ) -> PreparedSample:
        where = f"samples[{index}]" + (f" ({item.name[:128]!r})" if item.name else "")
        if item.data is None:
            if item.data_source is not None:
                raise SampleUploadError(
                    f"{where}: data_source is not supported; send the file's bytes in data (base64)."
                )
            raise ValidationFailedError(f"{where}: data is required (the file's bytes in base64).")
        try:
            data = decode_base64(item.data)
        except ValueError:
            raise ValidationFailedError(f"{where}: data is not valid base64.") from None
        if not data:
            raise SampleUploadError(f"{where}: data is empty.")
        expected_type = SAMPLE_TYPE.get(dataset_type, 9)
        if item.sample_type is not None and item.sample_type != expected_type:
            raise SampleUploadError(
                f"{where}: sample_type {item.sample_type} does not match the dataset "
                f"(its samples have sample_type {expected_type})."
            )
        computed: dict[str, Any] = {}
        extension = ""
        text: str | None = None
        if dataset_type in IMAGE_DATASET_TYPES:
            try:
                width, height, depth, image_format = image_header(data)
            except ImageDecodeError as exc:
                raise SampleUploadError(f"{where}: not an image this image dataset accepts: {exc}.") from None
            computed[SIZE] = [width, height, depth]
            extension = _EXTENSIONS.get(image_format, "")
        elif dataset_type in TEXT_DATASET_TYPES:
            encoding = item.encoding or "UTF-8"
            try:
                text = data.decode(_CODECS[encoding])
            except UnicodeDecodeError:
                raise SampleUploadError(f"{where}: data is not {encoding} text.") from None
            extension = ".txt"
        sample_id = new_sample_id()
        name = item.name or f"{sample_id}{extension}"
        return PreparedSample(
            index=index,
            sample_id=sample_id,
            name=name,
            key=f"datasets/{dataset_id}/samples/{sample_id}/{_key_name(name)}",
            data=data,
            content_hash=hashlib.sha256(data).hexdigest(),
            sample_type=expected_type,
            labels=list(item.labels or []),
            metadata=dict(item.metadata or {}),
            computed=computed,
            text=text,
        )

    def _insert(
        self,
        session: Session,
        dataset: Dataset,
        prepared: Sequence[PreparedSample],
        final: bool,
        labeler: str,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        labels = resolve_labels(
            session,
            dataset,
            [p.labels for p in prepared],
            lambda i: f"samples[{i}]",
            annotated_by=BY_HUMAN if final else BY_AUTO,
        )
        # Samples with the same bytes already in the dataset are updated, not duplicated: find
        # them, then lock them (id order) before changing their labels.
        same_bytes: list[str] = []
        for chunk in chunked(sorted({p.content_hash for p in prepared})):
            same_bytes.extend(
                session.execute(
                    select(Sample.id).where(Sample.dataset_id == dataset.id, Sample.content_hash.in_(chunk))
                ).scalars()
            )
        seen: dict[tuple[str, str], Sample] = {}
        locked = lock_samples(session, dataset.id, same_bytes)
        counters.uncount_samples(session, dataset.id, locked)
        for row in sorted(locked.values(), key=lambda s: (s.sample_time, s.id)):
            seen.setdefault((row.sample_name, row.content_hash or ""), row)
        results: list[dict[str, Any]] = []
        unused: list[str] = []
        now = now_ms()
        for item, sample_labels in zip(prepared, labels, strict=True):
            sample = seen.get((item.name, item.content_hash))
            if sample is None:
                sample = new_sample(
                    dataset,
                    source_kind="object",
                    source_key=item.key,
                    sample_name=item.name,
                    sample_dir="",
                    sample_size=len(item.data),
                    sample_time=now,
                    metadata={},
                    content_hash=item.content_hash,
                    import_origin=None,
                    sample_type=item.sample_type,
                    text=item.text,
                )
                sample.id = item.sample_id
                session.add(sample)
                seen[(item.name, item.content_hash)] = sample
            else:
                unused.append(item.key)
            apply_metadata(sample, item.metadata, item.computed)
            if sample_labels:
                set_sample_labels(session, sample, sample_labels, status=MANUAL if final else AUTO)
                sample.labeler = labeler if final else None
            results.append({"success": True, "name": item.name, "info": sample.id})
        counters.count_samples(session, dataset.id, set(locked) | {s.id for s in seen.values()})
        return results, unused

    # -- delete -----------------------------------------------------------------------------------

    def delete_samples(self, project_id: str, dataset_id: str, request: DeleteSamplesRequest) -> int:
        """Delete the samples (all or none: an unknown id is a 404 and nothing is deleted).

        With ``delete_source`` their files go too, after the commit: the dataset's own stored
        objects, and imported files only where the operator opened their root or prefix to
        deletion (:class:`SampleFiles`). A file another sample still uses is kept. Cached
        thumbnails are always deleted.
        """
        ids = list(dict.fromkeys(request.samples or []))
        with self._db.session(write=True) as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            if not ids:
                raise ValidationFailedError("samples must list at least one sample id.")
            found = lock_samples(session, dataset.id, ids)
            _require_all(ids, set(found))
            counters.uncount_samples(session, dataset.id, ids)
            tracker = self._track_changes(dataset.id)
            tracker.before(session, ids)
            rows = [(s.id, s.source_kind, s.source_key) for s in found.values()]
            for chunk in chunked(ids):
                session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_(chunk)))
                session.execute(delete(Sample).where(Sample.dataset_id == dataset.id, Sample.id.in_(chunk)))
            sources = unshared_sources(session, rows) if request.delete_source else []
            tracker.after(session, bump_data_version(session, dataset.id), deleted=True)
        tracker.apply()
        self._files.remove(project_id, dataset_id, rows, sources)
        return len(rows)

    # -- update -----------------------------------------------------------------------------------

    def update_samples(
        self, project_id: str, dataset_id: str, request: UpdateSamplesRequest, *, labeler: str
    ) -> None:
        """Replace each sample's labels (absent or empty: unlabeled) and merge its metadata.

        A labeled sample becomes MANUAL_ANNOTATION, so this also confirms auto labels. Labels
        the dataset lacks are created. All samples or none; an unknown id is a 404.
        """
        items = request.samples or []
        # 404 first, whatever the body: one plain read (a reviewer's every PUT asks it).
        with self._db.reading(snapshot=False) as connection:
            owned_dataset_version(connection, project_id, dataset_id)
        if not items:
            raise ValidationFailedError("samples must contain at least one sample.")
        ids: list[str] = []
        for i, item in enumerate(items):
            if not item.sample_id:
                raise ValidationFailedError(f"samples[{i}].sample_id is required.")
            ids.append(item.sample_id)
        if len(set(ids)) != len(ids):
            raise ValidationFailedError("samples names a sample_id more than once.")
        if sum(len(item.labels or []) for item in items) > MAX_LABELS_PER_REQUEST:
            raise ValidationFailedError(f"At most {MAX_LABELS_PER_REQUEST} labels per request.")
        self._update(project_id, dataset_id, items, ids, request.email or labeler)

    def _update(
        self, project_id: str, dataset_id: str, items: Sequence[UpdateSampleIn], ids: Sequence[str], who: str
    ) -> None:
        with self._db.session(write=True) as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            # Labels first, then samples: the lock order of every writer (no deadlock cycles).
            labels = resolve_labels(
                session, dataset, [item.labels or [] for item in items], lambda i: f"samples[{i}]"
            )
            samples = lock_samples(session, dataset.id, ids)
            _require_all(ids, set(samples))
            tracker = self._track_changes(dataset.id)
            for i, item in enumerate(items):
                sample = samples[ids[i]]
                if item.sample_type is not None and item.sample_type != sample.sample_type:
                    raise ValidationFailedError(
                        f"samples[{i}].sample_type is {item.sample_type}, but the sample's type is "
                        f"{sample.sample_type}."
                    )
            counters.uncount_samples(session, dataset.id, ids)
            tracker.before(session, ids)
            replace_sample_labels(session, [(samples[ids[i]], labels[i]) for i in range(len(items))])
            for i, item in enumerate(items):
                sample = samples[ids[i]]
                sample.labeler = who if labels[i] else None
                apply_metadata(sample, item.metadata)
            counters.count_samples(session, dataset.id, ids)
            tracker.after(session, bump_data_version(session, dataset.id))
        tracker.apply()

    # -- search conditions ------------------------------------------------------------------------

    def search_condition(self, project_id: str, dataset_id: str) -> dict[str, Any]:
        """``labels`` (with properties), ``labelers``, and ``metadata``: for each searchable key
        the distinct values present (``@modelarts:hard``, ``import_origin``, ``sample_dir``)."""
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            labels = [
                label_to_dict(label)
                for label in session.execute(
                    select(Label).where(Label.dataset_id == dataset.id).order_by(Label.id)
                ).scalars()
            ]

            def values(column: Any, *where: Any) -> list[Any]:
                return list(
                    session.execute(
                        select(column)
                        .distinct()
                        .where(Sample.dataset_id == dataset.id, *where)
                        .order_by(column)
                        .limit(SEARCH_VALUES_LIMIT)
                    ).scalars()
                )

            labelers = values(Sample.labeler, Sample.labeler.is_not(None), Sample.labeler != "")
            metadata: dict[str, list[str]] = {}
            hard = values(Sample.hard)
            if hard:
                metadata[HARD] = sorted({"1" if flag else "0" for flag in hard})
            origins = values(Sample.import_origin, Sample.import_origin.is_not(None))
            if any(origins):
                metadata["import_origin"] = [str(v) for v in origins if v]
            folders = values(Sample.sample_dir, Sample.sample_dir != "")
            # Only folders the project may still see (docs/security.md).
            scope = self._files.scope(project_id)
            shown = [str(v) for v in folders if scope.shows(str(v))]
            if shown:
                metadata["sample_dir"] = shown
        return {"labels": labels, "labelers": [str(v) for v in labelers], "metadata": metadata}


def _nobody(session: Any, filters: Sequence[Any], sample_ids: Sequence[str]) -> list[dict[str, Any]]:
    return [{} for _ in filters]


def _require_all(wanted: Sequence[str], found: set[str]) -> None:
    missing = [sample_id for sample_id in wanted if sample_id not in found]
    if missing:
        shown = ", ".join(s[:64] for s in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise SampleNotFoundError(f"Samples not found in this dataset: {shown}{more}. Nothing was changed.")
