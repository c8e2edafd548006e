"""Files confined at the moment they are opened (issue 9 section 1): every reader and the
delete race a folder flipped to a symbolic link and back, and never sees (or deletes) a byte
from outside.

The world's import root holds the server's data dir, as in the issue: flipping
``imports/<x>/sub`` to a link into the data dir turns ``sub/secret.key`` into the server's
secret, and flipping it to a folder outside every root turns ``sub/*`` into the canaries
there. On current main, /files served the secret key in 45 of 400 fetches.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from labelarts.services.samples.sources import SampleFile
from labelarts.storage.db.models import Sample
from tests.api import World, shared_world, unique_name, wait_for_import
from tests.conftest import create_dataset
from tests.imports import create, manifest_text
from tests.samples import insert_sample
from tests.security import CANARY, Flipper, RaceTally, race, seen

INSIDE = b"inside-the-root-" * 4


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("races")
    with shared_world(tmp) as w:
        secret = w.data_dir / "secret.key"
        if not secret.exists():  # the test settings pass the secret; put a file where it lives
            secret.write_bytes(CANARY)
        outside = tmp / "outside"
        outside.mkdir()
        for i in range(6):
            (outside / f"f{i}.bin").write_bytes(CANARY)
        (outside / "pic.png").write_bytes(png(30, 60))  # taller than wide: the canary image
        yield w


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def outside_of(world: World) -> Path:
    return world.root.parent / "outside"


def secrets_of(world: World) -> list[bytes]:
    found = [(world.data_dir / "secret.key").read_bytes(), CANARY]
    return [s for s in found if s]


def staged(world: World, files: dict[str, bytes]) -> Path:
    """``imports/<unique>/`` with ``files`` (paths relative to it)."""
    base = world.imports / unique_name("race")
    for rel, data in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)
    return base


def check(tally: RaceTally, raced: str = "refused") -> None:
    assert tally.outcomes.get(raced, 0) > 0, tally  # the link was really met: the race took place


def test_presigned_originals_never_serve_the_server_secret(world: World) -> None:
    base = staged(world, {"sub/secret.key": INSIDE})
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("race"))
    sample_id = insert_sample(
        world.services, dataset_id, local_path=base / "sub" / "secret.key", name="s.bin"
    )
    url = world.services.sources.source_url(
        world.server.url, world.alice.project_id, dataset_id, sample_id, None
    )
    forbidden = secrets_of(world)

    with httpx.Client() as http:

        def attempt() -> str:
            response = http.get(url)
            assert not any(secret in response.content for secret in forbidden)
            if response.status_code == 200:
                assert response.content == INSIDE
                return "ok"
            assert response.status_code == 404, response.text
            return "refused"

        tally = race(
            attempt,
            flipper=Flipper(base / "sub", world.data_dir),
            max_attempts=400,
            enough=seen(refused=20, ok=20),
        )
    check(tally)


def test_thumbnails_never_render_a_file_from_outside(world: World) -> None:
    base = staged(world, {"sub/pic.png": png(60, 30)})
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("race"))
    sample_id = insert_sample(world.services, dataset_id, local_path=base / "sub" / "pic.png", name="pic.png")
    height = iter(range(20, 10_000))

    with httpx.Client() as http:

        def attempt() -> str:
            process = f"image/resize,m_lfit,h_{next(height)}"  # a new rendering every time
            url = world.services.sources.source_url(
                world.server.url, world.alice.project_id, dataset_id, sample_id, process
            )
            response = http.get(url)
            if response.status_code == 200:
                width, tall = Image.open(io.BytesIO(response.content)).size
                assert width > tall, "rendered the canary image from outside the root"
                return "ok"
            assert response.status_code == 404, response.text
            return "refused"

        tally = race(
            attempt,
            flipper=Flipper(base / "sub", outside_of(world)),
            max_attempts=300,
            enough=seen(refused=10, ok=10),
        )
    check(tally)


def test_the_auto_label_reader_never_reads_from_outside(world: World) -> None:
    base = staged(world, {"sub/secret.key": INSIDE})
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("race"))
    path = base / "sub" / "secret.key"
    sample_id = insert_sample(world.services, dataset_id, local_path=path, name="s.bin")
    # What the auto-label job reads each sample with (services/autolabel/job.py: _read).
    sample = SampleFile(sample_id, dataset_id, "s.bin", "local", str(path), None, world.alice.project_id)
    forbidden = secrets_of(world)

    def attempt() -> str:
        try:
            data = world.services.sources.read_bytes(sample)
        except Exception as exc:
            assert getattr(exc, "status_code", None) == 404, exc
            return "refused"
        assert data == INSIDE and not any(secret in data for secret in forbidden)
        return "ok"

    tally = race(
        attempt,
        flipper=Flipper(base / "sub", world.data_dir),
        max_attempts=5_000,
        enough=seen(refused=20, ok=20),
    )
    check(tally)


def imported_hashes(world: World, dataset_id: str) -> list[str]:
    with world.services.db.session() as session:
        return [
            str(h)
            for h in session.execute(
                select(Sample.content_hash).where(Sample.dataset_id == dataset_id)
            ).scalars()
        ]


def import_once(world: World, import_path: Path, **body: object) -> tuple[str, dict[str, object]]:
    dataset_id = create(world, 900)  # waits for the (empty) initial import
    response = world.alice.aksk.post(
        world.alice.v2(f"/datasets/{dataset_id}/import-tasks"), json={"import_path": str(import_path), **body}
    )
    assert response.status_code == 200, response.text
    task = wait_for_import(
        world.alice.aksk, world.alice.v2(f"/datasets/{dataset_id}/import-tasks/{response.json()['task_id']}")
    )
    return dataset_id, task


@pytest.mark.parametrize("how", ["folder", "manifest"])
def test_imports_never_take_a_file_from_outside(world: World, how: str) -> None:
    files = {f"sub/f{i}.bin": INSIDE + bytes([i]) for i in range(6)}
    lines = [{"source": f"sub/f{i}.bin"} for i in range(6)]
    base = staged(world, {**files, "m.manifest": manifest_text(lines).encode()})
    allowed = {hashlib.sha256(data).hexdigest() for data in files.values()}
    manifest_hash = hashlib.sha256((base / "m.manifest").read_bytes()).hexdigest()
    target = base / "m.manifest" if how == "manifest" else base

    def attempt() -> str:
        extra = {"import_type": "manifest"} if how == "manifest" else {}
        dataset_id, _task = import_once(world, target, **extra)
        hashes = set(imported_hashes(world, dataset_id)) - {manifest_hash}
        assert hashes <= allowed, "a file from outside the root became a sample"
        return "ok" if len(hashes) == len(allowed) else "refused"

    tally = race(
        attempt,
        flipper=Flipper(base / "sub", outside_of(world)),
        max_attempts=25,
        enough=seen(refused=3),
    )
    check(tally)


def test_delete_source_never_deletes_outside(world: World) -> None:
    base = staged(world, {"sub/f0.bin": INSIDE})
    victim = outside_of(world) / "f0.bin"
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("race"))
    real_sub = os.open(base / "sub", os.O_RDONLY | os.O_DIRECTORY)  # follows the folder's renames
    path = base / "sub" / "f0.bin"

    def attempt() -> str:
        fd = os.open("f0.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=real_sub)
        os.write(fd, INSIDE)
        os.close(fd)
        sample_id = insert_sample(world.services, dataset_id, local_path=path, name="f0.bin")
        response = world.alice.aksk.post(
            world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples/delete"),
            json={"samples": [sample_id], "delete_source": True},
        )
        assert response.status_code == 200, response.text
        assert victim.read_bytes() == CANARY
        try:
            os.stat("f0.bin", dir_fd=real_sub)
        except FileNotFoundError:
            return "ok"  # deleted, inside the root
        return "refused"

    try:
        tally = race(
            attempt,
            flipper=Flipper(base / "sub", outside_of(world)),
            max_attempts=300,
            enough=seen(refused=5, ok=5),
        )
    finally:
        os.close(real_sub)
    assert victim.read_bytes() == CANARY
    check(tally)
