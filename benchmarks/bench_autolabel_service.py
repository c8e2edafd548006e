"""Auto labeling end to end through a real ``labelarts serve``: CIFAR-10 from ../shared/data.

What it does:

1. starts ``labelarts serve --import-root <shared data>`` (SQLite in a temporary data dir, or a
   throw-away PostgreSQL database) and imports the 2,000 CIFAR-10 images with their class
   folders as labels;
2. keeps ``--k`` labels per class (seeded) and removes the others through
   ``PUT .../data-annotations/samples`` (people's view: k labeled per class, the rest unlabeled);
3. starts an auto-labeling task, polls it every 0.25 s and samples the server's resident memory;
4. reads every to-be-confirmed sample back through ``GET .../auto-annotations/samples`` and
   scores it against the true class: accuracy, expected calibration error of the scores,
   precision and coverage of the samples not marked hard, and the hard flags' precision/recall
   against the wrong labels;
5. times the feature phase (task progress 2% -> 80%) and, before the server starts and after it
   has stopped, the raw onnxruntime throughput of the same model on the same images already
   preprocessed, in this process with the same threads: the ratio (to the mean of the two) is
   what the service's pipeline keeps of the raw speed;
6. runs a second task on the same dataset: every feature comes from the cache.

With ``--generated N`` the dataset is ``N`` generated 32x32 JPEGs in 10 class folders (a
class's colour and stripe period, plus noise) instead of CIFAR-10, for the whole task at scale:
``task_samples_per_s`` is every sample (labeled and auto-labeled) over the first task's time,
and the peak RSS is sampled for the API process and for the worker process that runs the task.

Run from the repository root with the project's virtualenv active::

    python -m benchmarks.bench_autolabel_service
    python -m benchmarks.bench_autolabel_service --k 5 --algorithm accurate --augment-budget 0
    python -m benchmarks.bench_autolabel_service --generated 100000 --k 100
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.bench_auth_latency import (
    DEFAULT_PG_ADMIN_URL,
    HOST,
    _base_env,
    _free_port,
    _http_client,
    _labelarts_command,
    _stop,
    _wait_healthy,
    postgres_database,
)
from labelarts.client import SdkHmacAuth

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CIFAR = SHARED / "cifar10-train-200"
MODELS_DIR = Path.home() / ".cache" / "labelarts-bench" / "models"


def _rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _children(pid: int) -> list[int]:
    """The server's child processes (the worker that runs the task)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for tid in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(c) for c in (tid / "children").read_text().split())
    return found


