"""Files that cannot be imported fail one by one, with a reason, while the rest imports;
paths that lead outside the import roots are refused; importing again adds nothing."""

from __future__ import annotations

import io
import os
import random
import shutil
from pathlib import Path

import pytest
from PIL import Image

from labelarts.services.importing.sniff import MAX_BYTES, Kind
from tests.api import World, unique_name, wait_for_import
from tests.conftest import assert_error
from tests.imports import (
    create,
    jpeg,
    manifest_text,
    png,
    run_import,
    samples_of,
    wav_bytes,
    world_fixture,
    write,
)

world = world_fixture("failures")


def noisy_jpeg() -> bytes:
    """A JPEG whose scan data is long enough to cut in the middle."""
    rng = random.Random(1)
    img = Image.frombytes("RGB", (64, 48), bytes(rng.randrange(256) for _ in range(64 * 48 * 3)))
    buffer = io.BytesIO()
    img.save(buffer, "JPEG")
    return buffer.getvalue()


def corrupt_png() -> bytes:
    data = bytearray(png(7, 32, 32))
    idat = data.index(b"IDAT")
    data[idat + 8] ^= 0xFF  # a flipped bit in the pixel data: the chunk CRC no longer matches
    return bytes(data)


def reasons(task: dict[str, object]) -> dict[str, str]:
    failed = task["failed_files"]
    assert isinstance(failed, list)
    return {entry["path"]: entry["reason"] for entry in failed}


