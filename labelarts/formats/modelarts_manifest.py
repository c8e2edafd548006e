"""Writing ModelArts manifests: JSON Lines, UTF-8, one sample per line, after the guide's
"Specifications for Importing a Manifest File" (the reader is
:mod:`labelarts.services.importing.manifest`; what this module writes, it reads back).

One line::

    {"source": "s3://bucket/cat.jpg", "id": "<sample id>", "usage": "TRAIN",
     "hard": "true", "hard-coefficient": 0.8,
     "annotation": [{"type": "modelarts/image_classification", "name": "cat",
                     "property": {...}, "annotated-by": "human", "confidence": 0.9,
                     "creation-time": "2019-01-23 11:30:30"}]}

How LabelArts writes it:

* ``source``: what :func:`source_uri` makes of a sample's location: an object key as
  ``obs://key``, a local file as its absolute path, a text sample as ``content://<text>``.
* ``annotation[].type`` is ``modelarts/<type>`` for the label type (:data:`ANNOTATION_TYPES`;
  a text-triplet entity, 103, is ``text_entity`` as the guide writes it). Every label is
  written inline, with ``name`` and ``property``, boxes and polygons included (the guide's
  ``annotation-loc`` Pascal VOC files are one more file per sample; the reader takes both).
* ``property`` is the label's property, except two keys the reader makes from manifest
  fields, which go back to those fields: ``@labelarts:creation_time`` (``creation-time``)
  and ``@labelarts:id`` (a triplet's ``id``). ``score`` is ``confidence``; ``annotated_by``
  ``auto`` is ``modelarts/active-learning`` and ``human`` is ``human``.
* Sample level: ``hard`` ("true") and ``hard-coefficient`` only for a hard sample (and only
  ``with_hard``), ``usage`` (TRAIN, EVAL, TEST, INFERENCE) when the sample has one, ``id``
  as given, ``sample-type`` when given.

The writer streams: :func:`manifest_chunks` takes any iterable of :class:`ManifestSample`
and yields encoded chunks of about ``chunk_bytes``, never the whole file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

CONTENT_SCHEME: Final = "content://"
OBJECT_SCHEME: Final = "obs://"
MANIFEST_AUTO: Final = "modelarts/active-learning"
MANIFEST_HUMAN: Final = "human"
USAGES: Final = frozenset({"TRAIN", "EVAL", "TEST", "INFERENCE"})
# LabelArts label type -> the manifest's annotation type (without the "modelarts/" prefix).
ANNOTATION_TYPES: Final[dict[int, str]] = {
    0: "image_classification",
    1: "object_detection",
    3: "image_segmentation",
    100: "text_classification",
    101: "text_entity",
    102: "text_triplet",
    103: "text_entity",
    200: "audio_classification",
    201: "audio_content",
    202: "audio_segmentation",
}
# Label property keys the reader makes from manifest fields, written back to those fields.
CREATION_TIME_KEY: Final = "@labelarts:creation_time"
LABEL_ID_KEY: Final = "@labelarts:id"
CHUNK_BYTES: Final = 1 << 20


class ManifestError(ValueError):
    """A sample or label that no manifest line can hold (unknown label type, bad usage)."""


@dataclass(frozen=True)
class ManifestLabel:
    """One label of a sample, as LabelArts stores it (``annotated_by`` ``human`` or ``auto``)."""

    name: str
    type: int
    score: float | None = None
    property: Mapping[str, Any] = field(default_factory=dict)
    annotated_by: str = "human"


@dataclass(frozen=True)
class ManifestSample:
    """One manifest line: ``source`` is already a manifest URI (:func:`source_uri`)."""

    source: str
    labels: Sequence[ManifestLabel] = ()
    id: str | None = None
    usage: str | None = None
    hard: bool = False
    hard_coefficient: float | None = None
    sample_type: int | None = None


def source_uri(*, kind: str, key: str, text: str | None = None) -> str:
    """A sample's ``source``: ``content://<text>`` when ``text`` is given (a text sample),
    the absolute path of a local file (``kind`` "local"), else ``obs://<object key>``."""
    if text is not None:
        return CONTENT_SCHEME + text
    if kind == "local":
        return key
    return OBJECT_SCHEME + key.lstrip("/")


def manifest_annotated_by(value: str) -> str:
    """The API's ``annotated_by`` as a manifest writes it."""
    return MANIFEST_AUTO if value == "auto" else MANIFEST_HUMAN


def annotation(label: ManifestLabel) -> dict[str, Any]:
    """One ``annotation`` object (:class:`ManifestError` for a label type no manifest has)."""
    kind = ANNOTATION_TYPES.get(label.type)
    if kind is None:
        raise ManifestError(f"label type {label.type} has no manifest annotation type")
    prop = dict(label.property)
    created = prop.pop(CREATION_TIME_KEY, None)
    label_id = prop.pop(LABEL_ID_KEY, None)
    body: dict[str, Any] = {"type": f"modelarts/{kind}", "name": label.name}
    if label_id is not None:
        body["id"] = str(label_id)
    if prop:
        body["property"] = prop
    body["annotated-by"] = manifest_annotated_by(label.annotated_by)
    if label.score is not None:
        if not math.isfinite(label.score):
            raise ManifestError(f"label {label.name!r} has a score that is not a finite number")
        body["confidence"] = label.score
    if created is not None:
        body["creation-time"] = str(created)
    return body


def line_object(sample: ManifestSample, *, with_hard: bool = True) -> dict[str, Any]:
    """The JSON object of one manifest line (the key order is the guide's)."""
    body: dict[str, Any] = {"source": sample.source}
    if sample.usage is not None:
        usage = sample.usage.upper()
        if usage not in USAGES:
            raise ManifestError(f"usage {sample.usage!r} is not one of {sorted(USAGES)}")
        body["usage"] = usage
    if with_hard and sample.hard:
        body["hard"] = "true"
        if sample.hard_coefficient is not None:
            body["hard-coefficient"] = sample.hard_coefficient
    if sample.id is not None:
        body["id"] = sample.id
    if sample.sample_type is not None:
        body["sample-type"] = sample.sample_type
    if sample.labels:
        body["annotation"] = [annotation(label) for label in sample.labels]
    return body


def manifest_line(sample: ManifestSample, *, with_hard: bool = True) -> str:
    """One manifest line, without its newline (compact JSON, UTF-8 characters as they are)."""
    return json.dumps(
        line_object(sample, with_hard=with_hard),
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )


def manifest_chunks(
    samples: Iterable[ManifestSample], *, with_hard: bool = True, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """The manifest of ``samples`` as UTF-8 chunks of about ``chunk_bytes`` (each ends with a
    whole line), streamed: at most one chunk is held at a time."""
    parts: list[bytes] = []
    size = 0
    for sample in samples:
        data = (manifest_line(sample, with_hard=with_hard) + "\n").encode("utf-8")
        parts.append(data)
        size += len(data)
        if size >= chunk_bytes:
            yield b"".join(parts)
            parts, size = [], 0
    if parts:
        yield b"".join(parts)
