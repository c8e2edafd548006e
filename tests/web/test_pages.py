"""The pages over HTTP on a live server: sign-in and its failures, the change-password step,
sessions that expire or end, CSRF refusals, and one project never seeing another's datasets."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import update

from labelarts.ml.hard import REASONS
from labelarts.storage.db.models import Sample, Token
from tests.api import add_sample, sample_labels
from tests.conftest import PASSWORD, LiveServer, Tenant, assert_error, create_dataset
from tests.web import csrf_of, page_client, sign_in


def test_sign_in_shows_the_project_and_sign_out_ends_the_token(
    live_server: LiveServer, tenant: Tenant
) -> None:
    with page_client(live_server.url) as client:
        response = sign_in(client, "alice", PASSWORD)
        assert response.status_code == 303 and response.headers["location"] == "/ui/datasets"
        cookie = response.headers["set-cookie"]
        assert "labelarts_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        token = client.cookies["labelarts_session"]
        # The cookie holds a real IAM token: the API takes it too.
        assert (
            httpx.get(
                f"{live_server.url}/v2/{tenant.project_id}/datasets", headers={"X-Auth-Token": token}
            ).status_code
            == 200
        )
        page = client.get("/ui/datasets")
        assert page.status_code == 200
        assert tenant.project_id[:8] in page.text and "alice" in page.text
        assert "Content-Security-Policy" in page.headers
        out = client.post("/ui/sign-out", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        assert client.get("/ui/datasets").headers["location"].startswith("/ui/sign-in")
        assert (
            httpx.get(
                f"{live_server.url}/v2/{tenant.project_id}/datasets", headers={"X-Auth-Token": token}
            ).status_code
            == 401
        )


@pytest.mark.parametrize(("name", "password"), [("alice", "wrong-password"), ("nobody", PASSWORD), ("", "")])
def test_sign_in_failures_say_so_and_set_no_session(
    live_server: LiveServer, tenant: Tenant, name: str, password: str
) -> None:
    with page_client(live_server.url) as client:
        response = sign_in(client, name, password)
        assert response.status_code == 401
        assert "Incorrect user name or password." in response.text
        assert "labelarts_session" not in client.cookies


def test_pages_without_a_session_lead_to_sign_in(live_server: LiveServer) -> None:
    with page_client(live_server.url) as client:
        for path in ("/ui/datasets", "/ui/datasets/new", "/ui/datasets/x/samples", "/ui/datasets/x/tasks"):
            response = client.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/ui/sign-in", path
        client.cookies.set("labelarts_session", "not-a-token", path="/ui")
        assert client.get("/ui/datasets").headers["location"] == "/ui/sign-in"
        call = client.post("/ui/datasets/x/samples/y/labels", json={"labels": []})
        assert_error(call, 401, "ModelArts.0201")


def test_an_expired_session_asks_to_sign_in_again(live_server: LiveServer, tenant: Tenant) -> None:
    with page_client(live_server.url) as client:
        assert sign_in(client, "alice", PASSWORD).status_code == 303
        assert client.get("/ui/datasets").status_code == 200
        with live_server.services.db.session() as session:
            session.execute(update(Token).values(expires_at=1))
        response = client.get("/ui/datasets")
        assert response.status_code == 303 and response.headers["location"] == "/ui/sign-in?reason=expired"
        assert "session has expired" in client.get(response.headers["location"]).text


def test_a_password_that_must_change_gets_the_change_step(live_server: LiveServer) -> None:
    live_server.services.users.create_user(
        "admin2", project_id="c" * 32, password="first-password-1", must_change_password=True
    )
    with page_client(live_server.url) as client:
        step = sign_in(client, "admin2", "first-password-1")
        assert step.status_code == 200 and "Change your password" in step.text
        assert "labelarts_session" not in client.cookies
        user_id = step.text.split('name="user_id" value="')[1].split('"')[0]
        form = {
            "csrf_token": csrf_of(step.text),
            "user_id": user_id,
            "username": "admin2",
            "password": "first-password-1",
            "new_password": "second-password-2",
            "new_password_again": "second-password-2",
        }
        differ = client.post("/ui/change-password", data={**form, "new_password_again": "other-password"})
        assert differ.status_code == 400 and "differ" in differ.text
        changed = client.post("/ui/change-password", data=form)
        assert changed.status_code == 303, changed.text
        assert sign_in(client, "admin2", "second-password-2").status_code == 303
        assert client.get("/ui/datasets").status_code == 200


def test_state_changes_without_the_csrf_token_or_from_another_site_are_refused(
    live_server: LiveServer, tenant: Tenant
) -> None:
    dataset_id = create_dataset(tenant.aksk, tenant.project_id, "csrf-ds")
    with page_client(live_server.url) as client:
        assert sign_in(client, "alice", PASSWORD).status_code == 303
        token = csrf_of(client.get("/ui/datasets/new").text)
        form = {"dataset_name": "made-by-csrf", "dataset_type": "0", "data_path": "/nowhere"}
        # No token, a wrong token, another session's token, a token in the right place from another site.
        assert_error(client.post("/ui/datasets", data=form), 403)
        assert_error(client.post("/ui/datasets", data={**form, "csrf_token": "0" * 64}), 403)
        with page_client(live_server.url) as other:
            assert sign_in(other, "alice", PASSWORD).status_code == 303
            other_token = csrf_of(other.get("/ui/datasets/new").text)
        assert_error(client.post("/ui/datasets", data={**form, "csrf_token": other_token}), 403)
        foreign = client.post(
            "/ui/datasets", data={**form, "csrf_token": token}, headers={"Origin": "http://evil.example"}
        )
        assert_error(foreign, 403)
        labels = f"/ui/datasets/{dataset_id}/samples/x/labels"
        assert_error(client.post(labels, json={"labels": []}), 403)
        assert_error(client.post(f"/ui/datasets/{dataset_id}/tasks", data={"algorithm_type": "fast"}), 403)
        assert_error(client.post("/ui/sign-out", data={}), 403)
        # Sign-in itself needs the pre-session token.
        with page_client(live_server.url) as fresh:
            assert_error(fresh.post("/ui/sign-in", data={"username": "alice", "password": PASSWORD}), 403)
        # Nothing was made; the session still works.
        names = [d["dataset_name"] for d in tenant.aksk.get(tenant.v2("/datasets")).json()["datasets"]]
        assert names == ["csrf-ds"]
        assert client.get("/ui/datasets").status_code == 200


def test_one_project_never_sees_another_projects_datasets(
    live_server: LiveServer, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = create_dataset(tenant.aksk, tenant.project_id, "alice-secret-dataset")
    with page_client(live_server.url) as client:
        assert sign_in(client, "mallory", PASSWORD).status_code == 303
        listing = client.get("/ui/datasets")
        assert listing.status_code == 200 and "alice-secret-dataset" not in listing.text
        for suffix in (
            "",
            "/samples",
            "/samples?tab=auto",
            "/review",
            "/tasks",
            "/progress",
            "/samples/x/boxes",
        ):
            response = client.get(f"/ui/datasets/{mine}{suffix}")
            assert response.status_code == 404, (suffix, response.status_code)
            assert "alice-secret-dataset" not in response.text
        csrf = csrf_of(listing.text)
        headers = {"X-CSRF-Token": csrf}
        assert_error(
            client.post(f"/ui/datasets/{mine}/samples/x/labels", json={"labels": []}, headers=headers), 404
        )
        assert_error(client.post(f"/ui/datasets/{mine}/tasks", data={"csrf_token": csrf}), 404)
        assert_error(
            client.post(f"/ui/datasets/{mine}/confirm", data={"csrf_token": csrf, "sample_id": "x"}), 404
        )


def test_filters_and_pages_render(live_server: LiveServer, tenant: Tenant) -> None:
    dataset_id = create_dataset(tenant.aksk, tenant.project_id, "filters-ds", labels=[{"name": "cat"}])
    with page_client(live_server.url) as client:
        assert sign_in(client, "alice", PASSWORD).status_code == 303
        query = "tab=auto&label=cat&low=10&high=90&hard=1&reason=3&name=" + quote("a.jpg") + "&sort=score_asc"
        for path in (
            f"/ui/datasets/{dataset_id}",
            f"/ui/datasets/{dataset_id}/samples?{query}",
            f"/ui/datasets/{dataset_id}/review?{query}",
            f"/ui/datasets/{dataset_id}/tasks",
            "/ui/datasets/new",
        ):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:500])
        review = client.get(f"/ui/datasets/{dataset_id}/review").text
        data = json.loads(review.split('id="review-data">')[1].split("</script>")[0])
        assert data["labels"] == [{"name": "cat", "type": 0}] and data["samples"] == []
        bad = client.get("/ui/datasets/nope")
        assert bad.status_code == 404 and "text/html" in bad.headers["content-type"]


def test_the_hard_reason_filter_finds_the_samples_hard_for_that_reason(
    live_server: LiveServer, tenant: Tenant
) -> None:
    services = live_server.services
    dataset_id = create_dataset(tenant.aksk, tenant.project_id, "reasons-ds", labels=[{"name": "cat"}])
    blurry = add_sample(services, dataset_id, ["cat"], status="AUTO_ANNOTATION", hard=True)
    both = add_sample(services, dataset_id, ["cat"], status="AUTO_ANNOTATION", hard=True)
    add_sample(services, dataset_id, ["cat"], status="AUTO_ANNOTATION")
    details = {code: {"id": code, "reason": REASONS[code].reason} for code in (3, 6)}
    with services.db.session() as session:
        for sample_id, codes in ((blurry, [3]), (both, [3, 6])):
            sample = session.get(Sample, sample_id)
            assert sample is not None
            sample.metadata_ = {
                "@modelarts:hard_reasons": codes,
                "@labelarts:hard_details": {str(c): details[c] for c in codes},
            }

    def found(reason: object) -> set[str]:
        response = tenant.aksk.get(
            tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
            params={"search_conditions": json.dumps([{"hard_reason": reason}]), "limit": 100},
        )
        assert response.status_code == 200, response.text
        return {s["sample_id"] for s in response.json()["samples"]}

    assert found(3) == found("3") == {blurry, both}
    assert found(6) == {both}
    assert found(7) == set()
    for bad in (32, "x", -1, True):
        assert_error(
            tenant.aksk.get(
                tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
                params={"search_conditions": json.dumps([{"hard_reason": bad}])},
            ),
            400,
        )
    with page_client(live_server.url) as client:
        assert sign_in(client, "alice", PASSWORD).status_code == 303
        page = client.get(f"/ui/datasets/{dataset_id}/samples?tab=auto&reason=6")
        assert page.status_code == 200
        assert page.text.count('class="tile"') == 1 and both in page.text
        assert REASONS[6].reason in page.text  # the badge's reasons, as words


def test_a_batch_confirm_confirms_the_selected_and_skips_what_was_handled_meanwhile(
    live_server: LiveServer, tenant: Tenant
) -> None:
    services = live_server.services
    dataset_id = create_dataset(tenant.aksk, tenant.project_id, "batch-ds", labels=[{"name": "cat"}])
    first, second, left = (
        add_sample(services, dataset_id, ["cat"], status="AUTO_ANNOTATION") for _ in range(3)
    )
    with page_client(live_server.url) as client:
        assert sign_in(client, "alice", PASSWORD).status_code == 303
        grid = client.get(f"/ui/datasets/{dataset_id}/samples?tab=auto")
        assert grid.text.count('class="tile"') == 3
        form = {"csrf_token": csrf_of(grid.text), "sample_id": [first, second, "gone"], "back": "/elsewhere"}
        answer = client.post(f"/ui/datasets/{dataset_id}/confirm", data=form)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/ui/datasets/{dataset_id}/samples"  # no open redirect
        again = client.post(f"/ui/datasets/{dataset_id}/confirm", data={**form, "sample_id": [first]})
        assert again.status_code == 303
    labels = sample_labels(services, dataset_id)
    assert labels[first] == labels[second] == ("MANUAL_ANNOTATION", ["cat"])
    assert labels[left] == ("AUTO_ANNOTATION", ["cat"])