def test_bad_files_fail_alone_with_a_reason(world: World) -> None:
    good = noisy_jpeg()
    root = write(
        world.imports / unique_name("mixed"),
        {
            "good.jpg": good,
            "Cat/good.png": png(2),
            "empty.jpg": b"",
            "text.jpg": "hello, I am text pretending to be a JPEG\n",
            "truncated.jpg": good[: len(good) // 2],
            "truncated.png": png(3, 32, 32)[:-30],
            "corrupt.png": corrupt_png(),
            "sound.jpg": wav_bytes(1),
            "notes.txt": "not an image\n",
            ".DS_Store": b"\x00\x00\x00\x01Bud1",
            ".git/config": "[core]\n",
        },
    )
    big = root / "big.jpg"
    with big.open("wb") as fh:  # sparse: starts like a JPEG, larger than the image cap
        fh.write(good[:64])
        fh.truncate(MAX_BYTES[Kind.IMAGE] + 1)
    (root / "bad\nname.jpg").write_bytes(jpeg(4))
    (root / os.fsdecode(b"latin\xe9.jpg")).write_bytes(jpeg(5))
    os.mkfifo(root / "pipe.jpg")
    (root / "escape.jpg").symlink_to("/etc/passwd")
    (root / "to-data.jpg").symlink_to(world.data_dir / "labelarts.db")
    (root / "dir-link").symlink_to(root / "Cat")
    (root / "inside.jpg").symlink_to(root / "Cat" / "good.png")  # inside the root: not followed either
    (world.imports / "outside-target.jpg").write_bytes(jpeg(6))
    deep = "/".join(["d" * 200] * 5)  # a folder path longer than sample_dir may be
    (root / deep).mkdir(parents=True)
    (root / deep / "deep.jpg").write_bytes(jpeg(8))

    dataset_id = create(world, 0)
    task = run_import(world, dataset_id, root)
    got = reasons(task)
    expected = {
        "empty.jpg": "empty file",
        "text.jpg": "content is not a JPEG, PNG, BMP or WebP image (it looks like text)",
        "truncated.jpg": "image data is truncated or corrupt",
        "truncated.png": "image data is truncated or corrupt",
        "corrupt.png": "image data is truncated or corrupt",
        "sound.jpg": "content is a WAV, MP3 or FLAC audio file (WAV); this dataset takes a JPEG",
        "notes.txt": "content is not a JPEG, PNG, BMP or WebP image (it looks like text)",
        "big.jpg": f"larger than the limit of {MAX_BYTES[Kind.IMAGE]} bytes",
        "bad\\nname.jpg": "name contains control characters",
        "latin\\udce9.jpg": "name is not valid UTF-8",
        "pipe.jpg": "not a regular file",
        "escape.jpg": "symbolic link (not followed)",
        "to-data.jpg": "symbolic link (not followed)",
        "inside.jpg": "symbolic link (not followed)",
        "dir-link": "symbolic link (not followed)",
        f"{deep}/deep.jpg": "path is too long",
    }
    assert set(got) == set(expected), got
    for path, reason in expected.items():
        assert reason in got[path], (path, got[path])

    # No link is followed, not even inside.jpg, which points at Cat/good.png in the root.
    rows = samples_of(world, dataset_id, key="source")
    assert sorted(rows) == sorted(str(root.resolve() / p) for p in ("good.jpg", "Cat/good.png"))
    assert task["imported_sample_count"] == 2
    assert task["failed_file_count"] == len(expected)
    assert task["skipped_reasons"] == {"hidden file": 1}
    assert task["total_file_count"] == 2 + len(expected) + 1
    assert task["finished_file_count"] == task["total_file_count"]


def test_reimport_adds_nothing_and_equal_content_is_a_duplicate(world: World) -> None:
    root = write(world.imports / unique_name("again"), {"a.jpg": jpeg(1), "Dog/b.jpg": jpeg(2)})
    dataset_id = create(world, 0)
    first = run_import(world, dataset_id, root)
    assert first["imported_sample_count"] == 2
    before = {row.sample.id for row in samples_of(world, dataset_id).values()}

    shutil.copy(root / "a.jpg", root / "copy-of-a.jpg")  # new path, same bytes
    second = run_import(world, dataset_id, root)
    assert second["imported_sample_count"] == 0
    assert second["skipped_file_count"] == 3 and second["skipped_reasons"] == {"duplicate": 3}
    assert {row.sample.id for row in samples_of(world, dataset_id).values()} == before

    text_root = write(world.imports / unique_name("text"), {"t.txt": "one\tx\ntwo\ty\none\tz\n"})
    text_ds = create(world, 100)
    assert run_import(world, text_ds, text_root)["imported_sample_count"] == 2  # "one" twice: once
    again = run_import(world, text_ds, text_root)
    assert again["imported_sample_count"] == 0 and again["skipped_reasons"] == {"duplicate": 3}


def test_manifest_lines_pointing_outside_are_refused_one_by_one(world: World) -> None:
    root = world.imports / unique_name("mf")
    write(root, {"ok.jpg": jpeg(1), "sub/also.jpg": jpeg(2)})
    world.services.objects.put("shared/pic.jpg", jpeg(3))
    secret_dataset = create(world, 0)
    bad = [
        {"source": "/etc/passwd"},
        {"source": "../../../../etc/passwd"},
        {"source": "sub/../ok.jpg"},
        {"source": "file:///etc/hostname"},
        {"source": f"obs://datasets/{secret_dataset}/data/x.jpg"},
        {"source": "s3://thumbnails/x"},
        {"source": "https://example.com/cat.jpg"},
        {"source": str(world.data_dir / "labelarts.db")},
        {"source": str(root / "missing.jpg")},
        "{not json",
        {"no-source": 1},
        {"source": "content://hello"},
        r'{"source": "a\ud800.jpg"}',
    ]
    good = [{"source": str(root / "ok.jpg")}, {"source": "sub/also.jpg"}, {"source": "obs://shared/pic.jpg"}]
    write(root, {"m.manifest": manifest_text([*bad, *good])})
    dataset_id = create(world, 0)
    task = run_import(world, dataset_id, root / "m.manifest", import_type="manifest")
    got = reasons(task)
    assert sorted(got) == sorted(f"m.manifest:{n}" for n in range(1, len(bad) + 1)), got
    assert "outside the import roots granted to this project" in got["m.manifest:1"]
    assert "'..'" in got["m.manifest:2"] and "'..'" in got["m.manifest:3"]
    assert "reserved" in got["m.manifest:5"] and "reserved" in got["m.manifest:6"]
    assert "unsupported source scheme" in got["m.manifest:7"]
    assert "data directory" in got["m.manifest:8"]
    assert "invalid JSON" in got["m.manifest:10"]
    assert "text dataset" in got["m.manifest:12"]
    assert "surrogate" in got["m.manifest:13"]
    assert sorted(samples_of(world, dataset_id)) == ["also.jpg", "ok.jpg", "pic.jpg"]
    assert task["import_type"] == 1 and task["total_file_count"] == len(bad) + len(good)


@pytest.mark.parametrize(
    ("import_path", "code"),
    [
        ("/etc", "ModelArts.4374"),
        ("relative/path", "ModelArts.4374"),
        ("{imports}/../data", "ModelArts.4374"),
        ("{imports}/nope", "ModelArts.4312"),
        ("obs://datasets/", "ModelArts.4374"),
        ("obs://thumbnails/x/", "ModelArts.4374"),
        ("obs://", "ModelArts.4374"),
        ("s3://a/../../b/", "ModelArts.4374"),
        ("obs://no-such-prefix/", "ModelArts.4312"),
    ],
)
def test_import_paths_outside_the_roots_are_refused(world: World, import_path: str, code: str) -> None:
    dataset_id = create(world, 0)
    path = import_path.format(imports=world.imports)
    response = world.alice.aksk.post(
        world.alice.v2(f"/datasets/{dataset_id}/import-tasks"), json={"import_path": path}
    )
    assert_error(response, 400, code)
    tasks = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/import-tasks")).json()
    assert tasks["total_count"] == 1  # only the initial import


def test_a_folder_that_vanished_fails_the_task(world: World) -> None:
    root = write(world.imports / unique_name("gone"), {"a.jpg": jpeg(1)})
    dataset_id = create(world, 0)
    path = Path(root)
    response = world.alice.aksk.post(
        world.alice.v2(f"/datasets/{dataset_id}/import-tasks"), json={"import_path": str(path)}
    )
    assert response.status_code == 200
    # Whether the folder goes before or after the walk, the task ends and the dataset is normal.
    shutil.rmtree(path)
    task = wait_for_import(
        world.alice.aksk, world.alice.v2(f"/datasets/{dataset_id}/import-tasks/{response.json()['task_id']}")
    )
    assert task["status"] in ("COMPLETED", "FAILED")
    if task["status"] == "FAILED":
        assert task["error_code"] == "ModelArts.4312"
    ds = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}")).json()
    assert ds["status"] == 1
