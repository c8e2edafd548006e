"""What scripts lean on: iterators over deep lists that change underneath them, bulk helpers,
retries on 429/503 (and on nothing else), timeouts, and ``wait_for_*`` progress."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from labelarts.client import AsyncLabelArtsClient, LabelArtsClient, LabelArtsError, PageWalk, Retry
from labelarts.client._core import retry_after
from tests.api import World, add_sample, shared_world, unique_name
from tests.imports import jpeg

DEEP = 260  # samples: three pages of 100 and a part


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("scripting")) as w:
        yield w


@pytest.fixture(params=["aksk", "token"])
def api(request: pytest.FixtureRequest, world: World) -> Iterator[LabelArtsClient]:
    creds = world.alice.creds
    if request.param == "aksk":
        client = LabelArtsClient(
            world.server.url, creds.project_id, access_key=creds.access_key, secret_key=creds.secret_key
        )
    else:
        client = LabelArtsClient(world.server.url, creds.project_id, token=world.alice.token)
    with client:
        yield client


def deep_dataset(
    api: LabelArtsClient, world: World, count: int = DEEP, status: str | None = None
) -> tuple[str, list[str]]:
    ds = api.create_dataset(unique_name("deep"), work_path="/out/deep/", labels=[{"name": "a"}]).dataset_id
    labels = ["a"] if status else []
    ids = [add_sample(world.services, ds, labels, status=status) for _ in range(count)]
    return ds, ids


# --- iterators ---------------------------------------------------------------------------------
def test_iter_samples_walks_every_page_once(api: LabelArtsClient, world: World) -> None:
    ds, ids = deep_dataset(api, world)
    walked = [s.sample_id for s in api.iter_samples(ds)]
    assert sorted(walked) == sorted(ids)
    assert [s.sample_id for s in api.iter_samples(ds, sample_state="MANUAL_ANNOTATION")] == []
    assert list(api.iter_samples(ds, search_conditions=[{"sample_name": "nothing-like-it"}])) == []


def test_labeling_samples_out_of_the_walk_misses_none(api: LabelArtsClient, world: World) -> None:
    """The common script: walk the unlabeled samples and label each; each leaves the list."""
    ds, ids = deep_dataset(api, world)
    walked: list[str] = []
    pending: list[dict[str, Any]] = []
    for sample in api.iter_samples(ds, sample_state="UN_ANNOTATION"):
        walked.append(sample.sample_id)
        pending.append({"sample_id": sample.sample_id, "labels": [{"name": "a"}]})
        if len(pending) == 37:  # not a page's size: the list shrinks mid-page
            api.update_samples(ds, pending)
            pending = []
    api.update_samples_in_batches(ds, pending)
    assert sorted(walked) == sorted(ids) and len(walked) == len(set(walked))
    assert api.list_samples(ds, sample_state="UN_ANNOTATION").sample_count == 0


def test_samples_removed_on_both_sides_of_the_cursor(api: LabelArtsClient, world: World) -> None:
    """Deleting samples already yielded and samples still ahead: none twice, and every sample
    that stayed is yielded."""
    ds, ids = deep_dataset(api, world)
    rng = random.Random(7)
    walked: list[str] = []
    deleted: set[str] = set()
    for n, sample in enumerate(api.iter_samples(ds), start=1):
        walked.append(sample.sample_id)
        if n % 40 == 0:
            alive = [i for i in ids if i not in deleted]
            behind = [i for i in alive if i in set(walked)]
            ahead = [i for i in alive if i not in set(walked)]
            doomed = rng.sample(behind, min(15, len(behind))) + rng.sample(ahead, min(5, len(ahead)))
            api.delete_samples_in_batches(ds, doomed)
            deleted.update(doomed)
    assert len(walked) == len(set(walked)), "a sample was yielded twice"
    stayed = set(ids) - deleted
    assert stayed <= set(walked), f"missed {len(stayed - set(walked))} samples that stayed"
    assert set(walked) <= set(ids)


def test_samples_added_while_walking(api: LabelArtsClient, world: World) -> None:
    """New samples sort after the cursor (oldest first): the walk reaches them, once each."""
    ds, ids = deep_dataset(api, world)
    walked: list[str] = []
    added: list[str] = []
    for n, sample in enumerate(api.iter_samples(ds), start=1):
        walked.append(sample.sample_id)
        if n in (50, 150, 255):
            added += [add_sample(world.services, ds) for _ in range(25)]
    assert len(walked) == len(set(walked))
    assert set(walked) == set(ids) | set(added)


def test_confirming_auto_samples_while_walking(api: LabelArtsClient, world: World) -> None:
    ds, ids = deep_dataset(api, world, status="AUTO_ANNOTATION")
    walked = []
    batch = []
    for sample in api.iter_auto_samples(ds):
        walked.append(sample.sample_id)
        batch.append(sample)
        if len(batch) == 50:
            assert api.confirm_auto_samples(ds, batch) == 50
            batch = []
    api.confirm_auto_samples(ds, batch)
    assert sorted(walked) == sorted(ids)
    assert api.list_auto_samples(ds).sample_count == 0


def test_iter_datasets_and_tasks_lists(api: LabelArtsClient, world: World) -> None:
    tenant_ds = {d.dataset_id for d in api.iter_datasets()}
    assert tenant_ds == {d.dataset_id for d in api.list_datasets(limit=100).datasets} or len(tenant_ds) > 100
    made = {api.create_dataset(unique_name("it"), work_path="/out/it/").dataset_id for _ in range(3)}
    assert made <= {d.dataset_id for d in api.iter_datasets()}


@pytest.mark.parametrize("seed", range(20))
def test_page_walk_against_a_list_that_changes(seed: int) -> None:
    """PageWalk alone, against an in-memory list that loses items before the cursor and gains
    them at the end between page reads: every item that stays is seen, none twice."""
    rng = random.Random(seed)
    items = [f"i{n:04d}" for n in range(rng.randrange(0, 700))]
    original = set(items)
    next_id = len(items)
    removed: set[str] = set()
    seen: list[str] = []
    walk = PageWalk(limit=rng.choice([1, 7, 100]))
    while not walk.done:
        page = items[walk.page * walk.limit : (walk.page + 1) * walk.limit]
        seen += walk.take(page, len(items), lambda i: i)
        if rng.random() < 0.5 and items:  # removals, anywhere
            for victim in rng.sample(items, min(len(items), rng.randrange(1, 30))):
                items.remove(victim)
                removed.add(victim)
        elif rng.random() < 0.5:  # or additions at the end (ascending order)
            for _ in range(rng.randrange(1, 30)):
                items.append(f"i{next_id:04d}")
                next_id += 1
    assert len(seen) == len(set(seen))
    assert original - removed <= set(seen)


# --- bulk helpers ------------------------------------------------------------------------------
def test_bulk_helpers_split_into_accepted_batches(api: LabelArtsClient, world: World) -> None:
    ds = api.create_dataset(unique_name("bulk"), work_path="/out/bulk/", labels=[{"name": "a"}]).dataset_id

    bodies = [{"name": f"{i}.jpg", "data": base64.b64encode(jpeg(i)).decode()} for i in range(230)]
    with pytest.raises(LabelArtsError) as too_many:  # the server's own limit
        api.upload_samples(ds, bodies[:101])
    assert too_many.value.status == 400
    sent: list[int] = []
    results = api.upload_samples_in_batches(ds, bodies, on_batch=sent.append)
    assert sent == [100, 200, 230] and len(results) == 230 and all(r.info for r in results)
    ids = [str(r.info) for r in results]
    updated = api.update_samples_in_batches(ds, [{"sample_id": i, "labels": [{"name": "a"}]} for i in ids])
    assert updated == 230
    assert api.get_dataset_stats(ds).sample_stats["manual_annotation"] == 230
    assert api.delete_samples_in_batches(ds, ids[:150]) == 150
    assert api.list_samples(ds).sample_count == 80


# --- retries -----------------------------------------------------------------------------------
class Script:
    """A loopback HTTP server that answers from a script: each request takes the next answer
    (``(status, headers, body)``, or a number of seconds to stall), the last one repeats."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str, bytes, dict[str, str]]] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                script.requests.append(
                    (self.command, self.path, self.rfile.read(length), dict(self.headers.items()))
                )
                answer = script.answers[min(len(script.requests), len(script.answers)) - 1]
                if isinstance(answer, float):
                    time.sleep(answer)
                    answer = (200, {}, {"success": True})
                status, headers, body = answer
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Script:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


