"""LabelArts samples -> Datumaro's model, and Datumaro's exporters for the formats people
train with (COCO, Pascal VOC, YOLO, ImageNet-style class folders, CVAT, LabelMe).

This module is the one place that knows both models on the export side (the import side
has its sibling). Its public surface is small:

* :class:`ExportLabel` / :class:`ExportSample`: what an exporter needs of a sample, already
  read from the database (no database here);
* :func:`to_item`: one sample as a Datumaro ``DatasetItem``;
* :class:`SampleStream`: a Datumaro dataset over an iterator factory, so that samples are
  read page by page while the exporter writes, never all at once;
* :func:`export`: run one of :data:`FORMATS` into a folder.

Boxes are LabelArts' ``@modelarts:shape`` ``bndbox`` with ``@modelarts:feature``
``[[xmin, ymin], [xmax, ymax]]`` in pixels; they become ``Bbox(x, y, w, h)`` with the same
pixel corners, so every format writes the box the labeler drew (COCO ``[x, y, w, h]``, VOC
corners, YOLO normalised by the image size, which must therefore be known).

Media: the exporter writes each file through :class:`_SourceImage`, which copies the sample's
bytes unchanged (no decode and re-encode) when the target extension is the source's, and
reads them only at that moment through the caller's ``copy_to`` (which decides where they may
come from).
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final

from datumaro.components.annotation import (
    AnnotationType,
    Bbox,
    Label,
    LabelCategories,
    Points,
    Polygon,
    PolyLine,
)
from datumaro.components.dataset_base import DatasetItem, IDataset
from datumaro.components.environment import Environment
from datumaro.components.media import Image, ImageFromBytes
from datumaro.errors import DatumaroError
from datumaro.util.image import IMAGE_BACKEND, ImageBackend

log = logging.getLogger(__name__)

# Format name of the API (annotation_format, lower case) -> Datumaro exporter, and which
# exporters write as they read (flat memory) rather than collecting the dataset first.
FORMATS: Final[Mapping[str, str]] = {
    "coco": "coco_instances",
    "coco_labels": "coco_labels",
    "voc": "voc",
    "yolo": "yolo",
    "imagenet": "imagenet",
    "cvat": "cvat",
    "labelme": "label_me",
}
STREAMING: Final = frozenset({"coco", "coco_labels", "voc", "yolo"})
# Formats whose annotations need a box (classification labels are left out of them).
BOX_FORMATS: Final = frozenset({"yolo"})
DEFAULT_SUBSET: Final = "default"

_env: Environment | None = None


@dataclass(frozen=True)
class ExportLabel:
    """A label on a sample: a class (``shape`` None) or a shape with its points in pixels."""

    name: str
    shape: str | None = None
    points: Sequence[Sequence[float]] = ()
    score: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportSample:
    """One sample as an exporter sees it.

    ``item_id``: the name in the export without extension (``"1"``, ``"rabbits/1"``);
    ``ext``: the file's extension with its dot; ``size``: (height, width) when known;
    ``copy_to``: writes the file's bytes to an open binary file.
    """

    item_id: str
    ext: str
    size: tuple[int, int] | None
    copy_to: Callable[[IO[bytes]], None]
    labels: Sequence[ExportLabel] = ()
    subset: str = DEFAULT_SUBSET


class _SourceImage(ImageFromBytes):  # type: ignore[misc]
    """An image Datumaro saves by copying the source bytes (decoded only if it must convert)."""

    def __init__(
        self, copy_to: Callable[[IO[bytes]], None], *, size: tuple[int, int] | None, ext: str
    ) -> None:
        super().__init__(data=self._read, size=size, ext=ext)
        self._ext = ext  # as written: Datumaro would lower-case it, renaming "a.JPG"
        self._copy_to = copy_to

    def _read(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self._copy_to(buffer)
        return buffer.getvalue()

    def save(self, fp: Any, ext: str | None = None) -> None:
        target = self._get_ext_to_save(fp, ext)
        if target == self.ext and isinstance(fp, str):
            os.makedirs(os.path.dirname(fp), exist_ok=True)
            with open(fp, "wb") as out:
                self._copy_to(out)
            return
        super().save(fp, ext)


def label_categories(names: Sequence[str]) -> dict[AnnotationType, LabelCategories]:
    """Datumaro's categories for the dataset's labels, in this order (their ids)."""
    categories = LabelCategories()
    for name in names:
        categories.add(name)
    return {AnnotationType.label: categories}


def _attributes(label: ExportLabel) -> dict[str, Any]:
    attributes = {k: v for k, v in label.attributes.items() if not k.startswith("@")}
    if label.score is not None:
        attributes["score"] = label.score
    return attributes


def to_annotations(label: ExportLabel, label_id: int, *, group: int) -> list[Any]:
    """A LabelArts label as Datumaro annotations (none for a shape Datumaro has no model of)."""
    attrs = _attributes(label)
    occluded = str(attrs.pop("occluded", "0")).lower() in ("1", "true")
    if occluded:
        attrs["occluded"] = True
    if label.shape is None:
        return [Label(label_id, attributes=attrs)]
    points = [float(c) for point in label.points for c in point[:2]]
    if label.shape == "bndbox" and len(points) == 4:
        x1, y1, x2, y2 = points
        return [Bbox(x1, y1, x2 - x1, y2 - y1, label=label_id, attributes=attrs, group=group)]
    if label.shape == "polygon" and len(points) >= 6:
        return [Polygon(points, label=label_id, attributes=attrs, group=group)]
    if label.shape in ("polyline", "line", "dashed") and len(points) >= 4:
        return [PolyLine(points, label=label_id, attributes=attrs, group=group)]
    if label.shape == "point" and len(points) >= 2:
        return [Points(points, label=label_id, attributes=attrs, group=group)]
    if label.shape == "circle" and len(label.points) == 2 and label.points[1]:
        cx, cy = float(label.points[0][0]), float(label.points[0][1])
        r = float(label.points[1][0])
        return [Bbox(cx - r, cy - r, 2 * r, 2 * r, label=label_id, attributes=attrs, group=group)]
    log.debug("label %r: shape %r not exported", label.name, label.shape)
    return []


def to_item(sample: ExportSample, label_ids: Mapping[str, int], *, boxes_only: bool = False) -> DatasetItem:
    """One sample as a Datumaro item; labels unknown to ``label_ids`` are left out."""
    annotations: list[Any] = []
    for index, label in enumerate(sample.labels, start=1):
        label_id = label_ids.get(label.name)
        if label_id is None or (boxes_only and label.shape is None):
            continue
        annotations.extend(to_annotations(label, label_id, group=index))
    media = _SourceImage(sample.copy_to, size=sample.size, ext=sample.ext)
    return DatasetItem(sample.item_id, subset=sample.subset, media=media, annotations=annotations)


class SampleStream(IDataset):  # type: ignore[misc]
    """A Datumaro dataset whose items come from ``open_subset(name)``, a fresh iterator of
    :class:`ExportSample` each time (an exporter may walk a subset more than once)."""

    def __init__(
        self,
        open_subset: Callable[[str], Iterator[ExportSample]],
        subsets: Mapping[str, int],
        label_names: Sequence[str],
        *,
        boxes_only: bool = False,
    ) -> None:
        self._open = open_subset
        self._counts = dict(subsets)
        self._categories = label_categories(label_names)
        self._ids = {name: i for i, name in enumerate(label_names)}
        self._boxes_only = boxes_only
        self._only: str | None = None

    def _view(self, subset: str) -> SampleStream:
        view = SampleStream(self._open, {subset: self._counts[subset]}, [], boxes_only=self._boxes_only)
        view._categories = self._categories
        view._ids = self._ids
        view._only = subset
        return view

    def __iter__(self) -> Iterator[DatasetItem]:
        for subset in self._counts:
            for sample in self._open(subset):
                yield to_item(sample, self._ids, boxes_only=self._boxes_only)

    def __len__(self) -> int:
        return sum(self._counts.values())

    def subsets(self) -> dict[str, IDataset]:
        return {name: self._view(name) for name in self._counts}

    def get_subset(self, name: str) -> IDataset:
        return self._view(name)

    def infos(self) -> dict[str, Any]:
        return {}

    def categories(self) -> dict[AnnotationType, LabelCategories]:
        return self._categories

    def media_type(self) -> Any:
        return Image

    def ann_types(self) -> set[AnnotationType]:
        return {AnnotationType.label, AnnotationType.bbox, AnnotationType.polygon}

    @property
    def is_stream(self) -> bool:
        return True

    def get(self, id: str, subset: str | None = None) -> DatasetItem | None:
        for item in self:
            if item.id == id and item.subset == (subset or DEFAULT_SUBSET):
                return item
        return None


def export(stream: SampleStream, fmt: str, out_dir: str) -> None:
    """Write ``stream`` in format ``fmt`` (a key of :data:`FORMATS`) into ``out_dir``.

    Exceptions raised while reading samples (a stop, a missing file) propagate unchanged.
    """
    global _env
    if _env is None:
        _env = Environment()
    exporter = _env.exporters[FORMATS[fmt]]
    try:
        IMAGE_BACKEND.get()
    except LookupError:  # a context variable Datumaro sets only in the thread that imported it
        IMAGE_BACKEND.set(ImageBackend.cv2)
    options: dict[str, Any] = {"save_media": True, "stream": fmt in STREAMING}
    if fmt == "voc":
        options["label_map"] = "source"
    if fmt == "yolo":
        options["add_path_prefix"] = False
    try:
        exporter.convert(stream, out_dir, **options)
    except DatumaroError as exc:
        # Datumaro wraps what an item raised (ItemExportError <- ...): give the caller the
        # original (a stop request, a missing file) rather than Datumaro's wrapper.
        cause: BaseException = exc
        while cause.__cause__ is not None:
            cause = cause.__cause__
        if cause is not exc and not isinstance(cause, DatumaroError):
            raise cause from None
        raise


def item_name(sample_name: str, folder: str = "") -> tuple[str, str]:
    """``(item_id, ext)`` of a sample file name, optionally inside ``folder``."""
    stem, ext = posixpath.splitext(sample_name)
    item_id = posixpath.join(folder, stem) if folder else stem
    return item_id, ext
