"""``LabelArtsClient``: typed calls for datasets, labels, samples and auto labeling over httpx."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

import httpx

from labelarts.client._auth import SdkHmacAuth, TokenAuth

# Intelligent task statuses: -1 queued, 1 running, 2 failed, 3 succeeded, 4 stopping, 5 stopped.
TASK_FAILED, TASK_SUCCEEDED, TASK_STOPPED = 2, 3, 5
FINAL_TASK_STATUSES = frozenset({TASK_FAILED, TASK_SUCCEEDED, TASK_STOPPED})
# Dataset version statuses: 0 creating, 1 normal, 4 error.
VERSION_CREATING, VERSION_NORMAL, VERSION_ERROR = 0, 1, 4


class LabelArtsError(Exception):
    """An error answer from the server, with its ModelArts error code."""

    def __init__(self, status_code: int, error_code: str, error_msg: str, request_id: str) -> None:
        super().__init__(f"{status_code} {error_code}: {error_msg}")
        self.status_code = status_code
        self.error_code = error_code
        self.error_msg = error_msg
        self.request_id = request_id


class LabelArtsClient:
    """Talks to one project of a LabelArts (or ModelArts) endpoint.

    Authenticate with ``access_key``/``secret_key`` (request signing) or ``token``; or call
    :meth:`login` with a user name and password to obtain a token.
    """

    def __init__(
        self,
        endpoint: str,
        project_id: str,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        auth: httpx.Auth | None = None
        if access_key and secret_key:
            auth = SdkHmacAuth(access_key, secret_key, project_id)
        elif token:
            auth = TokenAuth(token)
        self.project_id = project_id
        self._http = httpx.Client(
            base_url=endpoint.rstrip("/"), auth=auth, timeout=timeout, transport=transport
        )

    # --- plumbing ------------------------------------------------------------------------
    def close(self) -> None:
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

    def login(self, user: str, password: str) -> str:
        """Get an IAM token for the client's project and use it from now on."""
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": user, "password": password, "domain": {"name": "Default"}}},
                },
                "scope": {"project": {"id": self.project_id}},
            }
        }
        # httpx.Auth() sends the request as is: a password login is neither signed nor token-bearing.
        response = self._http.post("/v3/auth/tokens", json=body, auth=httpx.Auth())
        self._check(response)
        token = response.headers["X-Subject-Token"]
        self._http.auth = TokenAuth(token)
        return token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call ``/v2/{project_id}{path}`` and return the decoded JSON (None for 204)."""
        response = self._http.request(method, f"/v2/{self.project_id}{path}", **kwargs)
        self._check(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    @staticmethod
    def _check(response: httpx.Response) -> None:
        if response.is_success:
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error_code" in body:
            code, msg = str(body["error_code"]), str(body.get("error_msg", ""))
        else:
            # Not a ModelArts error body (a proxy's page, say): keep the start of the text.
            code, msg = "", response.text[:200]
        raise LabelArtsError(response.status_code, code, msg, response.headers.get("X-Request-Id", ""))

    # --- datasets ------------------------------------------------------------------------
    def list_datasets(self, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/datasets", params=params)
        return result

    def create_dataset(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/datasets", json=body)
        return result

    def get_dataset(self, dataset_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/datasets/{dataset_id}")
        return result

    def update_dataset(self, dataset_id: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("PUT", f"/datasets/{dataset_id}", json=body)
        return result

    def delete_dataset(self, dataset_id: str) -> None:
        self.request("DELETE", f"/datasets/{dataset_id}")

    def get_dataset_stats(self, dataset_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/datasets/{dataset_id}/data-annotations/stats")
        return result

    def get_import_task(self, dataset_id: str, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/datasets/{dataset_id}/import-tasks/{task_id}")
        return result

    # --- data-source sync and monitoring ---------------------------------------------------
    def sync_data(self, dataset_id: str) -> dict[str, Any]:
        """Start a sync of the dataset with its data source; ``{"task_id": ...}``."""
        result: dict[str, Any] = self.request("POST", f"/datasets/{dataset_id}/sync-data")
        return result

    def get_sync_status(self, dataset_id: str) -> dict[str, Any]:
        """The latest sync's status and counts (``status`` ``NOT_EXIST`` if none ran)."""
        result: dict[str, Any] = self.request("GET", f"/datasets/{dataset_id}/sync-data/status")
        return result

    def wait_for_sync(
        self,
        dataset_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the sync status until it is COMPLETED, FAILED or NOT_EXIST and return it;
        TimeoutError after ``timeout`` seconds (the sync keeps running)."""
        return _poll_until(
            lambda: self.get_sync_status(dataset_id),
            lambda body: body.get("status") in ("COMPLETED", "FAILED", "NOT_EXIST"),
            f"the sync of dataset {dataset_id} has not ended after {timeout} s",
            timeout=timeout,
            poll=poll,
            on_progress=on_progress,
        )

    def get_dataset_metrics(
        self, dataset_id: str, *, start_time: int, end_time: int, workforce_task_id: str | None = None
    ) -> dict[str, Any]:
        """``{"metrics": {series: {epoch ms: value}}}`` between the two times (epoch ms)."""
        params: dict[str, Any] = {"start_time": start_time, "end_time": end_time}
        if workforce_task_id is not None:
            params["workforce_task_id"] = workforce_task_id
        result: dict[str, Any] = self.request("GET", f"/datasets/{dataset_id}/metrics", params=params)
        return result

    # --- labels --------------------------------------------------------------------------
    def _labels_path(self, dataset_id: str) -> str:
        return f"/datasets/{dataset_id}/data-annotations/labels"

    def list_labels(self, dataset_id: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", self._labels_path(dataset_id), params=params)
        return result

    def create_labels(self, dataset_id: str, labels: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", self._labels_path(dataset_id), json={"labels": labels})
        return result

    def update_labels(self, dataset_id: str, labels: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("PUT", self._labels_path(dataset_id), json={"labels": labels})
        return result

    def delete_labels(self, dataset_id: str, names: list[str], *, delete_policy: int = 0) -> dict[str, Any]:
        """0: the labels only; 1: also samples carrying only them; 2: also their source files."""
        result: dict[str, Any] = self.request(
            "POST",
            f"{self._labels_path(dataset_id)}/delete",
            params={"delete_policy": delete_policy},
            json={"labels": [{"name": n} for n in names]},
        )
        return result

    def update_label(self, dataset_id: str, name: str, properties: dict[str, Any]) -> None:
        self.request("PUT", f"{self._labels_path(dataset_id)}/{_quote(name)}", json=properties)

    def delete_label_and_samples(self, dataset_id: str, name: str, *, delete_source: bool = False) -> None:
        self.request(
            "DELETE",
            f"{self._labels_path(dataset_id)}/{_quote(name)}",
            params={"delete_source": str(delete_source).lower()},
        )

    # --- samples -------------------------------------------------------------------------
    def list_auto_samples(self, dataset_id: str, **params: Any) -> dict[str, Any]:
        """One page of auto-labeled samples waiting for confirmation (``sample_count``, ``samples``).

        ``offset`` is a page number; a ``search_conditions`` list or dict is sent as JSON.
        """
        if "search_conditions" in params and not isinstance(params["search_conditions"], str):
            params["search_conditions"] = json.dumps(params["search_conditions"])
        result: dict[str, Any] = self.request(
            "GET", f"/datasets/{dataset_id}/auto-annotations/samples", params=params
        )
        return result

    def update_samples(self, dataset_id: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
        """Replace the labels of samples (``sample_id``, ``labels``, ``metadata``), all or none.

        A sample given labels becomes manually labeled: putting an auto label back confirms it.
        """
        result: dict[str, Any] = self.request(
            "PUT", f"/datasets/{dataset_id}/data-annotations/samples", json={"samples": samples}
        )
        return result

    # --- auto labeling (intelligent tasks) -----------------------------------------------
    def start_auto_label(
        self,
        dataset_id: str,
        *,
        algorithm_type: str = "fast",
        target_precision: float | None = None,
        feature_model: str | None = None,
        confidence_scope: str | None = None,
        check_labeled_samples: bool | None = None,
    ) -> str:
        """Start an auto-labeling task; returns its id (poll it with :meth:`wait_for_task`).
        ``check_labeled_samples``: also mark probably wrong human labels (hard reason 31)."""
        config: dict[str, Any] = {"algorithm_type": algorithm_type}
        optional = {
            "target_precision": target_precision,
            "feature_model": feature_model,
            "confidence_scope": confidence_scope,
            "check_labeled_samples": check_labeled_samples,
        }
        config.update({k: v for k, v in optional.items() if v is not None})
        body = {"task_type": "auto-label", "config": config}
        result: dict[str, Any] = self.request("POST", f"/datasets/{dataset_id}/tasks", json=body)
        return str(result["task_id"])

    def start_pre_label(
        self,
        dataset_id: str,
        model_id: str,
        *,
        confidence_scope: str | None = None,
        score_threshold: float | None = None,
    ) -> str:
        """Start a pre-labeling task with a model of the registry; returns the task id."""
        config: dict[str, Any] = {}
        if confidence_scope is not None:
            config["confidence_scope"] = confidence_scope
        if score_threshold is not None:
            config["score_threshold"] = score_threshold
        body = {"task_type": "pre-label", "model_id": model_id, "config": config}
        result: dict[str, Any] = self.request("POST", f"/datasets/{dataset_id}/tasks", json=body)
        return str(result["task_id"])

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
    ) -> str:
        """Start an auto-grouping task; ``result_type`` 1 writes each sample's group to the
        attribute ``property`` (search it with ``search_conditions`` ``metadata``)."""
        config: dict[str, Any] = {
            "n_clusters": n_clusters,
            "result_type": result_type,
            "image_brightness": image_brightness,
            "image_colorfulness": image_colorfulness,
            "ambiguity": ambiguity,
        }
        if property is not None:
            config["property"] = property
        body = {"task_type": "auto-grouping", "config": config}
        result: dict[str, Any] = self.request("POST", f"/datasets/{dataset_id}/tasks", json=body)
        return str(result["task_id"])

    def list_tasks(self, dataset_id: str, **params: Any) -> dict[str, Any]:
        """``tasks`` and ``total_count``; params ``limit``, ``offset`` (page), ``type``, ``task_name``."""
        result: dict[str, Any] = self.request("GET", f"/datasets/{dataset_id}/tasks", params=params)
        return result

    def get_task(self, dataset_id: str, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/datasets/{dataset_id}/tasks/{_quote(task_id)}")
        return result

    def stop_task(self, dataset_id: str, task_id: str) -> None:
        """Ask a queued or running task to stop (it ends as status 5, leaving the dataset as it was)."""
        self.request("POST", f"/datasets/{dataset_id}/tasks/{_quote(task_id)}/stop")

    def wait_for_task(
        self,
        dataset_id: str,
        task_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the task ends (status 2 failed, 3 succeeded, 5 stopped) and return its body.

        ``on_progress`` gets every polled body, the final one included. Raises TimeoutError
        after ``timeout`` seconds; the task keeps running then.
        """
        return _poll_until(
            lambda: self.get_task(dataset_id, task_id),
            lambda body: body.get("status") in FINAL_TASK_STATUSES,
            f"task {task_id} has not ended after {timeout} s",
            timeout=timeout,
            poll=poll,
            on_progress=on_progress,
        )

    # --- versions ------------------------------------------------------------------------
    def publish_version(self, dataset_id: str, **body: Any) -> str:
        """Publish a version (fields of "Creating a Dataset Labeling Version": ``version_name``,
        ``train_evaluate_sample_ratio``, ``version_format``, ...); its ``version_id``. It is
        published in the background: see :meth:`wait_for_version`."""
        result: dict[str, Any] = self.request("POST", f"/datasets/{dataset_id}/versions", json=body)
        return str(result["version_id"])

    def list_versions(self, dataset_id: str, **params: Any) -> dict[str, Any]:
        """``versions`` and ``total_number``; params ``status``, ``train_evaluate_ratio``,
        ``version_format``, ``offset`` (a page), ``limit``."""
        result: dict[str, Any] = self.request("GET", f"/datasets/{dataset_id}/versions", params=params)
        return result

    def get_version(self, dataset_id: str, version_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/datasets/{dataset_id}/versions/{_quote(version_id)}")
        return result

    def delete_version(self, dataset_id: str, version_id: str) -> None:
        self.request("DELETE", f"/datasets/{dataset_id}/versions/{_quote(version_id)}")

    def download_manifest(self, dataset_id: str, version_id: str, out: IO[bytes]) -> int:
        """Write the version's ModelArts manifest to ``out`` as it streams; the bytes written."""
        path = f"/v2/{self.project_id}/datasets/{dataset_id}/versions/{_quote(version_id)}/manifest"
        written = 0
        with self._http.stream("GET", path) as response:
            if not response.is_success:
                response.read()
                self._check(response)
            for chunk in response.iter_bytes():
                out.write(chunk)
                written += len(chunk)
        return written

    def list_version_samples(self, dataset_id: str, version_id: str, **params: Any) -> dict[str, Any]:
        """One page of the samples a version froze (the sample list with ``version_id``)."""
        result: dict[str, Any] = self.request(
            "GET",
            f"/datasets/{dataset_id}/data-annotations/samples",
            params={**params, "version_id": version_id},
        )
        return result

    def wait_for_version(
        self,
        dataset_id: str,
        version_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the version is no longer being published (status 1 normal, 4 error) and
        return it. ``on_progress`` gets every polled body (``progress`` is in percent while it
        is published). Raises TimeoutError after ``timeout`` seconds."""
        return _poll_until(
            lambda: self.get_version(dataset_id, version_id),
            lambda body: body.get("status") != VERSION_CREATING,
            f"version {version_id} is still being published after {timeout} s",
            timeout=timeout,
            poll=poll,
            on_progress=on_progress,
        )

    # --- export tasks -------------------------------------------------------------------
    def create_export_task(
        self,
        dataset_id: str,
        path: str | None = None,
        *,
        annotation_format: str | None = None,
        export_format: int | None = None,
        export_type: int | None = None,
        export_params: dict[str, Any] | None = None,
    ) -> str:
        """Start an export (docs/export.md); returns its task id (follow it with
        :meth:`wait_for_export_task`). ``path``: a folder under an export root, or ``obs://...``."""
        body: dict[str, Any] = {}
        optional = {
            "path": path,
            "annotation_format": annotation_format,
            "export_format": export_format,
            "export_type": export_type,
            "export_params": export_params,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        result: dict[str, Any] = self.request("POST", f"/datasets/{dataset_id}/export-tasks", json=body)
        return str(result["task_id"])

    def list_export_tasks(self, dataset_id: str, **params: Any) -> dict[str, Any]:
        """``export_tasks`` and ``total_count``; params ``limit``, ``offset`` (page), ``export_type``."""
        result: dict[str, Any] = self.request("GET", f"/datasets/{dataset_id}/export-tasks", params=params)
        return result

    def get_export_task(self, dataset_id: str, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/datasets/{dataset_id}/export-tasks/{_quote(task_id)}")
        return result

    def stop_export_task(self, dataset_id: str, task_id: str) -> None:
        """Ask an export to stop; it ends FAILED and leaves no output behind."""
        self.request("POST", f"/datasets/{dataset_id}/export-tasks/{_quote(task_id)}/stop")

    def wait_for_export_task(
        self,
        dataset_id: str,
        task_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.5,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the export ends (``SUCCESSED`` or ``FAILED``) and return its body;
        ``on_progress`` gets every polled body. TimeoutError after ``timeout`` seconds."""
        return _poll_until(
            lambda: self.get_export_task(dataset_id, task_id),
            lambda body: body.get("status") in ("SUCCESSED", "FAILED"),
            f"export task {task_id} has not ended after {timeout} s",
            timeout=timeout,
            poll=poll,
            on_progress=on_progress,
        )

    # --- model registry (LabelArts extension, docs/model-registry.md) -------------------------
    def import_model(
        self,
        model_name: str,
        model_file: bytes,
        *,
        kind: str,
        labels: list[str],
        input_size: tuple[int, int] | list[int],
        model_version: str | None = None,
        layout: str | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        scale: float | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Import an ONNX model (its bytes); returns the registered model."""
        body: dict[str, Any] = {
            "model_name": model_name,
            "kind": kind,
            "labels": list(labels),
            "input_size": list(input_size),
            "model_data": base64.b64encode(model_file).decode(),
        }
        optional = {
            "model_version": model_version,
            "layout": layout,
            "mean": mean,
            "std": std,
            "scale": scale,
            "description": description,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        result: dict[str, Any] = self.request("POST", "/models", json=body)
        return result

    def list_models(self, **params: Any) -> dict[str, Any]:
        """``models`` and ``total_count``; params ``limit``, ``offset`` (page), ``model_name``."""
        result: dict[str, Any] = self.request("GET", "/models", params=params)
        return result

    def get_model(self, model_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/models/{_quote(model_id)}")
        return result

    def delete_model(self, model_id: str) -> None:
        self.request("DELETE", f"/models/{_quote(model_id)}")


def _poll_until(
    fetch: Callable[[], dict[str, Any]],
    ended: Callable[[dict[str, Any]], bool],
    timeout_message: str,
    *,
    timeout: float | None,
    poll: float,
    on_progress: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    """Fetch until ``ended`` says so and return the last body; every body goes to
    ``on_progress``, the final one included. TimeoutError after ``timeout`` seconds (the work
    itself keeps running); the last sleep is cut short so the deadline itself gets a look."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        body = fetch()
        if on_progress is not None:
            on_progress(body)
        if ended(body):
            return body
        if deadline is None:
            time.sleep(poll)
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(timeout_message)
        time.sleep(min(poll, remaining))


def _quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="")
