"""An import whose files are read and checked in worker processes (``import_processes``) stores
exactly what an import that checks them in its own process stores: the same samples with the
same hashes, sizes, image sizes and labels, and the same failures with the same reasons.

Two servers on the same kind of database: one that hands every import's local files to two
check processes (``import_pool_min_files=0``), one that checks in the importing process.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from PIL import Image

from labelarts.services.importing import checking
from labelarts.services.importing.sniff import Kind
from labelarts.storage import localfs
from labelarts.storage.localfs import OPENAT2, WALK
from tests.api import World, shared_world, unique_name
from tests.imports import (
    create,
    jpeg,
    manifest_text,
    png,
    run_import,
    samples_of,
    wav_bytes,
    write,
)
from tests.imports.test_failures import corrupt_png, noisy_jpeg, reasons


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("pooled"), import_processes=2, import_pool_min_files=0) as w:
        yield w


@pytest.fixture(scope="module")
def inline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("inline"), import_processes=0) as w:
        yield w


def _distinct_jpeg(seed: int, width: int, height: int) -> bytes:
    """A JPEG of random pixels: no two seeds give the same bytes."""
    rng = random.Random(seed)
    image = Image.frombytes(
        "RGB", (width, height), bytes(rng.randrange(256) for _ in range(width * height * 3))
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def _image_tree() -> dict[str, bytes | str]:
    good = noisy_jpeg()
    files: dict[str, bytes | str] = {
        "good.jpg": good,
        "empty.jpg": b"",
        "text.jpg": "hello, I am text pretending to be a JPEG\n",
        "truncated.jpg": good[: len(good) // 2],
        "truncated.png": png(3, 32, 32)[:-30],
        "corrupt.png": corrupt_png(),
        "sound.jpg": wav_bytes(1),
        "gray.png": png(4, 20, 10, mode="L"),
        "palette.png": png(5, 10, 20, mode="P"),
        "rgba.png": png(6, 12, 12, mode="RGBA"),
        "sidecar.jpg": jpeg(7),
        "sidecar.txt": "zebra\nlion\n",
    }
    for n, label in enumerate(("Cat", "Dog")):  # class folders: the label is the folder's name
        for i in range(40):
            files[f"{label}/{label.lower()}-{i}.jpg"] = _distinct_jpeg(1000 * n + i, 16 + i % 5, 12)
    files["Dog/copy-of-cat-0.jpg"] = files["Cat/cat-0.jpg"]  # same bytes: a duplicate
    return files


def _stored(world: World, dataset_id: str, root: Path) -> dict[str, tuple[Any, ...]]:
    rows = samples_of(world, dataset_id, key="source")
    return {
        os.path.relpath(key, root.resolve()): (
            row.sample.sample_name,
            row.sample.content_hash,
            row.sample.sample_size,
            {k: v for k, v in (row.sample.metadata_ or {}).items()},
            row.sample.sample_status,
            sorted((label.name, label.score) for label in row.labels),
        )
        for key, row in rows.items()
    }


def _counts(task: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "total_file_count",
        "finished_file_count",
        "imported_sample_count",
        "annotated_sample_count",
        "skipped_file_count",
        "skipped_reasons",
        "failed_file_count",
        "total_file_size",
    )
    return {key: task[key] for key in keys}


def _import_both(
    pooled: World, inline: World, files: dict[str, bytes | str], dataset_type: int, *, manifest: bool = False
) -> tuple[
    tuple[dict[str, Any], dict[str, tuple[Any, ...]]], tuple[dict[str, Any], dict[str, tuple[Any, ...]]]
]:
    outcomes = []
    for world in (pooled, inline):
        root = write(world.imports / unique_name("tree"), files)
        path: Path = root
        if manifest:
            lines = [
                {
                    "source": str(root.resolve() / rel),
                    "annotation": [
                        {
                            "type": "modelarts/image_classification",
                            "name": f"class-{i % 3}",
                            "annotated-by": "modelarts/active-learning",
                            "confidence": 0.5 + i / 1000,
                        }
                    ],
                }
                for i, rel in enumerate(sorted(files))
            ]
            path = root / "manifest.json"
            path.write_text(manifest_text(lines), encoding="utf-8")
        dataset_id = create(world, dataset_type)
        task = run_import(world, dataset_id, path, **({"import_type": "manifest"} if manifest else {}))
        outcomes.append(((_counts(task), reasons(task)), _stored(world, dataset_id, root)))
    (pooled_task, pooled_rows), (inline_task, inline_rows) = outcomes
    return (pooled_task, pooled_rows), (inline_task, inline_rows)


def _forkserver_running() -> bool:
    return any(
        "forkserver" in " ".join(child.cmdline())
        for child in psutil.Process().children()
        if child.is_running()
    )


def test_a_folder_checked_in_processes_stores_what_one_checked_here_stores(
    pooled: World, inline: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        (pooled_task, pooled_rows), (inline_task, inline_rows) = _import_both(
            pooled, inline, _image_tree(), 0
        )
    assert not [r for r in caplog.records if "check processes" in r.getMessage()]  # no fallback
    assert _forkserver_running()  # the pooled server did start its check processes

    assert pooled_task == inline_task
    counts, failures = pooled_task
    assert counts["imported_sample_count"] == 2 + 3 + 80 == len(pooled_rows)
    assert set(failures) == {
        "empty.jpg",
        "text.jpg",
        "truncated.jpg",
        "truncated.png",
        "corrupt.png",
        "sound.jpg",
    }
    assert counts["skipped_reasons"] == {"duplicate": 1}
    assert pooled_rows == inline_rows
    assert pooled_rows["sidecar.jpg"][5] == [("lion", None), ("zebra", None)]
    assert pooled_rows["gray.png"][3]["@modelarts:size"] == [20, 10, 1]
    assert pooled_rows["Dog/dog-7.jpg"][3]["@modelarts:size"] == [18, 12, 3]


def test_a_manifest_text_and_audio_checked_in_processes_store_the_same(pooled: World, inline: World) -> None:
    images = {f"img-{i}.jpg": _distinct_jpeg(i, 8, 8) for i in range(30)} | {"broken.jpg": noisy_jpeg()[:100]}
    pooled_result, inline_result = _import_both(pooled, inline, images, 0, manifest=True)
    assert pooled_result == inline_result
    assert pooled_result[0][0]["imported_sample_count"] == 30
    assert [("truncated" in r or "decodable" in r) for r in pooled_result[0][1].values()] == [True]
    assert {row[5][0][0] for row in pooled_result[1].values()} == {"class-0", "class-1", "class-2"}

    texts = {"a.txt": "first line\nsecond line\n", "b.txt": "third\n", "bad.txt": b"\x00\x01binary"}
    pooled_result, inline_result = _import_both(pooled, inline, texts, 100)
    assert pooled_result[0] == inline_result[0]
    assert pooled_result[0][0]["imported_sample_count"] == 3

    sounds = {f"s{i}.wav": wav_bytes(i) for i in range(5)} | {"picture.wav": jpeg(1)}
    pooled_result, inline_result = _import_both(pooled, inline, sounds, 200)
    assert pooled_result == inline_result
    assert pooled_result[0][0]["imported_sample_count"] == 5

    free = {"any.bin": b"\x01\x02\x03", "half.jpg": noisy_jpeg()[:200], "whole.jpg": jpeg(3)}
    pooled_result, inline_result = _import_both(pooled, inline, free, 900)
    assert pooled_result == inline_result
    assert pooled_result[0][0]["imported_sample_count"] == 3


def test_a_manifest_line_beside_the_data_dir_imports_either_way(pooled: World, inline: World) -> None:
    """The import root holds the data dir: a file directly in the root may be imported (the
    root itself may not), whether or not its folder's grant is looked up once per folder."""
    for world in (pooled, inline):
        beside = world.root / f"{unique_name('beside')}.jpg"
        beside.write_bytes(_distinct_jpeg(99, 8, 8))
        inside = world.root / "data" / "labelarts.db"  # the data dir: refused
        listing = write(world.imports / unique_name("m"), {})
        manifest = listing / "manifest.json"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(
            manifest_text([{"source": str(beside)}, {"source": str(inside)}]), encoding="utf-8"
        )
        dataset_id = create(world, 0)
        task = run_import(world, dataset_id, manifest, import_type="manifest")
        assert task["imported_sample_count"] == 1, task
        assert list(samples_of(world, dataset_id)) == [beside.name]
        assert [("data directory" in reason) for reason in reasons(task).values()] == [True]


