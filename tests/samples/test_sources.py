"""Pre-signed ``source`` URLs: no credentials needed, any change refused, thumbnails cached."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import pytest
from PIL import Image

from labelarts.errors import ValidationFailedError
from labelarts.media import parse_process_parameter
from labelarts.services.samples.presign import SourceRef
from labelarts.storage.db.models import Sample
from tests.api import World, shared_world, unique_name
from tests.conftest import assert_error, create_dataset
from tests.samples import b64, bomb_png, image_bytes, insert_sample, upload

H200 = "image/resize,m_lfit,h_200"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("sources")) as w:
        yield w


@dataclass
class Scene:
    world: World
    dataset_id: str
    sample_id: str
    data: bytes

    def url(self, process: str | None = None, sample_id: str | None = None) -> str:
        return self.world.services.sources.source_url(
            self.world.server.url,
            self.world.alice.project_id,
            self.dataset_id,
            sample_id or self.sample_id,
            process,
        )


@pytest.fixture
def scene(world: World) -> Scene:
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("src"))
    data = image_bytes(300, 400, seed=7)
    response = upload(world.alice, dataset_id, [{"name": "tall.jpg", "data": b64(data)}])
    assert response.status_code == 200, response.text
    return Scene(world, dataset_id, response.json()["results"][0]["info"], data)


def with_query(url: str, query: list[tuple[str, str]]) -> str:
    base = url.split("?", 1)[0]
    return f"{base}?{urlencode(query)}" if query else base


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def test_a_presigned_url_needs_no_credentials(scene: Scene) -> None:
    url = scene.url()
    assert url.startswith(
        f"{scene.world.server.url}/files/{scene.world.alice.project_id}/{scene.dataset_id}/"
    )
    assert {k for k, _ in query_of(url)} == {"AccessKeyId", "Expires", "Signature"}
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    assert response.content == scene.data
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"].startswith("private, max-age=")
    assert 3500 <= int(response.headers["cache-control"].rsplit("=", 1)[1]) <= 3600
    assert response.headers["x-content-type-options"] == "nosniff"
    # A browser revalidating gets 304 without the bytes.
    again = httpx.get(url, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    # The signer itself makes the same kind of URL.
    ref = SourceRef(scene.world.alice.project_id, scene.dataset_id, scene.sample_id)
    assert httpx.get(scene.world.services.signer.url(scene.world.server.url, ref)).content == scene.data


def test_a_reencoded_query_still_verifies(scene: Scene) -> None:
    """Clients may percent-encode unreserved characters (python-requests rewrites %7E etc.)."""
    url = scene.url(H200)
    encoded = "&".join(
        f"{quote(k, safe='')}={''.join(f'%{b:02X}' for b in v.encode())}" for k, v in query_of(url)
    )
    response = httpx.get(httpx.URL(url.split("?", 1)[0] + "?" + encoded))
    assert response.status_code == 200, response.text


def _drop(key: str) -> Callable[[list[tuple[str, str]]], list[tuple[str, str]]]:
    return lambda q: [(k, v) for k, v in q if k != key]


def _set(key: str, value: Callable[[str], str]) -> Callable[[list[tuple[str, str]]], list[tuple[str, str]]]:
    return lambda q: [(k, value(v) if k == key else v) for k, v in q]


def _flip(text: str) -> str:
    return ("A" if text[0] != "A" else "B") + text[1:]


MUTATIONS: dict[str, Callable[[list[tuple[str, str]]], list[tuple[str, str]]]] = {
    "query-removed": lambda q: [],
    "signature-removed": _drop("Signature"),
    "expires-removed": _drop("Expires"),
    "signature-tampered": _set("Signature", _flip),
    "signature-truncated": _set("Signature", lambda v: v[:-2]),
    "expires-changed": _set("Expires", lambda v: str(int(v) + 1)),
    "expires-not-a-number": _set("Expires", lambda v: v + "x"),
    "access-key-changed": _set("AccessKeyId", lambda v: "SOMEONE"),
    "process-changed": _set("x-image-process", lambda v: v.replace("h_200", "h_300")),
    "process-removed": _drop("x-image-process"),
    "process-added": lambda q: [*q, ("x-image-process", "image/resize,w_10")],
    "signature-repeated": lambda q: [*q, next(p for p in q if p[0] == "Signature")],
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_changed_url_is_403(scene: Scene, mutation: str) -> None:
    process = None if mutation == "process-added" else H200
    url = scene.url(process)
    response = httpx.get(with_query(url, MUTATIONS[mutation](query_of(url))))
    assert_error(response, 403)


def test_an_expired_url_is_403(scene: Scene) -> None:
    ref = SourceRef(scene.world.alice.project_id, scene.dataset_id, scene.sample_id)
    old = scene.world.services.signer.url(scene.world.server.url, ref, now=time.time() - 3601)
    body = assert_error(httpx.get(old), 403)
    assert "expired" in body["error_msg"]


def test_the_query_of_another_sample_is_403(scene: Scene) -> None:
    other = upload(
        scene.world.alice, scene.dataset_id, [{"name": "other.jpg", "data": b64(image_bytes(seed=8))}]
    ).json()["results"][0]["info"]
    url, other_url = scene.url(), scene.url(sample_id=other)
    query = url.split("?", 1)[1]
    assert_error(httpx.get(other_url.split("?", 1)[0] + "?" + query), 403)
    # ... and with another dataset or project in the path.
    path = urlsplit(url).path
    for moved in (
        # (the first character changed: random ids may start with any letter, "x" included)
        path.replace(scene.dataset_id, ("y" if scene.dataset_id[0] == "x" else "x") + scene.dataset_id[1:]),
        path.replace(scene.world.alice.project_id, scene.world.mallory.project_id),
    ):
        assert_error(httpx.get(f"{scene.world.server.url}{moved}?{query}"), 403)
    assert httpx.get(other_url).status_code == 200


def test_a_deleted_sample_is_404(scene: Scene) -> None:
    url = scene.url()
    response = scene.world.alice.aksk.post(
        scene.world.alice.v2(f"/datasets/{scene.dataset_id}/data-annotations/samples/delete"),
        json={"samples": [scene.sample_id]},
    )
    assert response.status_code == 200, response.text
    assert_error(httpx.get(url), 404)


def test_thumbnails_are_resized_and_cached(scene: Scene) -> None:
    objects = scene.world.services.objects
    url = scene.url(H200)
    first = httpx.get(url)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(first.content)).size == (150, 200)  # COMPATIBILITY.md 2.9
    digest = hashlib.sha256(parse_process_parameter(H200).cache_key().encode()).hexdigest()
    key = f"thumbnails/{scene.dataset_id}/{scene.sample_id}/{digest}"
    assert objects.get(key) == first.content
    # Spoil the source: a second request can only succeed from the cache.
    with scene.world.services.db.session() as session:
        sample = session.get(Sample, scene.sample_id)
        assert sample is not None
        source_key = sample.source_key
    objects.put(source_key, b"no longer an image")
    second = httpx.get(url)
    assert second.status_code == 200 and second.content == first.content
    # Same effect, other spelling: same cached object.
    assert httpx.get(scene.url("image/resize,h_200,m_lfit")).content == first.content
    # Without processing the original bytes come back (here: the spoiled ones).
    assert httpx.get(scene.url()).content == b"no longer an image"


def thumbnail_bytes(world: World) -> int:
    """Bytes under thumbnails/ in the object store, as the file system sees them."""
    root = world.data_dir / "objects" / "thumbnails"
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_many_process_parameters_keep_the_thumbnail_cache_under_its_quota(scene: Scene) -> None:
    """Each distinct process_parameter is a new rendering; the cache evicts the least
    recently used ones to stay under LABELARTS_THUMBNAIL_CACHE_BYTES."""
    cache = scene.world.services.sources.thumbnails
    saved = cache.quota_bytes
    first = httpx.get(scene.url("image/resize,m_lfit,h_100"))
    assert first.status_code == 200
    cache.quota_bytes = 6 * len(first.content)  # a few renderings
    try:
        for height in range(40, 140):
            response = httpx.get(scene.url(f"image/resize,m_lfit,h_{height}"))
            assert response.status_code == 200, response.text
            assert Image.open(io.BytesIO(response.content)).size[1] == height
            assert thumbnail_bytes(scene.world) <= cache.quota_bytes
            assert cache.total_bytes <= cache.quota_bytes
        assert len(list(scene.world.services.objects.list("thumbnails"))) < 100
    finally:
        cache.quota_bytes = saved


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("corrupt.jpg", image_bytes(300, 400, seed=9)[:400]),
        ("notes.txt", b"plain text, not an image"),
        ("bomb.png", bomb_png()),
        ("empty.jpg", b""),
    ],
)
def test_thumbnails_of_non_images_are_400(scene: Scene, name: str, data: bytes) -> None:
    sample_id = insert_sample(scene.world.services, scene.dataset_id, data, name=name)
    response = httpx.get(scene.url(H200, sample_id))
    assert_error(response, 400)
    assert list(scene.world.services.objects.list(f"thumbnails/{scene.dataset_id}/{sample_id}")) == []


@pytest.mark.parametrize(
    ("name", "data", "content_type", "attachment"),
    [
        ("notes.txt", b"hello", "text/plain", False),
        ("page.html", b"<script>alert(1)</script>", "application/octet-stream", True),
        ("pic.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "application/octet-stream", True),
        ("pic.bin", image_bytes(fmt="PNG"), "image/png", False),
    ],
)
def test_originals_are_served_safely(
    scene: Scene, name: str, data: bytes, content_type: str, attachment: bool
) -> None:
    sample_id = insert_sample(scene.world.services, scene.dataset_id, data, name=name)
    response = httpx.get(scene.url(None, sample_id))
    assert response.status_code == 200, response.text
    assert response.content == data
    assert response.headers["content-type"].split(";")[0] == content_type
    assert ("attachment" in response.headers.get("content-disposition", "")) is attachment
    assert "sandbox" in response.headers["content-security-policy"]


def test_local_sources_are_read_only_under_an_import_root(scene: Scene, tmp_path: Path) -> None:
    services = scene.world.services
    folder = scene.world.imports / unique_name("local")
    folder.mkdir()
    inside, outside = folder / "in.png", tmp_path / "out.png"
    inside.write_bytes(image_bytes(300, 400, fmt="PNG"))
    outside.write_bytes(image_bytes(fmt="PNG"))
    ok = insert_sample(services, scene.dataset_id, local_path=inside, name="in.png")
    response = httpx.get(scene.url(None, ok))
    assert response.status_code == 200 and response.content == inside.read_bytes()
    assert response.headers["content-type"] == "image/png"
    thumb = httpx.get(scene.url(H200, ok))
    assert Image.open(io.BytesIO(thumb.content)).size == (150, 200)
    refused = insert_sample(services, scene.dataset_id, local_path=outside, name="out.png")
    assert_error(httpx.get(scene.url(None, refused)), 404, "ModelArts.4338")
    assert_error(httpx.get(scene.url(H200, refused)), 404, "ModelArts.4338")
    inside.unlink()
    assert_error(httpx.get(scene.url(None, ok)), 404, "ModelArts.4338")
    link = folder / "link.png"
    link.symlink_to(outside)  # a link out of the root does not count as under it
    linked = insert_sample(services, scene.dataset_id, local_path=link, name="link.png")
    assert_error(httpx.get(scene.url(None, linked)), 404)


def test_source_url_checks_the_process_parameter(scene: Scene) -> None:
    for bad in ("image/blur,r_3", "image/resize,w_0", "image/resize", "resize,w_10", "x" * 300):
        with pytest.raises(ValidationFailedError) as info:
            scene.url(bad)
        assert info.value.code == "ModelArts.0104"
    assert "x-image-process" not in scene.url("")
    # A URL signed with a bad parameter (not made by source_url) is refused with 400 too.
    ref = SourceRef(scene.world.alice.project_id, scene.dataset_id, scene.sample_id)
    signed = scene.world.services.signer.url(scene.world.server.url, ref, "image/resize,w_0")
    assert_error(httpx.get(signed), 400, "ModelArts.0104")
    # Processing that would make the result too large is a 400 as well.
    huge = scene.world.services.signer.url(
        scene.world.server.url, ref, "image/resize,w_4096,h_4096,p_1000,limit_0"
    )
    assert_error(httpx.get(huge), 400)
