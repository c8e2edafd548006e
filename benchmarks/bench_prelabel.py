"""Pre-labeling throughput through a real ``labelarts serve`` against raw onnxruntime on the
same model with the same threads.

1. exports EfficientNet-Lite0 to ONNX (the model auto labeling uses; 224 x 224 input) and
   registers it as a classifier of its 1,280 outputs (labels ``f0000``...): a model of real
   size and cost, whatever its labels mean;
2. starts ``labelarts serve`` (SQLite in a temporary data dir), imports the 2,000 CIFAR-10
   images of ``shared/data`` without labels and starts a ``pre-label`` task;
3. reports the task's images/s for its model phase (``inference_seconds``: reading each file,
   decoding, resizing, normalising and running the model) and for the whole task (results
   written too), against **raw**: the same ONNX file in an onnxruntime session in this
   process, with the default threads as the task's worker uses (``LABELARTS_ML_THREADS``
   unset), on batches of 32 preprocessed beforehand, measured before the server starts and
   after it stopped (the mean is the reference: the load of a shared machine drifts).

``--in-process`` runs the same task with the services wired in this process (a worker
thread, SQLite, no HTTP): for a machine too busy to start a server in time.

The load average is printed with the figures (``LABELARTS_SHARED_DATA`` points at the data
when it is not beside the checkout). Run from the repository root::

    python -m benchmarks.bench_prelabel
    python -m benchmarks.bench_prelabel --limit 500
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from benchmarks import shared_data
from benchmarks.bench_auth_latency import _http_client
from benchmarks.bench_autolabel_service import MODELS_DIR, _server
from labelarts.client import SdkHmacAuth
from labelarts.ml.features.image import export_onnx
from labelarts.ml.onnx_models import ModelSpec, OnnxModel

SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _raw(model_bytes: bytes, images: list[Path], spec: ModelSpec) -> float:
    model = OnnxModel.load(model_bytes, spec, threads=None)
    arrays = [model.preprocess(Image.open(p).convert("RGB")) for p in images]
    model.run(np.stack(arrays[:32]))  # warm-up
    started = time.perf_counter()
    for start in range(0, len(arrays), 32):
        model.run(np.stack(arrays[start : start + 32]))
    return len(arrays) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=2000, help="images (of the 2,000)")
    parser.add_argument("--in-process", action="store_true", help="no server: the services in this process")
    args = parser.parse_args()
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    model_bytes = export_onnx("lite0", MODELS_DIR).read_bytes()
    labels = [f"f{i:04d}" for i in range(1280)]
    spec = ModelSpec("classifier", tuple(labels), (SIZE, SIZE), "NCHW", MEAN, STD, 1 / 255)
    images = sorted((shared_data.data_dir() / "cifar10-train-200").glob("*/*.jpg"))[: args.limit]
    load_before = os.getloadavg()
    raw_before = _raw(model_bytes, images, spec)
    figures: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-prelabel-")))
        source = tmp / "imports" / "cifar"
        source.mkdir(parents=True)
        for path in images:  # a flat folder: no class sub-folders, so nothing is labeled
            (source / f"{path.parent.name}-{path.name}").write_bytes(path.read_bytes())
        if args.in_process:
            figures.update(_in_process(tmp, source, model_bytes, labels))
            stack.close()
        else:
            figures.update(_through_server(stack, tmp, source, model_bytes, labels))
    raw_after = _raw(model_bytes, images, spec)
    raw = (raw_before + raw_after) / 2
    print(f"pre-label, EfficientNet-Lite0 as a 1,280-label classifier, {len(images)} CIFAR-10 images")
    print(f"load before {load_before}, after {os.getloadavg()}")
    print(f"raw onnxruntime images/s: {raw_before:.1f} before, {raw_after:.1f} after (mean {raw:.1f})")
    print(
        f"task model phase images/s: {figures['model_phase_per_s']:.1f} "
        f"({figures['model_phase_per_s'] / raw:.2f} of raw)"
    )
    print(
        f"whole task images/s (start to end, written): {figures['task_per_s']:.1f} "
        f"({figures['task_per_s'] / raw:.2f} of raw)"
    )


def _figures(result: dict[str, Any], wall: float) -> dict[str, float]:
    images = result["unconfirmed_sample_count"]
    return {"model_phase_per_s": images / result["inference_seconds"], "task_per_s": images / wall}


def _in_process(tmp: Path, source: Path, model_bytes: bytes, labels: list[str]) -> dict[str, float]:
    from labelarts.clock import new_hex_id
    from labelarts.config import Settings
    from labelarts.container import build_services
    from labelarts.schemas.datasets import CreateDatasetRequest
    from labelarts.schemas.models import ImportModelRequest
    from labelarts.schemas.tasks import CreateTaskRequest

    settings = Settings(
        data_dir=tmp / "data",
        import_roots=[str(tmp / "imports")],
        models_dir=MODELS_DIR,
        secret_key="bench-secret-0123456789abcdef",
    )
    services = build_services(settings)
    try:
        project = new_hex_id()
        services.users.create_user("bench", project_id=project, password="bench-password-123")
        model = services.models.create(
            project,
            ImportModelRequest.model_validate(
                {
                    "model_name": "efficientnet-lite0",
                    "kind": "classifier",
                    "labels": labels,
                    "input_size": [SIZE, SIZE],
                    "mean": list(MEAN),
                    "std": list(STD),
                    "model_data": base64.b64encode(model_bytes).decode(),
                }
            ),
        )
        dataset_id, import_id = services.datasets.create(
            project,
            CreateDatasetRequest.model_validate(
                {
                    "dataset_name": "cifar",
                    "dataset_type": 0,
                    "data_sources": [{"data_type": 0, "data_path": str(source)}],
                    "work_path": "/bench/",
                    "work_path_type": 0,
                }
            ),
        )
        while services.imports.get(project, dataset_id, import_id)["status"] not in ("COMPLETED", "FAILED"):
            time.sleep(0.5)
        started = time.perf_counter()
        request = CreateTaskRequest.model_validate({"task_type": "pre-label", "model_id": model["model_id"]})
        task_id = services.autolabel.create(project, dataset_id, request)
        while (body := services.autolabel.get(project, dataset_id, task_id))["status"] not in (2, 3, 5):
            time.sleep(0.25)
        wall = time.perf_counter() - started
        if body["status"] != 3:
            raise SystemExit(f"task did not succeed: {body}")
        return _figures(body["result"], wall)
    finally:
        services.close()


def _through_server(
    stack: contextlib.ExitStack, tmp: Path, source: Path, model_bytes: bytes, labels: list[str]
) -> dict[str, float]:
    base, _proc, creds = stack.enter_context(_server(tmp / "data", None, None, tmp / "imports"))
    project = creds["project_id"]
    client = stack.enter_context(
        _http_client(SdkHmacAuth(creds["access_key"], creds["secret_key"], project), base)
    )
    client.timeout = httpx.Timeout(300)
    model = client.post(
        f"/v2/{project}/models",
        json={
            "model_name": "efficientnet-lite0",
            "kind": "classifier",
            "labels": labels,
            "input_size": [SIZE, SIZE],
            "mean": list(MEAN),
            "std": list(STD),
            "model_data": base64.b64encode(model_bytes).decode(),
        },
    )
    model.raise_for_status()
    created = client.post(
        f"/v2/{project}/datasets",
        json={
            "dataset_name": "cifar",
            "dataset_type": 0,
            "data_sources": [{"data_type": 0, "data_path": str(source)}],
            "work_path": "/bench/",
            "work_path_type": 0,
        },
    )
    created.raise_for_status()
    dataset_id, import_id = created.json()["dataset_id"], created.json()["import_task_id"]
    while client.get(f"/v2/{project}/datasets/{dataset_id}/import-tasks/{import_id}").json()[
        "status"
    ] not in (
        "COMPLETED",
        "FAILED",
    ):
        time.sleep(0.5)
    started = time.perf_counter()
    task_id = client.post(
        f"/v2/{project}/datasets/{dataset_id}/tasks",
        json={"task_type": "pre-label", "model_id": model.json()["model_id"]},
    ).json()["task_id"]
    while True:
        body = client.get(f"/v2/{project}/datasets/{dataset_id}/tasks/{task_id}").json()
        if body["status"] in (2, 3, 5):
            break
        time.sleep(0.25)
    wall = time.perf_counter() - started
    if body["status"] != 3:
        raise SystemExit(f"task did not succeed: {body}")
    return _figures(body["result"], wall)


if __name__ == "__main__":
    main()
