"""The running tally of an import task, in the field names of the import-task answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

MAX_REPORTED_FAILURES: Final = 1000


@dataclass
class Tally:
    """Counts of one import. Entries are files, or lines for manifests; samples are counted
    apart because one text file holds many samples (one per line).

    * ``files_seen`` / ``files_done``: entries met / entries fully handled;
    * ``added``: samples inserted (``annotated``: of which with labels; ``unconfirmed``: of
      which waiting for confirmation, when ``final_annotation`` is false);
    * ``found``: samples the source holds (added, plus skipped as duplicates or filtered);
    * ``skipped`` / ``failed``: entries or samples left out, by reason / with a reason;
    * ``annotation_files``: sidecar files read as annotations (VOC XML, ``_result.txt``...).
    """

    files_seen: int = 0
    files_done: int = 0
    bytes_seen: int = 0
    bytes_done: int = 0
    added: int = 0
    annotated: int = 0
    unconfirmed: int = 0
    found: int = 0
    skipped: int = 0
    failed: int = 0
    annotation_files: int = 0
    ignored_annotations: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    failures_omitted: int = 0

    def skip(self, reason: str, *, sample: bool = False) -> None:
        self.skipped += 1
        self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + 1
        if sample:
            self.found += 1

    def fail(self, path: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_REPORTED_FAILURES:
            self.failures.append({"path": path, "reason": reason})
        else:
            self.failures_omitted += 1

    def result(self) -> dict[str, Any]:
        return {
            "total_file_count": self.files_seen,
            "finished_file_count": self.files_done,
            "total_file_size": self.bytes_seen,
            "finished_file_size": self.bytes_done,
            "total_sample_count": self.found,
            "imported_sample_count": self.added,
            "annotated_sample_count": self.annotated,
            "unconfirmed_sample_count": self.unconfirmed,
            "skipped_file_count": self.skipped,
            "failed_file_count": self.failed,
            "annotation_file_count": self.annotation_files,
            "ignored_annotation_count": self.ignored_annotations,
            "skipped_reasons": dict(self.skipped_reasons),
            "failed_files": list(self.failures),
            "failed_files_omitted": self.failures_omitted,
        }
