"""Projects kept apart (issue 9 section 2): import roots and object prefixes are granted to
projects, and every path (import, manifest, delete_source, obs:// prefixes, reading sources,
sample answers) stays inside what the project was granted.

One server, two projects A and B: ``roots/a`` is granted to A, ``roots/b`` to B with
``+delete``, ``roots/shared`` to every project (``=*``); object prefixes ``a-in`` (A) and
``b-in`` (B, ``+delete``). On current main every root and prefix is open to every project.
"""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from labelarts.clock import new_hex_id
from labelarts.config import Settings
from labelarts.container import build_services
from labelarts.storage.db.models import Sample
from tests.api import unique_name, wait_for_import
from tests.conftest import LiveServer, Tenant, assert_error, fresh_database_url, make_tenant, start_server
from tests.imports import jpeg, manifest_text, write
from tests.samples import insert_sample

H100 = "image/resize,m_lfit,h_100"


@dataclass
class Pair:
    server: LiveServer
    a: Tenant
    b: Tenant
    roots: Path

    def root(self, name: str) -> Path:
        return self.roots / name


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("projects")
    roots = tmp / "roots"
    for name in ("a", "b", "shared"):
        (roots / name).mkdir(parents=True)
    project_a, project_b = new_hex_id(), new_hex_id()
    with fresh_database_url(tmp) as url:
        settings = Settings(
            data_dir=tmp / "data",
            database_url=url,
            import_roots=[
                f"{roots / 'a'}={project_a}",
                f"{roots / 'b'}={project_b}+delete",
                f"{roots / 'shared'}=*",
            ],
            object_prefixes=[f"a-in={project_a}", f"b-in={project_b}+delete"],
            secret_key="test-server-secret-0123456789",
        )
        services = build_services(settings)
        server = start_server(settings, services)
        tenants: list[Tenant] = []
        try:
            tenants.append(make_tenant(server, "alice", project_a))
            tenants.append(make_tenant(server, "bob", project_b))
            yield Pair(server, tenants[0], tenants[1], roots)
        finally:
            for tenant in tenants:
                tenant.aksk.close()
                tenant.token_client.close()
            server.stop()
            services.close()


def new_dataset(tenant: Tenant, data_path: str | None = None, dataset_type: int = 0) -> httpx.Response:
    source: dict[str, Any] = {"data_type": 0}
    if data_path is not None:
        source["data_path"] = data_path
    body = {
        "dataset_name": unique_name(),
        "dataset_type": dataset_type,
        "data_sources": [source],
        "work_path": "/out/",
        "work_path_type": 0,
    }
    return tenant.aksk.post(tenant.v2("/datasets"), json=body)


def empty_dataset(tenant: Tenant, dataset_type: int = 0) -> str:
    response = new_dataset(tenant, dataset_type=dataset_type)
    assert response.status_code == 201, response.text
    created = response.json()
    wait_for_import(
        tenant.aksk, tenant.v2(f"/datasets/{created['dataset_id']}/import-tasks/{created['import_task_id']}")
    )
    dataset_id: str = created["dataset_id"]
    return dataset_id


def start_import(tenant: Tenant, dataset_id: str, path: str, **body: Any) -> httpx.Response:
    return tenant.aksk.post(
        tenant.v2(f"/datasets/{dataset_id}/import-tasks"), json={"import_path": path, **body}
    )


def run_import(tenant: Tenant, dataset_id: str, path: str, **body: Any) -> dict[str, Any]:
    response = start_import(tenant, dataset_id, path, **body)
    assert response.status_code == 200, response.text
    task = wait_for_import(
        tenant.aksk, tenant.v2(f"/datasets/{dataset_id}/import-tasks/{response.json()['task_id']}")
    )
    assert task["status"] == "COMPLETED", task
    return task


def samples(tenant: Tenant, dataset_id: str) -> list[dict[str, Any]]:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples?limit=100"))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["samples"]
    return found


def delete_all(tenant: Tenant, dataset_id: str) -> None:
    ids = [s["sample_id"] for s in samples(tenant, dataset_id)]
    response = tenant.aksk.post(
        tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples/delete"),
        json={"samples": ids, "delete_source": True},
    )
    assert response.status_code == 200, response.text