OK_LIST = (200, {}, {"datasets": [], "total_number": 0})
BUSY = {"error_code": "ModelArts.0001", "error_msg": "Busy."}


def waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    found = [re.search(r"again in ([0-9.]+) s", r.getMessage()) for r in caplog.records]
    return [float(m.group(1)) for m in found if m]


def signed_client(url: str, **kwargs: Any) -> LabelArtsClient:
    return LabelArtsClient(url, "p" * 32, access_key="AK", secret_key="SK", **kwargs)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(status: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "labelarts.client")
    answers = [(status, {"Retry-After": "1"}, BUSY), (status, {"Retry-After": "1"}, BUSY), OK_LIST]
    with Script(answers) as server, signed_client(server.url, retry=Retry(backoff=0.01)) as api:
        assert api.list_datasets().total_number == 0
    assert len(server.requests) == 3
    assert waits(caplog) == [1.0, 1.0]  # the server's word, not the 0.01 s backoff
    # Each send is signed anew (a fresh date), not replayed.
    dates = [headers["X-Sdk-Date"] for _m, _p, _b, headers in server.requests]
    assert all(dates)


def test_backoff_without_retry_after_then_give_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "labelarts.client")
    with (
        Script([(503, {}, BUSY)]) as server,
        signed_client(server.url, retry=Retry(attempts=4, backoff=0.01)) as api,
        pytest.raises(LabelArtsError) as raised,
    ):
        api.create_labels("d", [{"name": "x"}])
    assert raised.value.status == 503 and raised.value.error_code == "ModelArts.0001"
    assert len(server.requests) == 4
    # The POST body went out whole every time.
    assert {body for _m, _p, body, _h in server.requests} == {b'{"labels":[{"name":"x"}]}'}
    got = waits(caplog)
    assert len(got) == 3 and all(0.01 * 2**n <= w <= 0.011 * 2**n + 0.001 for n, w in enumerate(got))