def test_a_manifest_line_whose_file_cannot_be_opened_fails_the_same_either_way(
    pooled: World, inline: World
) -> None:
    """A manifest's local files are first opened by the check processes (the importing process
    only resolves the line): a file that is missing, a folder, a link or empty fails with the
    reason the importing process gives, and an imported file keeps its size and time. A second
    import of the manifest skips the lines already imported, but fails the one whose file is gone."""
    outcomes = []
    for world in (pooled, inline):
        root = write(
            world.imports / unique_name("opened"),
            {
                "good.jpg": _distinct_jpeg(1, 8, 8),
                "folder/inner.jpg": jpeg(2),
                "empty.jpg": b"",
                "gone.jpg": jpeg(3),
            },
        )
        for i, name in enumerate(("good.jpg", "folder/inner.jpg", "gone.jpg")):
            stamp = 1_600_000_000_123_456_789 + i * 1_000_000_000
            os.utime(root / name, ns=(stamp, stamp))
        (root / "link.jpg").symlink_to(root / "folder" / "inner.jpg")
        names = ["good.jpg", "gone.jpg", "missing.jpg", "folder", "link.jpg", "empty.jpg", "folder/inner.jpg"]
        manifest = root / "manifest.json"
        manifest.write_text(manifest_text([{"source": str(root / name)} for name in names]), encoding="utf-8")
        dataset_id = create(world, 0)
        task = run_import(world, dataset_id, manifest, import_type="manifest")
        rows = samples_of(world, dataset_id)
        times = {name: (row.sample.sample_time, row.sample.sample_size) for name, row in rows.items()}
        (root / "gone.jpg").unlink()
        again = run_import(world, dataset_id, manifest, import_type="manifest")
        outcomes.append(
            (
                _counts(task),
                _rooted(reasons(task), root),
                times,
                _counts(again),
                _rooted(reasons(again), root),
            )
        )
    assert outcomes[0] == outcomes[1]
    counts, failed, times, counts_again, failed_again = outcomes[0]
    assert times == {
        "good.jpg": (1_600_000_000_123, len(_distinct_jpeg(1, 8, 8))),
        "inner.jpg": (1_600_000_001_123, len(jpeg(2))),
        "gone.jpg": (1_600_000_002_123, len(jpeg(3))),
    }
    assert counts["imported_sample_count"] == 3
    assert failed == {
        "manifest.json:3": "source ROOT/missing.jpg: does not exist",
        "manifest.json:4": "source ROOT/folder: a folder where a file is expected",
        "manifest.json:5": "source ROOT/link.jpg: the path goes through a symbolic link "
        "(links are not followed)",
        "manifest.json:6": "empty file",
    }
    assert counts["total_file_size"] == sum(size for _, size in times.values())
    assert counts_again["skipped_reasons"] == {"duplicate": 2} and counts_again["imported_sample_count"] == 0
    assert failed_again == failed | {"manifest.json:2": "source ROOT/gone.jpg: does not exist"}
    assert counts_again["total_file_size"] == times["good.jpg"][1] + times["inner.jpg"][1]


