"""Data-source sync: rescan a dataset's data source and bring its live samples in line.

A sync is the folder import of the dataset's data source (:class:`~.runner.Importer`, the
one insert path) with two additions:

1. **Changed files.** For every walked file the dataset already holds (same source key),
   the stored size and modification time (``sample_size``, ``sample_time``) are compared
   with the file's; when either differs the file is read again (checked like an import:
   kind, size caps, decodable image) and its size, SHA-256, time and image size are written
   back, its cached features and thumbnails dropped and its ``revision`` bumped. Its labels
   stay: they are a person's work, and the versions published before hold the old state.
   The quick check is size plus time (as rsync's): a file rewritten with the same size
   within the same millisecond is not noticed.
2. **Removed files.** The walk remembers every source key it met (an 8-byte digest each:
   about 60 bytes a file in memory, so 6 MB for 100,000 files). Afterwards the dataset's
   samples whose source lies under the data source are paged by id; those the walk did not
   meet, and that are really gone (a ``stat`` each, so a file created during the walk is not
   taken for removed), are deleted, 500 per transaction. If any folder could not be listed,
   nothing is removed: an unreadable folder is not an empty one.

New files become samples exactly as in an import (annotations read by the dataset's
layout, content duplicates skipped). Samples that did not come from the data source
(uploads, other import paths) are never touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, Final

from sqlalchemy import delete, select

from labelarts.clock import now_ms
from labelarts.jobs.runner import StopRequested
from labelarts.services.importing import sources
from labelarts.services.importing.runner import Candidate, Importer
from labelarts.services.importing.sniff import Kind, Rejected
from labelarts.services.importing.sources import FileRef
from labelarts.services.samples.records import bump_data_version, lock_samples
from labelarts.storage.db import counters
from labelarts.storage.db.dialect import chunked
from labelarts.storage.db.models import Dataset, Sample, SampleFeature, SampleLabel
from labelarts.storage.localfs import path_reason

SWEEP_PAGE: Final = 500
WALK_SHARE: Final = 0.9  # of the progress: the walk, then the sweep for removed files
# (sample id, source kind, source key) of a sample whose thumbnails must go after the commit.
SourceRow = tuple[str, str, str]


def _digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class SyncImporter(Importer):
    """Runs one sync task body; ``run`` returns the sync's counts (the task's result).

    ``touched`` collects the samples whose cached thumbnails must be dropped once their
    transactions committed (changed and removed samples).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._seen: set[bytes] = set()
        self._walk_complete = True
        self._updated = 0
        self._unchanged = 0
        self._deleted = 0
        self._sweeping = False
        self._swept = 0
        self._sweep_total = 0
        self.touched: list[SourceRow] = []

    # --- driver ---------------------------------------------------------------------------

    def _run(self) -> dict[str, Any]:
        super()._run()
        if self._walk_complete:
            self._sweep()
        return self._result()

    def _result(self) -> dict[str, Any]:
        result = self._tally.result()
        result.update(
            add_sample_count=self._tally.added,
            deleted_sample_count=self._deleted,
            updated_sample_count=self._updated,
            unchanged_sample_count=self._unchanged,
            removal_skipped=not self._walk_complete,
        )
        return result

    def _progress_now(self) -> float:
        if not self._sweeping:
            return WALK_SHARE * super()._progress_now()
        share = self._swept / max(self._sweep_total, 1)
        return min(0.99, WALK_SHARE + (1 - WALK_SHARE) * share)

    def _dir_entries(self) -> Iterator[Candidate | sources.Failed | sources.Skipped | None]:
        for item in super()._dir_entries():
            if isinstance(item, sources.Failed) and item.reason.startswith("folder cannot be read"):
                self._walk_complete = False
            yield item

    # --- changed files --------------------------------------------------------------------

    def _present(self, refs: list[FileRef]) -> set[str]:
        for ref in refs:
            self._seen.add(_digest(ref.source_key))
        stored: dict[str, tuple[str, int, int]] = {}
        with self._db.session() as session:
            for chunk in chunked([ref.source_key for ref in refs]):
                for key, sample_id, size, time in session.execute(
                    select(Sample.source_key, Sample.id, Sample.sample_size, Sample.sample_time).where(
                        Sample.dataset_id == self._target.dataset_id, Sample.source_key.in_(chunk)
                    )
                ):
                    stored[key] = (sample_id, int(size), int(time))
        changed: list[tuple[str, FileRef]] = []
        for ref in refs:
            row = stored.get(ref.source_key)
            if row is None:
                continue
            if ref.size == row[1] and (ref.mtime_ms is None or ref.mtime_ms == row[2]):
                self._unchanged += 1
            else:
                changed.append((row[0], ref))
        if changed:
            self._reread(changed)
        return set(stored)

    def _reread(self, changed: list[tuple[str, FileRef]]) -> None:
        fresh: dict[str, tuple[FileRef, int, str, list[int] | None]] = {}
        for sample_id, ref in changed:
            try:
                kind, data, digest, size = self._read(ref)
                image_size: list[int] | None = None
                if kind is Kind.IMAGE:
                    image_size = self._image_metadata(data).get("@modelarts:size")
            except Rejected as exc:
                self._tally.fail(ref.rel, f"changed, but {exc.reason}; the sample was left as it was")
                continue
            except OSError as exc:
                self._tally.fail(ref.rel, f"changed, but cannot be read: {path_reason(exc)}")
                continue
            fresh[sample_id] = (ref, size, digest, image_size)
        if not fresh:
            return
        with self._db.session(write=True) as session:
            if session.get(Dataset, self._target.dataset_id) is None:
                raise StopRequested  # the dataset was deleted while syncing
            locked = lock_samples(session, self._target.dataset_id, fresh)
            for sample_id, sample in locked.items():
                ref, size, digest, image_size = fresh[sample_id]
                metadata = dict(sample.metadata_ or {})
                if image_size is not None:
                    metadata["@modelarts:size"] = image_size
                sample.sample_size = size
                sample.content_hash = digest
                sample.sample_time = ref.mtime_ms or now_ms()
                sample.metadata_ = metadata
                sample.revision = (sample.revision or 0) + 1
                self.touched.append((sample_id, sample.source_kind, sample.source_key))
            for chunk in chunked(sorted(locked)):
                session.execute(delete(SampleFeature).where(SampleFeature.sample_id.in_(chunk)))
            if locked:
                bump_data_version(session, self._target.dataset_id)
        self._updated += len(locked)

    # --- removed files --------------------------------------------------------------------

    def _source_filter(self) -> tuple[Any, ...]:
        location = self._spec.location
        prefix = location.path.rstrip("/") + "/"
        return (
            Sample.dataset_id == self._target.dataset_id,
            Sample.source_kind == location.kind,
            Sample.source_key.like(_like_prefix(prefix), escape="\\"),
        )

    def _sweep(self) -> None:
        """Delete the samples of the data source whose files are gone (see the module doc)."""
        self._sweeping = True
        self._sweep_total = len(self._seen)  # the walk's keys: the sweep pages about as many
        self._report()
        after = ""
        while True:
            with self._db.session() as session:
                page = session.execute(
                    select(Sample.id, Sample.source_key)
                    .where(*self._source_filter(), Sample.id > after)
                    .order_by(Sample.id)
                    .limit(SWEEP_PAGE)
                ).all()
            if not page:
                break
            after = page[-1][0]
            self._swept += len(page)
            gone = [
                sample_id
                for sample_id, key in page
                if _digest(key) not in self._seen and not self._exists(key)
            ]
            if gone:
                self._delete(gone)
            self._report()

    def _exists(self, key: str) -> bool:
        return sources.ref_exists(self._objects, self._scope, self._spec.location.kind, key)

    def _delete(self, sample_ids: list[str]) -> None:
        dataset_id = self._target.dataset_id
        with self._db.session(write=True) as session:
            if session.get(Dataset, dataset_id) is None:
                raise StopRequested
            locked = lock_samples(session, dataset_id, sample_ids)
            if not locked:
                return
            ids = sorted(locked)
            counters.uncount_samples(session, dataset_id, ids)
            for chunk in chunked(ids):
                session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_(chunk)))
                session.execute(delete(Sample).where(Sample.dataset_id == dataset_id, Sample.id.in_(chunk)))
            bump_data_version(session, dataset_id)
        self._deleted += len(locked)
        self.touched.extend((s.id, s.source_kind, s.source_key) for s in locked.values())
