"""Every endpoint of the app has a client method, and every method works against a live server.

``test_every_route_has_a_client_method`` walks the app's route table (its OpenAPI paths, so a
route someone adds later is caught too) and fails for any route that no method of
``LabelArtsClient`` and ``AsyncLabelArtsClient`` declares with ``@endpoint``.
``test_every_method`` calls every method, signed with AK/SK and with a token, records the route
each request reached, and fails unless every declared route was reached and every answer parsed
into its model without an undeclared field.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import BaseModel

from labelarts.client import AsyncLabelArtsClient, LabelArtsClient, LabelArtsError
from labelarts.client._core import endpoints_of
from labelarts.schemas.responses import undeclared_fields
from tests.api import World, add_sample, unique_name
from tests.conftest import PASSWORD, make_tenant
from tests.exports import ExportWorld, world_fixture
from tests.imports import jpeg
from tests.models import colour_classifier
from tests.routes import ROUTES

# Routes that are not part of the API a script calls (docs/client.md, "Coverage").
NOT_CLIENT_ROUTES = {
    ("GET", "/health"),  # the load balancer's liveness probe
    ("GET", "/v3"),  # Keystone version discovery, for keystoneauth
}


M = TypeVar("M", bound=BaseModel)


def route_regex(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$")


API_ROUTES = [(r.method, r.path) for r in ROUTES if (r.method, r.path) not in NOT_CLIENT_ROUTES]
ROUTE_REGEXES = [(method, path, route_regex(path)) for method, path in API_ROUTES]


def route_of(request: httpx.Request) -> tuple[str, str] | None:
    for method, path, regex in ROUTE_REGEXES:
        if request.method == method and regex.match(request.url.path):
            return method, path
    return None


@pytest.mark.parametrize("client_class", [LabelArtsClient, AsyncLabelArtsClient])
def test_every_route_has_a_client_method(client_class: type) -> None:
    table = endpoints_of(client_class)
    missing = sorted(f"{m} {p}" for m, p in API_ROUTES if (m, p) not in table)
    assert not missing, f"routes without a client method (see labelarts/client/_async_client.py): {missing}"
    stale = sorted(f"{m} {p} ({name})" for (m, p), name in table.items() if (m, p) not in API_ROUTES)
    assert not stale, f"client methods declaring routes the app does not have: {stale}"


def test_sync_and_async_clients_have_the_same_methods() -> None:
    def public(cls: type) -> set[str]:
        return {n for n in dir(cls) if not n.startswith("_")} - {"close", "aclose"}

    assert public(LabelArtsClient) == public(AsyncLabelArtsClient)
    assert endpoints_of(LabelArtsClient) == endpoints_of(AsyncLabelArtsClient)


class Recorder:
    """The routes the requests reached, whatever their answer."""

    def __init__(self) -> None:
        self.hit: set[tuple[str, str]] = set()
        self.unknown: list[str] = []

    def note(self, request: httpx.Request) -> None:
        route = route_of(request)
        if route is None:
            self.unknown.append(f"{request.method} {request.url.path}")
        else:
            self.hit.add(route)


class RecordingTransport(httpx.HTTPTransport):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.recorder.note(request)
        return super().handle_request(request)


class AsyncRecordingTransport(httpx.AsyncHTTPTransport):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.recorder.note(request)
        return await super().handle_async_request(request)


world = world_fixture("client")


def credentials(world: World, auth: str) -> dict[str, str]:
    creds = world.alice.creds
    if auth == "aksk":
        return {"access_key": creds.access_key, "secret_key": creds.secret_key}
    return {"token": world.alice.token}


UNDECLARED: list[str] = []


def typed(model: M) -> M:
    """``model``, noting the fields the server sent that its model does not declare (the test
    fails at its end if there are any: labelarts/schemas/responses.py must declare them)."""
    UNDECLARED.extend(f"{type(model).__name__}{path[1:]}" for path in undeclared_fields(model))
    return model


def upload_body(seed: int, label: str | None = None) -> dict[str, Any]:
    sample: dict[str, Any] = {"name": f"s{seed}.jpg", "data": base64.b64encode(jpeg(seed)).decode()}
    if label:
        sample["labels"] = [{"name": label}]
    return sample


def exercise(api: LabelArtsClient, world: ExportWorld) -> None:
    """Call every method of the sync client once (most of them more)."""
    services = world.services
    # --- datasets and labels
    created = api.create_dataset(
        unique_name("every"),
        data_sources=[],
        work_path="/out/every/",
        labels=[{"name": "cat"}, {"name": "dog"}],
    )
    ds = created.dataset_id
    assert created.import_task_id is not None
    typed(api.wait_for_import_task(ds, created.import_task_id, poll=0.05, timeout=60))
    assert typed(api.get_dataset(ds)).dataset_id == ds
    assert ds in {d.dataset_id for d in api.iter_datasets()}
    typed(api.list_datasets(limit=1, with_labels=True))
    assert typed(api.update_dataset(ds, description="every method")).dataset_id == ds
    assert typed(api.create_labels(ds, [{"name": "bird"}])).success
    typed(api.update_labels(ds, [{"name": "bird", "property": {"@modelarts:color": "#123456"}}]))
    api.update_label(ds, "bird", {"@modelarts:color": "#654321"})
    assert [label.name for label in typed(api.list_labels(ds)).labels] == ["cat", "dog", "bird"]
    typed(api.delete_labels(ds, ["bird"]))
    api.create_labels(ds, [{"name": "fish"}])
    api.delete_label_and_samples(ds, "fish")

    # --- samples
    uploaded = typed(api.upload_samples(ds, [upload_body(1, "cat"), upload_body(2)]))
    ids = [r.info for r in uploaded.results]
    assert len(ids) == 2 and all(ids)
    more = api.upload_samples_in_batches(ds, [upload_body(i) for i in range(3, 8)], batch_size=2)
    assert len(more) == 5
    page = typed(api.list_samples(ds, limit=2, order="asc"))
    assert page.sample_count == 7 and len(page.samples) == 2
    assert len(list(api.iter_samples(ds))) == 7
    assert [s.sample_id for s in api.iter_samples(ds, sample_state="MANUAL_ANNOTATION")] == [ids[0]]
    sample = typed(api.get_sample(ds, str(ids[0])))
    assert [label.name for label in sample.labels] == ["cat"]
    out = io.BytesIO()
    assert api.download_sample_file(sample, out) == len(jpeg(1)) == len(out.getvalue())
    typed(api.get_search_conditions(ds))
    assert typed(api.update_samples(ds, [{"sample_id": ids[1], "labels": [{"name": "dog"}]}])).success
    assert api.update_samples_in_batches(ds, [{"sample_id": ids[1], "labels": [{"name": "cat"}]}]) == 1
    assert typed(api.delete_samples(ds, [str(more[0].info)])).success
    assert api.delete_samples_in_batches(ds, [str(r.info) for r in more[1:3]], batch_size=1) == 2
    auto = add_sample(services, ds, ["dog"], status="AUTO_ANNOTATION", with_source=True)
    auto_page = typed(api.list_auto_samples(ds))
    assert [s.sample_id for s in auto_page.samples] == [auto]
    assert typed(api.get_auto_sample(ds, auto)).sample_id == auto
    assert [s.sample_id for s in api.iter_auto_samples(ds)] == [auto]
    assert api.confirm_auto_samples(ds, auto_page.samples) == 1
    with pytest.raises(LabelArtsError) as confirmed:
        api.get_auto_sample(ds, auto)
    assert confirmed.value.status == 404

    # --- imports
    folder = world.imports / unique_name("every")
    (folder / "cat").mkdir(parents=True)
    (folder / "cat" / "x.jpg").write_bytes(jpeg(99))
    task = api.create_import_task(ds, import_path=str(folder))
    done = api.wait_for_import_task(ds, task.task_id, poll=0.05, timeout=60)
    assert done.status == "COMPLETED", done
    assert task.task_id in {t.task_id for t in typed(api.list_import_tasks(ds)).import_tasks}
    assert task.task_id in {t.task_id for t in api.iter_import_tasks(ds)}
    typed(api.get_import_task(ds, task.task_id))

    # --- statistics, metrics, sync
    assert typed(api.get_dataset_stats(ds)).sample_stats["total"] >= 1
    typed(api.get_dataset_metrics(ds, start_time=0, end_time=2**41))
    with pytest.raises(LabelArtsError):  # no data source to sync with
        api.sync_data(ds)
    typed(api.get_sync_status(ds))
    assert api.wait_for_sync(ds, timeout=10).status in ("NOT_EXIST", "COMPLETED", "FAILED")

    # --- auto labeling: too few labeled samples, so refused (auto labeling runs in tests/autolabel)
    with pytest.raises(LabelArtsError) as refused:
        api.start_auto_label(ds)
    assert refused.value.status == 400
    with pytest.raises(LabelArtsError) as refused:
        api.start_auto_label(ds, check_labeled_samples=True)
    assert refused.value.status == 400

    # --- model registry, pre-labeling, auto grouping
    name = unique_name("model")
    model = typed(
        api.import_model(
            name, colour_classifier(), kind="classifier", labels=["red", "blue"], input_size=(16, 16)
        )
    )
    assert model.model_name == name and model.labels == ["red", "blue"] and model.input_size == [16, 16]
    assert typed(api.get_model(model.model_id)).to_dict() == model.to_dict()
    listed = typed(api.list_models(model_name=name))
    assert listed.total_count == 1 and [m.model_id for m in listed.models] == [model.model_id]
    assert [m.model_id for m in api.iter_models(model_name=name)] == [model.model_id]
    with pytest.raises(LabelArtsError) as bad_model:
        api.import_model(name + "x", b"not onnx", kind="classifier", labels=["a"], input_size=(16, 16))
    assert bad_model.value.status == 400
    pre_label = api.start_pre_label(ds, model.model_id)
    assert typed(api.wait_for_task(ds, pre_label, poll=0.05, timeout=120)).task_id == pre_label
    grouping = api.start_auto_grouping(ds, 2, result_type=1, property="group")
    assert typed(api.wait_for_task(ds, grouping, poll=0.05, timeout=120)).task_id == grouping
    api.delete_model(model.model_id)
    with pytest.raises(LabelArtsError) as deleted:
        api.get_model(model.model_id)
    assert deleted.value.status == 404
    assert typed(api.list_tasks(ds)).total_count == 2
    assert {t.task_id for t in api.iter_tasks(ds)} == {pre_label, grouping}
    for call in (api.get_task, api.stop_task):
        with pytest.raises(LabelArtsError) as unknown:
            call(ds, "0" * 32)
        assert unknown.value.status == 404

    # --- versions
    version_id = api.publish_version(ds, version_name="V001")
    version = typed(api.wait_for_version(ds, version_id, poll=0.05, timeout=60))
    assert version.status == 1, version
    assert version_id in {v.version_id for v in typed(api.list_versions(ds)).versions}
    assert version_id in {v.version_id for v in api.iter_versions(ds)}
    typed(api.get_version(ds, version_id))
    manifest = io.BytesIO()
    assert api.download_manifest(ds, version_id, manifest) == len(manifest.getvalue()) > 0
    assert typed(api.list_version_samples(ds, version_id)).sample_count >= 1

    # --- exports
    export_id = api.create_export_task(ds, str(world.exports / unique_name("every")), annotation_format="CSV")
    exported = typed(api.wait_for_export_task(ds, export_id, poll=0.05, timeout=60))
    assert exported.status == "SUCCESSED", exported
    assert [t.task_id for t in typed(api.list_export_tasks(ds)).export_tasks] == [export_id]
    assert [t.task_id for t in api.iter_export_tasks(ds)] == [export_id]
    typed(api.get_export_task(ds, export_id))
    with pytest.raises(LabelArtsError):  # it has ended: nothing to stop
        api.stop_export_task(ds, export_id)

    # --- data processing
    items = typed(api.list_processor_task_items())
    assert items.total == 4 and "sys_data_validation" in {i.template_id for i in items.items}
    inputs = [{"type": "DATASET", "source": ds, "version_id": version_id}]
    validation = {
        "id": "sys_data_validation",
        "operator_params": [{"name": "MetaValidation", "params": {"task_type": "image_classification"}}],
    }
    processing = api.create_processor_task(
        unique_name("proc"), validation, inputs=inputs, description="every", create_version=True
    )
    runs = typed(api.list_processor_task_versions(processing))
    assert runs.count == 1
    run = typed(api.wait_for_processor_task_version(processing, runs.versions[0].task_version_id, poll=0.05))
    assert run.status == 2, run
    assert typed(api.get_processor_task(processing)).version_count == 1
    assert processing in {
        t.task_id for t in typed(api.list_processor_tasks(task_type="sys_data_validation")).tasks
    }
    assert processing in {t.task_id for t in api.iter_processor_tasks()}
    api.update_processor_task(processing, description="changed")
    results = typed(api.list_processor_task_version_results(processing, run.task_version_id, limit=1))
    assert results.count == run.origin_sample_count
    assert (
        len(list(api.iter_processor_task_version_results(processing, run.task_version_id))) == results.count
    )
    original = io.BytesIO()
    assert api.download_processor_result_file(results.results[0], original, new=False) > 0
    with pytest.raises(LabelArtsError):  # it has ended: nothing to stop
        api.stop_processor_task_version(processing, run.task_version_id)
    again = api.create_processor_task_version(processing, description="again")
    typed(api.get_processor_task_version(processing, again))
    api.wait_for_processor_task_version(processing, again, poll=0.05)
    api.delete_processor_task_version(processing, again)
    analysis = api.create_processor_task(
        unique_name("analyse"),
        {
            "id": "sys_data_analyse",
            "operator_params": [{"id": "sys_data_analyse", "params": {"op_list": []}}],
        },
        data_source={"type": "DATASET", "source": ds},
        version_id=version_id,
    )
    analysed = typed(api.wait_for_processor_task(analysis, poll=0.05))
    assert analysed.status == 2 and analysed.result is not None
    api.delete_processor_task(analysis)
    api.delete_processor_task(processing)

    # --- labeling teams and their members (tests/team checks their contracts)
    workforce_id = api.create_workforce(unique_name("team"), description="every method")
    api.update_workforce(workforce_id, description="changed")
    assert typed(api.get_workforce(workforce_id)).description == "changed"
    assert workforce_id in {w.workforce_id for w in typed(api.list_workforces(limit=100)).workforces}
    api.create_workers(workforce_id, ["w1@example.com", "w2@example.com"], 0)
    workers = typed(api.list_workers(workforce_id, sort_by="email", order="asc")).workers
    assert [w.email for w in workers] == ["w1@example.com", "w2@example.com"]
    api.update_worker(workforce_id, workers[0].worker_id, role=1)
    assert typed(api.get_worker(workforce_id, workers[0].worker_id)).role == 1
    assert workers[0].worker_id in {w.worker_id for w in typed(api.list_all_workers(role=1)).workers}
    api.delete_worker(workforce_id, workers[0].worker_id)
    assert typed(api.batch_delete_workers(workforce_id, [workers[1].worker_id])).success
    api.delete_workforce(workforce_id)
    exercise_team_tasks(api)

    api.delete_version(ds, version_id)
    api.delete_dataset(ds)
    with pytest.raises(LabelArtsError) as gone:
        api.get_dataset(ds)
    assert gone.value.status == 404
    assert api.request("GET", "/datasets", params={"limit": 1})["total_number"] >= 0


def exercise_team_tasks(api: LabelArtsClient) -> None:
    """A team task from start to acceptance, every call made by the owner (who may make them
    all; tests/team_tasks checks members, roles and the numbers)."""
    ds = api.create_dataset(
        unique_name("teamds"), work_path="/out/team/", labels=[{"name": "cat"}]
    ).dataset_id
    api.upload_samples(ds, [upload_body(i) for i in (31, 32)])
    workforce_id = api.create_workforce(unique_name("crew"))
    api.create_workers(workforce_id, "l1@example.com", 0)
    api.create_workers(workforce_id, "r1@example.com", 1)
    config = {"workforces": [{"workforce_id": workforce_id}]}
    task_id = api.create_workforce_task(ds, task_name=unique_name("tt"), workforces_config=config)
    assert [t.task_id for t in typed(api.list_workforce_tasks(ds)).tasks] == [task_id]
    api.update_workforce_task(ds, task_id, description="every method")
    assert typed(api.get_workforce_task(ds, task_id, label_stats=True)).description == "every method"
    samples = typed(api.list_workforce_task_samples(ds, task_id, limit=10)).samples
    assert len(samples) == 2 and typed(api.get_workforce_task_sample(ds, task_id, samples[0].sample_id))
    labels = [{"name": "cat", "type": 0}]
    saved = api.update_workforce_task_samples(
        ds, task_id, [{"sample_id": s.sample_id, "labels": labels} for s in samples]
    )
    assert typed(saved).success
    comments = [
        {"sample_id": s.sample_id, "worker_id": s.worker_id, "accept": True, "score": "A"} for s in samples
    ]
    api.review_workforce_task_samples(ds, task_id, comments)
    check_id = api.start_acceptance(ds, task_id, sampling_rate=1.0)
    api.comment_acceptance(
        ds, task_id, [{"sample_id": s.sample_id, "accept": True, "score": "B"} for s in samples]
    )
    report = typed(api.get_acceptance_report(ds, task_id, checking_task_id=check_id))
    assert (report.checking_stats.accepted_sample_count, report.checking_stats.score) == (2, "B")
    stats = typed(api.get_workforce_task_stats(ds, task_id))
    assert stats.sample_stats["total"] == 2
    assert set(stats.to_dict()) == {  # the reference's fields, as the dataset statistics have them
        "sample_stats",
        "key_sample_stats",
        "label_stats",
        "grouped_label_stats",
        "hard_detail_stats",
        "metadata_stats",
        "data_spliting_enable",
        "data_path",
    }
    assert typed(api.get_workforce_task_metrics(ds, task_id)).sample_stats["l1@example.com"]["total"] == 2
    assert typed(api.list_worker_tasks()).count == 0  # the owner is no team's member
    mailed = typed(api.notify_workforce_task_members(ds, task_id, ["l1@example.com", "nobody@example.com"]))
    assert [r.success for r in mailed.results] == [True, False] and not mailed.success
    assert typed(api.close_acceptance(ds, task_id, 3)).sample_count == 0
    api.close_acceptance(ds, task_id, 0)
    done = typed(api.get_workforce_task(ds, task_id))
    assert done.status == 3 and done.checking_task_desc is not None
    assert {len(s.labels) for s in api.list_samples(ds).samples} == {1}
    report = typed(api.get_workforce_task_agreement(ds, task_id))  # LabelArts extension
    assert report.repetition == 1 and [m.email for m in report.members] == ["l1@example.com"]
    later = api.create_workforce_task(ds, task_name=unique_name("tt"))
    gold = [{"sample_id": samples[0].sample_id, "labels": labels}]
    assert typed(api.set_gold_samples(ds, later, gold)).gold_sample_count == 1
    assert [g.sample_id for g in typed(api.list_gold_samples(ds, later)).samples] == [samples[0].sample_id]
    api.start_workforce_task(ds, later, workforces_config=config)
    api.delete_workforce_task(ds, later)
    api.delete_dataset(ds)


def exercise_iam(world: World, transport: httpx.BaseTransport) -> None:
    """Log in, inspect and revoke a token, change a password: a user of its own."""
    tenant = make_tenant(world.server, unique_name("iam"), world.alice.project_id)
    tenant.aksk.close()
    tenant.token_client.close()
    with LabelArtsClient(world.server.url, tenant.project_id, transport=transport) as api:
        token = api.login(tenant.creds.user, PASSWORD)
        info = typed(api.get_token_info(token))
        assert info.token["project"]["id"] == tenant.project_id
        api.revoke_token(token)
        with pytest.raises(LabelArtsError) as revoked:
            api.list_datasets()
        assert revoked.value.status == 401
        user_id = info.token["user"]["id"]
        api.change_password(user_id, original_password=PASSWORD, password=PASSWORD + "-2")
        api.login(tenant.creds.user, PASSWORD + "-2")
        assert api.list_datasets().total_number >= 0


@pytest.mark.parametrize("auth", ["aksk", "token"])
def test_every_method(world: ExportWorld, auth: str) -> None:
    recorder = Recorder()
    transport = RecordingTransport(recorder)
    UNDECLARED.clear()
    with LabelArtsClient(
        world.server.url, world.alice.project_id, transport=transport, **credentials(world, auth)
    ) as api:
        exercise(api, world)
    exercise_iam(world, transport)
    assert recorder.unknown == []
    assert sorted(set(UNDECLARED)) == []
    declared = set(endpoints_of(LabelArtsClient))
    assert sorted(declared - recorder.hit) == []


@pytest.mark.parametrize("auth", ["aksk", "token"])
def test_async_client_parity(world: World, auth: str) -> None:
    """The async client answers as the sync one does, and runs calls concurrently."""

    async def scenario() -> None:
        recorder = Recorder()
        async with AsyncLabelArtsClient(
            world.server.url,
            world.alice.project_id,
            transport=AsyncRecordingTransport(recorder),
            **credentials(world, auth),
        ) as api:
            created = await api.create_dataset(
                unique_name("async"), work_path="/out/a/", labels=[{"name": "a"}]
            )
            ds = created.dataset_id
            await api.upload_samples_in_batches(ds, [upload_body(i, "a") for i in range(5)], batch_size=2)
            details, labels, page = await asyncio.gather(
                api.get_dataset(ds), api.list_labels(ds), api.list_samples(ds, limit=2)
            )
            assert (details.dataset_id, [x.name for x in labels.labels], page.sample_count) == (ds, ["a"], 5)
            walked = [s.sample_id async for s in api.iter_samples(ds)]
            assert len(set(walked)) == 5
            with pytest.raises(LabelArtsError) as missing:
                await api.get_sample(ds, "0" * 32)
            assert missing.value.status == 404
            version_id = await api.publish_version(ds)
            assert (await api.wait_for_version(ds, version_id, poll=0.05, timeout=60)).status == 1
            out = io.BytesIO()
            assert await api.download_manifest(ds, version_id, out) > 0
            await api.delete_dataset(ds)
        assert recorder.unknown == [] and len(recorder.hit) >= 8

        with LabelArtsClient(world.server.url, world.alice.project_id, **credentials(world, auth)) as sync:
            async with AsyncLabelArtsClient(
                world.server.url, world.alice.project_id, **credentials(world, auth)
            ) as api:
                ds = sync.create_dataset(unique_name("same"), work_path="/out/s/").dataset_id
                assert (await api.get_dataset(ds)).model_dump(
                    exclude={"status", "exist_running_task", "running_tasks_id"}
                ) == sync.get_dataset(ds).model_dump(
                    exclude={"status", "exist_running_task", "running_tasks_id"}
                )
                sync.delete_dataset(ds)

    asyncio.run(scenario())
