"""Export throughput (samples/s) and peak RSS, per format, for N labeled image samples.

Set-up (once): a SQLite or PostgreSQL database, a project, and two datasets over the same
N tiny JPEG files (64x48, ~1 KB, under an import root): an image-classification dataset (one
class label per sample, 10 classes) and an object-detection dataset (one or two pixel boxes per
sample); rows are bulk-inserted with Core (as bench_sample_list does), files written once.

Then each format runs in a **fresh child process** (so its peak RSS is its own): the child
builds the services, runs the export task body (``ExportJob``, what a worker runs) into a new
folder under an export root, and reports wall seconds, samples/s, the RSS before the export,
the peak RSS (VmHWM) and the number of files written. Formats on the detection dataset:
``tile`` (ModelArts folders, image + VOC XML), ``coco``, ``voc``, ``yolo``, ``cvat``,
``labelme``, ``manifest``, ``jsonl``; on the classification dataset: ``tree`` (class folders),
``imagenet``, ``csv``.

    python -m benchmarks.bench_export --count 100000 --json /tmp/export.json
    python -m benchmarks.bench_export --count 10000 --formats coco,voc --database postgresql
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import create_engine, insert

DETECTION_FORMATS = ["tile", "coco", "voc", "yolo", "cvat", "labelme", "manifest", "jsonl"]
CLASSIFICATION_FORMATS = ["tree", "imagenet", "csv"]
API_FORMAT = {
    "tile": (None, 2),
    "tree": (None, 1),
    "coco": ("COCO", 2),
    "voc": ("VOC", 2),
    "yolo": ("YOLO", 2),
    "cvat": ("CVAT", 2),
    "labelme": ("LABELME", 2),
    "manifest": ("MANIFEST", 2),
    "jsonl": ("JSONL", 2),
    "imagenet": ("IMAGENET", 2),
    "csv": ("CSV", 2),
}
CLASSES = [f"class{i}" for i in range(10)]
CHUNK = 10_000
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _settings(root: Path, database_url: str, project_id: str) -> Any:
    from labelarts.config import Settings

    return Settings(
        data_dir=root / "data",
        database_url=database_url,
        import_roots=[f"{root / 'imports'}=*"],
        export_roots=[f"{root / 'exports'}={project_id}"],
        secret_key="bench-export-secret-0123456789",
    )


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 30, 200)).save(out, "JPEG", quality=80)
    return out.getvalue()


def setup(root: Path, database_url: str, count: int) -> dict[str, Any]:
    """Files, a project, and the two datasets; returns their ids."""
    from labelarts.clock import new_hex_id, new_resource_id, now_ms
    from labelarts.container import build_services
    from labelarts.storage.db.models import Dataset, Label, Sample, SampleLabel

    project_id = new_hex_id()
    (root / "imports" / "files").mkdir(parents=True)
    (root / "exports").mkdir()
    data = _jpeg()
    started = time.perf_counter()
    files = root / "imports" / "files"
    for i in range(count):
        (files / f"img{i:07d}.jpg").write_bytes(data)
    write_s = time.perf_counter() - started
    services = build_services(_settings(root, database_url, project_id), run_tasks=False)
    services.users.create_user("bench", project_id=project_id, password="bench-password-1")
    services.close()
    engine = create_engine(database_url)
    now = now_ms()
    ids = {"classification": new_resource_id(), "detection": new_resource_id()}
    started = time.perf_counter()
    with engine.begin() as conn:
        for kind, dataset_id in ids.items():
            conn.execute(
                insert(Dataset.__table__),
                [
                    {
                        "id": dataset_id,
                        "project_id": project_id,
                        "name": f"bench-{kind}",
                        "dataset_type": 0 if kind == "classification" else 1,
                        "description": "",
                        "data_format": "Default",
                        "data_sources": [],
                        "work_path": "/bench/",
                        "work_path_type": 0,
                        "workspace_id": "0",
                        "import_annotations": True,
                        "import_data": False,
                        "managed": False,
                        "status": 0,
                        "next_version_num": 1,
                        "create_time": now,
                        "update_time": now,
                        "data_update_time": now,
                        "data_version": 0,
                    }
                ],
            )
            label_type = 0 if kind == "classification" else 1
            conn.execute(
                insert(Label.__table__),
                [
                    {
                        "dataset_id": dataset_id,
                        "name": n,
                        "type": label_type,
                        "property": {},
                        "attributes": [],
                    }
                    for n in CLASSES
                ],
            )
            for first in range(0, count, CHUNK):
                samples, labels = [], []
                for i in range(first, min(count, first + CHUNK)):
                    sample_id = new_resource_id(20)
                    path = str((files / f"img{i:07d}.jpg").resolve())
                    samples.append(
                        {
                            "id": sample_id,
                            "dataset_id": dataset_id,
                            "sample_type": 0,
                            "sample_status": "MANUAL_ANNOTATION",
                            "sample_name": f"img{i:07d}.jpg",
                            "sample_dir": str(files.resolve()) + "/",
                            "source_kind": "local",
                            "source_key": path,
                            "content_hash": None,
                            "sample_size": len(data),
                            "sample_time": now,
                            "metadata": {"@modelarts:size": [64, 48, 3]},
                            "hard": False,
                            "revision": 0,
                        }
                    )
                    boxes = (
                        [(2, 3, 30, 40)]
                        if kind == "classification" or i % 2
                        else [(2, 3, 30, 40), (10, 5, 60, 45)]
                    )
                    for j, box in enumerate(boxes if kind == "detection" else boxes[:1]):
                        prop: dict[str, Any] = {}
                        if kind == "detection":
                            prop = {
                                "@modelarts:shape": "bndbox",
                                "@modelarts:feature": [[box[0], box[1]], [box[2], box[3]]],
                            }
                        labels.append(
                            {
                                "sample_id": sample_id,
                                "dataset_id": dataset_id,
                                "name": CLASSES[(i + j) % len(CLASSES)],
                                "type": label_type,
                                "property": prop,
                                "annotated_by": "human",
                            }
                        )
                conn.execute(insert(Sample.__table__), samples)
                conn.execute(insert(SampleLabel.__table__), labels)
    engine.dispose()
    return {
        "project_id": project_id,
        "datasets": ids,
        "files_s": write_s,
        "insert_s": time.perf_counter() - started,
    }


def child(args: argparse.Namespace) -> None:
    """One export in this process: print one JSON line of figures."""
    from labelarts.container import build_services
    from labelarts.schemas.exports import CreateExportTaskRequest
    from labelarts.services.exporting.job import ExportJob

    root = Path(args.root)
    services = build_services(_settings(root, args.database_url, args.project_id), run_tasks=False)
    annotation_format, layout = API_FORMAT[args.format]
    dest = root / "exports" / f"{args.format}-{secrets.token_hex(3)}"
    request = CreateExportTaskRequest(
        path=str(dest), annotation_format=annotation_format, export_format=layout
    )
    config = services.exports.plan(args.project_id, args.dataset_id, request)

    class Context:
        task_id = secrets.token_hex(8)
        project_id = args.project_id
        dataset_id = args.dataset_id

        def __init__(self) -> None:
            self.config = config
            self.reports = 0

        def report(self, progress: float, **result: Any) -> None:
            self.reports += 1

    ctx = Context()
    job = ExportJob(
        db=services.db,
        objects=services.objects,
        local_files=services.sources.local,
        export_scope=services.exports._export_grants.scope(args.project_id),
        staging_dir=services.settings.resolved_data_dir / "exports",
        ctx=ctx,  # type: ignore[arg-type]
    )
    rss_before = _kib("VmRSS")
    started = time.perf_counter()
    result = job.run()
    seconds = time.perf_counter() - started
    files = sum(len(names) for _, _, names in os.walk(dest))
    print(
        json.dumps(
            {
                "format": args.format,
                "samples": result["finished_sample_count"],
                "seconds": round(seconds, 2),
                "samples_per_s": round(result["finished_sample_count"] / seconds, 1),
                "rss_before_mib": round(rss_before / 1024, 1),
                "peak_rss_mib": round(_kib("VmHWM") / 1024, 1),
                "files": files,
                "progress_reports": ctx.reports,
            }
        )
    )
    services.close()


@contextmanager
def database(kind: str, tmp: Path, admin_url: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    from benchmarks.bench_auth_latency import postgres_database

    with postgres_database(admin_url) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--formats", default=",".join(DETECTION_FORMATS + CLASSIFICATION_FORMATS))
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--project-id", help=argparse.SUPPRESS)
    parser.add_argument("--dataset-id", help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp_name:
        tmp = Path(tmp_name)
        with database(args.database, tmp, args.pg_admin_url) as url:
            made = setup(tmp, url, args.count)
            print(
                f"set-up: {args.count} files in {made['files_s']:.1f} s, "
                f"rows for two datasets in {made['insert_s']:.1f} s ({args.database})",
                flush=True,
            )
            header = ("format", "samples", "seconds", "samples/s", "RSS before", "peak RSS", "files")
            print("{:<10} {:>8} {:>8} {:>10} {:>11} {:>9} {:>8}".format(*header))
            for fmt in args.formats.split(","):
                kind = "classification" if fmt in CLASSIFICATION_FORMATS else "detection"
                command = [
                    sys.executable, "-m", "benchmarks.bench_export", "--child",
                    "--root", str(tmp), "--database-url", url, "--project-id", made["project_id"],
                    "--dataset-id", made["datasets"][kind], "--format", fmt,
                ]  # fmt: skip
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    print(f"{fmt}: failed\n{done.stderr[-3000:]}", flush=True)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row["database"] = args.database
                rows.append(row)
                print(
                    f"{fmt:<10} {row['samples']:>8} {row['seconds']:>8} {row['samples_per_s']:>10} "
                    f"{row['rss_before_mib']:>9} M {row['peak_rss_mib']:>7} M {row['files']:>8}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
