"""Reading the annotation formats of the field with Datumaro (MIT): Datumaro's model in,
LabelArts labels out. The one place that knows Datumaro's import side.

:func:`read_items` takes a local folder (the importer's private staged copy of an import
path, never the import path itself: see :mod:`labelarts.services.importing.staging`) and a
format, and yields one :class:`FormatItem` per image: its path relative to the folder and
its labels in LabelArts' shape, as the Pascal VOC import stores them:

* ``Label`` (classification): a label of the dataset's type with an empty property;
* ``Bbox``: ``@modelarts:shape`` ``bndbox``, ``@modelarts:feature`` ``[[xmin, ymin], [xmax, ymax]]``;
* ``Polygon`` / ``PolyLine``: ``polygon`` / ``polyline``, the points in order;
* ``Points``: one ``point`` label per point;
* ``Mask`` (COCO RLE, VOC segmentation PNGs...): its outline as ``polygon`` labels
  (segmentation datasets only); the box COCO repeats beside an object's polygon or mask
  (same annotation id) is not a second object and is left out;
* attributes ``occluded``, ``truncated``, ``difficult``, ``pose`` become string properties as
  in VOC (``difficult`` true also sets ``@modelarts:hard``), ``score`` the label's score.

Which annotations a dataset keeps: image classification takes ``Label``; object detection
and segmentation take the shapes (masks only segmentation). Others are counted as ignored.
Coordinates are kept as Datumaro reads them, as integers where they are whole.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

# Import type (API) -> Datumaro format name.
FORMATS: Final[dict[str, str]] = {
    "coco": "coco",
    "voc": "voc",
    "yolo": "yolo",
    "imagenet": "imagenet",
    "cvat": "cvat",
    "labelme": "label_me",
    "datumaro": "datumaro",
}
CLASSIFICATION, DETECTION, SEGMENTATION = 0, 1, 3
_KEPT: Final = ("difficult", "truncated", "occluded", "pose")


@dataclass
class FormatLabel:
    name: str
    type: int
    property: dict[str, Any] = field(default_factory=dict)
    score: float | None = None


@dataclass
class FormatItem:
    """An image of the dataset (``path`` relative to the folder, "/"-separated) and its labels;
    ``problem`` says why it cannot be imported (its media lies outside the folder...)."""

    path: str
    labels: list[FormatLabel] = field(default_factory=list)
    ignored: int = 0
    problem: str | None = None


class FormatError(Exception):
    """The folder is not readable as the format (the message says why)."""


def read_items(root: Path, fmt: str, dataset_type: int) -> Iterator[FormatItem]:
    """The items of the folder ``root`` read as ``fmt`` (a key of :data:`FORMATS`)."""
    # Datumaro takes seconds to import: only when a format import runs.
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset
    from datumaro.components.errors import DatumaroError

    try:
        with _quiet():
            dataset = Dataset.import_from(str(root), FORMATS[fmt])
            categories = dataset.categories().get(AnnotationType.label)
            items = iter(dataset)
        names = [category.name for category in categories] if categories is not None else []
        while True:
            # Warnings are silenced item by item (not across a yield): Datumaro and
            # pycocotools warn about numpy 2 and the like, which must not become errors.
            with _quiet():
                item = next(items, None)
                if item is None:
                    return
                converted = _item(root, item, names, dataset_type)
            yield converted
    except DatumaroError as exc:
        raise FormatError(_short(exc)) from None
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise FormatError(f"{type(exc).__name__}: {_short(exc)}") from None


@contextmanager
def _quiet() -> Iterator[None]:
    image_context()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def image_context() -> None:
    """Datumaro sets its image backend (a context variable) when it is first imported, in
    that thread's context only; a worker thread that imports it later would find none
    (``LookupError``). Set it here, in the calling thread, if it is missing."""
    from datumaro.util import image as dm_image

    if dm_image.IMAGE_BACKEND.get(None) is None:
        dm_image.IMAGE_BACKEND.set(dm_image.ImageBackend.cv2)


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:300]


def _item(root: Path, item: Any, names: list[str], dataset_type: int) -> FormatItem:
    from datumaro.components.annotation import AnnotationType

    media_path = getattr(item.media, "path", None)
    if not media_path:
        return FormatItem(path=str(item.id), problem="no image for this item")
    try:
        rel = Path(media_path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return FormatItem(path=str(item.id), problem="its image lies outside the import folder")
    result = FormatItem(path=rel)
    # COCO gives an object with a segmentation twice: its polygon (or mask) and its box, with
    # one id. The box is the outline's, not a second object: it is left out.
    outlined = {
        (a.id, a.label)
        for a in item.annotations
        if a.id and a.type in (AnnotationType.polygon, AnnotationType.mask)
    }
    for annotation in item.annotations:
        if (
            annotation.type == AnnotationType.bbox
            and annotation.id
            and (annotation.id, annotation.label) in outlined
        ):
            continue
        converted = _annotation(annotation, names, dataset_type)
        if converted is None:
            result.ignored += 1
        else:
            result.labels.extend(converted)
    return result


def _number(value: float) -> int | float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("a coordinate is not a finite number")
    return int(value) if value.is_integer() else round(value, 4)


def _pairs(points: list[float]) -> list[list[int | float]]:
    return [[_number(points[i]), _number(points[i + 1])] for i in range(0, len(points) - 1, 2)]


def _annotation(annotation: Any, names: list[str], dataset_type: int) -> list[FormatLabel] | None:
    from datumaro.components.annotation import AnnotationType

    label_id = getattr(annotation, "label", None)
    if label_id is None or not 0 <= label_id < len(names):
        return None
    name = names[label_id]
    kind = annotation.type
    shapes = dataset_type in (DETECTION, SEGMENTATION)
    if kind == AnnotationType.label:
        return [_label(name, dataset_type, annotation, {})] if dataset_type == CLASSIFICATION else None
    if not shapes:
        return None
    if kind == AnnotationType.bbox:
        x, y, w, h = annotation.get_bbox()
        feature = [[_number(x), _number(y)], [_number(x + w), _number(y + h)]]
        return [
            _label(
                name, dataset_type, annotation, {"@modelarts:shape": "bndbox", "@modelarts:feature": feature}
            )
        ]
    if kind == AnnotationType.polygon:
        return [_shape(name, dataset_type, annotation, "polygon", _pairs(annotation.points))]
    if kind == AnnotationType.polyline:
        return [_shape(name, dataset_type, annotation, "polyline", _pairs(annotation.points))]
    if kind == AnnotationType.points:
        return [_shape(name, dataset_type, annotation, "point", [pair]) for pair in _pairs(annotation.points)]
    if kind == AnnotationType.mask and dataset_type == SEGMENTATION:
        from datumaro.util.mask_tools import mask_to_polygons

        outlines = mask_to_polygons(annotation.image)
        return [
            _shape(name, dataset_type, annotation, "polygon", _pairs(list(points))) for points in outlines
        ]
    return None


def _shape(
    name: str, dataset_type: int, annotation: Any, shape: str, points: list[list[int | float]]
) -> FormatLabel:
    return _label(name, dataset_type, annotation, {"@modelarts:shape": shape, "@modelarts:feature": points})


def _label(name: str, dataset_type: int, annotation: Any, prop: dict[str, Any]) -> FormatLabel:
    attributes = getattr(annotation, "attributes", None) or {}
    for key in _KEPT:
        value = attributes.get(key)
        if value is not None and value != "":
            prop[key] = _flag(value)
    if prop.get("difficult") in ("1", "true"):
        prop["@modelarts:hard"] = "true"
    score = attributes.get("score")
    try:
        value = float(score) if score is not None else None
    except (TypeError, ValueError):
        value = None
    return FormatLabel(
        name=name,
        type=dataset_type,
        property=prop,
        score=value if value is not None and 0.0 <= value <= 1.0 else None,
    )


def _flag(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