def generate_images(root: Path, count: int, seed: int = 0) -> None:
    """``count`` distinct 32x32 JPEGs in ten class folders: each class has its own colour and
    stripe period, each image its own noise (so every file has its own content hash)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 216, (10, 3))
    rows = np.arange(32)[:, None]
    for c in range(10):
        (root / f"class_{c}").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        c = i % 10
        stripes = ((rows // (2 + c)) % 2 * 40 - 20).repeat(32, axis=1)[..., None]
        pixels = colours[c] + stripes + rng.integers(-25, 26, (32, 32, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        image.save(root / f"class_{c}" / f"img_{i:07d}.jpg", quality=90)


@contextlib.contextmanager
def _server(
    data_dir: Path, database_url: str | None, augment_budget: int | None, import_root: Path = SHARED
) -> Iterator[tuple[str, subprocess.Popen[bytes], dict[str, str]]]:
    port = _free_port()
    env = _base_env(database_url)
    env["LABELARTS_MODELS_DIR"] = str(MODELS_DIR)
    if augment_budget is not None:
        env["LABELARTS_AUTOLABEL_AUGMENT_BUDGET"] = str(augment_budget)
    log_path = data_dir.parent / "serve.log"
    cmd = [*_labelarts_command(), "serve", "--data-dir", str(data_dir), "--port", str(port)]
    cmd += ["--import-root", str(import_root)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://{HOST}:{port}"
    try:
        _wait_healthy(base, proc, log_path)
        creds = json.loads((data_dir / "initial-credentials.json").read_text())
        yield base, proc, creds
    finally:
        _stop(proc)


def _all_pages(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    page = 0
    while True:
        response = client.get(path, params={"limit": 100, "offset": page})
        response.raise_for_status()
        batch = response.json()["samples"]
        samples.extend(batch)
        if len(batch) < 100:
            return samples
        page += 1


def _ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def _run_task(
    client: httpx.Client,
    pid: int,
    project_id: str,
    dataset_id: str,
    config: dict[str, Any],
    peaks: dict[str, float],
) -> tuple[dict[str, Any], float, float, float]:
    """Start a task and poll it; (final body, feature phase s, total s, peak RSS MiB). The peak
    is the highest sum over the API process and its workers (``peaks`` gets each one's own)."""
    path = f"/v2/{project_id}/datasets/{dataset_id}/tasks"
    started = time.monotonic()
    task_id = client.post(path, json={"task_type": "auto-label", "config": config}).json()["task_id"]
    feature_start = feature_end = None
    peak = 0.0
    while True:
        body = client.get(f"{path}/{task_id}").json()
        now = time.monotonic()
        each = {"api": _rss_mib(pid)} | {f"worker {c}": _rss_mib(c) for c in _children(pid)}
        peak = max(peak, sum(each.values()))
        for name, value in each.items():
            peaks[name] = max(peaks.get(name, 0.0), value)
        if feature_start is None and body["progress"] >= 2.0:
            feature_start = now
        if feature_end is None and body["progress"] >= 80.0:
            feature_end = now
        if body["status"] in (2, 3, 5):
            break
        time.sleep(0.25)
    total = time.monotonic() - started
    phase = (feature_end or now) - (feature_start or started)
    return body, phase, total, peak


def _raw_onnxruntime(model: str, images: list[Path], threads: int | None) -> float:
    """Images/s of the bare onnxruntime session on already-preprocessed inputs."""
    from PIL import Image

    from labelarts.ml.features.image import preprocess_image
    from labelarts.ml.features.registry import open_encoder

    encoder: Any = open_encoder("image", model, model_dir=MODELS_DIR, threads=threads)
    arrays = []
    for path in images:
        with Image.open(path) as image:
            arrays.append(preprocess_image(image.convert("RGB"), encoder.input_size))
    inputs = np.stack(arrays)
    encoder.infer_all(inputs[: encoder.batch_size])  # warm-up
    started = time.perf_counter()
    encoder.infer_all(inputs)  # in runs side by side, as the encoder runs them
    return len(arrays) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--k", type=int, default=20, help="labeled samples kept per class")
    parser.add_argument("--algorithm", choices=["fast", "accurate"], default="fast")
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--augment-budget", type=int, default=None, help="server default if omitted")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--generated", type=int, default=0, help="generated 32x32 images instead of CIFAR-10")
    args = parser.parse_args()

    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"k": args.k, "algorithm": args.algorithm, "model": args.model}
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-autolabel-")))
        import_root, source = SHARED, CIFAR
        if args.generated:
            import_root, source = tmp / "imports", tmp / "imports" / "generated"
            generate_images(source, args.generated, args.seed)
        images = sorted(source.glob("*/*.jpg"))[:2000]
        # Raw speed before and after the service run: on a shared machine the load drifts.
        raw_before = _raw_onnxruntime(args.model, images, None)
        url = None
        if args.database == "postgresql":
            url = stack.enter_context(postgres_database(DEFAULT_PG_ADMIN_URL))
        base, proc, creds = stack.enter_context(_server(tmp / "data", url, args.augment_budget, import_root))
        project = creds["project_id"]
        auth = SdkHmacAuth(creds["access_key"], creds["secret_key"], project)
        client = stack.enter_context(_http_client(auth, base))
        client.timeout = httpx.Timeout(120)
        created = client.post(
            f"/v2/{project}/datasets",
            json={
                "dataset_name": "cifar10" if not args.generated else "generated",
                "dataset_type": 0,
                "data_sources": [{"data_type": 0, "data_path": str(source)}],
                "work_path": "/bench/",
                "work_path_type": 0,
                "import_annotations": True,
            },
        )
        created.raise_for_status()
        dataset_id, import_id = created.json()["dataset_id"], created.json()["import_task_id"]
        while client.get(f"/v2/{project}/datasets/{dataset_id}/import-tasks/{import_id}").json()[
            "status"
        ] not in ("COMPLETED", "FAILED"):
            time.sleep(0.5)
        samples = _all_pages(client, f"/v2/{project}/datasets/{dataset_id}/data-annotations/samples")
        truth = {s["sample_id"]: s["labels"][0]["name"] for s in samples}
        by_class: dict[str, list[str]] = {}
        for sample_id, name in sorted(truth.items()):
            by_class.setdefault(name, []).append(sample_id)
        rng = random.Random(args.seed)
        keep = {i for ids in by_class.values() for i in rng.sample(ids, args.k)}
        unlabel = [i for i in truth if i not in keep]
        for start in range(0, len(unlabel), 100):
            batch = [{"sample_id": i, "labels": []} for i in unlabel[start : start + 100]]
            client.put(
                f"/v2/{project}/datasets/{dataset_id}/data-annotations/samples", json={"samples": batch}
            ).raise_for_status()

        config = {"algorithm_type": args.algorithm, "feature_model": args.model}
        peaks: dict[str, float] = {}
        body, phase, total, peak = _run_task(client, proc.pid, project, dataset_id, config, peaks)
        if body["status"] != 3:
            raise SystemExit(f"task did not succeed: {body}")
        auto = _all_pages(client, f"/v2/{project}/datasets/{dataset_id}/auto-annotations/samples")
        label = np.array([s["labels"][0]["name"] for s in auto])
        score = np.array([s["labels"][0]["score"] for s in auto])
        hard = np.array([bool(s["metadata"]["@modelarts:hard"]) for s in auto])
        correct = label == np.array([truth[s["sample_id"]] for s in auto])
        wrong = ~correct
        figures.update(
            samples=len(truth),
            labeled=len(keep),
            auto_labeled=len(auto),
            accuracy=float(correct.mean()),
            ece=_ece(score, correct),
            not_hard_precision=float(correct[~hard].mean()) if (~hard).any() else float("nan"),
            not_hard_coverage=float((~hard).mean()),
            hard_flag_precision=float(wrong[hard].mean()) if hard.any() else float("nan"),
            hard_flag_recall=float(hard[wrong].mean()) if wrong.any() else float("nan"),
            task_s=total,
            feature_phase_s=phase,
            service_images_per_s=len(truth) / phase,
            task_samples_per_s=len(truth) / total,
            server_peak_rss_mib=peak,
            **{f"peak_rss_mib_{name}": value for name, value in peaks.items()},
        )
        second, _, second_total, _ = _run_task(client, proc.pid, project, dataset_id, config, {})
        figures.update(
            second_task_s=second_total,
            second_task_encoded=second["result"].get("encoded_feature_count"),
            second_task_cached=second["result"].get("cached_feature_count"),
        )
        raw_after = _raw_onnxruntime(args.model, images, None)
    raw = (raw_before + raw_after) / 2
    figures["load_average_before_after"] = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    figures["raw_onnxruntime_images_per_s_before"] = raw_before
    figures["raw_onnxruntime_images_per_s_after"] = raw_after
    figures["service_over_raw"] = figures["service_images_per_s"] / raw

    print(f"| figure | {args.database}, {args.model}, {args.algorithm}, k={args.k} |")
    print("|---|---:|")
    for key, value in figures.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"| {key} | {shown} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