def test_retry_after_is_capped_and_may_be_a_date(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "labelarts.client")
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    answers = [(429, {"Retry-After": later}, BUSY), OK_LIST]
    with Script(answers) as server, signed_client(server.url, retry=Retry(max_wait=0.05)) as api:
        api.list_datasets()
    assert waits(caplog) == [0.05]
    assert retry_after("120") == 120.0 and retry_after("soon") is None and retry_after(None) is None
    in_a_minute = retry_after(format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True))
    assert in_a_minute is not None and 50 < in_a_minute <= 60


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 500, 502])
def test_no_retry_on_other_answers(status: int) -> None:
    body = {"error_code": "ModelArts.4xxx", "error_msg": "No."}
    with (
        Script([(status, {"Retry-After": "0", "X-Request-Id": "r-1"}, body)]) as server,
        signed_client(server.url) as api,
        pytest.raises(LabelArtsError) as raised,
    ):
        api.get_dataset("d")
    assert len(server.requests) == 1
    error = raised.value
    assert (error.status, error.error_code, error.error_msg, error.request_id) == (
        status,
        "ModelArts.4xxx",
        "No.",
        "r-1",
    )


def test_a_timeout_is_a_labelarts_error_and_not_retried() -> None:
    with (
        Script([2.0]) as server,
        signed_client(server.url, timeout=0.3) as api,
        pytest.raises(LabelArtsError) as raised,
    ):
        api.list_datasets()
    assert (raised.value.status, raised.value.error_code) == (0, "LabelArts.Timeout")
    assert isinstance(raised.value.__cause__, httpx.TimeoutException)
    assert len(server.requests) == 1


def test_a_refused_connection_is_a_labelarts_error() -> None:
    with Script([OK_LIST]) as server:
        url = server.url
    with signed_client(url) as api, pytest.raises(LabelArtsError) as raised:
        api.list_datasets()
    assert (raised.value.status, raised.value.error_code) == (0, "LabelArts.Connection")


def test_async_client_retries_the_same_way(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "labelarts.client")

    async def run(url: str) -> None:
        async with AsyncLabelArtsClient(url, "p" * 32, token="t", retry=Retry(backoff=0.01)) as api:
            assert (await api.list_datasets()).total_number == 0
            with pytest.raises(LabelArtsError) as raised:
                await api.get_dataset("d")
            assert raised.value.status == 400

    answers = [(429, {"Retry-After": "1"}, BUSY), OK_LIST, (400, {}, BUSY)]
    with Script(answers) as server:
        asyncio.run(run(server.url))
    assert len(server.requests) == 3 and waits(caplog) == [1.0]


# --- waiting -----------------------------------------------------------------------------------
def scripted_task(statuses: list[tuple[Any, float]], key: str = "status") -> list[Any]:
    return [(200, {}, {"task_id": "t1", "dataset_id": "d", key: s, "progress": p}) for s, p in statuses]


@pytest.mark.parametrize(
    ("wait", "answers", "final"),
    [
        pytest.param(
            lambda api, cb: api.wait_for_task("d", "t1", poll=0.01, on_progress=cb),
            scripted_task([(-1, 0.0), (1, 50.0), (3, 100.0)]),
            3,
            id="auto-label",
        ),
        pytest.param(
            lambda api, cb: api.wait_for_import_task("d", "t1", poll=0.01, on_progress=cb),
            scripted_task([("QUEUING", 0.0), ("RUNNING", 0.5), ("COMPLETED", 1.0)]),
            "COMPLETED",
            id="import",
        ),
        pytest.param(
            lambda api, cb: api.wait_for_export_task("d", "t1", poll=0.01, on_progress=cb),
            scripted_task([("INIT", 0.0), ("RUNNING", 50.0), ("SUCCESSED", 100.0)]),
            "SUCCESSED",
            id="export",
        ),
        pytest.param(
            lambda api, cb: api.wait_for_version("d", "v1", poll=0.01, on_progress=cb),
            [
                (200, {}, {"version_id": "v1", "status": s, "progress": p})
                for s, p in [(0, 0.0), (0, 60.0), (1, 100.0)]
            ],
            1,
            id="version",
        ),
        pytest.param(
            lambda api, cb: api.wait_for_sync("d", poll=0.01, on_progress=cb),
            [(200, {}, {"status": s}) for s in ["RUNNING", "RUNNING", "COMPLETED"]],
            "COMPLETED",
            id="sync",
        ),
    ],
)
def test_wait_for_every_kind_reports_progress(
    wait: Callable[[LabelArtsClient, Callable[[Any], None]], Any], answers: list[Any], final: Any
) -> None:
    seen: list[Any] = []
    with Script(answers) as server, signed_client(server.url) as api:
        result = wait(api, seen.append)
    assert result.status == final
    assert [s.status for s in seen] == [a[2]["status"] for a in answers]