def test_each_project_imports_only_from_its_own_roots(pair: Pair) -> None:
    for name in ("a", "b", "shared"):
        write(pair.root(name) / "pics", {f"{name}.jpg": jpeg(ord(name[0]))})
    for tenant, own, other in ((pair.a, "a", "b"), (pair.b, "b", "a")):
        foreign = str(pair.root(other) / "pics")
        # At dataset creation, in an import task, and as a manifest: all refused, nothing made.
        assert_error(new_dataset(tenant, foreign), 400, "ModelArts.4374")
        dataset_id = empty_dataset(tenant)
        body = assert_error(start_import(tenant, dataset_id, foreign), 400, "ModelArts.4374")
        assert "granted to this project" in body["error_msg"]
        write(pair.root(other), {f"for-{own}.manifest": manifest_text([{"source": "pics/x.jpg"}])})
        manifest = str(pair.root(other) / f"for-{own}.manifest")
        assert_error(
            start_import(tenant, dataset_id, manifest, import_type="manifest"), 400, "ModelArts.4374"
        )
        # Its own root and the shared one are fine.
        run_import(tenant, dataset_id, str(pair.root(own) / "pics"))
        run_import(tenant, dataset_id, str(pair.root("shared") / "pics"))
        assert sorted(s["sample_name"] for s in samples(tenant, dataset_id)) == [f"{own}.jpg", "shared.jpg"]


def test_manifest_lines_reach_only_the_projects_roots_and_prefixes(pair: Pair) -> None:
    write(pair.root("a") / "mf", {"secret-a.jpg": jpeg(1)})
    objects = pair.server.services.objects
    objects.put("a-in/mf/secret-a.jpg", jpeg(2))
    objects.put("elsewhere/x.jpg", jpeg(3))
    lines = [
        {"source": str(pair.root("a") / "mf" / "secret-a.jpg")},
        {"source": f"file://{pair.root('a') / 'mf' / 'secret-a.jpg'}"},
        {"source": "obs://a-in/mf/secret-a.jpg"},
        {"source": "s3://elsewhere/x.jpg"},
        {"source": "mine.jpg"},
    ]
    folder = write(
        pair.root("b") / unique_name("mf"), {"mine.jpg": jpeg(4), "m.manifest": manifest_text(lines)}
    )
    dataset_id = empty_dataset(pair.b)
    task = run_import(pair.b, dataset_id, str(folder / "m.manifest"), import_type="manifest")
    reasons = {f["path"]: f["reason"] for f in task["failed_files"]}
    assert sorted(reasons) == [f"m.manifest:{n}" for n in (1, 2, 3, 4)], reasons
    assert all("granted to this project" in reason for reason in reasons.values()), reasons
    assert [s["sample_name"] for s in samples(pair.b, dataset_id)] == ["mine.jpg"]


def test_object_prefixes_are_granted_per_project(pair: Pair) -> None:
    objects = pair.server.services.objects
    objects.put("a-in/obs/a.jpg", jpeg(5))
    objects.put("b-in/obs/b.jpg", jpeg(6))
    objects.put("nobody/obs/n.jpg", jpeg(7))
    for tenant, own, other in ((pair.a, "a-in", "b-in"), (pair.b, "b-in", "a-in")):
        dataset_id = empty_dataset(tenant)
        for path in (f"obs://{other}/obs/", f"s3://{other}/", "obs://nobody/obs/", "obs://datasets/"):
            assert_error(start_import(tenant, dataset_id, path), 400, "ModelArts.4374")
            assert_error(new_dataset(tenant, path), 400)
        run_import(tenant, dataset_id, f"s3://{own}/obs/")
        assert [s["sample_dir"] for s in samples(tenant, dataset_id)] == [f"obs://{own}/obs/"]
    # A link dropped into the store (operators may let programs write there) is not followed.
    outside = pair.roots.parent / "outside-store.jpg"
    outside.write_bytes(jpeg(12))
    store = pair.server.settings.resolved_data_dir / "objects"
    (store / "a-in" / "links").mkdir(parents=True)
    (store / "a-in" / "links" / "leak.jpg").symlink_to(outside)
    (store / "a-in" / "linked-dir").symlink_to(outside.parent)
    dataset_id = empty_dataset(pair.a)
    assert_error(start_import(pair.a, dataset_id, "obs://a-in/links/"), 400, "ModelArts.4312")
    assert_error(start_import(pair.a, dataset_id, "obs://a-in/linked-dir/"), 400, "ModelArts.4312")
    lines = [{"source": "obs://a-in/links/leak.jpg"}, {"source": "obs://a-in/linked-dir/outside-store.jpg"}]
    objects.put("a-in/mf/links.manifest", manifest_text(lines).encode())
    task = run_import(pair.a, dataset_id, "obs://a-in/mf/links.manifest", import_type="manifest")
    assert task["failed_file_count"] == 2 and samples(pair.a, dataset_id) == []


