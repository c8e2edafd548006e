"""An OBS input: the images under a granted local folder (an import root) or object-store
prefix, read in place in the layouts of the guide's data-processing chapter.

* Only images: every image is a sample, unlabeled.
* Class folders (image classification): an image in a folder below the input is labeled with
  that folder's name; one at the input's top is unlabeled.
* jpg + xml pairs (object detection): ``NAME.xml`` (Pascal VOC) beside ``NAME.jpg`` gives its
  boxes; an image without one is unlabeled. Folders carry no label here.

Other files (the xml files themselves, text, manifests) are not samples. The walk is the
importer's (:mod:`labelarts.services.importing.sources`): confined to the grant, links never
followed, hidden files skipped, memory flat whatever the folder holds. A sample's id is the
MD5 of its path or key (the reference's "md5 of the OBS path"): there is no dataset row.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from labelarts.errors import LabelArtsError
from labelarts.services.importing import sources
from labelarts.services.importing.layouts import parse_voc
from labelarts.services.importing.sniff import Rejected
from labelarts.services.paths import ProjectScope
from labelarts.storage.objects import ObjectStore

log = logging.getLogger(__name__)

IMAGE_SUFFIXES: Final = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DETECTION: Final = 1


@dataclass(frozen=True)
class FolderSample:
    """One image of the input, with its labels as label dicts (name, type, score, property,
    annotated_by)."""

    sample_id: str
    kind: str
    key: str
    name: str
    size: int
    time_ms: int
    labels: list[dict[str, Any]]


def locate(scope: ProjectScope, objects: ObjectStore, raw: str) -> dict[str, str]:
    """Where an OBS input lies, checked now (400 outside the project's grants, or missing):
    ``{"kind": "local"|"object", "path": ...}``."""
    found = sources.dir_location(scope, objects, raw)
    return {"kind": found.kind, "path": found.path}


def _tree(scope: ProjectScope, objects: ObjectStore, raw: str) -> sources.LocalTree | sources.ObjectTree:
    if sources.is_object_uri(raw):
        return sources.ObjectTree(objects, sources.object_key(scope, raw))
    return sources.LocalTree(scope.folder(raw))


def _images(tree: sources.LocalTree | sources.ObjectTree) -> Iterator[sources.FileRef]:
    for item in tree.walk():
        if isinstance(item, sources.FileRef) and item.name.lower().endswith(IMAGE_SUFFIXES):
            yield item


def count_images(scope: ProjectScope, objects: ObjectStore, raw: str) -> int:
    return sum(1 for _ref in _images(_tree(scope, objects, raw)))


def read_folder(
    scope: ProjectScope, objects: ObjectStore, raw: str, dataset_type: int
) -> Iterator[FolderSample]:
    """The input's images in walk order (a folder's own order; an object listing's key order)."""
    for ref in _images(_tree(scope, objects, raw)):
        if dataset_type == DETECTION:
            labels = _boxes(scope, objects, ref)
        elif ref.label_dir:
            labels = [
                {"name": ref.label_dir, "type": 0, "score": None, "property": {}, "annotated_by": "human"}
            ]
        else:
            labels = []
        yield FolderSample(
            sample_id=hashlib.md5(ref.source_key.encode()).hexdigest(),
            kind=ref.source_kind,
            key=ref.source_key,
            name=ref.name,
            size=max(ref.size, 0),
            time_ms=ref.mtime_ms or 0,
            labels=labels,
        )


def _boxes(scope: ProjectScope, objects: ObjectStore, ref: sources.FileRef) -> list[dict[str, Any]]:
    stem = posixpath.splitext(ref.source_key)[0]
    for suffix in (".xml", ".XML"):
        xml = stem + suffix
        if not sources.ref_exists(objects, scope, ref.source_kind, xml):
            continue
        try:
            with sources.open_ref(objects, scope, ref.source_kind, xml) as fh:
                data = fh.read(1024 * 1024 + 1)
            return [
                {
                    "name": label.name,
                    "type": label.type,
                    "score": label.score,
                    "property": dict(label.property),
                    "annotated_by": label.annotated_by,
                }
                for label in parse_voc(data, DETECTION)
            ]
        except (Rejected, LabelArtsError, OSError, ValueError) as exc:
            # A broken annotation leaves the image unlabeled; the run goes on.
            log.info("processing input %s: %s ignored: %s", ref.rel, xml, exc)
            return []
    return []
