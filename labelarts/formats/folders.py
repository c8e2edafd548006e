"""The ModelArts folder layouts (what an import "from a directory" reads back), and CSV /
JSON Lines for text and audio labels.

* tree (``export_format`` 1): ``<label>/<file>`` for each class label (a file with several
  labels is written into each of their folders); unlabeled files at the top;
* tile (``export_format`` 2): each file at the top, beside ``<stem>.txt`` (its class labels,
  one per line) or, for shapes, ``<stem>.xml`` in Pascal VOC with the shapes as the importer
  reads them (bndbox corners, polygon ``x1``/``y1``..., point, circle);
* a split (``ratio_sample_usage``) puts files under ``train/`` and ``val/``;
* CSV (``sample``, ``text`` for text datasets, ``label``: names joined by ``,``, ``usage``
  when split) and JSON Lines (one object per sample: ``sample``, ``text``, ``labels`` with
  name, type, score and property, ``usage``); audio files are copied beside them.
"""

from __future__ import annotations

import csv
import json
import os
import posixpath
import xml.etree.ElementTree as ET
from typing import IO, Any, Final

from labelarts.formats.datumaro_export import DEFAULT_SUBSET, ExportLabel, ExportSample

TREE, TILE = 1, 2
USAGE: Final = {"train": "TRAIN", "val": "EVAL"}


def _write_file(path: str, sample: ExportSample) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        sample.copy_to(out)


def _safe_join(base: str, *parts: str) -> str:
    rel = posixpath.normpath(posixpath.join(*parts))
    if rel.startswith(("/", "../")) or rel == "..":
        raise ValueError(f"unsafe name {rel!r}")
    return os.path.join(base, rel)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def voc_xml(sample: ExportSample, file_name: str) -> bytes:
    """A Pascal VOC annotation of the sample's shapes, as the folder importer reads it."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = file_name
    if sample.size is not None:
        size = ET.SubElement(root, "size")
        ET.SubElement(size, "width").text = str(sample.size[1])
        ET.SubElement(size, "height").text = str(sample.size[0])
        ET.SubElement(size, "depth").text = "3"
    for label in sample.labels:
        if label.shape is None:
            continue
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = label.name
        for key, value in label.attributes.items():
            if not key.startswith("@") and key in (
                "difficult",
                "truncated",
                "occluded",
                "pose",
                "mask_color",
            ):
                ET.SubElement(obj, key).text = str(value)
        if label.score is not None:
            ET.SubElement(obj, "confidence").text = repr(float(label.score))
        shape = ET.SubElement(obj, label.shape)
        _shape_points(shape, label)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return data


def _shape_points(element: ET.Element, label: ExportLabel) -> None:
    points = [list(p) for p in label.points]
    if label.shape == "bndbox" and len(points) == 2:
        for tag, value in zip(
            ("xmin", "ymin", "xmax", "ymax"), (*points[0][:2], *points[1][:2]), strict=True
        ):
            ET.SubElement(element, tag).text = _number(value)
    elif label.shape == "circle" and len(points) == 2:
        ET.SubElement(element, "cx").text = _number(points[0][0])
        ET.SubElement(element, "cy").text = _number(points[0][1])
        ET.SubElement(element, "r").text = _number(points[1][0])
    elif label.shape == "point" and len(points) == 1:
        ET.SubElement(element, "x").text = _number(points[0][0])
        ET.SubElement(element, "y").text = _number(points[0][1])
    else:
        for index, point in enumerate(points, start=1):
            ET.SubElement(element, f"x{index}").text = _number(point[0])
            ET.SubElement(element, f"y{index}").text = _number(point[1])


class FolderWriter:
    """Writes samples one at a time into ``out_dir`` in the tree or tile layout."""

    def __init__(self, out_dir: str, layout: int) -> None:
        self._out = out_dir
        self._layout = layout

    def write(self, sample: ExportSample) -> None:
        top = "" if sample.subset == DEFAULT_SUBSET else sample.subset
        folder, stem = posixpath.split(sample.item_id)
        file_name = stem + sample.ext
        classes = list(dict.fromkeys(label.name for label in sample.labels if label.shape is None))
        shapes = [label for label in sample.labels if label.shape is not None]
        if self._layout == TREE and classes and not shapes:
            for name in classes:
                _write_file(_safe_join(self._out, top or ".", name, folder or ".", file_name), sample)
            return
        _write_file(_safe_join(self._out, top or ".", folder or ".", file_name), sample)
        if shapes:
            with open(_safe_join(self._out, top or ".", folder or ".", stem + ".xml"), "wb") as out:
                out.write(voc_xml(sample, file_name))
        elif classes:
            with open(
                _safe_join(self._out, top or ".", folder or ".", stem + ".txt"), "w", encoding="utf-8"
            ) as txt:
                txt.write("".join(name + "\n" for name in classes))

    def close(self) -> None:
        """Nothing is buffered."""


class TableWriter:
    """CSV or JSON Lines of text/audio samples; audio (non-text) files are copied beside."""

    def __init__(self, out_dir: str, fmt: str, *, text: bool, split: bool) -> None:
        self._out = out_dir
        self._text = text
        self._split = split
        self._csv = fmt == "csv"
        os.makedirs(out_dir, exist_ok=True)
        name = "labels.csv" if self._csv else "labels.jsonl"
        self._fh: IO[str] = open(os.path.join(out_dir, name), "w", encoding="utf-8", newline="")  # noqa: SIM115
        self._writer: Any = None
        if self._csv:
            self._writer = csv.writer(self._fh)
            header = ["sample"] + (["text"] if text else []) + ["label"] + (["usage"] if split else [])
            self._writer.writerow(header)

    def write(self, sample: ExportSample, text: str | None) -> None:
        file_name = sample.item_id + sample.ext
        if not self._text:
            _write_file(_safe_join(self._out, file_name), sample)
        usage = USAGE.get(sample.subset, "")
        if self._csv:
            row = [file_name] + ([text or ""] if self._text else [])
            row.append(",".join(dict.fromkeys(label.name for label in sample.labels)))
            if self._split:
                row.append(usage)
            self._writer.writerow(row)
            return
        body: dict[str, Any] = {"sample": file_name}
        if self._text:
            body["text"] = text or ""
        body["labels"] = [_label_json(label) for label in sample.labels]
        if self._split:
            body["usage"] = usage
        self._fh.write(json.dumps(body, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._fh.close()


def _label_json(label: ExportLabel) -> dict[str, Any]:
    body: dict[str, Any] = {"name": label.name}
    if label.score is not None:
        body["score"] = label.score
    prop = dict(label.attributes)
    if label.shape is not None:
        prop["@modelarts:shape"] = label.shape
        prop["@modelarts:feature"] = [list(p) for p in label.points]
    if prop:
        body["property"] = prop
    return body
