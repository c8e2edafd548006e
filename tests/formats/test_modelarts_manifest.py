"""The manifest writer: what it writes, the importer's manifest reader reads back unchanged."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from labelarts.formats.modelarts_manifest import (
    ManifestError,
    ManifestLabel,
    ManifestSample,
    manifest_chunks,
    manifest_line,
    source_uri,
)
from labelarts.services.importing.manifest import parse_line
from labelarts.storage.objects import open_object_store
from labelarts.storage.objects.store import FsspecObjectStore

BOX = {
    "@modelarts:shape": "bndbox",
    "@modelarts:feature": [[10, 20], [110, 220]],
}
CASES = [
    (0, [ManifestLabel("cat", 0), ManifestLabel("animal", 0, 0.75, {}, "auto")]),
    (1, [ManifestLabel("dog", 1, None, BOX), ManifestLabel("dog", 1, 0.5, BOX, "auto")]),
    (100, [ManifestLabel("positive", 100, None, {"@labelarts:creation_time": "2019-01-23 11:30:30"})]),
    (
        101,
        [ManifestLabel("Person", 101, None, {"@modelarts:start_index": 0, "@modelarts:end_index": 14})],
    ),
    (
        102,
        [
            ManifestLabel(
                "Person",
                103,
                None,
                {"@modelarts:start_index": 0, "@modelarts:end_index": 4, "@labelarts:id": "E1"},
            ),
            ManifestLabel(
                "Author", 102, None, {"@modelarts:from": "E1", "@modelarts:to": "E1", "@labelarts:id": "R1"}
            ),
        ],
    ),
    (200, [ManifestLabel("bird", 200)]),
]


@pytest.mark.parametrize(("dataset_type", "labels"), CASES, ids=[str(c[0]) for c in CASES])
def test_lines_read_back_with_the_same_labels(dataset_type: int, labels: list[ManifestLabel]) -> None:
    sample = ManifestSample(
        source="/data/images/cat 1.jpg",
        labels=labels,
        id="abc",
        usage="TRAIN",
        hard=True,
        hard_coefficient=0.5,
    )
    record = parse_line(manifest_line(sample), dataset_type, with_annotations=True)
    assert record.source == sample.source
    assert record.hard is True and record.hard_coefficient == 0.5
    assert record.metadata["@labelarts:usage"] == "TRAIN"
    got = [(x.name, x.type, x.score, x.property, x.annotated_by) for x in record.labels]
    want = [(x.name, x.type, x.score, dict(x.property), x.annotated_by) for x in labels]
    assert got == want
    assert record.ignored_annotations == 0


def test_text_sources_keep_the_text_and_name() -> None:
    text = 'He said "hi"\nthen left. Ünïcode ✓'
    line = manifest_line(ManifestSample(source=source_uri(kind="object", key="x", text=text), id="t_1.txt"))
    assert "\n" not in line
    record = parse_line(line, 100, with_annotations=True)
    assert record.content == text
    assert record.sample_name == "t_1.txt"


def test_guide_shape() -> None:
    line = json.loads(
        manifest_line(
            ManifestSample(
                source=source_uri(kind="object", key="bucket/a.jpg"),
                labels=[ManifestLabel("cat", 0, 0.8, {"color": "white"}, "auto")],
                usage="eval",
            )
        )
    )
    assert line == {
        "source": "obs://bucket/a.jpg",
        "usage": "EVAL",
        "annotation": [
            {
                "type": "modelarts/image_classification",
                "name": "cat",
                "property": {"color": "white"},
                "annotated-by": "modelarts/active-learning",
                "confidence": 0.8,
            }
        ],
    }
    assert source_uri(kind="local", key="/abs/a.jpg") == "/abs/a.jpg"


def test_no_hard_attributes_when_asked() -> None:
    line = json.loads(manifest_line(ManifestSample(source="/a.jpg", hard=True), with_hard=False))
    assert "hard" not in line


@pytest.mark.parametrize(
    "sample",
    [
        ManifestSample(source="/a.jpg", labels=[ManifestLabel("x", 600)]),
        ManifestSample(source="/a.jpg", usage="SOMETIMES"),
        ManifestSample(source="/a.jpg", labels=[ManifestLabel("x", 0, float("nan"))]),
    ],
)
def test_unwritable_samples_raise(sample: ManifestSample) -> None:
    with pytest.raises(ManifestError):
        manifest_line(sample)


def test_chunks_stream_whole_lines() -> None:
    samples = (ManifestSample(source=f"/img/{i}.jpg", labels=[ManifestLabel("c", 0)]) for i in range(5000))
    chunks = list(manifest_chunks(samples, chunk_bytes=4096))
    assert len(chunks) > 10
    assert all(chunk.endswith(b"\n") for chunk in chunks)
    lines = b"".join(chunks).decode().splitlines()
    assert len(lines) == 5000 and json.loads(lines[-1])["source"] == "/img/4999.jpg"


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_put_stream_writes_whole_objects_only(kind: str, tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'objects'}" if kind == "file" else f"memory://m-{uuid.uuid4().hex}"
    store = open_object_store(url) if kind == "file" else FsspecObjectStore(url)
    written = store.put_stream("a/b/V001.manifest", iter([b"one\n", b"two\n"]))
    assert written == 8 and store.get("a/b/V001.manifest") == b"one\ntwo\n"

    def broken() -> object:
        yield b"partial\n"
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        store.put_stream("a/b/V002.manifest", broken())  # type: ignore[arg-type]
    assert not store.exists("a/b/V002.manifest")
    assert list(store.list("a/b")) == ["a/b/V001.manifest"]
