"""Two API instances on one database, behind no proxy: whichever answers, the answer is the same.

Two ``labelarts serve`` processes, as on two machines: each has its own port and data dir and
shares only what an operator shares between machines (the database, the object store and
``LABELARTS_SECRET_KEY``). They start together on an empty database; then a token made by one
works on the other, the sign-in rate limit counts failures made on both, a pre-signed source
URL from one is served by the other, and label updates sent concurrently through both lose
nothing.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from labelarts.client import SdkHmacAuth, TokenAuth
from tests.cli import cli_env, free_port
from tests.conftest import store_settings
from tests.processes import running, wait_for_health

SECRET = "two-instances-share-this-secret-0123456789"
NEW_PASSWORD = "a long shared password"
MAX_FAILURES = 4


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    values = {
        "LABELARTS_DATABASE_URL": database_url,
        "LABELARTS_SECRET_KEY": SECRET,
        "LABELARTS_OBJECT_STORE_URL": f"file://{tmp_path / 'shared-objects'}",
        "LABELARTS_SIGN_IN_MAX_FAILURES_PER_USER": str(MAX_FAILURES),
        "LABELARTS_LOG_LEVEL": "warning",
    }
    for name, value in store_settings().items():  # the S3 cell: one bucket for both
        secret = getattr(value, "get_secret_value", None)
        values[f"LABELARTS_{name.upper()}"] = secret() if secret else str(value)
    return cli_env(**values)


def _sign_in(url: str, user: str, password: str, project_id: str) -> httpx.Response:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "password": password, "domain": {"name": "Default"}}},
            },
            "scope": {"project": {"id": project_id}},
        }
    }
    return httpx.post(f"{url}/v3/auth/tokens", json=body, timeout=120)


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (seed * 7 % 256, seed * 13 % 256, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def _instances(tmp_path: Path, env: dict[str, str], stack: ExitStack) -> list[str]:
    """Start both instances at once (no health wait in between: they race on the empty
    database's migration and first-start bootstrap) and return their URLs once both answer."""
    urls, processes = [], []
    for name in ("a", "b"):
        port = free_port()
        args = ["serve", "--data-dir", str(tmp_path / name), "--port", str(port), "--workers", "0"]
        process: subprocess.Popen[bytes] = stack.enter_context(running(args, env, tmp_path / f"{name}.log"))
        urls.append(f"http://127.0.0.1:{port}")
        processes.append(process)
    for name, url, process in zip("ab", urls, processes, strict=True):
        wait_for_health(url, process, tmp_path / f"{name}.log")
    return urls


def _credentials(tmp_path: Path) -> dict[str, Any]:
    """The first-start credentials: exactly one instance created the admin and wrote them."""
    written = [tmp_path / n / "initial-credentials.json" for n in "ab"]
    found = [path for path in written if path.exists()]
    assert len(found) == 1, found
    creds: dict[str, Any] = json.loads(found[0].read_text())
    return creds


def test_two_instances_on_one_database_answer_alike(tmp_path: Path, database_url: str) -> None:
    env = _env(database_url, tmp_path)
    with ExitStack() as stack:
        a, b = _instances(tmp_path, env, stack)
        creds = _credentials(tmp_path)
        project = creds["project_id"]

        # The one-time password is changed on A; B signs in with the new one, and the token
        # B made works on A (tokens live in the database, as hashes).
        body = {"user": {"original_password": creds["password"], "password": NEW_PASSWORD}}
        changed = httpx.post(f"{a}/v3/users/{creds['user_id']}/password", json=body, timeout=120)
        assert changed.status_code == 204, changed.text
        signed_in = _sign_in(b, "admin", NEW_PASSWORD, project)
        assert signed_in.status_code == 201, signed_in.text
        token = signed_in.headers["X-Subject-Token"]
        for url in (a, b):
            listed = httpx.get(f"{url}/v2/{project}/datasets", auth=TokenAuth(token), timeout=60)
            assert listed.status_code == 200, listed.text

        # The sign-in limit counts failures on both: 2 on A and 2 on B reach the limit of 4,
        # and then both refuse (even the right password) with 429.
        for url in (a, b, a, b):
            assert _sign_in(url, "admin", "wrong password", project).status_code == 401
        for url in (a, b):
            refused = _sign_in(url, "admin", NEW_PASSWORD, project)
            assert refused.status_code == 429, refused.text
            assert refused.json()["error_code"] == "ModelArts.4206"
            assert int(refused.headers["Retry-After"]) > 0

        aksk = SdkHmacAuth(creds["access_key"], creds["secret_key"], project)
        clients = [httpx.Client(base_url=url, auth=aksk, timeout=120) for url in (a, b)]
        for client in clients:
            stack.callback(client.close)
        created = clients[0].post(
            f"/v2/{project}/datasets",
            json={
                "dataset_name": "shared",
                "data_sources": [],
                "work_path": "/out/shared/",
                "work_path_type": 0,
                "labels": [{"name": "cat"}, {"name": "dog"}],
            },
        )
        assert created.status_code == 201, created.text
        dataset_id = created.json()["dataset_id"]
        samples_path = f"/v2/{project}/datasets/{dataset_id}/data-annotations/samples"
        images = {f"s{i:02d}.jpg": _jpeg(i) for i in range(24)}
        uploaded = clients[1].post(
            samples_path,
            json={"samples": [{"name": n, "data": base64.b64encode(d).decode()} for n, d in images.items()]},
        )
        assert uploaded.status_code == 200, uploaded.text
        ids = {r["name"]: r["info"] for r in uploaded.json()["results"]}

        # A pre-signed source URL made by A is served by B (same secret, same store).
        page = clients[0].get(samples_path, params={"limit": 100})
        assert page.status_code == 200, page.text
        for sample in page.json()["samples"][:3]:
            source = sample["source"]
            assert source.startswith(a + "/files/"), source
            served = httpx.get(b + source[len(a) :], timeout=60)
            assert served.status_code == 200, served.text
            assert served.content in images.values()

        # Concurrent label updates through both instances: every one is kept.
        def label(item: tuple[int, str]) -> int:
            i, name = item
            wanted = "cat" if i % 2 else "dog"
            response = clients[i % 2].put(
                samples_path, json={"samples": [{"sample_id": ids[name], "labels": [{"name": wanted}]}]}
            )
            assert response.status_code == 200, response.text
            return i

        with ThreadPoolExecutor(6) as pool:
            assert len(list(pool.map(label, enumerate(images)))) == len(images)
        for client in clients:
            stats = client.get(f"/v2/{project}/datasets/{dataset_id}/data-annotations/stats").json()
            assert stats["sample_stats"]["manual_annotation"] == len(images), stats
            assert stats["sample_stats"]["un_annotation"] == 0, stats
            found: dict[str, str] = {}
            for sample in client.get(samples_path, params={"limit": 100}).json()["samples"]:
                (only,) = sample["labels"]
                found[sample["sample_id"]] = only["name"]
            assert found == {ids[name]: ("cat" if i % 2 else "dog") for i, name in enumerate(images)}
            counts = {row["name"]: row["sample_count"] for row in stats["label_stats"]}
            assert counts == {"cat": len(images) // 2, "dog": len(images) // 2}, counts
