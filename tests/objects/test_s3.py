"""The object store on a real S3-protocol server on loopback (moto's, :mod:`tests.s3server`).

What an operator would check, through the API and by looking into the bucket with their own
S3 client: an import from an ``obs://`` prefix, thumbnails kept in the bucket, an export
written into it, a sync that sees objects added and deleted by others, pre-signed S3
``source`` URLs that a plain GET fetches, a listing of 20,000 keys that streams page by page,
uploads that never leave half an object, and clear 4xx answers for bad credentials or a
missing bucket, with no secret in them.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from labelarts.config import Settings
from labelarts.container import build_services
from labelarts.services.importing.sources import FileRef, ObjectTree
from labelarts.storage.db.models import Sample
from labelarts.storage.objects.options import S3Options
from labelarts.storage.objects.s3 import PART_BYTES, S3ObjectStore
from tests.api import World, shared_world, unique_name, wait_for_import
from tests.conftest import assert_error, fresh_database_url, make_tenant, start_server
from tests.exports import run_export
from tests.imports import create, jpeg, png, samples_of
from tests.s3server import S3Server, checking_s3, shared_s3
from tests.sync.test_sync import sync

ROOT = "store"  # the store's key root inside its bucket


@pytest.fixture(scope="module")
def s3() -> S3Server:
    return shared_s3()


@pytest.fixture(scope="module")
def bucket(s3: S3Server) -> str:
    return s3.new_bucket()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, s3: S3Server, bucket: str) -> Iterator[World]:
    """A server whose object store is ``s3://BUCKET/store``, with S3 pre-signed sources on."""
    with shared_world(tmp_path_factory.mktemp("s3"), **s3.settings(bucket, ROOT, s3_presign=True)) as w:
        yield w


def bucket_keys(s3: S3Server, bucket: str, prefix: str) -> dict[str, bytes]:
    """What the operator sees under ``prefix`` with their own S3 client: key -> bytes."""
    client = s3.client()
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def image_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def upload(s3: S3Server, bucket: str, files: dict[str, bytes]) -> None:
    """Another program drops files into the bucket (under the store's root)."""
    client = s3.client()
    for key, data in files.items():
        client.put_object(Bucket=bucket, Key=f"{ROOT}/{key}", Body=data)


def listed(world: World, dataset_id: str, **params: Any) -> list[dict[str, Any]]:
    response = world.alice.aksk.get(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"), params={"limit": 100, **params}
    )
    assert response.status_code == 200, response.text
    samples: list[dict[str, Any]] = response.json()["samples"]
    return samples


def test_import_presigned_sources_thumbnails_export_and_sync(world: World, s3: S3Server, bucket: str) -> None:
    prefix = unique_name("incoming")
    files = {"cat/a.jpg": jpeg(1, 40, 30), "dog/b.png": png(2, 40, 30), "c.jpg": jpeg(3, 40, 30)}
    upload(s3, bucket, {f"{prefix}/{rel}": data for rel, data in files.items()})

    dataset_id = create(world, data_sources=[{"data_type": 0, "data_path": f"obs://{prefix}/"}])
    rows = samples_of(world, dataset_id)
    assert {name: row.names for name, row in rows.items()} == {
        "a.jpg": ["cat"],
        "b.png": ["dog"],
        "c.jpg": [],
    }
    assert {row.sample.source_key for row in rows.values()} == {f"{prefix}/{rel}" for rel in files}

    # Originals: S3 pre-signed GET URLs of the objects, fetched with no credential at all.
    samples = listed(world, dataset_id)
    assert len(samples) == 3
    for sample in samples:
        url = sample["source"]
        rel = next(rel for rel in files if url.split("?")[0].endswith(f"/{prefix}/{rel}"))
        assert url.startswith(f"{s3.endpoint}/{bucket}/{ROOT}/{prefix}/"), url
        assert "X-Amz-Signature=" in url and "X-Amz-Credential=" in url
        answer = httpx.get(url)
        assert answer.status_code == 200, answer.text
        assert answer.content == files[rel]

    # Thumbnails: rendered by LabelArts (its /files route), kept in the bucket.
    before = set(bucket_keys(s3, bucket, f"{ROOT}/thumbnails/"))
    thumbs = listed(world, dataset_id, process_parameter="image/resize,m_lfit,h_15")
    for sample in thumbs:
        assert sample["source"].startswith(world.server.url + "/files/"), sample["source"]
        answer = httpx.get(sample["source"])
        assert answer.status_code == 200, answer.text
        assert image_of(answer.content) == (20, 15)
    kept = set(bucket_keys(s3, bucket, f"{ROOT}/thumbnails/")) - before
    assert len(kept) == 3 and all(key.startswith(f"{ROOT}/thumbnails/{dataset_id}/") for key in kept)

    # Export into the bucket: class folders, the original bytes.
    out = unique_name("exports")
    run_export(world, dataset_id, path=f"obs://{out}/run1/", export_format=1)
    exported = bucket_keys(s3, bucket, f"{ROOT}/{out}/run1/")
    assert exported == {f"{ROOT}/{out}/run1/{rel}": data for rel, data in files.items()}

    # Sync: another program deleted one object and added one.
    s3.client().delete_object(Bucket=bucket, Key=f"{ROOT}/{prefix}/c.jpg")
    upload(s3, bucket, {f"{prefix}/dog/d.jpg": jpeg(4)})
    result = sync(world, dataset_id)
    assert (result["add_sample_count"], result["deleted_sample_count"]) == (1, 1), result
    rows = samples_of(world, dataset_id)
    assert {name: row.names for name, row in rows.items()} == {
        "a.jpg": ["cat"],
        "b.png": ["dog"],
        "d.jpg": ["dog"],
    }


