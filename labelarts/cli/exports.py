"""``labelarts export DATASET --format ... --to PATH``: run an export task with a progress bar."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from labelarts.cli._common import (
    OutputFormat,
    OutputOption,
    QuietOption,
    api_command,
    emit_object,
    make_client,
    print_error,
    print_ids,
    print_message,
    print_table,
    progress_bar,
    server_path,
)
from labelarts.client import LabelArtsClient


class ExportFormat(StrEnum):
    coco = "coco"
    voc = "voc"
    yolo = "yolo"
    manifest = "manifest"
    folders = "folders"
    imagenet = "imagenet"
    cvat = "cvat"
    labelme = "labelme"
    csv = "csv"
    jsonl = "jsonl"


class Layout(StrEnum):
    tree = "tree"
    tile = "tile"


class Selection(StrEnum):
    labeled = "labeled"
    unlabeled = "unlabeled"
    all = "all"


_EXPORT_TYPE = {Selection.labeled: 0, Selection.unlabeled: 1, Selection.all: 2}
SUMMARY = ["task_id", "status", "progress", "path", "total_sample_count", "finished_sample_count"]


def export(
    dataset_id: Annotated[str, typer.Argument(help="Dataset id.")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="New folder under an export root, or obs://prefix/."),
    ] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = ExportFormat.folders,
    layout: Annotated[
        Layout, typer.Option(help="folders: tree (label/file) or tile (file beside its labels).")
    ] = Layout.tree,
    select: Annotated[Selection, typer.Option("--samples", help="Which samples.")] = Selection.all,
    train_ratio: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Split into train/validation with this training share."),
    ] = None,
    new_dataset: Annotated[
        str | None, typer.Option("--new-dataset", help="Export into a new dataset of this name instead.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow it with a progress bar.")] = True,
    quiet: QuietOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Export a dataset's samples and labels; Ctrl-C while waiting stops the export."""
    params: dict[str, Any] = {}
    if train_ratio is not None:
        params.update(ratio_sample_usage=True, train_sample_ratio=str(train_ratio))
    if new_dataset is not None:
        params.update(export_dest="NEW_DATASET", export_new_dataset_name=new_dataset)
    elif to is None:
        print_error("--to PATH is required (or --new-dataset NAME)")
        raise typer.Exit(2)
    annotation_format = None if fmt in (ExportFormat.folders,) else fmt.value.upper()
    with make_client() as client:
        task_id = client.create_export_task(
            dataset_id,
            None if to is None else server_path(to),
            annotation_format=annotation_format,
            export_format=1 if layout == Layout.tree else 2,
            export_type=_EXPORT_TYPE[select],
            export_params=params or None,
        )
        if not wait:
            print_message(task_id)
            return
        final = _follow(client, dataset_id, task_id)

    def table() -> None:
        rows = [{"field": key, "value": final.get(key)} for key in SUMMARY]
        if final.get("export_new_dataset_id"):
            rows.append({"field": "export_new_dataset_id", "value": final["export_new_dataset_id"]})
        print_table(rows, ["field", "value"])

    if quiet:
        print_ids([task_id])
    else:
        emit_object(final, output, table)
    if final["status"] != "SUCCESSED":
        print_error(f"export {task_id} failed: {final.get('error_code', '')}: {final.get('error_msg', '')}")
        raise typer.Exit(1)


def _follow(client: LabelArtsClient, dataset_id: str, task_id: str) -> dict[str, Any]:
    def show(task: dict[str, Any]) -> None:
        done, total = task.get("finished_sample_count", 0), task.get("total_sample_count", 0)
        bar.update(float(task.get("progress", 0)), f"Exporting {done}/{total}")

    try:
        with progress_bar("Exporting") as bar:
            result = client.wait_for_export_task(dataset_id, task_id, on_progress=lambda t: show(t.to_dict()))
            return result.to_dict()
    except KeyboardInterrupt:
        client.stop_export_task(dataset_id, task_id)
        print_error(f"stopped export {task_id}; it leaves no output behind")
        raise typer.Exit(130) from None


export_command = api_command(export)