def test_delete_source_removes_only_what_labelarts_stored_or_the_operator_allowed(pair: Pair) -> None:
    objects = pair.server.services.objects
    kept: list[Path] = []
    for tenant, root, prefix, allowed in ((pair.a, "a", "a-in", False), (pair.b, "b", "b-in", True)):
        folder = write(pair.root(root) / unique_name("del"), {"local.jpg": jpeg(8)})
        key = f"{prefix}/{unique_name('del')}/object.jpg"
        objects.put(key, jpeg(9))
        dataset_id = empty_dataset(tenant)
        run_import(tenant, dataset_id, str(folder))
        run_import(tenant, dataset_id, f"obs://{key.rsplit('/', 1)[0]}/")
        upload = tenant.aksk.post(
            tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
            json={"samples": [{"name": "up.jpg", "data": _b64(jpeg(10))}]},
        )
        assert upload.status_code == 200, upload.text
        uploaded = _source_keys(pair, dataset_id, "object")
        assert len(samples(tenant, dataset_id)) == 3
        delete_all(tenant, dataset_id)
        assert (folder / "local.jpg").exists() is not allowed
        assert objects.exists(key) is not allowed
        assert not any(objects.exists(k) for k in uploaded if k.startswith("datasets/"))  # ours: gone
        if not allowed:
            kept.append(folder / "local.jpg")
    assert kept  # A's files were left where the operator put them


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _source_keys(pair: Pair, dataset_id: str, kind: str) -> list[str]:
    with pair.server.services.db.session() as session:
        return list(
            session.execute(
                select(Sample.source_key).where(Sample.dataset_id == dataset_id, Sample.source_kind == kind)
            ).scalars()
        )


def test_sources_and_answers_stay_inside_the_projects_grants(pair: Pair) -> None:
    """A sample whose file lies under another project's root (stored before the grants
    changed, say) is neither served nor shown with its host path."""
    folder = write(pair.root("a") / unique_name("read"), {"a.png": _png(400, 200)})
    services = pair.server.services
    theirs = empty_dataset(pair.b)
    mine = empty_dataset(pair.a)
    path = folder / "a.png"
    stray = insert_sample(services, theirs, local_path=path, name="a.png", sample_dir=f"{folder}/")
    fine = insert_sample(services, mine, local_path=path, name="a.png", sample_dir=f"{folder}/")

    def url(tenant: Tenant, dataset_id: str, sample_id: str, process: str | None = None) -> str:
        return services.sources.source_url(pair.server.url, tenant.project_id, dataset_id, sample_id, process)

    assert_error(httpx.get(url(pair.b, theirs, stray)), 404, "ModelArts.4338")
    assert_error(httpx.get(url(pair.b, theirs, stray, H100)), 404, "ModelArts.4338")
    assert httpx.get(url(pair.a, mine, fine)).content == path.read_bytes()
    assert Image.open(io.BytesIO(httpx.get(url(pair.a, mine, fine, H100)).content)).size == (200, 100)

    (listed,) = samples(pair.b, theirs)
    assert listed["sample_dir"] == "" and str(pair.roots) not in str(listed)
    detail = pair.b.aksk.get(pair.b.v2(f"/datasets/{theirs}/data-annotations/samples/{stray}"))
    assert detail.status_code == 200 and str(pair.roots) not in detail.text
    conditions = pair.b.aksk.get(pair.b.v2(f"/datasets/{theirs}/data-annotations/search-condition"))
    assert conditions.status_code == 200 and str(pair.roots) not in conditions.text
    (own,) = samples(pair.a, mine)
    assert own["sample_dir"] == f"{folder}/"


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