def test_uploaded_sample_is_stored_in_the_bucket_and_presigned(
    world: World, s3: S3Server, bucket: str
) -> None:
    import base64

    dataset_id = create(world)
    data = jpeg(7)
    body = {"samples": [{"name": "up.jpg", "data": base64.b64encode(data).decode()}]}
    response = world.alice.aksk.post(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"), json=body
    )
    assert response.status_code == 200, response.text
    (sample,) = listed(world, dataset_id)
    assert sample["source"].startswith(f"{s3.endpoint}/{bucket}/{ROOT}/datasets/{dataset_id}/")
    assert httpx.get(sample["source"]).content == data


def test_listing_twenty_thousand_keys_streams_page_by_page(s3: S3Server) -> None:
    bucket = s3.new_bucket()
    total = 20_000
    s3.fill(bucket, (f"{ROOT}/many/{i // 1000:02d}/{i:05d}.jpg" for i in range(total)))
    store = S3ObjectStore(
        f"s3://{bucket}/{ROOT}",
        S3Options(
            endpoint_url=s3.endpoint, addressing_style="path", access_key_id="k", secret_access_key="s"
        ),
    )
    requests: list[str] = []
    store.client.meta.events.register("after-call.s3.ListObjectsV2", lambda **_kw: requests.append("list"))

    keys = store.list("many")
    first = next(keys)
    assert first == "many/00/00000.jpg"
    assert len(requests) == 1  # one page of 1,000 asked for, not the 20,000 keys
    seen = 1
    previous = first
    for key in keys:
        assert key > previous  # the server's key order, each key once
        previous = key
        seen += 1
        assert len(requests) == seen // 1000 + (1 if seen % 1000 else 0)  # a page asked for only when needed
    assert seen == total
    assert len(requests) == total // 1000

    # The importer's walk: the first file comes after one page, with size and time from the
    # listing itself (no request per object).
    requests.clear()
    heads: list[str] = []
    store.client.meta.events.register("after-call.s3.HeadObject", lambda **_kw: heads.append("head"))
    walk = ObjectTree(store, "many").walk()
    item = next(walk)
    assert isinstance(item, FileRef) and item.rel == "00/00000.jpg" and item.size == 1 and item.mtime_ms
    assert (len(requests), heads) == (1, [])


def test_streamed_upload_is_multipart_and_never_half_written(s3: S3Server) -> None:
    bucket = s3.new_bucket()
    store = S3ObjectStore(
        f"s3://{bucket}",
        S3Options(
            endpoint_url=s3.endpoint, addressing_style="path", access_key_id="k", secret_access_key="s"
        ),
    )
    chunk = bytes(range(256)) * 4096  # 1 MiB
    count = PART_BYTES // len(chunk) + 2  # more than one part
    assert store.put_stream("big/file.bin", (chunk for _ in range(count))) == count * len(chunk)
    assert store.get("big/file.bin") == chunk * count
    assert store.info("big/file.bin")[0] == count * len(chunk)

    def failing() -> Iterator[bytes]:
        for _ in range(count):
            yield chunk
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError):
        store.put_stream("big/broken.bin", failing())
    assert not store.exists("big/broken.bin")
    assert s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    store.delete("big")
    assert list(store.list("big")) == []


