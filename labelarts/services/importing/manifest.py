"""ModelArts manifest lines (JSON Lines, UTF-8), after the guide's "Specifications for Importing
a Manifest File".

One line is one sample::

    {"source": "s3://bucket/cat.jpg", "usage": "TRAIN", "hard": "true", "hard-coefficient": 0.8,
     "annotation": [{"type": "modelarts/image_classification", "name": "cat",
                     "property": {...}, "annotated-by": "human", "confidence": 0.9,
                     "hard": "true", "hard-coefficient": 0.8,
                     "creation-time": "2019-01-23 11:30:30"}],
     "inference-loc": "..."}

How LabelArts reads it:

* ``source``: ``obs://``/``s3://`` key, absolute local path (or ``file://``), a path relative to
  the manifest's folder, or ``content://<text>`` (text datasets). Every path is confined like an
  import path (:mod:`.sources`); a line that points elsewhere fails alone.
* ``annotation[].type`` (with or without the ``modelarts/`` prefix) gives the label type:
  image_classification 0, object_detection 1, image_segmentation 3, text_classification 100,
  text_entity 101 (103 in a text-triplet dataset), text_triplet 102, audio_classification 200,
  audio_content 201, audio_segmentation 202. Annotations of a type the dataset does not use are
  ignored (and counted). Object detection and segmentation annotations name a Pascal VOC file
  in ``annotation-loc`` (read like a folder import's XML) unless they carry ``name`` and
  ``property`` inline.
* ``property`` is kept as the label's property; ``confidence`` is the score; ``annotated-by``
  becomes the API's ``annotated_by`` (:func:`annotated_by_from_manifest`: ``modelarts/...``
  agents are ``auto``, anything else ``human``); ``hard``/``hard-coefficient`` become
  ``@modelarts:hard`` ("true"/"false") and ``@modelarts:hard_coefficient`` (a string);
  ``creation-time`` becomes ``@labelarts:creation_time``; a triplet ``id`` (E1, R1) becomes ``@labelarts:id``.
* Sample level: ``hard``/``hard-coefficient`` set the sample's hard flag and coefficient;
  ``usage`` is kept as metadata ``@labelarts:usage``, ``inference-loc`` as
  ``@labelarts:inference_loc``, ``id`` as ``@labelarts:manifest_id`` (and as the sample name
  of a ``content://`` line, when it is a valid name); ``property`` is checked like an uploaded
  sample's ``metadata`` and merged into it; ``sample-type`` is ignored.
* Values are checked like an upload's (:mod:`labelarts.schemas.samples`): numbers JSON cannot
  hold (``1e400``), reserved keys of the wrong type and values nested too deeply fail their
  line alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Final

from labelarts.schemas.samples import (
    HARD,
    HARD_COEFFICIENT,
    MAX_JSON_DEPTH,
    check_label_property,
    check_sample_metadata,
    check_sample_name,
)
from labelarts.services.importing.layouts import label_name
from labelarts.services.importing.sniff import Rejected
from labelarts.services.samples.records import BY_AUTO, BY_HUMAN, LabelInput

CONTENT_SCHEME: Final = "content://"
MAX_LINE_CHARS: Final = 16 * 1024 * 1024
MANIFEST_AUTO: Final = "modelarts/active-learning"
MANIFEST_ID: Final = "@labelarts:manifest_id"
MAX_ID_CHARS: Final = 128
ANNOTATION_TYPES: Final[dict[str, int]] = {
    "image_classification": 0,
    "object_detection": 1,
    "image_segmentation": 3,
    "text_classification": 100,
    "text_entity": 101,
    "text_triplet": 102,
    "audio_classification": 200,
    "audio_content": 201,
    "audio_segmentation": 202,
}
# Label types each dataset type keeps (free-format datasets import no labels).
DATASET_LABEL_TYPES: Final[dict[int, frozenset[int]]] = {
    0: frozenset({0}),
    1: frozenset({1}),
    3: frozenset({3, 1}),
    100: frozenset({100}),
    101: frozenset({101}),
    102: frozenset({102, 103}),
    200: frozenset({200}),
    201: frozenset({201}),
    202: frozenset({202}),
}
_NAME_REQUIRED: Final = frozenset({0, 100, 101, 102, 103, 200})
_VOC_TYPES: Final = frozenset({1, 3})
_TRUE: Final = ("true", "1", "yes")
_FALSE: Final = ("false", "0", "no", "")


@dataclass
class VocRef:
    """A Pascal VOC file to read for this sample's labels."""

    location: str
    label_type: int
    annotated_by: str