def _rooted(found: dict[str, str], root: Path) -> dict[str, str]:
    return {path: reason.replace(str(root), "ROOT") for path, reason in found.items()}


def _distinct_png(i: int) -> bytes:
    """An 8x8 PNG of one colour: lossless, so every ``i`` below 2**24 gives different bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (i & 255, (i >> 8) & 255, (i >> 16) & 255)).save(buffer, "PNG")
    return buffer.getvalue()


def _check_processes() -> list[psutil.Process]:
    """The fork server's children: the check processes of the import under way."""
    return [
        process
        for child in psutil.Process().children()
        if child.is_running() and "forkserver" in " ".join(child.cmdline())
        for process in child.children()
    ]


@pytest.mark.parametrize("source", ["folder", "manifest"])
def test_check_processes_killed_mid_import_lose_and_duplicate_nothing(
    pooled: World, caplog: pytest.LogCaptureFixture, source: str
) -> None:
    """The check processes die (killed, out of memory) while an import is under way: the import
    checks the rest of its files itself and ends with every file imported once (a manifest's
    files, which only the check processes were to open, with their size and time too)."""
    count = 12_000
    files = {f"f{i // 1000}/img-{i}.png": _distinct_png(i) for i in range(count)}
    root = write(pooled.imports / unique_name("killed"), files)
    path = root
    if source == "manifest":
        path = root / "manifest.json"
        path.write_text(manifest_text({"source": str(root / rel)} for rel in files), encoding="utf-8")
    dataset_id = create(pooled, 0)
    killed: list[int] = []

    def kill_when_started() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for process in _check_processes():
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
                    killed.append(process.pid)
            time.sleep(0.005)

    killer = threading.Thread(target=kill_when_started, daemon=True)
    killer.start()
    with caplog.at_level(logging.WARNING):
        task = run_import(
            pooled, dataset_id, path, **({"import_type": "manifest"} if source == "manifest" else {})
        )
    killer.join()

    assert killed  # the check processes were there, and were killed while the import ran
    fallbacks = [r.getMessage() for r in caplog.records if "check processes" in r.getMessage()]
    assert fallbacks and all("checking here" in message for message in fallbacks), fallbacks
    assert task["imported_sample_count"] == count
    assert task["failed_file_count"] == 0 and task["skipped_file_count"] == 0
    rows = samples_of(pooled, dataset_id, key="source")
    assert len(rows) == count
    assert len({row.sample.content_hash for row in rows.values()}) == count  # each file once
    assert all(row.sample.metadata_["@modelarts:size"] == [8, 8, 3] for row in rows.values())
    stats = {str(root.resolve() / rel): (root / rel).stat() for rel in files}
    assert all(
        (row.sample.sample_size, row.sample.sample_time)
        == (stats[key].st_size, stats[key].st_mtime_ns // 1_000_000)
        for key, row in rows.items()
    )
    assert task["total_file_size"] == sum(st.st_size for st in stats.values())


@pytest.mark.parametrize("mode", [OPENAT2, WALK])
def test_a_link_swapped_in_after_the_walk_is_refused_in_the_check_process(tmp_path: Path, mode: str) -> None:
    """Between the walk that listed a file and the check process that opens it, the file (or a
    folder above it) becomes a symbolic link: the check process refuses to follow it, as the
    importing process would."""
    if mode == OPENAT2 and not localfs.openat2_available():
        pytest.skip("openat2 is not available on this kernel")
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(root, {"kept.jpg": jpeg(1), "swapped.jpg": jpeg(2), "folder/inner.jpg": jpeg(3)})
    write(outside, {"secret.jpg": jpeg(4), "folder/inner.jpg": jpeg(5)})
    items = [
        checking.LocalItem(str(root), mode, rel, rel.rpartition("/")[2], (root / rel).stat().st_size)
        for rel in ("kept.jpg", "swapped.jpg", "folder/inner.jpg")
    ]
    (root / "swapped.jpg").unlink()
    (root / "swapped.jpg").symlink_to(outside / "secret.jpg")
    (root / "folder" / "inner.jpg").unlink()
    (root / "folder").rmdir()
    (root / "folder").symlink_to(outside / "folder")

    pool = checking.CheckPool(1)
    try:
        kept, swapped, inner = pool.submit(items, Kind.IMAGE).result(timeout=60)
    finally:
        pool.close()
    assert isinstance(kept, checking.Checked) and kept.image_size == (24, 16, 3)
    assert swapped == inner == "cannot be read: Too many levels of symbolic links"
    assert checking.check_local_files(items, Kind.IMAGE)[1:] == [swapped, inner]  # as here