def test_bad_credentials_and_missing_bucket_are_clear_4xx(
    tmp_path: Path, s3: S3Server, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_secret = f"wrong-{uuid.uuid4().hex}"
    with checking_s3() as (server, bucket):
        good = S3ObjectStore(
            f"s3://{bucket}",
            S3Options(
                endpoint_url=server.endpoint,
                addressing_style="path",
                access_key_id=server.access_key,
                secret_access_key=server.secret_key,
            ),
        )
        good.put("incoming/a.jpg", jpeg(1))  # the server accepts the right keys
        assert list(good.list("incoming")) == ["incoming/a.jpg"]
        cases = {
            "wrong secret": (
                server.settings(bucket, "", s3_secret_access_key=wrong_secret),
                "ModelArts.4314",
            ),
            "unknown key": (
                server.settings(bucket, "", s3_access_key_id="AKIANOBODY", s3_secret_access_key=wrong_secret),
                "ModelArts.4314",
            ),
            "no bucket": (s3.settings("no-such-bucket-" + uuid.uuid4().hex[:8], ""), "ModelArts.4311"),
        }
        caplog.set_level(logging.DEBUG)
        for case, (extra, code) in cases.items():
            with fresh_database_url(tmp_path / case.replace(" ", "-")) as url:
                settings = Settings(
                    data_dir=tmp_path / case.replace(" ", "-") / "data",
                    database_url=url,
                    object_prefixes=["/=*"],
                    secret_key="test-server-secret-0123456789",
                    **extra,
                )
                assert wrong_secret not in repr(settings) and wrong_secret not in str(settings.model_dump())
                services = build_services(settings)
                live = start_server(settings, services)
                try:
                    tenant = make_tenant(live, "alice", "a" * 32)
                    body = {
                        "dataset_name": unique_name(),
                        "dataset_type": 0,
                        "data_sources": [{"data_type": 0, "data_path": "obs://incoming/"}],
                        "work_path": "/out/",
                        "work_path_type": 0,
                    }
                    answer = tenant.aksk.post(tenant.v2("/datasets"), json=body)
                    error = assert_error(answer, 400, code)
                    assert bucket in error["error_msg"] or "no-such-bucket" in error["error_msg"], case
                    assert wrong_secret not in answer.text and server.secret_key not in answer.text
                    assert wrong_secret not in repr(services.objects)
                    tenant.aksk.close()
                    tenant.token_client.close()
                finally:
                    live.stop()
                    services.close()
    assert wrong_secret not in caplog.text


def test_a_server_that_checks_signatures_accepts_the_stores_requests(tmp_path: Path) -> None:
    """Against a server that verifies every request's signature, an import runs and reads
    the object back. (moto's checking server answers 500 to any pre-signed URL, so those are
    fetched from the other server above.)"""
    with checking_s3() as (server, bucket), fresh_database_url(tmp_path) as url:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            object_prefixes=["/=*"],
            secret_key="test-server-secret-0123456789",
            **server.settings(bucket, ""),
        )
        services = build_services(settings)
        live = start_server(settings, services)
        try:
            tenant = make_tenant(live, "alice", "a" * 32)
            services.objects.put("incoming/a.jpg", jpeg(1))
            body = {
                "dataset_name": unique_name(),
                "dataset_type": 0,
                "data_sources": [{"data_type": 0, "data_path": "obs://incoming/"}],
                "work_path": "/out/",
                "work_path_type": 0,
            }
            created = tenant.aksk.post(tenant.v2("/datasets"), json=body).json()
            dataset_id = created["dataset_id"]
            task = wait_for_import(
                tenant.aksk, tenant.v2(f"/datasets/{dataset_id}/import-tasks/{created['import_task_id']}")
            )
            assert (task["status"], task["imported_sample_count"]) == ("COMPLETED", 1), task
            with services.db.session() as session:
                keys = list(
                    session.execute(
                        select(Sample.source_key).where(Sample.dataset_id == dataset_id)
                    ).scalars()
                )
            assert {key: services.objects.get(key) for key in keys} == {"incoming/a.jpg": jpeg(1)}
            tenant.aksk.close()
            tenant.token_client.close()
        finally:
            live.stop()
            services.close()
