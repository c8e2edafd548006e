"""Annotation layouts of a folder import, after the ModelArts guide's "Specifications for
Importing Data from an OBS Directory", plus the Pascal VOC reader that manifests share.

* Image and sound classification: a file's label is the name of the folder holding it (the
  last folder level); files directly in the import path are unlabeled. For images, a ``.txt``
  file beside the image with the same stem ("ModelArts image classification 1.0") overrides the
  folder: each non-empty line is a label.
* Object detection and image segmentation: ``<stem>.xml`` beside the image, in Pascal VOC.
  Every ``<object>`` becomes a label with ``@modelarts:shape`` and ``@modelarts:feature``
  (bndbox ``[[xmin, ymin], [xmax, ymax]]``, polygon/polyline/line/dashed the points in order,
  point ``[[x, y]]``, circle ``[[cx, cy], [r]]``); ``difficult``, ``truncated``, ``occluded``,
  ``pose`` and ``mask_color`` are kept as string properties (and, in segmentation datasets, the
  annotation's ``<mask_source>`` as ``mask_source``), ``confidence`` becomes the score,
  ``hard-coefficient`` becomes ``@modelarts:hard_coefficient``.
* Text classification: one sample per non-empty line. ``label_type`` "1" (default): a line is
  ``text<sample separator>label<label separator>label`` (defaults tab and comma; the text ends
  at the last sample separator); a line without the separator is unlabeled. ``label_type`` "0":
  line *n* of ``abc_result.txt`` holds the labels of line *n* of ``abc.txt``.

Label names are stripped of surrounding spaces and must then be valid label names.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from labelarts.errors import ValidationFailedError
from labelarts.schemas.common import LabelName
from labelarts.services.importing.sniff import Rejected
from labelarts.services.samples.records import LabelInput

MAX_ANNOTATION_BYTES: Final = 4 * 1024 * 1024
MAX_MASK_SOURCE: Final = 2048
RESULT_SUFFIX: Final = "_result"
_LABEL_NAME: TypeAdapter[str] = TypeAdapter(LabelName)
_SHAPES: Final = ("bndbox", "polygon", "polyline", "line", "dashed", "point", "circle")
_KEPT: Final = ("difficult", "truncated", "occluded", "pose", "mask_color")
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def label_name(raw: str) -> str:
    """A stripped, valid label name, or :class:`Rejected`."""
    name, reason = _checked_label_name(raw.strip())
    if reason is not None:
        raise Rejected(reason)
    return name


@functools.lru_cache(maxsize=4096)
def _checked_label_name(name: str) -> tuple[str, str | None]:
    """``(valid name, None)`` or ``(name, why not)``. An import meets the same few names on
    every line, and the check (NFC, character classes, mixed scripts) costs tens of µs."""
    try:
        return _LABEL_NAME.validate_python(name), None
    except ValidationError as exc:
        reason = exc.errors()[0].get("msg", "invalid")
        return name, f"invalid label name {name[:80]!r}: {reason}"


def names_to_labels(names: list[str], label_type: int) -> list[LabelInput]:
    seen: dict[str, LabelInput] = {}
    for raw in names:
        if raw.strip():
            name = label_name(raw)
            seen.setdefault(name, LabelInput(name=name, type=label_type))
    return list(seen.values())


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


# --- text classification ----------------------------------------------------------------


@dataclass(frozen=True)
class TextFormat:
    label_type: str = "1"
    sample_separator: str = "\t"
    label_separator: str = ","

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> TextFormat:
        raw = raw or {}
        fmt = cls(
            label_type=str(raw.get("label_type") or "1"),
            sample_separator=str(raw.get("text_sample_separator") or "\t"),
            label_separator=str(raw.get("text_label_separator") or ","),
        )
        if fmt.label_type not in ("0", "1"):
            raise ValidationFailedError('label_format.label_type must be "0" or "1".')
        if fmt.label_type == "1" and fmt.sample_separator == fmt.label_separator:
            raise ValidationFailedError("text_sample_separator and text_label_separator must differ.")
        return fmt

    def to_dict(self) -> dict[str, str]:
        return {
            "label_type": self.label_type,
            "text_sample_separator": self.sample_separator,
            "text_label_separator": self.label_separator,
        }

    def split_line(self, line: str) -> tuple[str, list[str]]:
        """``(text, label names)`` of a combined line (label_type "1")."""
        text, sep, labels = line.rpartition(self.sample_separator)
        if not sep:
            return line, []
        return text.strip(), [n for n in labels.split(self.label_separator) if n.strip()]

    def split_labels(self, line: str) -> list[str]:
        return [n for n in line.split(self.label_separator) if n.strip()]


@dataclass(frozen=True)
class TextLine:
    number: int  # 1-based line number in its file
    text: str
    labels: list[LabelInput]


def text_lines(
    text: str, fmt: TextFormat, *, label_type: int, split: bool, result: str | None
) -> Iterator[TextLine | tuple[int, str]]:
    """The samples of a text file: :class:`TextLine` per non-empty line, or ``(line, reason)``.

    ``split``: the dataset is a text classification one read with label_type "1" (lines carry
    their labels). ``result``: the content of the ``_result`` file (label_type "0"), if any.
    Labels are returned only when they are to be imported (the caller passes ``split`` False
    and ``result`` None otherwise, except that combined lines are always split).
    """
    results = text_rows(result) if result is not None else None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        names: list[str] = []
        if split:
            line, names = fmt.split_line(line)
            if not line:
                yield number, "line has labels but no text"
                continue
        elif results is not None and number <= len(results):
            names = fmt.split_labels(results[number - 1])
        try:
            labels = names_to_labels(names, label_type) if names else []
        except Rejected as exc:
            yield number, exc.reason
            continue
        yield TextLine(number, line, labels)


@dataclass(frozen=True)
class CsvColumns:
    """How a text dataset's ``.csv`` files are read when the import asks for columns
    (``with_column_header`` given): ``header`` says whether the first row names the columns;
    ``text`` and ``label`` are a column's 0-based index or, with a header, its name (matched
    without regard to case). Defaults: the text is column ``text`` (or ``content``, else the
    first), the labels column ``label`` (or ``labels``, else the second, when there is one)."""

    header: bool
    text: str | int | None = None
    label: str | int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"header": self.header, "text": self.text, "label": self.label}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> CsvColumns | None:
        if not raw:
            return None
        return cls(bool(raw.get("header")), raw.get("text"), raw.get("label"))

    def index(
        self, wanted: str | int | None, names: list[str], defaults: tuple[str, ...], fallback: int
    ) -> int:
        if isinstance(wanted, int):
            return wanted
        lowered = [n.strip().lower() for n in names]
        if isinstance(wanted, str):
            if wanted.strip().lower() not in lowered:
                raise Rejected(f"the CSV header has no column {wanted[:80]!r}")
            return lowered.index(wanted.strip().lower())
        for name in defaults:
            if name in lowered:
                return lowered.index(name)
        return fallback


def csv_lines(
    text: str, columns: CsvColumns, fmt: TextFormat, *, label_type: int, with_labels: bool
) -> Iterator[TextLine | tuple[int, str]]:
    """The samples of a CSV file read as columns: :class:`TextLine` per row with text, or
    ``(row number, reason)``. Labels (``with_labels``) are the label cell split by the label
    separator. A header that lacks a named column fails the whole file (:class:`Rejected`)."""
    reader = csv.reader(io.StringIO(text))
    header: list[str] = []
    first = 1
    if columns.header:
        try:
            header = next(reader, [])
        except csv.Error as exc:
            raise Rejected(f"CSV header: {exc}") from None
        first = 2
    text_at = columns.index(columns.text, header, ("text", "content"), 0)
    label_at = columns.index(columns.label, header, ("label", "labels"), 1)
    rows = enumerate(reader, start=first)
    while True:
        try:
            number, row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            raise Rejected(f"CSV row {reader.line_num}: {exc}") from None
        if not any(cell.strip() for cell in row):
            continue
        if text_at is None or text_at >= len(row):
            yield number, "row has no text column"
            continue
        value = row[text_at].strip()
        if not value:
            yield number, "empty text"
            continue
        names: list[str] = []
        if with_labels and label_at is not None and label_at != text_at and label_at < len(row):
            names = fmt.split_labels(row[label_at])
        try:
            labels = names_to_labels(names, label_type) if names else []
        except Rejected as exc:
            yield number, exc.reason
            continue
        yield TextLine(number, value, labels)


def text_rows(text: str) -> list[str]:
    return [row.strip() for row in text.splitlines()]


def result_name(name: str) -> str:
    """``abc.txt`` -> ``abc_result.txt``."""
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}{RESULT_SUFFIX}.{suffix}" if dot else f"{name}{RESULT_SUFFIX}"


def base_of_result(name: str) -> str | None:
    """``abc_result.txt`` -> ``abc.txt``; None for names without the suffix."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem.endswith(RESULT_SUFFIX) or stem == RESULT_SUFFIX:
        return None
    return f"{stem[: -len(RESULT_SUFFIX)]}.{suffix}"


