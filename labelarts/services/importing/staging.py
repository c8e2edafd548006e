"""A private copy of an import folder's annotations for Datumaro, which reads local paths.

Datumaro opens whatever paths a folder and its annotation files lead to, following links.
So it never sees the import path itself: the walk of the import path (confined, links
refused, through :mod:`.sources` and :mod:`labelarts.storage`) copies into a fresh
private temporary folder

* **annotation files** whole (by suffix: ``.json .xml .txt .names .data .yaml .yml .csv``,
  and ``.png`` masks below a folder whose name mentions ``segmentation`` or ``mask``), at
  most :data:`MAX_ANNOTATION_BYTES` each and :data:`MAX_STAGED_BYTES` in all;
* **images** as their first :data:`HEADER_BYTES` bytes: enough for Datumaro to list them and
  read their size (YOLO's coordinates are relative to it); the importer reads the real
  files itself, confined, when it turns them into samples.

List files that name images (YOLO's ``train.txt``, VOC's ``ImageSets``) lose the lines that
are absolute or climb out with ``..``; an item whose image still lies outside the copy is
refused when it is mapped back (:func:`labelarts.formats.datumaro_import.read_items`).
The copy is deleted when the import ends. Memory: a map of relative path to file reference
for the images (about 300 bytes an image).
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

from labelarts.services.importing import sources
from labelarts.services.importing.sniff import Rejected, sniff
from labelarts.services.importing.sources import FileRef
from labelarts.services.paths import ProjectScope
from labelarts.storage.objects import ObjectStore

HEADER_BYTES: Final = 256 * 1024
MAX_ANNOTATION_BYTES: Final = 512 * 1024 * 1024
MAX_STAGED_BYTES: Final = 2 * 1024 * 1024 * 1024
ANNOTATION_SUFFIXES: Final = (".json", ".xml", ".txt", ".names", ".data", ".yaml", ".yml", ".csv")
_MASK_FOLDERS: Final = ("segmentation", "mask")
# Stands for "a COCO task file in annotations/" in detect_format's has_file.
COCO_MARKER: Final = "annotations/<coco>"
COCO_PREFIXES: Final = ("instances_", "person_keypoints_", "captions_", "labels_", "image_info_", "panoptic_")


def detect_format(has_file: Callable[[str], bool], has_folder: Callable[[str], bool]) -> str | None:
    """The format of an import folder when its layout says so unambiguously, else None (the
    folder is then read by the ModelArts layouts). Signatures: ``obj.data`` (YOLO),
    ``annotations.xml`` (CVAT), ``Annotations/`` with ``JPEGImages/`` (Pascal VOC devkit),
    ``annotations/instances_*.json`` and the other COCO task files (COCO)."""
    found = []
    if has_file("obj.data"):
        found.append("yolo")
    if has_file("annotations.xml"):
        found.append("cvat")
    if has_folder("Annotations") and has_folder("JPEGImages"):
        found.append("voc")
    if has_folder("annotations") and has_file(COCO_MARKER):
        found.append("coco")
    return found[0] if len(found) == 1 else None


def is_annotation(rel: str) -> bool:
    lower = rel.lower()
    if lower.endswith(ANNOTATION_SUFFIXES):
        return True
    folders = lower.split("/")[:-1]
    return lower.endswith(".png") and any(word in f for f in folders for word in _MASK_FOLDERS)


class Staging:
    """The staged copy (a context manager: the folder is removed on exit)."""

    def __init__(self, objects: ObjectStore, scope: ProjectScope) -> None:
        self._objects = objects
        self._scope = scope
        self._tmp = tempfile.TemporaryDirectory(prefix="labelarts-import-")
        self.root = Path(self._tmp.name)
        self.images: dict[str, FileRef] = {}
        self._bytes = 0

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._tmp.cleanup()

    def add(self, ref: FileRef) -> bool:
        """Copy ``ref`` into the staging folder; True if it is an annotation file, False if it
        is an image (copied as a header) or neither. :class:`Rejected` / ``OSError`` if it
        cannot be read or the copy grows too large."""
        rel = ref.rel
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts) or posixpath.isabs(rel):
            raise Rejected("path cannot be staged")
        target = self.root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        annotation = is_annotation(rel)
        with sources.open_ref(self._objects, self._scope, ref.source_kind, ref.source_key) as fh:
            if annotation:
                data = sources.read_capped(fh, MAX_ANNOTATION_BYTES, "annotation file")
                if rel.lower().endswith(".txt"):
                    data = _safe_list(data)
            else:
                data = fh.read(HEADER_BYTES)
                magic = sniff(data[:64])
                if magic is None:
                    return False
                self.images[rel] = ref
        self._bytes += len(data)
        if self._bytes > MAX_STAGED_BYTES:
            raise Rejected(f"the annotations are larger than {MAX_STAGED_BYTES} bytes in all")
        with open(target, "xb") as out:  # a fresh private folder: nothing is there to follow
            out.write(data)
        return annotation


def _safe_list(data: bytes) -> bytes:
    """A text file with the lines that name absolute or ``..`` paths blanked (the lines stay,
    so line numbers and YOLO label files keep their meaning)."""
    lines = data.split(b"\n")
    kept = []
    for line in lines:
        text = line.strip().replace(b"\\", b"/")
        if text.startswith(b"/") or b"../" in text or text == b".." or b":/" in text[:3]:
            kept.append(b"")
        else:
            kept.append(line)
    return b"\n".join(kept)
