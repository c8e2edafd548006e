"""``labelarts import ...``: import tasks (start, status, list), with a progress bar."""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from typing import Annotated, Any

import typer

from labelarts.cli._common import (
    OutputFormat,
    OutputOption,
    QuietOption,
    api_command,
    emit_list,
    emit_object,
    field_table,
    make_client,
    print_error,
    progress_bar,
    server_path,
)
from labelarts.client import LabelArtsClient

app = typer.Typer(help="Import tasks (start, status, list): files under an import root into a dataset.")

FINAL = ("COMPLETED", "FAILED")
SUMMARY = [
    "task_id",
    "status",
    "import_path",
    "progress",
    "total_file_count",
    "finished_file_count",
    "imported_sample_count",
    "annotated_sample_count",
    "unconfirmed_sample_count",
    "skipped_file_count",
    "failed_file_count",
    "elapsed_time",
    "error_code",
    "error_msg",
]
LIST_COLUMNS = [
    "task_id",
    "status",
    "import_path",
    "imported_sample_count",
    "failed_file_count",
    "create_time",
]
POLL = 0.5

DatasetArg = Annotated[str, typer.Argument(help="Dataset id.")]
TaskArg = Annotated[str, typer.Argument(help="Import task id (from start or list).")]


class ImportType(StrEnum):
    dir = "dir"
    manifest = "manifest"
    coco = "coco"
    voc = "voc"
    yolo = "yolo"
    imagenet = "imagenet"
    cvat = "cvat"
    labelme = "labelme"
    datumaro = "datumaro"


def _column(value: str | None) -> int | str | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def get_task(client: LabelArtsClient, dataset_id: str, task_id: str) -> dict[str, Any]:
    from urllib.parse import quote

    result: dict[str, Any] = client.request(
        "GET", f"/datasets/{dataset_id}/import-tasks/{quote(task_id, safe='')}"
    )
    return result


def wait(client: LabelArtsClient, dataset_id: str, task_id: str) -> dict[str, Any]:
    """Poll the task until it is COMPLETED or FAILED, with a progress bar on a terminal."""
    try:
        with progress_bar("Importing") as bar:
            while True:
                task = get_task(client, dataset_id, task_id)
                done, total = task.get("finished_file_count", 0), task.get("total_file_count", 0)
                bar.update(
                    100 * float(task.get("progress", 0)), f"{task['status'].title()} {done}/{total} files"
                )
                if task["status"] in FINAL:
                    return task
                time.sleep(POLL)
    except KeyboardInterrupt:
        print_error(
            f"stopped waiting; import {task_id} keeps running "
            f"(labelarts import status {dataset_id} {task_id})"
        )
        raise typer.Exit(130) from None


def report(task: dict[str, Any], output: OutputFormat, quiet: bool) -> None:
    """Print the task; exit 1 when it failed (its error on stderr, with the first failed files)."""
    if quiet:
        sys.stdout.write(f"{task['task_id']}\n")
    else:
        emit_object(task, output, lambda: field_table(task, SUMMARY))
    for failure in (task.get("failed_files") or [])[:10]:
        print_error(f"{failure.get('path')}: {failure.get('reason')}")
    if task["status"] == "FAILED":
        print_error(
            f"import {task['task_id']} failed: {task.get('error_code', '')}: {task.get('error_msg', '')}"
        )
        raise typer.Exit(1)


@app.command("start")
@api_command
def start(
    dataset_id: DatasetArg,
    path: Annotated[
        str, typer.Argument(help="Folder or manifest under an import root, or obs://bucket/prefix/.")
    ],
    import_type: Annotated[
        ImportType, typer.Option("--type", help="dir: folders, class sub-folders, VOC, text; or a format.")
    ] = ImportType.dir,
    annotations: Annotated[
        bool, typer.Option("--annotations/--no-annotations", help="Import the labels found with the files.")
    ] = True,
    to_confirm: Annotated[
        bool, typer.Option("--to-confirm", help="Imported labels wait for confirmation.")
    ] = False,
    header: Annotated[
        bool | None,
        typer.Option(
            "--header/--no-header",
            help="Text .csv files: read columns; the first row a header.",
            show_default=False,
        ),
    ] = None,
    text_column: Annotated[
        str | None, typer.Option(help="Text .csv: column of the text (index or name).")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="Text .csv: column of the label (index or name).")
    ] = None,
    wait_: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the import to its end.")] = True,
    quiet: QuietOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Import files into a dataset; waits with a progress bar unless --no-wait. Exit 1 if it failed."""
    body: dict[str, Any] = {
        "import_path": server_path(path),
        "import_type": import_type.value,
        "import_annotations": annotations,
        "final_annotation": not to_confirm,
    }
    optional = {
        "with_column_header": header,
        "text_column": _column(text_column),
        "label_column": _column(label_column),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    with make_client() as client:
        task_id = str(client.request("POST", f"/datasets/{dataset_id}/import-tasks", json=body)["task_id"])
        if not wait_:
            if quiet:
                sys.stdout.write(f"{task_id}\n")
            else:
                emit_object({"task_id": task_id}, output, lambda: field_table({"task_id": task_id}))
            return
        task = wait(client, dataset_id, task_id)
    report(task, output, quiet)


@app.command("status")
@api_command
def status(
    dataset_id: DatasetArg,
    task_id: TaskArg,
    wait_: Annotated[bool, typer.Option("--wait", help="Wait for it to end, with a progress bar.")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """An import task's state, counts and first failures. Exit 1 if it failed."""
    with make_client() as client:
        task = wait(client, dataset_id, task_id) if wait_ else get_task(client, dataset_id, task_id)
    report(task, output, quiet=False)


@app.command("list")
@api_command
def list_tasks(
    dataset_id: DatasetArg,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    page: Annotated[int, typer.Option(min=0, help="Page number, from 0.")] = 0,
    output: OutputOption = OutputFormat.table,
) -> None:
    """The dataset's import tasks, newest first."""
    with make_client() as client:
        result: dict[str, Any] = client.request(
            "GET", f"/datasets/{dataset_id}/import-tasks", params={"limit": limit, "offset": page}
        )
    emit_list(
        result, "import_tasks", output, columns=LIST_COLUMNS, title=f"{result['total_count']} import tasks"
    )