@dataclass
class ManifestRecord:
    source: str
    labels: list[LabelInput] = field(default_factory=list)
    voc: list[VocRef] = field(default_factory=list)
    hard: bool = False
    hard_coefficient: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    ignored_annotations: int = 0
    manifest_id: str | None = None

    @property
    def content(self) -> str | None:
        return self.source[len(CONTENT_SCHEME) :] if self.source.startswith(CONTENT_SCHEME) else None

    @property
    def sample_name(self) -> str | None:
        """The name of a ``content://`` sample: the line's ``id`` when it makes a valid name."""
        if self.manifest_id is None:
            return None
        try:
            return check_sample_name(self.manifest_id)
        except ValueError:
            return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Built once: ``json.loads`` with any keyword builds a decoder per call (half of a line's decode).
_LINE_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)


def parse_line(line: str, dataset_type: int, *, with_annotations: bool) -> ManifestRecord:
    """Parse one manifest line; :class:`Rejected` with the reason if it cannot be used."""
    if len(line) > MAX_LINE_CHARS:
        raise Rejected("line is too long")
    if "\\u0000" in line:
        raise Rejected("line contains a NUL character")
    try:
        raw = _LINE_DECODER.decode(line)
    except ValueError as exc:
        raise Rejected(f"invalid JSON: {exc}") from None
    except RecursionError:  # the parser recurses per level: a 5,000-deep value must fail alone
        raise Rejected(f"values are nested more than {MAX_JSON_DEPTH} levels deep") from None
    if not isinstance(raw, dict):
        raise Rejected("a manifest line must be a JSON object")
    # A lone surrogate escape ("\\ud800") decodes, but no database can store it. The line was
    # decoded as strict UTF-8, so only a \\u escape can have made one: lines without any skip
    # re-encoding every value (a tenth of a manifest line's parse).
    if "\\u" in line:
        try:
            json.dumps(raw, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise Rejected("line contains an invalid Unicode escape (a lone surrogate)") from None
        except RecursionError:
            raise Rejected(f"values are nested more than {MAX_JSON_DEPTH} levels deep") from None
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        raise Rejected('"source" is missing or not a string')
    record = ManifestRecord(source=source.strip() if not source.startswith(CONTENT_SCHEME) else source)
    record.hard = _flag(raw.get("hard"), '"hard"')
    if raw.get("hard-coefficient") is not None:
        record.hard_coefficient = _unit(raw["hard-coefficient"], '"hard-coefficient"')
    usage = raw.get("usage")
    if isinstance(usage, str) and usage:
        record.metadata["@labelarts:usage"] = usage.upper()[:32]
    inference = raw.get("inference-loc")
    if isinstance(inference, str) and inference:
        record.metadata["@labelarts:inference_loc"] = inference[:2048]
    record.manifest_id = _manifest_id(raw.get("id"))
    if record.manifest_id is not None:
        record.metadata[MANIFEST_ID] = record.manifest_id
    props = raw.get("property")
    if props is not None:
        _sample_property(record, props, explicit_hard=raw.get("hard") is not None)
    annotations = raw.get("annotation")
    if not with_annotations or annotations is None:
        return record
    if not isinstance(annotations, list):
        raise Rejected('"annotation" must be a list')
    allowed = DATASET_LABEL_TYPES.get(dataset_type, frozenset())
    for index, item in enumerate(annotations, start=1):
        _annotation(record, item, index, dataset_type, allowed)
    return record


def _annotation(
    record: ManifestRecord, item: Any, index: int, dataset_type: int, allowed: frozenset[int]
) -> None:
    where = f"annotation #{index}"
    if not isinstance(item, dict):
        raise Rejected(f"{where} is not an object")
    kind = item.get("type")
    if not isinstance(kind, str):
        raise Rejected(f'{where} has no "type"')
    label_type = ANNOTATION_TYPES.get(kind.removeprefix("modelarts/"))
    if label_type == 101 and dataset_type == 102:
        label_type = 103  # an entity of a triplet dataset
    if label_type is None or label_type not in allowed:
        record.ignored_annotations += 1
        return
    annotated_by = annotated_by_from_manifest(item.get("annotated-by"))
    name = item.get("name")
    location = item.get("annotation-loc")
    if label_type in _VOC_TYPES and name is None:
        if not isinstance(location, str) or not location:
            raise Rejected(f'{where} needs "annotation-loc" (a Pascal VOC file)')
        fmt = item.get("annotation-format", "PASCAL VOC")
        if not isinstance(fmt, str) or fmt.strip().upper() not in ("PASCAL VOC", "PASCAL_VOC", "VOC"):
            raise Rejected(f"{where}: only PASCAL VOC annotation files are supported")
        record.voc.append(VocRef(location, label_type, annotated_by))
        return
    if name is None and label_type not in _NAME_REQUIRED:
        name = kind.removeprefix("modelarts/")
    if not isinstance(name, str) or not name.strip():
        raise Rejected(f'{where} has no "name"')
    try:
        name = label_name(name)
    except Rejected as exc:
        raise Rejected(f"{where}: {exc.reason}") from None
    prop = item.get("property") or {}
    if not isinstance(prop, dict):
        raise Rejected(f'{where}: "property" must be an object')
    try:  # the rules of an uploaded label's property
        prop = dict(check_label_property(prop))
    except ValueError as exc:
        raise Rejected(f"{where} property: {exc}") from None
    if item.get("hard") is not None:
        prop["@modelarts:hard"] = "true" if _flag(item["hard"], f"{where} hard") else "false"
    if item.get("hard-coefficient") is not None:
        prop["@modelarts:hard_coefficient"] = str(
            _unit(item["hard-coefficient"], f"{where} hard-coefficient")
        )
    created = item.get("creation-time")
    if isinstance(created, str) and created:
        prop["@labelarts:creation_time"] = created[:64]
    label_id = item.get("id")
    if isinstance(label_id, str) and label_id:
        prop["@labelarts:id"] = label_id[:64]
    score = _unit(item["confidence"], f"{where} confidence") if item.get("confidence") is not None else None
    record.labels.append(
        LabelInput(name=name, type=label_type, score=score, property=prop, annotated_by=annotated_by)
    )


def _manifest_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_ID_CHARS or "\x00" in value:
        raise Rejected(f'"id" must be a string of at most {MAX_ID_CHARS} characters')
    return value


def _sample_property(record: ManifestRecord, props: Any, *, explicit_hard: bool) -> None:
    """The line's ``property``, checked like an uploaded sample's ``metadata``, merged in."""
    if not isinstance(props, dict):
        raise Rejected('"property" must be an object')
    try:
        check_sample_metadata(props)
    except ValueError as exc:
        raise Rejected(f"property: {exc}") from None
    for key, value in props.items():
        if value is None:
            continue
        if key == HARD:  # as an upload: the flag and coefficient live in their own columns
            if not explicit_hard:
                record.hard = bool(value)
        elif key == HARD_COEFFICIENT:
            if record.hard_coefficient is None:
                record.hard_coefficient = float(value)
        else:
            record.metadata[key] = value


def annotated_by_from_manifest(value: Any) -> str:
    """A manifest's ``annotated-by`` as the API's value: its machine agents (``modelarts/...``,
    e.g. ``modelarts/active-learning``) and ``auto`` are ``auto``; ``human``, anything else
    and no value are ``human`` (the manifest's default)."""
    if isinstance(value, str) and (value == BY_AUTO or value.startswith("modelarts/")):
        return BY_AUTO
    return BY_HUMAN


def manifest_annotated_by(value: str) -> str:
    """The API's ``annotated_by`` as a manifest writes it (for export)."""
    return MANIFEST_AUTO if value == BY_AUTO else "human"


def _flag(value: Any, where: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise Rejected(f"{where} must be true or false")


def _unit(value: Any, where: str) -> float:
    try:
        number = (
            float(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else math.nan
        )
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:
        raise Rejected(f"{where} must be a number in [0, 1]")
    return number


def is_hard(labels: list[LabelInput]) -> bool:
    return any(str(label.property.get("@modelarts:hard", "")).lower() in ("true", "1") for label in labels)