# --- Pascal VOC -------------------------------------------------------------------------


def parse_voc(data: bytes, label_type: int) -> list[LabelInput]:
    """The labels of a Pascal VOC annotation (one per ``<object>``); :class:`Rejected` if bad."""
    if len(data) > MAX_ANNOTATION_BYTES:
        raise Rejected(f"annotation file is larger than {MAX_ANNOTATION_BYTES} bytes")
    if _DTD.search(data):
        raise Rejected("annotation file declares a DTD or entities, which are refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise Rejected(f"annotation file is not well-formed XML: {exc}") from None
    if root.tag != "annotation":
        raise Rejected("annotation file is not Pascal VOC (no <annotation> root)")
    labels = [_voc_object(obj, label_type, i) for i, obj in enumerate(root.iter("object"), start=1)]
    # ModelArts image segmentation 1.0: the mask image's path, kept as written on each label
    # (as mask_color is); the path is not opened.
    mask_source = (root.findtext("mask_source") or "").strip()
    if mask_source and label_type == 3:
        for label in labels:
            label.property["mask_source"] = mask_source[:MAX_MASK_SOURCE]
    return labels


def _voc_object(obj: ET.Element, label_type: int, index: int) -> LabelInput:
    where = f"annotation <object> #{index}"
    raw_name = obj.findtext("name")
    if raw_name is None or not raw_name.strip():
        raise Rejected(f"{where} has no <name>")
    try:
        name = label_name(raw_name)
    except Rejected as exc:
        raise Rejected(f"{where}: {exc.reason}") from None
    shape = next((s for s in _SHAPES if obj.find(s) is not None), None)
    if shape is None:
        raise Rejected(f"{where} has no shape (one of {', '.join(_SHAPES)})")
    element = obj.find(shape)
    assert element is not None
    prop: dict[str, Any] = {
        "@modelarts:shape": shape,
        "@modelarts:feature": _feature(shape, element, where),
    }
    for key in _KEPT:
        value = obj.findtext(key)
        if value is not None and value.strip():
            prop[key] = value.strip()
    coefficient = obj.findtext("hard-coefficient")
    if coefficient is not None and coefficient.strip():
        prop["@modelarts:hard_coefficient"] = str(_unit(coefficient, f"{where} hard-coefficient"))
    if prop.get("difficult") in ("1", "true"):
        prop["@modelarts:hard"] = "true"
    confidence = obj.findtext("confidence")
    score = _unit(confidence, f"{where} confidence") if confidence and confidence.strip() else None
    return LabelInput(name=name, type=label_type, score=score, property=prop)


def _feature(shape: str, element: ET.Element, where: str) -> list[list[int | float]]:
    if shape == "bndbox":
        xmin, ymin, xmax, ymax = (_number(element, tag, where) for tag in ("xmin", "ymin", "xmax", "ymax"))
        return [[xmin, ymin], [xmax, ymax]]
    if shape == "circle":
        return [
            [_number(element, "cx", where), _number(element, "cy", where)],
            [_number(element, "r", where)],
        ]
    if shape == "point" and element.find("x") is not None:
        return [[_number(element, "x", where), _number(element, "y", where)]]
    points: list[list[int | float]] = []
    index = 1
    while element.find(f"x{index}") is not None:
        points.append([_number(element, f"x{index}", where), _number(element, f"y{index}", where)])
        index += 1
    minimum = {"point": 1, "line": 2, "dashed": 2, "polyline": 2, "polygon": 3}[shape]
    if len(points) < minimum:
        raise Rejected(f"{where}: a {shape} needs at least {minimum} points")
    return points


def _number(element: ET.Element, tag: str, where: str) -> int | float:
    text = element.findtext(tag)
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise Rejected(f"{where}: <{tag}> is missing or not a number")
    return int(value) if value.is_integer() else value


def _unit(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise Rejected(f"{where} must be a number in [0, 1]")
    return value