# --- data paths the file system refuses (issue 8, section 3) -----------------------------


def test_path_errors_are_400s_not_500s(pair: Pair) -> None:
    base = pair.root("a") / unique_name("errs")
    base.mkdir()
    (base / "file.txt").write_text("a file")
    (base / "loop").symlink_to(base / "loop")
    cases: dict[str, str | None] = {
        str(base / ("x" * 300)): "ModelArts.4374",  # ENAMETOOLONG: one name over 255 bytes
        str(base / ("x" * 300) / "y"): "ModelArts.4374",
        str(base / "/".join(["d" * 200] * 25)): None,  # over PATH_MAX: the schema's 0104 or 4374
        str(base / "loop"): "ModelArts.4374",  # ELOOP: a link (to itself)
        str(base / "loop" / "x"): "ModelArts.4374",
        str(base / "file.txt" / "x"): "ModelArts.4312",  # ENOTDIR
        str(base / "file.txt"): "ModelArts.4312",  # a file where a folder is expected
        str(base / "missing"): "ModelArts.4312",
    }
    dataset_id = empty_dataset(pair.a)
    for path, code in cases.items():
        body = assert_error(start_import(pair.a, dataset_id, path), 400, code)
        assert str(pair.roots) not in body["error_msg"]
        assert_error(new_dataset(pair.a, path), 400, code)
        if not path.endswith("file.txt"):  # that one is a fine manifest
            assert_error(start_import(pair.a, dataset_id, path, import_type="manifest"), 400)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder: EACCES cannot happen")
def test_a_folder_without_permission_is_a_400(pair: Pair) -> None:
    locked = pair.root("a") / unique_name("locked")
    (locked / "inner").mkdir(parents=True)
    locked.chmod(0)
    try:
        dataset_id = empty_dataset(pair.a)
        for path in (locked, locked / "inner"):
            body = assert_error(start_import(pair.a, dataset_id, str(path)), 400, "ModelArts.4374")
            assert errno.errorcode[errno.EACCES] not in body["error_msg"]
            assert "permission denied" in body["error_msg"]
    finally:
        locked.chmod(0o755)


# --- a bare root -------------------------------------------------------------------------


def test_a_bare_root_is_open_while_the_install_has_one_project(tmp_path: Path, database_url: str) -> None:
    root = tmp_path / "pictures"
    write(root / "pets", {"cat.jpg": jpeg(11)})
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        import_roots=[str(root)],  # as in the README: labelarts serve --import-root ~/pictures
        secret_key="test-server-secret-0123456789",
    )
    services = build_services(settings)
    server = start_server(settings, services)
    tenants: list[Tenant] = []
    try:
        tenants.append(make_tenant(server, "solo", new_hex_id()))
        solo = tenants[0]
        dataset_id = empty_dataset(solo)
        run_import(solo, dataset_id, str(root / "pets"))
        (sample,) = samples(solo, dataset_id)
        assert httpx.get(sample["source"]).status_code == 200
        # A second project appears: the bare root is now open to none, until granted.
        tenants.append(make_tenant(server, "newcomer", new_hex_id()))
        for tenant in tenants:
            fresh = empty_dataset(tenant)
            body = assert_error(start_import(tenant, fresh, str(root / "pets")), 400, "ModelArts.4374")
            assert "PATH=PROJECT_ID" in body["error_msg"]
        assert httpx.get(sample["source"]).status_code == 404
    finally:
        for tenant in tenants:
            tenant.aksk.close()
            tenant.token_client.close()
        server.stop()
        services.close()
