# Generated from labelarts/client/_async_client.py by scripts/unasync.py: do not edit.
# Change the async client and run `python scripts/unasync.py`.
# ruff: noqa: UP028 (`async for ...: yield` has no `yield from`; its sync twin keeps the loop)
"""``LabelArtsClient``: every LabelArts endpoint as a typed method.

This file is the one implementation of the client. ``_client.py`` (``LabelArtsClient``, the
sync client) is generated from it by ``scripts/unasync.py`` (as httpcore does): ``def``
becomes ``def``, ``await`` goes, ``httpx.Client`` becomes ``httpx.Client``... Never edit
``_client.py``; tests/client/test_unasync.py fails when it is not up to date.

How to add a client method (one per endpoint, in the same change as the endpoint):

1. Response model: add (or reuse) a ``WireModel`` in ``labelarts/schemas/responses.py``
   declaring every field the endpoint answers (tests/client fails on an undeclared field).
2. Method: here, in the section of its resource, decorated with the route exactly as the app
   declares it::

       @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/things/{thing_id}")
       def get_thing(self, dataset_id: str, thing_id: str, *, detail: bool | None = None) -> Thing:
           \"\"\"One line saying what it returns; the contract the caller relies on.\"\"\"
           return self._get(Thing, f"/datasets/{dataset_id}/things/{q(thing_id)}", detail=detail)

   Parameters use the reference's names; query parameters and body fields are keyword-only and
   default to None (left out of the request). Request bodies reuse the request models of
   ``labelarts/schemas`` for nested objects (``LabelIn``, ``UpdateSampleIn``...), accepting
   dicts too. Paged lists get an ``iter_*`` walking them (:meth:`_walk`); background work a
   ``wait_for_*`` (:meth:`_wait`).
3. ``python scripts/unasync.py`` regenerates the sync client; ``python scripts/client_docs.py``
   regenerates docs/client.md.
4. Call it in tests/client/test_endpoints.py (the route-table test fails until a method
   declares the route, and the coverage test until a test calls it).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import IO, Any, Literal

import httpx

from labelarts.client._auth import SdkHmacAuth, TokenAuth
from labelarts.client._core import (
    DELETE_BATCH,
    FINAL_EXPORT_STATUSES,
    FINAL_IMPORT_STATUSES,
    FINAL_SYNC_STATUSES,
    FINAL_TASK_STATUSES,
    PAGE_SIZE,
    TASK_FAILED,
    TASK_STOPPED,
    TASK_SUCCEEDED,
    UPDATE_BATCH,
    UPLOAD_BATCH,
    VERSION_CREATING,
    VERSION_ERROR,
    VERSION_NORMAL,
    LabelArtsError,
    M,
    PageWalk,
    Poll,
    Retry,
    batches,
    body,
    endpoint,
    error_from_response,
    error_from_transport,
    parse,
    q,
    query,
    wire,
)
from labelarts.schemas.common import LabelIn
from labelarts.schemas.datasets import DataSourceIn, LabelFormatIn, SchemaFieldIn
from labelarts.schemas.exports import ExportParamsIn
from labelarts.schemas.processing import ProcessorDataSource, TemplateParam, WorkPath
from labelarts.schemas.responses import (
    AgreementReport,
    BatchResults,
    CheckReport,
    Dataset,
    DatasetCreated,
    DatasetList,
    DatasetMetrics,
    DatasetStats,
    DatasetUpdated,
    ExportTask,
    ExportTaskList,
    GoldSampleList,
    GoldSamplesSet,
    ImportTask,
    ImportTaskList,
    LabelList,
    Model,
    ModelList,
    ProcessorResult,
    ProcessorResultList,
    ProcessorTask,
    ProcessorTaskItems,
    ProcessorTaskList,
    ProcessorTaskVersion,
    ProcessorTaskVersionCreated,
    ProcessorTaskVersionList,
    Sample,
    SampleList,
    SamplesUploaded,
    SearchConditions,
    Success,
    SyncStatus,
    Task,
    TaskCreated,
    TaskList,
    TokenInfo,
    UploadResult,
    Version,
    VersionCreated,
    VersionList,
    Worker,
    WorkerList,
    WorkerTaskList,
    Workforce,
    WorkforceCreated,
    WorkforceList,
    WorkforceTask,
    WorkforceTaskList,
    WorkforceTaskMetrics,
    WorkforceTaskStats,
)
from labelarts.schemas.samples import UpdateSampleIn, UploadSampleIn
from labelarts.schemas.tasks import SmartTaskConfig
from labelarts.schemas.team_tasks import SampleCommentIn, WorkforcesConfigIn

__all__ = [
    "FINAL_TASK_STATUSES",
    "TASK_FAILED",
    "TASK_STOPPED",
    "TASK_SUCCEEDED",
    "VERSION_CREATING",
    "VERSION_ERROR",
    "VERSION_NORMAL",
    "LabelArtsClient",
    "LabelArtsError",
    "Retry",
]

logger = logging.getLogger("labelarts.client")

Labels = Sequence[LabelIn | Mapping[str, Any]]
SearchConditionsArg = Sequence[Mapping[str, Any]] | str
Progress = Callable[[Any], None]


class LabelArtsClient:
    """Talks to one project of a LabelArts (or ModelArts) endpoint.

    Authenticate with ``access_key``/``secret_key`` (``SDK-HMAC-SHA256`` request signing) or
    ``token`` (an IAM token, ``X-Auth-Token``); or call :meth:`login` with a user name and
    password to get a token. ``timeout`` (seconds, or an ``httpx.Timeout``) bounds every
    request; ``retry`` says when to resend (:class:`Retry`: 429 and 503 only, honouring
    ``Retry-After``). Every failure is a :class:`LabelArtsError`.
    """

    def __init__(
        self,
        endpoint: str,
        project_id: str,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        token: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: Retry | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        auth: httpx.Auth | None = None
        if access_key and secret_key:
            auth = SdkHmacAuth(access_key, secret_key, project_id)
        elif token:
            auth = TokenAuth(token)
        self.project_id = project_id
        self.retry = retry if retry is not None else Retry()
        self._http = httpx.Client(
            base_url=endpoint.rstrip("/"), auth=auth, timeout=timeout, transport=transport
        )

    # --- plumbing ------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connections; the client refuses requests from then on (``with`` closes it)."""
        self._http.close()

    def __enter__(self) -> LabelArtsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(
        self, request: httpx.Request, *, stream: bool = False, auth: httpx.Auth | None = None
    ) -> httpx.Response:
        """Send ``request``, resending it as :attr:`retry` allows; a LabelArtsError for an error
        answer or a transport failure. A streamed response is returned unread. ``auth``
        replaces the client's authentication for this request."""
        sent = 0
        while True:
            try:
                if auth is None:
                    response = self._http.send(request, stream=stream)
                else:
                    response = self._http.send(request, stream=stream, auth=auth)
            except httpx.TransportError as exc:
                raise error_from_transport(exc, request) from exc
            sent += 1
            wait = self.retry.wait(response, sent)
            if wait is None:
                break
            response.close()
            logger.info(
                "%s %s answered %s; sending again in %.2f s (send %d of %d)",
                request.method,
                request.url.path,
                response.status_code,
                wait,
                sent + 1,
                self.retry.attempts,
            )
            time.sleep(wait)
        if not response.is_success:
            response.read()
            response.close()
            raise error_from_response(response)
        return response

    def _build(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        """A request to ``/v2/{project_id}{path}`` (or ``path`` itself when it starts at ``/v3``
        or ``/files``)."""
        url = path if path.startswith(("/v3", "/files", "http")) else f"/v2/{self.project_id}{path}"
        return self._http.build_request(method, url, params=params, json=json, headers=headers)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self._send(self._build(method, path, params=params, json=json, headers=headers))

    def _get(self, model: type[M], path: str, **params: Any) -> M:
        return parse(model, self._call("GET", path, params=query(**params)))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call ``/v2/{project_id}{path}`` (``kwargs`` as httpx takes them) and return the
        decoded JSON (None for an empty answer): for what no method covers yet."""
        request = self._http.build_request(method, f"/v2/{self.project_id}{path}", **kwargs)
        response = self._send(request)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _walk(self, fetch: Callable[[int, int], Any], items: str, total: str, key: str) -> Iterator[Any]:
        """Yield the items of a page-numbered list to its end (:class:`PageWalk` says what is
        guaranteed): ``fetch(offset, limit)`` reads one page, whose ``items`` attribute holds
        the page and ``total`` the list's length; items are told apart by ``key``."""
        walk = PageWalk(PAGE_SIZE)
        while not walk.done:
            page = fetch(walk.page, walk.limit)
            for item in walk.take(getattr(page, items), getattr(page, total), lambda i: getattr(i, key)):
                yield item

    def _wait(
        self,
        fetch: Callable[[], M],
        ended: Callable[[M], bool],
        what: str,
        *,
        timeout: float | None,
        poll: float,
        on_progress: Callable[[M], None] | None,
    ) -> M:
        """Fetch until ``ended`` says so and return the last answer; every answer goes to
        ``on_progress``, the last included. TimeoutError after ``timeout`` seconds (the work
        itself goes on)."""
        clock = Poll(what, timeout, poll)
        while True:
            current = fetch()
            if on_progress is not None:
                on_progress(current)
            if ended(current):
                return current
            time.sleep(clock.next_sleep())

    # --- IAM -----------------------------------------------------------------------------
    @endpoint("POST", "/v3/auth/tokens")
    def login(self, user: str, password: str, *, domain: str = "Default") -> str:
        """Get an IAM token for the client's project with a password and use it from now on."""
        payload = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": user, "password": password, "domain": {"name": domain}}},
                },
                "scope": {"project": {"id": self.project_id}},
            }
        }
        # httpx.Auth() sends the request as is: a password login is neither signed nor token-bearing.
        response = self._send(self._build("POST", "/v3/auth/tokens", json=payload), auth=httpx.Auth())
        token = response.headers["X-Subject-Token"]
        self._http.auth = TokenAuth(token)
        return token

    @endpoint("GET", "/v3/auth/tokens")
    def get_token_info(self, token: str) -> TokenInfo:
        """Validate ``token`` (one of the caller's own) and describe it (expiry, user, project)."""
        response = self._call("GET", "/v3/auth/tokens", headers={"X-Subject-Token": token})
        return parse(TokenInfo, response)

    @endpoint("DELETE", "/v3/auth/tokens")
    def revoke_token(self, token: str) -> None:
        """Revoke ``token`` (one of the caller's own); it is refused from then on."""
        self._call("DELETE", "/v3/auth/tokens", headers={"X-Subject-Token": token})

    @endpoint("POST", "/v3/users/{user_id}/password")
    def change_password(self, user_id: str, *, original_password: str, password: str) -> None:
        """Replace a user's password (no token needed; the user's tokens are revoked)."""
        payload = {"user": {"original_password": original_password, "password": password}}
        request = self._build("POST", f"/v3/users/{q(user_id)}/password", json=payload)
        self._send(request, auth=httpx.Auth())

    # --- datasets ------------------------------------------------------------------------
    @endpoint("GET", "/v2/{project_id}/datasets")
    def list_datasets(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        sort_by: Literal["create_time", "dataset_name"] | None = None,
        dataset_type: int | None = None,
        search_content: str | None = None,
        with_labels: bool | None = None,
        support_export: bool | None = None,
        workspace_id: str | None = None,
    ) -> DatasetList:
        """One page of datasets (``offset`` is a page number, ``limit`` 1-100); ``total_number``
        counts every match."""
        return self._get(
            DatasetList,
            "/datasets",
            limit=limit,
            offset=offset,
            order=order,
            sort_by=sort_by,
            dataset_type=dataset_type,
            search_content=search_content,
            with_labels=with_labels,
            support_export=support_export,
            workspace_id=workspace_id,
        )

    def iter_datasets(
        self,
        *,
        dataset_type: int | None = None,
        search_content: str | None = None,
        with_labels: bool | None = None,
        workspace_id: str | None = None,
    ) -> Iterator[Dataset]:
        """Every matching dataset, oldest first (see "Iterators" in docs/client.md)."""

        def page(offset: int, limit: int) -> DatasetList:
            return self.list_datasets(
                limit=limit,
                offset=offset,
                order="asc",
                dataset_type=dataset_type,
                search_content=search_content,
                with_labels=with_labels,
                workspace_id=workspace_id,
            )

        for dataset in self._walk(page, "datasets", "total_number", "dataset_id"):
            yield dataset

    @endpoint("POST", "/v2/{project_id}/datasets")
    def create_dataset(
        self,
        dataset_name: str,
        *,
        data_sources: Sequence[DataSourceIn | Mapping[str, Any]] = (),
        work_path: str,
        work_path_type: int | None = None,
        dataset_type: int | None = None,
        data_format: str | None = None,
        description: str | None = None,
        import_annotations: bool | None = None,
        import_data: bool | None = None,
        label_format: LabelFormatIn | Mapping[str, Any] | None = None,
        labels: Labels | None = None,
        managed: bool | None = None,
        schema: Sequence[SchemaFieldIn | Mapping[str, Any]] | None = None,
        workspace_id: str | None = None,
    ) -> DatasetCreated:
        """Create a dataset; its ``dataset_id`` and the ``import_task_id`` of the initial import
        of ``data_sources`` (follow it with ``wait_for_task(..., kind="import")``)."""
        payload = body(
            dataset_name=dataset_name,
            data_sources=list(data_sources),
            work_path=work_path,
            work_path_type=work_path_type,
            dataset_type=dataset_type,
            data_format=data_format,
            description=description,
            import_annotations=import_annotations,
            import_data=import_data,
            label_format=label_format,
            labels=labels,
            managed=managed,
            schema=schema,
            workspace_id=workspace_id,
        )
        return parse(DatasetCreated, self._call("POST", "/datasets", json=payload))

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}")
    def get_dataset(self, dataset_id: str) -> Dataset:
        """The dataset's details, its labels included."""
        return self._get(Dataset, f"/datasets/{q(dataset_id)}")

    @endpoint("PUT", "/v2/{project_id}/datasets/{dataset_id}")
    def update_dataset(
        self,
        dataset_id: str,
        *,
        dataset_name: str | None = None,
        description: str | None = None,
        current_version_id: str | None = None,
        add_labels: Labels | None = None,
        delete_labels: Labels | None = None,
        update_labels: Labels | None = None,
    ) -> DatasetUpdated:
        """Rename, describe, set the current version or change labels (fields left None stay)."""
        payload = body(
            dataset_name=dataset_name,
            description=description,
            current_version_id=current_version_id,
            add_labels=add_labels,
            delete_labels=delete_labels,
            update_labels=update_labels,
        )
        return parse(DatasetUpdated, self._call("PUT", f"/datasets/{q(dataset_id)}", json=payload))

    @endpoint("DELETE", "/v2/{project_id}/datasets/{dataset_id}")
    def delete_dataset(self, dataset_id: str) -> None:
        """Delete the dataset, its samples, labels, versions and tasks (not exported files)."""
        self._call("DELETE", f"/datasets/{q(dataset_id)}")

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/stats")
    def get_dataset_stats(self, dataset_id: str) -> DatasetStats:
        """Label and sample counts of the dataset."""
        return self._get(DatasetStats, f"/datasets/{q(dataset_id)}/data-annotations/stats")

    # --- data-source sync and monitoring ---------------------------------------------------
    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/sync-data")
    def sync_data(self, dataset_id: str) -> TaskCreated:
        """Start a sync of the dataset with its data source (follow it with :meth:`wait_for_sync`)."""
        return parse(TaskCreated, self._call("POST", f"/datasets/{q(dataset_id)}/sync-data"))

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/sync-data/status")
    def get_sync_status(self, dataset_id: str) -> SyncStatus:
        """The latest sync's status and counts (``status`` ``NOT_EXIST`` if none ran)."""
        return self._get(SyncStatus, f"/datasets/{q(dataset_id)}/sync-data/status")

    def wait_for_sync(
        self,
        dataset_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[SyncStatus], None] | None = None,
    ) -> SyncStatus:
        """Poll the sync status until it is COMPLETED, FAILED or NOT_EXIST and return it;
        TimeoutError after ``timeout`` seconds (the sync keeps running)."""
        return self._wait(
            lambda: self.get_sync_status(dataset_id),
            lambda status: status.status in FINAL_SYNC_STATUSES,
            f"the sync of dataset {dataset_id}",
            timeout=timeout,
            poll=poll,
            on_progress=on_progress,
        )

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/metrics")
    def get_dataset_metrics(
        self, dataset_id: str, *, start_time: int, end_time: int, workforce_task_id: str | None = None
    ) -> DatasetMetrics:
        """``metrics``: each series' values by epoch ms between the two times (epoch ms)."""
        return self._get(
            DatasetMetrics,
            f"/datasets/{q(dataset_id)}/metrics",
            start_time=start_time,
            end_time=end_time,
            workforce_task_id=workforce_task_id,
        )

    # --- labels --------------------------------------------------------------------------
    @staticmethod
    def _labels_path(dataset_id: str) -> str:
        return f"/datasets/{q(dataset_id)}/data-annotations/labels"

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels")
    def list_labels(
        self,
        dataset_id: str,
        *,
        version_id: str | None = None,
        offset: int | None = None,
        limit: int | None = None,
    ) -> LabelList:
        """The dataset's labels (all of them unless ``limit`` is given)."""
        return self._get(
            LabelList, self._labels_path(dataset_id), version_id=version_id, offset=offset, limit=limit
        )

    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels")
    def create_labels(self, dataset_id: str, labels: Labels) -> Success:
        """Add labels (all or none)."""
        payload = body(labels=labels)
        return parse(Success, self._call("POST", self._labels_path(dataset_id), json=payload))

    @endpoint("PUT", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels")
    def update_labels(self, dataset_id: str, labels: Labels) -> Success:
        """Change labels' properties; ``property["@modelarts:rename_to"]`` renames one."""
        payload = body(labels=labels)
        return parse(Success, self._call("PUT", self._labels_path(dataset_id), json=payload))

    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels/delete")
    def delete_labels(
        self, dataset_id: str, names: Sequence[str | LabelIn | Mapping[str, Any]], *, delete_policy: int = 0
    ) -> Success:
        """Delete labels by name. ``delete_policy`` 0: the labels only; 1: also the samples
        carrying only them; 2: also those samples' source files."""
        labels = [{"name": n} if isinstance(n, str) else n for n in names]
        return parse(
            Success,
            self._call(
                "POST",
                f"{self._labels_path(dataset_id)}/delete",
                params=query(delete_policy=delete_policy),
                json=body(labels=labels),
            ),
        )

    @endpoint("PUT", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels/{label_name}")
    def update_label(
        self, dataset_id: str, name: str, properties: Mapping[str, Any], *, label_type: int | None = None
    ) -> None:
        """Replace one label's property map (e.g. ``{"@modelarts:color": "#93c47d"}``)."""
        self._call(
            "PUT",
            f"{self._labels_path(dataset_id)}/{q(name)}",
            params=query(label_type=label_type),
            json=dict(properties),
        )

    @endpoint("DELETE", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels/{label_name}")
    def delete_label_and_samples(
        self, dataset_id: str, name: str, *, label_type: int | None = None, delete_source: bool = False
    ) -> None:
        """Delete a label and the samples that carry only it (``delete_source``: their files too)."""
        self._call(
            "DELETE",
            f"{self._labels_path(dataset_id)}/{q(name)}",
            params=query(label_type=label_type, delete_source=delete_source),
        )

    # --- samples -------------------------------------------------------------------------
    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples")
    def list_samples(
        self,
        dataset_id: str,
        *,
        limit: int | None = None,
        offset: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        sample_state: str | None = None,
        sample_type: int | None = None,
        label_name: str | None = None,
        label_type: int | None = None,
        low_score: float | str | None = None,
        high_score: float | str | None = None,
        search_conditions: SearchConditionsArg | None = None,
        process_parameter: str | None = None,
        preview: bool | None = None,
        version_id: str | None = None,
        email: str | None = None,
        locale: str | None = None,
    ) -> SampleList:
        """One page of samples (``offset`` is a page number, ``limit`` 1-100); ``sample_count``
        counts every match. ``sample_state``: ``ALL``, ``UN_ANNOTATION``, ``MANUAL_ANNOTATION``,
        ``AUTO_ANNOTATION``...; ``search_conditions``: a list of condition objects (sent as
        JSON); ``version_id``: the samples a version froze."""
        return self._get(
            SampleList,
            f"/datasets/{q(dataset_id)}/data-annotations/samples",
            limit=limit,
            offset=offset,
            order=order,
            sample_state=sample_state,
            sample_type=sample_type,
            label_name=label_name,
            label_type=label_type,
            low_score=low_score,
            high_score=high_score,
            search_conditions=search_conditions,
            process_parameter=process_parameter,
            preview=preview,
            version_id=version_id,
            email=email,
            locale=locale,
        )

    def iter_samples(
        self,
        dataset_id: str,
        *,
        sample_state: str | None = None,
        sample_type: int | None = None,
        label_name: str | None = None,
        label_type: int | None = None,
        low_score: float | str | None = None,
        high_score: float | str | None = None,
        search_conditions: SearchConditionsArg | None = None,
        version_id: str | None = None,
        email: str | None = None,
    ) -> Iterator[Sample]:
        """Every matching sample, oldest first, read 100 at a time (see "Iterators" in
        docs/client.md: none twice; none present throughout missed when samples are only added
        or only removed meanwhile, e.g. labeled out of an ``UN_ANNOTATION`` walk)."""

        def page(offset: int, limit: int) -> SampleList:
            return self.list_samples(
                dataset_id,
                limit=limit,
                offset=offset,
                order="asc",
                sample_state=sample_state,
                sample_type=sample_type,
                label_name=label_name,
                label_type=label_type,
                low_score=low_score,
                high_score=high_score,
                search_conditions=search_conditions,
                version_id=version_id,
                email=email,
            )

        for sample in self._walk(page, "samples", "sample_count", "sample_id"):
            yield sample

    def list_version_samples(
        self, dataset_id: str, version_id: str, *, limit: int | None = None, offset: int | None = None
    ) -> SampleList:
        """One page of the samples a version froze (:meth:`list_samples` with ``version_id``)."""
        return self.list_samples(dataset_id, version_id=version_id, limit=limit, offset=offset)

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples/{sample_id}")
    def get_sample(
        self,
        dataset_id: str,
        sample_id: str,
        *,
        email: str | None = None,
        process_parameter: str | None = None,
    ) -> Sample:
        """One sample with its labels and a pre-signed ``source`` URL of its file."""
        return self._get(
            Sample,
            f"/datasets/{q(dataset_id)}/data-annotations/samples/{q(sample_id)}",
            email=email,
            process_parameter=process_parameter,
        )

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/auto-annotations/samples")
    def list_auto_samples(
        self,
        dataset_id: str,
        *,
        limit: int | None = None,
        offset: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        label_name: str | None = None,
        label_type: int | None = None,
        low_score: float | str | None = None,
        high_score: float | str | None = None,
        search_conditions: SearchConditionsArg | None = None,
        process_parameter: str | None = None,
    ) -> SampleList:
        """One page of auto-labeled samples waiting for confirmation (``offset`` is a page
        number); ``search_conditions`` as in :meth:`list_samples`."""
        return self._get(
            SampleList,
            f"/datasets/{q(dataset_id)}/auto-annotations/samples",
            limit=limit,
            offset=offset,
            order=order,
            label_name=label_name,
            label_type=label_type,
            low_score=low_score,
            high_score=high_score,
            search_conditions=search_conditions,
            process_parameter=process_parameter,
        )

    def iter_auto_samples(
        self,
        dataset_id: str,
        *,
        label_name: str | None = None,
        label_type: int | None = None,
        low_score: float | str | None = None,
        high_score: float | str | None = None,
        search_conditions: SearchConditionsArg | None = None,
    ) -> Iterator[Sample]:
        """Every auto-labeled sample waiting for confirmation, oldest first; confirming or
        rejecting them while iterating is safe (see "Iterators" in docs/client.md)."""

        def page(offset: int, limit: int) -> SampleList:
            return self.list_auto_samples(
                dataset_id,
                limit=limit,
                offset=offset,
                order="asc",
                label_name=label_name,
                label_type=label_type,
                low_score=low_score,
                high_score=high_score,
                search_conditions=search_conditions,
            )

        for sample in self._walk(page, "samples", "sample_count", "sample_id"):
            yield sample

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/auto-annotations/samples/{sample_id}")
    def get_auto_sample(
        self, dataset_id: str, sample_id: str, *, process_parameter: str | None = None
    ) -> Sample:
        """One auto-labeled sample waiting for confirmation (404 once it is confirmed)."""
        return self._get(
            Sample,
            f"/datasets/{q(dataset_id)}/auto-annotations/samples/{q(sample_id)}",
            process_parameter=process_parameter,
        )

    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples")
    def upload_samples(
        self,
        dataset_id: str,
        samples: Sequence[UploadSampleIn | Mapping[str, Any]],
        *,
        final_annotation: bool | None = None,
        label_format: LabelFormatIn | Mapping[str, Any] | None = None,
    ) -> SamplesUploaded:
        """Add samples in one transaction (at most 100; :meth:`upload_samples_in_batches` for
        more); ``results[i].info`` is the new id of ``samples[i]``. A sample carries its file
        base64-encoded in ``data``."""
        payload = body(samples=list(samples), final_annotation=final_annotation, label_format=label_format)
        path = f"/datasets/{q(dataset_id)}/data-annotations/samples"
        return parse(SamplesUploaded, self._call("POST", path, json=payload))

    def upload_samples_in_batches(
        self,
        dataset_id: str,
        samples: Sequence[UploadSampleIn | Mapping[str, Any]],
        *,
        final_annotation: bool | None = None,
        batch_size: int = UPLOAD_BATCH,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[UploadResult]:
        """:meth:`upload_samples` for any number of samples, ``batch_size`` at a time; one
        result per sample, in order. Each batch is all or none: on an error the batches before
        it stay added (``on_batch`` got the count of samples sent so far after each)."""
        results: list[UploadResult] = []
        for batch in batches(samples, batch_size):
            answer = self.upload_samples(dataset_id, batch, final_annotation=final_annotation)
            results += answer.results
            if on_batch is not None:
                on_batch(len(results))
        return results

    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples/delete")
    def delete_samples(
        self, dataset_id: str, sample_ids: Sequence[str], *, delete_source: bool | None = None
    ) -> Success:
        """Delete samples (at most 100, all or none; :meth:`delete_samples_in_batches` for
        more); ``delete_source`` also deletes their files."""
        payload = body(samples=list(sample_ids), delete_source=delete_source)
        path = f"/datasets/{q(dataset_id)}/data-annotations/samples/delete"
        return parse(Success, self._call("POST", path, json=payload))

    def delete_samples_in_batches(
        self,
        dataset_id: str,
        sample_ids: Sequence[str],
        *,
        delete_source: bool | None = None,
        batch_size: int = DELETE_BATCH,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """:meth:`delete_samples` for any number of ids, ``batch_size`` at a time; the number
        deleted. On an error the batches before it stay deleted."""
        done = 0
        for batch in batches(sample_ids, batch_size):
            self.delete_samples(dataset_id, batch, delete_source=delete_source)
            done += len(batch)
            if on_batch is not None:
                on_batch(done)
        return done

    @endpoint("PUT", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples")
    def update_samples(
        self,
        dataset_id: str,
        samples: Sequence[UpdateSampleIn | Mapping[str, Any]],
        *,
        email: str | None = None,
    ) -> Success:
        """Replace the labels of samples (``sample_id``, ``labels``, ``metadata``; at most 100),
        all or none. A sample given labels becomes manually labeled: putting an auto label
        back confirms it; empty ``labels`` makes it unlabeled."""
        payload = body(samples=list(samples), email=email)
        path = f"/datasets/{q(dataset_id)}/data-annotations/samples"
        return parse(Success, self._call("PUT", path, json=payload))

    def update_samples_in_batches(
        self,
        dataset_id: str,
        samples: Sequence[UpdateSampleIn | Mapping[str, Any]],
        *,
        email: str | None = None,
        batch_size: int = UPDATE_BATCH,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """:meth:`update_samples` for any number of samples, ``batch_size`` at a time; the
        number updated. On an error the batches before it stay applied."""
        done = 0
        for batch in batches(samples, batch_size):
            self.update_samples(dataset_id, batch, email=email)
            done += len(batch)
            if on_batch is not None:
                on_batch(done)
        return done

    def confirm_auto_samples(
        self, dataset_id: str, samples: Sequence[Sample], *, on_batch: Callable[[int], None] | None = None
    ) -> int:
        """Confirm auto labels as they are (each sample's labels put back), in batches; the
        number confirmed."""
        updates = [
            {"sample_id": s.sample_id, "labels": [label.to_dict() for label in s.labels]} for s in samples
        ]
        return self.update_samples_in_batches(dataset_id, updates, on_batch=on_batch)

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/search-condition")
    def get_search_conditions(self, dataset_id: str) -> SearchConditions:
        """What samples can be searched by (labels, labelers, metadata values present)."""
        return self._get(SearchConditions, f"/datasets/{q(dataset_id)}/data-annotations/search-condition")

    @endpoint("GET", "/files/{project_id}/{dataset_id}/{sample_id}")
    def download_sample_file(self, sample: Sample | str, out: IO[bytes]) -> int:
        """Write a sample's file (from its pre-signed ``source`` URL) to ``out`` as it streams;
        the bytes written."""
        url = sample if isinstance(sample, str) else sample.source
        if not url:
            raise ValueError("the sample has no source URL")
        return self._stream_to(self._http.build_request("GET", url), out)

    def _stream_to(self, request: httpx.Request, out: IO[bytes]) -> int:
        response = self._send(request, stream=True)
        written = 0
        try:
            for chunk in response.iter_bytes():
                out.write(chunk)
                written += len(chunk)
        finally:
            response.close()
        return written

    # --- import tasks --------------------------------------------------------------------
    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/import-tasks")
    def create_import_task(
        self,
        dataset_id: str,
        *,
        import_path: str | None = None,
        import_type: int | None = None,
        import_annotations: bool | None = None,
        label_format: LabelFormatIn | Mapping[str, Any] | None = None,
        data_source: DataSourceIn | Mapping[str, Any] | None = None,
        final_annotation: bool | None = None,
        difficult_only: bool | None = None,
        included_labels: Labels | None = None,
        excluded_labels: Labels | None = None,
        import_folder: str | None = None,
        import_origin: str | None = None,
        import_samples: bool | None = None,
        with_column_header: bool | None = None,
    ) -> TaskCreated:
        """Import files (and their labels) from ``import_path`` into the dataset; the import
        runs in the background (``wait_for_task(..., kind="import")``)."""
        payload = body(
            import_path=import_path,
            import_type=import_type,
            import_annotations=import_annotations,
            label_format=label_format,
            data_source=data_source,
            final_annotation=final_annotation,
            difficult_only=difficult_only,
            included_labels=included_labels,
            excluded_labels=excluded_labels,
            import_folder=import_folder,
            import_origin=import_origin,
            import_samples=import_samples,
            with_column_header=with_column_header,
        )
        return parse(TaskCreated, self._call("POST", f"/datasets/{q(dataset_id)}/import-tasks", json=payload))

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/import-tasks")
    def list_import_tasks(
        self, dataset_id: str, *, limit: int | None = None, offset: int | None = None
    ) -> ImportTaskList:
        """One page of the dataset's imports, newest first (``offset`` is a page number)."""
        return self._get(
            ImportTaskList, f"/datasets/{q(dataset_id)}/import-tasks", limit=limit, offset=offset
        )

    def iter_import_tasks(self, dataset_id: str) -> Iterator[ImportTask]:
        """Every import of the dataset, newest first."""

        def page(offset: int, limit: int) -> ImportTaskList:
            return self.list_import_tasks(dataset_id, limit=limit, offset=offset)

        for task in self._walk(page, "import_tasks", "total_count", "task_id"):
            yield task

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/import-tasks/{task_id}")
    def get_import_task(self, dataset_id: str, task_id: str) -> ImportTask:
        """An import's status and counts."""
        return self._get(ImportTask, f"/datasets/{q(dataset_id)}/import-tasks/{q(task_id)}")

    # --- auto labeling (intelligent tasks) -----------------------------------------------
    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/tasks")
    def start_auto_label(
        self,
        dataset_id: str,
        *,
        algorithm_type: Literal["fast", "accurate"] = "fast",
        target_precision: float | None = None,
        feature_model: str | None = None,
        confidence_scope: str | None = None,
        check_labeled_samples: bool | None = None,
        config: SmartTaskConfig | Mapping[str, Any] | None = None,
        collect_key_sample: bool | None = None,
        task_name: str | None = None,
        model_id: str | None = None,
    ) -> str:
        """Start an auto-labeling task; its id (follow it with :meth:`wait_for_task`).
        ``check_labeled_samples``: also mark probably wrong human labels (hard reason 31).
        ``config`` gives the whole task config instead of its common fields one by one."""
        if config is None:
            config = body(
                algorithm_type=algorithm_type,
                target_precision=target_precision,
                feature_model=feature_model,
                confidence_scope=confidence_scope,
                check_labeled_samples=check_labeled_samples,
            )
        payload = body(
            task_type="auto-label",
            config=config,
            collect_key_sample=collect_key_sample,
            task_name=task_name,
            model_id=model_id,
        )
        created = parse(TaskCreated, self._call("POST", f"/datasets/{q(dataset_id)}/tasks", json=payload))
        return created.task_id

    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/tasks")
    def start_pre_label(
        self,
        dataset_id: str,
        model_id: str,
        *,
        confidence_scope: str | None = None,
        score_threshold: float | None = None,
        task_name: str | None = None,
    ) -> str:
        """Start a pre-labeling task with a model of the registry (docs/model-registry.md);
        its id (follow it with :meth:`wait_for_task`)."""
        payload = body(
            task_type="pre-label",
            model_id=model_id,
            config=body(confidence_scope=confidence_scope, score_threshold=score_threshold),
            task_name=task_name,
        )
        created = parse(TaskCreated, self._call("POST", f"/datasets/{q(dataset_id)}/tasks", json=payload))
        return created.task_id

    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/tasks")
    def start_auto_grouping(
        self,
        dataset_id: str,
        n_clusters: int,
        *,
        result_type: int = 0,
        property: str | None = None,
        image_brightness: bool = False,
        image_colorfulness: bool = False,
        ambiguity: bool = False,
        task_name: str | None = None,
    ) -> str:
        """Start an auto-grouping task (docs/auto-grouping.md); its id. ``result_type`` 1
        writes each sample's group to the attribute ``property`` (search it with
        ``search_conditions`` ``metadata``)."""
        config = body(
            n_clusters=n_clusters,
            result_type=result_type,
            image_brightness=image_brightness,
            image_colorfulness=image_colorfulness,
            ambiguity=ambiguity,
            property=property,
        )
        payload = body(task_type="auto-grouping", config=config, task_name=task_name)
        created = parse(TaskCreated, self._call("POST", f"/datasets/{q(dataset_id)}/tasks", json=payload))
        return created.task_id

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/tasks")
    def list_tasks(
        self,
        dataset_id: str,
        *,
        limit: int | None = None,
        offset: int | None = None,
        type: Literal["auto-label", "pre-label", "auto-grouping"] | None = None,
        task_name: str | None = None,
    ) -> TaskList:
        """One page of the dataset's intelligent tasks (``offset`` is a page number)."""
        return self._get(
            TaskList,
            f"/datasets/{q(dataset_id)}/tasks",
            limit=limit,
            offset=offset,
            type=type,
            task_name=task_name,
        )

    def iter_tasks(self, dataset_id: str, *, task_name: str | None = None) -> Iterator[Task]:
        """Every intelligent task of the dataset."""

        def page(offset: int, limit: int) -> TaskList:
            return self.list_tasks(dataset_id, limit=limit, offset=offset, task_name=task_name)

        for task in self._walk(page, "tasks", "total_count", "task_id"):
            yield task

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/tasks/{task_id}")
    def get_task(self, dataset_id: str, task_id: str) -> Task:
        """An intelligent task's status, progress (percent) and result counts."""
        return self._get(Task, f"/datasets/{q(dataset_id)}/tasks/{q(task_id)}")

    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/tasks/{task_id}/stop")
    def stop_task(self, dataset_id: str, task_id: str) -> None:
        """Ask a queued or running task to stop (it ends as status 5, leaving the dataset as it was)."""
        self._call("POST", f"/datasets/{q(dataset_id)}/tasks/{q(task_id)}/stop")

    def wait_for_task(
        self,
        dataset_id: str,
        task_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[Task], None] | None = None,
    ) -> Task:
        """Poll an auto-labeling task until it ends (status 2 failed, 3 succeeded, 5 stopped)
        and return it. ``on_progress`` gets every polled answer, the last one included.
        TimeoutError after ``timeout`` seconds; the task keeps running then. The other kinds
        of background work: :meth:`wait_for_import_task`, :meth:`wait_for_export_task`,
        :meth:`wait_for_version`, :meth:`wait_for_sync`."""
        return self._wait(
            lambda: self.get_task(dataset_id, task_id),
            lambda task: task.status in FINAL_TASK_STATUSES,
            f"task {task_id}",
            timeout=timeout,
            poll=poll,
            on_progress=on_progress,
        )

    def wait_for_import_task(
        self,
        dataset_id: str,
        task_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[ImportTask], None] | None = None,
    ) -> ImportTask:
        """Poll an import until it is COMPLETED or FAILED and return it (as :meth:`wait_for_task`)."""
        return self._wait(
            lambda: self.get_import_task(dataset_id, task_id),
            lambda task: task.status in FINAL_IMPORT_STATUSES,
            f"import task {task_id}",
            timeout=timeout,
            poll=poll,
            on_progress=on_progress,
        )

    # --- versions ------------------------------------------------------------------------
    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/versions")
    def publish_version(
        self,
        dataset_id: str,
        *,
        version_name: str | None = None,
        description: str | None = None,
        train_evaluate_sample_ratio: str | None = None,
        version_format: Literal["Default", "CarbonData", "CSV"] | None = None,
        clear_hard_property: bool | None = None,
        export_images: bool | None = None,
        remove_sample_usage: bool | None = None,
        with_column_header: bool | None = None,
        sample_state: str | None = None,
        split_seed: int | None = None,
    ) -> str:
        """Publish a version; its ``version_id``. It is published in the background: see
        :meth:`wait_for_version`."""
        payload = body(
            version_name=version_name,
            description=description,
            train_evaluate_sample_ratio=train_evaluate_sample_ratio,
            version_format=version_format,
            clear_hard_property=clear_hard_property,
            export_images=export_images,
            remove_sample_usage=remove_sample_usage,
            with_column_header=with_column_header,
            sample_state=sample_state,
            split_seed=split_seed,
        )
        path = f"/datasets/{q(dataset_id)}/versions"
        return parse(VersionCreated, self._call("POST", path, json=payload)).version_id

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/versions")
    def list_versions(
        self,
        dataset_id: str,
        *,
        status: int | None = None,
        train_evaluate_ratio: str | None = None,
        version_format: int | None = None,
        offset: int | None = None,
        limit: int | None = None,
    ) -> VersionList:
        """One page of the dataset's versions, newest first (``offset`` is a page number)."""
        return self._get(
            VersionList,
            f"/datasets/{q(dataset_id)}/versions",
            status=status,
            train_evaluate_ratio=train_evaluate_ratio,
            version_format=version_format,
            offset=offset,
            limit=limit,
        )

    def iter_versions(self, dataset_id: str, *, status: int | None = None) -> Iterator[Version]:
        """Every version of the dataset, newest first."""

        def page(offset: int, limit: int) -> VersionList:
            return self.list_versions(dataset_id, status=status, limit=limit, offset=offset)

        for version in self._walk(page, "versions", "total_number", "version_id"):
            yield version

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/versions/{version_id}")
    def get_version(self, dataset_id: str, version_id: str) -> Version:
        """A version's details (``status`` 0 while it is published, ``progress`` in percent)."""
        return self._get(Version, f"/datasets/{q(dataset_id)}/versions/{q(version_id)}")

    @endpoint("DELETE", "/v2/{project_id}/datasets/{dataset_id}/versions/{version_id}")
    def delete_version(self, dataset_id: str, version_id: str) -> None:
        """Delete a version and its manifest."""
        self._call("DELETE", f"/datasets/{q(dataset_id)}/versions/{q(version_id)}")

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/versions/{version_id}/manifest")
    def download_manifest(self, dataset_id: str, version_id: str, out: IO[bytes]) -> int:
        """Write the version's ModelArts manifest to ``out`` as it streams; the bytes written."""
        path = f"/datasets/{q(dataset_id)}/versions/{q(version_id)}/manifest"
        return self._stream_to(self._build("GET", path), out)

    def wait_for_version(
        self,
        dataset_id: str,
        version_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[Version], None] | None = None,
    ) -> Version:
        """Poll until the version is no longer being published (status 1 normal, 4 error) and
        return it. ``on_progress`` gets every polled answer (``progress`` is in percent while it
        is published). TimeoutError after ``timeout`` seconds."""
        return self._wait(
            lambda: self.get_version(dataset_id, version_id),
            lambda version: version.status != VERSION_CREATING,
            f"version {version_id}",
            timeout=timeout,
            poll=poll,
            on_progress=on_progress,
        )

    # --- export tasks -------------------------------------------------------------------
    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/export-tasks")
    def create_export_task(
        self,
        dataset_id: str,
        path: str | None = None,
        *,
        annotation_format: str | None = None,
        export_format: int | None = None,
        export_type: int | None = None,
        export_params: ExportParamsIn | Mapping[str, Any] | None = None,
        sample_state: str | None = None,
        version_id: str | None = None,
        version_format: str | None = None,
        with_column_header: bool | None = None,
    ) -> str:
        """Start an export (docs/export.md); its task id (follow it with
        :meth:`wait_for_export_task`). ``path``: a folder under an export root, or ``obs://...``."""
        payload = body(
            path=path,
            annotation_format=annotation_format,
            export_format=export_format,
            export_type=export_type,
            export_params=export_params,
            sample_state=sample_state,
            version_id=version_id,
            version_format=version_format,
            with_column_header=with_column_header,
        )
        url = f"/datasets/{q(dataset_id)}/export-tasks"
        return parse(TaskCreated, self._call("POST", url, json=payload)).task_id

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/export-tasks")
    def list_export_tasks(
        self,
        dataset_id: str,
        *,
        limit: int | None = None,
        offset: int | None = None,
        export_type: int | None = None,
    ) -> ExportTaskList:
        """One page of the dataset's exports, newest first (``offset`` is a page number)."""
        return self._get(
            ExportTaskList,
            f"/datasets/{q(dataset_id)}/export-tasks",
            limit=limit,
            offset=offset,
            export_type=export_type,
        )

    def iter_export_tasks(self, dataset_id: str, *, export_type: int | None = None) -> Iterator[ExportTask]:
        """Every export of the dataset, newest first."""

        def page(offset: int, limit: int) -> ExportTaskList:
            return self.list_export_tasks(dataset_id, limit=limit, offset=offset, export_type=export_type)

        for task in self._walk(page, "export_tasks", "total_count", "task_id"):
            yield task

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/export-tasks/{task_id}")
    def get_export_task(self, dataset_id: str, task_id: str) -> ExportTask:
        """An export's status and progress."""
        return self._get(ExportTask, f"/datasets/{q(dataset_id)}/export-tasks/{q(task_id)}")

    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/export-tasks/{task_id}/stop")
    def stop_export_task(self, dataset_id: str, task_id: str) -> None:
        """Ask an export to stop; it ends FAILED and leaves no output behind."""
        self._call("POST", f"/datasets/{q(dataset_id)}/export-tasks/{q(task_id)}/stop")

    def wait_for_export_task(
        self,
        dataset_id: str,
        task_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[ExportTask], None] | None = None,
    ) -> ExportTask:
        """Poll until the export ends (``SUCCESSED`` or ``FAILED``) and return it (as
        :meth:`wait_for_task`)."""
        return self._wait(
            lambda: self.get_export_task(dataset_id, task_id),
            lambda task: task.status in FINAL_EXPORT_STATUSES,
            f"export task {task_id}",
            timeout=timeout,
            poll=poll,
            on_progress=on_progress,
        )

    # --- data processing (docs/processing.md) ----------------------------------------------
    @endpoint("GET", "/v2/{project_id}/processor-tasks")
    def list_processor_tasks(
        self,
        *,
        offset: int | None = None,
        limit: int | None = None,
        sort_by: str | None = None,
        order: str | None = None,
        source_type: str | None = None,
        source: str | None = None,
        status: int | None = None,
        task_name: str | None = None,
        task_type: str | None = None,
        version_id: Sequence[str] | None = None,
        query_current: bool | None = None,
        return_result: bool | None = None,
        workspace_id: str | None = None,
    ) -> ProcessorTaskList:
        """One page of the project's processing tasks, newest first (``offset`` is a page)."""
        return self._get(
            ProcessorTaskList,
            "/processor-tasks",
            offset=offset,
            limit=limit,
            sort_by=sort_by,
            order=order,
            source_type=source_type,
            source=source,
            status=status,
            task_name=task_name,
            task_type=task_type,
            version_id=",".join(version_id) if version_id else None,
            query_current=query_current,
            return_result=return_result,
            workspace_id=workspace_id,
        )

    def iter_processor_tasks(self, *, task_type: str | None = None) -> Iterator[ProcessorTask]:
        """Every processing task of the project, newest first."""

        def page(offset: int, limit: int) -> ProcessorTaskList:
            return self.list_processor_tasks(task_type=task_type, offset=offset, limit=min(limit, 100))

        for task in self._walk(page, "tasks", "count", "task_id"):
            yield task

    @endpoint("POST", "/v2/{project_id}/processor-tasks")
    def create_processor_task(
        self,
        name: str,
        template: TemplateParam | Mapping[str, Any],
        *,
        inputs: Sequence[ProcessorDataSource | Mapping[str, Any]] | None = None,
        data_source: ProcessorDataSource | Mapping[str, Any] | None = None,
        work_path: WorkPath | Mapping[str, Any] | None = None,
        description: str | None = None,
        version_id: str | None = None,
        create_version: bool | None = None,
        workspace_id: str | None = None,
    ) -> str:
        """Create a processing task (``template.id`` one of the ``sys_data_*`` templates; every
        operator parameter is checked now) or a feature analysis (``sys_data_analyse``, which
        starts at once); its ``task_id``. ``create_version=True`` also starts its first run."""
        payload = body(
            name=name,
            template=template,
            inputs=inputs,
            data_source=data_source,
            work_path=work_path,
            description=description,
            version_id=version_id,
            create_version=create_version,
            workspace_id=workspace_id,
        )
        return parse(TaskCreated, self._call("POST", "/processor-tasks", json=payload)).task_id

    @endpoint("GET", "/v2/{project_id}/processor-tasks/items")
    def list_processor_task_items(
        self, *, offset: int | None = None, limit: int | None = None
    ) -> ProcessorTaskItems:
        """The processing templates (``template_id``, English and Chinese labels)."""
        return self._get(ProcessorTaskItems, "/processor-tasks/items", offset=offset, limit=limit)

    @endpoint("GET", "/v2/{project_id}/processor-tasks/{task_id}")
    def get_processor_task(self, task_id: str) -> ProcessorTask:
        """A processing task: the status of its latest run, its version count, an analysis's
        ``result``."""
        return self._get(ProcessorTask, f"/processor-tasks/{q(task_id)}")

    @endpoint("PUT", "/v2/{project_id}/processor-tasks/{task_id}")
    def update_processor_task(self, task_id: str, *, description: str) -> None:
        """Change the task's description (the only field that changes)."""
        self._call("PUT", f"/processor-tasks/{q(task_id)}", json={"description": description})

    @endpoint("DELETE", "/v2/{project_id}/processor-tasks/{task_id}")
    def delete_processor_task(self, task_id: str) -> None:
        """Delete the task, its runs, results and output files (400 while one runs)."""
        self._call("DELETE", f"/processor-tasks/{q(task_id)}")

    @endpoint("GET", "/v2/{project_id}/processor-tasks/{task_id}/versions")
    def list_processor_task_versions(
        self,
        task_id: str,
        *,
        offset: int | None = None,
        limit: int | None = None,
        sort_by: str | None = None,
        order: str | None = None,
    ) -> ProcessorTaskVersionList:
        """One page of the task's runs, newest first."""
        return self._get(
            ProcessorTaskVersionList,
            f"/processor-tasks/{q(task_id)}/versions",
            offset=offset,
            limit=limit,
            sort_by=sort_by,
            order=order,
        )

    @endpoint("POST", "/v2/{project_id}/processor-tasks/{task_id}/versions")
    def create_processor_task_version(
        self,
        task_id: str,
        *,
        description: str | None = None,
        inputs: Sequence[ProcessorDataSource | Mapping[str, Any]] | None = None,
        work_path: WorkPath | Mapping[str, Any] | None = None,
        template: TemplateParam | Mapping[str, Any] | None = None,
    ) -> str:
        """Run the task again (``inputs``, ``work_path`` and ``template.operator_params``
        override the task's for this run); the run's ``version_id``."""
        payload = body(description=description, inputs=inputs, work_path=work_path, template=template)
        path = f"/processor-tasks/{q(task_id)}/versions"
        return parse(ProcessorTaskVersionCreated, self._call("POST", path, json=payload)).version_id

    @endpoint("GET", "/v2/{project_id}/processor-tasks/{task_id}/versions/{version_id}")
    def get_processor_task_version(self, task_id: str, version_id: str) -> ProcessorTaskVersion:
        """One run: its status (0 queued, 1 running, 2 completed, 3 failed, 4 stopped),
        ``progress`` in percent while it runs, and its result counts."""
        return self._get(ProcessorTaskVersion, f"/processor-tasks/{q(task_id)}/versions/{q(version_id)}")

    @endpoint("DELETE", "/v2/{project_id}/processor-tasks/{task_id}/versions/{version_id}")
    def delete_processor_task_version(self, task_id: str, version_id: str) -> None:
        """Delete a run's results and files (400 while it runs)."""
        self._call("DELETE", f"/processor-tasks/{q(task_id)}/versions/{q(version_id)}")

    @endpoint("GET", "/v2/{project_id}/processor-tasks/{task_id}/versions/{version_id}/results")
    def list_processor_task_version_results(
        self,
        task_id: str,
        version_id: str,
        *,
        result_property: int | None = None,
        offset: int | None = None,
        limit: int | None = None,
        process_parameter: str | None = None,
    ) -> ProcessorResultList:
        """One page of what the run did, sample by sample (inputs first, then added samples),
        with signed URLs of the original and new files (``process_parameter`` applied to both)."""
        return self._get(
            ProcessorResultList,
            f"/processor-tasks/{q(task_id)}/versions/{q(version_id)}/results",
            result_property=None if result_property is None else str(result_property),
            offset=offset,
            limit=limit,
            process_parameter=process_parameter,
        )

    def iter_processor_task_version_results(
        self, task_id: str, version_id: str, *, result_property: int | None = None
    ) -> Iterator[ProcessorResult]:
        """Every result of the run, in order."""

        def page(offset: int, limit: int) -> ProcessorResultList:
            return self.list_processor_task_version_results(
                task_id, version_id, result_property=result_property, offset=offset, limit=min(limit, 100)
            )

        for result in self._walk(page, "results", "count", "sample_id"):
            yield result

    @endpoint("POST", "/v2/{project_id}/processor-tasks/{task_id}/versions/{version_id}/stop")
    def stop_processor_task_version(self, task_id: str, version_id: str) -> None:
        """Ask a run to stop; it keeps the results written so far (400 once it has ended)."""
        self._call("POST", f"/processor-tasks/{q(task_id)}/versions/{q(version_id)}/stop")

    @endpoint("GET", "/files/{project_id}/processing/{task_id}/{version_id}/{result_id}")
    def download_processor_result_file(
        self, result: ProcessorResult, out: IO[bytes], *, new: bool = True
    ) -> int:
        """Write a result's new file (``new=False``: its original) to ``out`` from its signed
        URL; the bytes written. ValueError when the result has no such file (a deleted or
        unmodified sample has no new file)."""
        url = result.signed_new_source if new else result.signed_origin_source
        if not url:
            raise ValueError("the result has no such file")
        return self._stream_to(self._http.build_request("GET", url), out)

    def wait_for_processor_task_version(
        self,
        task_id: str,
        version_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[ProcessorTaskVersion], None] | None = None,
    ) -> ProcessorTaskVersion:
        """Poll until the run ends (status 2, 3 or 4) and return it (as :meth:`wait_for_task`)."""
        return self._wait(
            lambda: self.get_processor_task_version(task_id, version_id),
            lambda version: version.status in (2, 3, 4),
            f"processing version {version_id}",
            timeout=timeout,
            poll=poll,
            on_progress=on_progress,
        )

    def wait_for_processor_task(
        self,
        task_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[ProcessorTask], None] | None = None,
    ) -> ProcessorTask:
        """Poll until the task's latest run (a feature analysis's one run) ends and return it."""
        return self._wait(
            lambda: self.get_processor_task(task_id),
            lambda task: task.status in (2, 3, 4),
            f"processing task {task_id}",
            timeout=timeout,
            poll=poll,
            on_progress=on_progress,
        )

    # --- model registry (LabelArts extension, docs/model-registry.md) ------------------------
    @endpoint("POST", "/v2/{project_id}/models")
    def import_model(
        self,
        model_name: str,
        model_file: bytes,
        *,
        kind: str,
        labels: Sequence[str],
        input_size: Sequence[int],
        model_version: str | None = None,
        layout: str | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        scale: float | None = None,
        description: str | None = None,
    ) -> Model:
        """Import an ONNX model (``model_file``: its bytes); the registered model. A 400 when
        the file is not an ONNX model of the declared kind and input size. ``kind``
        ``classifier`` or ``detector``; ``layout`` ``NCHW`` (default) or ``NHWC``."""
        payload = body(
            model_name=model_name,
            kind=kind,
            labels=list(labels),
            input_size=list(input_size),
            model_data=base64.b64encode(model_file).decode(),
            model_version=model_version,
            layout=layout,
            mean=None if mean is None else list(mean),
            std=None if std is None else list(std),
            scale=scale,
            description=description,
        )
        return parse(Model, self._call("POST", "/models", json=payload))

    @endpoint("GET", "/v2/{project_id}/models")
    def list_models(
        self, *, limit: int | None = None, offset: int | None = None, model_name: str | None = None
    ) -> ModelList:
        """One page of the project's registered models (``offset`` is a page number)."""
        return self._get(ModelList, "/models", limit=limit, offset=offset, model_name=model_name)

    def iter_models(self, *, model_name: str | None = None) -> Iterator[Model]:
        """Every registered model of the project."""

        def page(offset: int, limit: int) -> ModelList:
            return self.list_models(limit=limit, offset=offset, model_name=model_name)

        for model in self._walk(page, "models", "total_count", "model_id"):
            yield model

    @endpoint("GET", "/v2/{project_id}/models/{model_id}")
    def get_model(self, model_id: str) -> Model:
        """One registered model: its kind, labels and input preprocessing."""
        return self._get(Model, f"/models/{q(model_id)}")

    @endpoint("DELETE", "/v2/{project_id}/models/{model_id}")
    def delete_model(self, model_id: str) -> None:
        """Remove a model from the registry."""
        self._call("DELETE", f"/models/{q(model_id)}")

    # --- labeling teams (workforces) and their members (workers), docs/team-labeling.md ---------
    @endpoint("POST", "/v2/{project_id}/workforces")
    def create_workforce(self, workforce_name: str, *, description: str | None = None) -> str:
        """Create a labeling team (owner only); its ``workforce_id``. ``workforce_name``: 1-64
        letters, digits, ``_`` and ``-``, unique in the project (else 400 ``ModelArts.4602``)."""
        payload = body(workforce_name=workforce_name, description=description)
        return parse(WorkforceCreated, self._call("POST", "/workforces", json=payload)).workforce_id

    @endpoint("GET", "/v2/{project_id}/workforces")
    def list_workforces(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        sort_by: Literal["create_time", "workforce_name"] | None = None,
        search_content: str | None = None,
        workforce_task_id: str | None = None,
    ) -> WorkforceList:
        """One page of labeling teams (``offset`` is a page number, ``limit`` 1-100), newest
        first; ``search_content`` matches names (case-insensitive), ``workforce_task_id`` keeps
        the teams a team labeling task uses. A team administrator sees the teams they run."""
        return self._get(
            WorkforceList,
            "/workforces",
            limit=limit,
            offset=offset,
            order=order,
            sort_by=sort_by,
            search_content=search_content,
            workforce_task_id=workforce_task_id,
        )

    def iter_workforces(
        self, *, search_content: str | None = None, workforce_task_id: str | None = None
    ) -> Iterator[Workforce]:
        """Every matching labeling team, oldest first."""

        def page(offset: int, limit: int) -> WorkforceList:
            return self.list_workforces(
                limit=limit,
                offset=offset,
                order="asc",
                search_content=search_content,
                workforce_task_id=workforce_task_id,
            )

        for workforce in self._walk(page, "workforces", "total_number", "workforce_id"):
            yield workforce

    @endpoint("GET", "/v2/{project_id}/workforces/{workforce_id}")
    def get_workforce(self, workforce_id: str) -> Workforce:
        """One labeling team (the owner, or the team's administrator)."""
        return self._get(Workforce, f"/workforces/{q(workforce_id)}")

    @endpoint("PUT", "/v2/{project_id}/workforces/{workforce_id}")
    def update_workforce(
        self, workforce_id: str, *, workforce_name: str | None = None, description: str | None = None
    ) -> None:
        """Rename a labeling team or change its description (owner only)."""
        payload = body(workforce_name=workforce_name, description=description)
        self._call("PUT", f"/workforces/{q(workforce_id)}", json=payload)

    @endpoint("DELETE", "/v2/{project_id}/workforces/{workforce_id}")
    def delete_workforce(self, workforce_id: str) -> None:
        """Delete a labeling team and its members (owner only)."""
        self._call("DELETE", f"/workforces/{q(workforce_id)}")

    @endpoint("POST", "/v2/{project_id}/workforces/{workforce_id}/workers")
    def create_workers(
        self,
        workforce_id: str,
        emails: str | Sequence[str],
        role: int,
        *,
        description: str | None = None,
    ) -> None:
        """Add members by email (one address, a list, or a comma-separated string): all are
        added or none (400 ``ModelArts.4605`` for an address already in the team). ``role``: 0
        labeler, 1 reviewer, 2 team administrator (one per team, else 400 ``ModelArts.4617``)."""
        joined = emails if isinstance(emails, str) else ",".join(emails)
        payload = body(emails=joined, role=role, description=description)
        self._call("POST", f"/workforces/{q(workforce_id)}/workers", json=payload)

    @endpoint("GET", "/v2/{project_id}/workforces/{workforce_id}/workers")
    def list_workers(
        self,
        workforce_id: str,
        *,
        limit: int | None = None,
        offset: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        sort_by: Literal["create_time", "email"] | None = None,
    ) -> WorkerList:
        """One page of a team's members (``offset`` is a page number, ``limit`` 1-100)."""
        return self._get(
            WorkerList,
            f"/workforces/{q(workforce_id)}/workers",
            limit=limit,
            offset=offset,
            order=order,
            sort_by=sort_by,
        )

    def iter_workers(self, workforce_id: str) -> Iterator[Worker]:
        """Every member of a team, oldest first."""

        def page(offset: int, limit: int) -> WorkerList:
            return self.list_workers(workforce_id, limit=limit, offset=offset, order="asc")

        for worker in self._walk(page, "workers", "total_number", "worker_id"):
            yield worker

    @endpoint("GET", "/v2/{project_id}/workforces/workers")
    def list_all_workers(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        sort_by: Literal["create_time", "email"] | None = None,
        role: int | None = None,
    ) -> WorkerList:
        """One page of the members of every team (a team administrator: of their teams);
        ``role`` keeps one role (left out: every role)."""
        return self._get(
            WorkerList,
            "/workforces/workers",
            limit=limit,
            offset=offset,
            order=order,
            sort_by=sort_by,
            role=role,
        )

    def iter_all_workers(self, *, role: int | None = None) -> Iterator[Worker]:
        """Every member of every team (one row per team a person is in), oldest first."""

        def page(offset: int, limit: int) -> WorkerList:
            return self.list_all_workers(limit=limit, offset=offset, order="asc", role=role)

        for worker in self._walk(page, "workers", "total_number", "worker_id"):
            yield worker

    @endpoint("GET", "/v2/{project_id}/workforces/{workforce_id}/workers/{worker_id}")
    def get_worker(self, workforce_id: str, worker_id: str) -> Worker:
        """One team member (the owner, the team's administrator, or the member themself)."""
        return self._get(Worker, f"/workforces/{q(workforce_id)}/workers/{q(worker_id)}")

    @endpoint("PUT", "/v2/{project_id}/workforces/{workforce_id}/workers/{worker_id}")
    def update_worker(
        self,
        workforce_id: str,
        worker_id: str,
        *,
        role: int | None = None,
        description: str | None = None,
    ) -> None:
        """Change a member's role (0-2) or description; the email cannot change."""
        payload = body(role=role, description=description)
        self._call("PUT", f"/workforces/{q(workforce_id)}/workers/{q(worker_id)}", json=payload)

    @endpoint("DELETE", "/v2/{project_id}/workforces/{workforce_id}/workers/{worker_id}")
    def delete_worker(self, workforce_id: str, worker_id: str) -> None:
        """Remove a member from a team; their unfinished task work is dealt again."""
        self._call("DELETE", f"/workforces/{q(workforce_id)}/workers/{q(worker_id)}")

    @endpoint("POST", "/v2/{project_id}/workforces/{workforce_id}/workers/batch-delete")
    def batch_delete_workers(self, workforce_id: str, worker_ids: Sequence[str]) -> BatchResults:
        """Remove several members, each on its own: ``results`` says, id by id, which went and
        why the others did not; ``success`` is true when all went."""
        path = f"/workforces/{q(workforce_id)}/workers/batch-delete"
        return parse(BatchResults, self._call("POST", path, json={"workers": list(worker_ids)}))

    # --- team labeling tasks (workforce tasks), docs/team-labeling.md ---------------------------
    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks")
    def create_workforce_task(
        self,
        dataset_id: str,
        *,
        task_name: str | None = None,
        description: str | None = None,
        repetition: int | None = None,
        workforces_config: WorkforcesConfigIn | Mapping[str, Any] | None = None,
        sample_conditions: SearchConditionsArg | None = None,
        synchronize_data: bool | None = None,
        synchronize_auto_labeling_data: bool | None = None,
        data_sync_type: int | None = None,
        auto_sync_dataset: bool | None = None,
        version_id: str | None = None,
    ) -> str:
        """Create a team labeling task (owner only); its ``task_id``. ``workforces_config``
        names the teams (``{"workforces": [{"workforce_id": ...}]}``, a team without
        ``workers``: all of its members); without an ``agency`` the task starts at once and the
        matching unlabeled samples are dealt, each to ``repetition`` different labelers."""
        conditions = sample_conditions
        if conditions is not None and not isinstance(conditions, str):
            conditions = json.dumps(wire(list(conditions)), ensure_ascii=False)
        payload = body(
            task_name=task_name,
            description=description,
            repetition=repetition,
            workforces_config=workforces_config,
            sample_conditions=conditions,
            synchronize_data=synchronize_data,
            synchronize_auto_labeling_data=synchronize_auto_labeling_data,
            data_sync_type=data_sync_type,
            auto_sync_dataset=auto_sync_dataset,
            version_id=version_id,
        )
        path = f"/datasets/{q(dataset_id)}/workforce-tasks"
        return parse(TaskCreated, self._call("POST", path, json=payload)).task_id

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks")
    def list_workforce_tasks(
        self, dataset_id: str, *, limit: int | None = None, offset: int | None = None
    ) -> WorkforceTaskList:
        """One page of a dataset's team tasks (``offset`` a page number, ``limit`` 1-1000),
        newest first; a member sees the tasks that name them."""
        path = f"/datasets/{q(dataset_id)}/workforce-tasks"
        return self._get(WorkforceTaskList, path, limit=limit, offset=offset)

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}")
    def get_workforce_task(
        self,
        dataset_id: str,
        workforce_task_id: str,
        *,
        label_stats: bool | None = None,
        sample_stats: bool | None = None,
        workforce_stats: bool | None = None,
    ) -> WorkforceTask:
        """One team task with its sample, team and member statistics (``label_stats``: the
        team results' label counts too)."""
        return self._get(
            WorkforceTask,
            f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}",
            label_stats=label_stats,
            sample_stats=sample_stats,
            workforce_stats=workforce_stats,
        )

    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}")
    def start_workforce_task(
        self,
        dataset_id: str,
        workforce_task_id: str,
        *,
        workforces_config: WorkforcesConfigIn | Mapping[str, Any] | None = None,
    ) -> None:
        """Start a created task (status 6): deal its samples (the owner, or its ``agency``)."""
        payload = body(workforces_config=workforces_config)
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}"
        self._call("POST", path, json=payload)

    @endpoint("PUT", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}")
    def update_workforce_task(
        self,
        dataset_id: str,
        workforce_task_id: str,
        *,
        task_name: str | None = None,
        description: str | None = None,
        workforces_config: WorkforcesConfigIn | Mapping[str, Any] | None = None,
    ) -> None:
        """Rename a task, change its description or its people; a labeler who leaves a running
        task has their unfinished work dealt to the others."""
        payload = body(task_name=task_name, description=description, workforces_config=workforces_config)
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}"
        self._call("PUT", path, json=payload)

    @endpoint("DELETE", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}")
    def delete_workforce_task(self, dataset_id: str, workforce_task_id: str) -> None:
        """Delete a team task and the results it holds (owner only; accepted results stay in
        the dataset)."""
        self._call("DELETE", f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}")

    @endpoint(
        "GET",
        "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/data-annotations/samples",
    )
    def list_workforce_task_samples(
        self,
        dataset_id: str,
        workforce_task_id: str,
        *,
        sample_state: str | None = None,
        label_name: str | None = None,
        label_type: int | None = None,
        search_conditions: SearchConditionsArg | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> SampleList:
        """One page of a team task's results (one row per sample and labeler): a labeler's own,
        everyone's for the owner, reviewers and administrators. ``sample_state``:
        ``__NONE__``, ``__UNREVIEWED__``, ``__REJECTED__``, ``__UNCHECK__``,
        ``__WORKFORCE_SAMPLED__``, ``__ACCEPTED__``..."""
        return self._get(
            SampleList,
            f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/data-annotations/samples",
            sample_state=sample_state,
            label_name=label_name,
            label_type=label_type,
            search_conditions=search_conditions,
            limit=limit,
            offset=offset,
        )

    @endpoint(
        "GET",
        "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}"
        "/data-annotations/samples/{sample_id}",
    )
    def get_workforce_task_sample(
        self,
        dataset_id: str,
        workforce_task_id: str,
        sample_id: str,
        *,
        worker_id: str | None = None,
        sample_state: str | None = None,
    ) -> Sample:
        """One result of a team task: the caller's own, or ``worker_id``'s (else the first
        labeler's)."""
        path = (
            f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}"
            f"/data-annotations/samples/{q(sample_id)}"
        )
        return self._get(Sample, path, worker_id=worker_id, sample_state=sample_state)

    @endpoint(
        "PUT",
        "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/data-annotations/samples",
    )
    def update_workforce_task_samples(
        self,
        dataset_id: str,
        workforce_task_id: str,
        samples: Sequence[UpdateSampleIn | Mapping[str, Any]],
    ) -> BatchResults:
        """Save team results (``sample_id``, ``labels``; the owner may add ``worker_id``), each
        on its own. Saving hands the result in: on to review, or to acceptance when the task
        has no reviewers; empty ``labels`` take it back."""
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/data-annotations/samples"
        return parse(BatchResults, self._call("PUT", path, json=body(samples=list(samples))))

    @endpoint(
        "POST",
        "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/data-annotations/review",
    )
    def review_workforce_task_samples(
        self,
        dataset_id: str,
        workforce_task_id: str,
        comments: Sequence[SampleCommentIn | Mapping[str, Any]],
    ) -> None:
        """Review results (``sample_id``, ``worker_id``, ``accept``, ``score`` A-D,
        ``comment``): accepted ones go on to acceptance, rejected ones back to their labeler."""
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/data-annotations/review"
        self._call("POST", path, json=body(comments=list(comments)))

    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/acceptance")
    def start_acceptance(
        self,
        dataset_id: str,
        workforce_task_id: str,
        *,
        sampling_num: int | None = None,
        sampling_rate: float | None = None,
    ) -> str:
        """Draw samples waiting for acceptance (exactly one of ``sampling_num`` and
        ``sampling_rate``); the acceptance's ``task_id`` (owner only)."""
        payload = body(sampling_num=sampling_num, sampling_rate=sampling_rate)
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/acceptance"
        return parse(TaskCreated, self._call("POST", path, json=payload)).task_id

    @endpoint(
        "POST",
        "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/acceptance/batch-comment",
    )
    def comment_acceptance(
        self,
        dataset_id: str,
        workforce_task_id: str,
        comments: Sequence[SampleCommentIn | Mapping[str, Any]],
    ) -> None:
        """Accept or reject drawn samples (``sample_id``, ``accept``, ``score`` A-D,
        ``comment``), all or none; a verdict may change until the acceptance closes."""
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/acceptance/batch-comment"
        self._call("POST", path, json=body(comments=list(comments)))

    @endpoint(
        "GET", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/acceptance/report"
    )
    def get_acceptance_report(
        self, dataset_id: str, workforce_task_id: str, *, checking_task_id: str | None = None
    ) -> CheckReport:
        """An acceptance's report (default: the current or last one) and the task's total."""
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/acceptance/report"
        return self._get(CheckReport, path, checking_task_id=checking_task_id)

    @endpoint(
        "PUT", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/acceptance/status"
    )
    def close_acceptance(
        self,
        dataset_id: str,
        workforce_task_id: str,
        action: int,
        *,
        overwrite_last_result: bool | None = None,
    ) -> SampleList:
        """End the acceptance: 0 everything passes, 1 everything is rejected, 2 cancel, 3 list
        the conflicts (nothing changes; they are the answer's ``samples``), 4 all pass but the
        rejected drawn ones, 5 only accepted drawn ones pass. What passes is written to the
        dataset (``overwrite_last_result``: over labels changed there meanwhile)."""
        payload = body(action=action, overwrite_last_result=overwrite_last_result)
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/acceptance/status"
        return parse(SampleList, self._call("PUT", path, json=payload))

    @endpoint(
        "GET",
        "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/data-annotations/stats",
    )
    def get_workforce_task_stats(
        self, dataset_id: str, workforce_task_id: str, *, sample_state: str | None = None
    ) -> WorkforceTaskStats:
        """A team task's sample counts by state, hard-example counts and label counts (a
        labeler: over their own work)."""
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/data-annotations/stats"
        return self._get(WorkforceTaskStats, path, sample_state=sample_state)

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/metrics")
    def get_workforce_task_metrics(self, dataset_id: str, workforce_task_id: str) -> WorkforceTaskMetrics:
        """Each labeler's counts by state, keyed by email."""
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/metrics"
        return self._get(WorkforceTaskMetrics, path)

    @endpoint("GET", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/agreement")
    def get_workforce_task_agreement(self, dataset_id: str, workforce_task_id: str) -> AgreementReport:
        """LabelArts extension: Fleiss' kappa overall and per label, Cohen's kappa per pair of
        labelers, and each labeler's accuracy on the gold samples (owner, team administrators)."""
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/agreement"
        return self._get(AgreementReport, path)

    @endpoint(
        "PUT", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/gold-samples"
    )
    def set_gold_samples(
        self, dataset_id: str, workforce_task_id: str, samples: Sequence[Mapping[str, Any]]
    ) -> GoldSamplesSet:
        """LabelArts extension: mark samples as gold with their answers
        (``[{"sample_id", "labels"}]``): mixed unannounced into every labeler's queue, never
        written to the dataset."""
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/gold-samples"
        return parse(GoldSamplesSet, self._call("PUT", path, json={"samples": [dict(x) for x in samples]}))

    @endpoint(
        "GET", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/gold-samples"
    )
    def list_gold_samples(self, dataset_id: str, workforce_task_id: str) -> GoldSampleList:
        """LabelArts extension: the task's gold samples and how many labelers matched each."""
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/gold-samples"
        return self._get(GoldSampleList, path)

    @endpoint("POST", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/notify")
    def notify_workforce_task_members(
        self, dataset_id: str, workforce_task_id: str, emails: Sequence[str]
    ) -> BatchResults:
        """Mail members of the task about their work (owner or the task's administrator):
        ``results`` says, address by address, which mail was queued and why the others were not
        (not a member, too soon after the last one); ``success`` is true when all were."""
        path = f"/datasets/{q(dataset_id)}/workforce-tasks/{q(workforce_task_id)}/notify"
        return parse(BatchResults, self._call("POST", path, json={"emails": list(emails)}))

    @endpoint("GET", "/v2/{project_id}/workforces/worker-tasks")
    def list_worker_tasks(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        search_content: str | None = None,
        sort_by: Literal["create_time", "task_name"] | None = None,
        order: Literal["asc", "desc"] | None = None,
    ) -> WorkerTaskList:
        """The caller's own rows, one per team task that names them, with their counts."""
        return self._get(
            WorkerTaskList,
            "/workforces/worker-tasks",
            limit=limit,
            offset=offset,
            search_content=search_content,
            sort_by=sort_by,
            order=order,
        )
