"""``labelarts model ...``: the model registry (import, list, show, delete) and pre-labeling
with a registered model; ``labelarts autogroup``: auto grouping (docs/model-registry.md,
docs/auto-grouping.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from labelarts.cli._common import (
    OutputFormat,
    OutputOption,
    api_command,
    make_client,
    print_error,
    print_json,
    print_message,
    print_table,
)
from labelarts.cli.autolabel import wait_and_report

app = typer.Typer(help="Your own ONNX models for pre-labeling (import, list, show, delete, prelabel).")

LIST_COLUMNS = ["model_id", "model_name", "model_version", "kind", "labels", "input_size", "model_size"]
ModelIdArg = Annotated[str, typer.Argument(help="Model id (from import or list).")]


def _print_task_id(task_id: str, output: OutputFormat) -> None:
    if output == OutputFormat.json:
        print_json({"task_id": task_id})
    else:
        print_table([{"task_id": task_id}], ["task_id"])


def print_model(model: dict[str, Any], output: OutputFormat) -> None:
    if output == OutputFormat.json:
        print_json(model)
        return
    print_table([{"field": k, "value": v} for k, v in model.items()], ["field", "value"])


def _floats(text: str | None, name: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3:
        print_error(f"{name} takes three numbers separated by commas (R,G,B)")
        raise typer.Exit(2)
    return values


@app.command("import")
@api_command
def import_model(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The .onnx file.")],
    name: Annotated[str, typer.Option("--name", help="Model name (letters, digits, _ . -).")],
    kind: Annotated[str, typer.Option("--kind", help="classifier or detector.")],
    input_size: Annotated[str, typer.Option("--input-size", help="HEIGHTxWIDTH, e.g. 224x224.")],
    label: Annotated[
        list[str] | None, typer.Option("--label", help="A label, in output order (repeat).")
    ] = None,
    labels_file: Annotated[
        Path | None, typer.Option("--labels-file", exists=True, dir_okay=False, help="One label per line.")
    ] = None,
    version: Annotated[str | None, typer.Option("--version", help="Model version (1.0.0).")] = None,
    layout: Annotated[str | None, typer.Option("--layout", help="NCHW (default) or NHWC.")] = None,
    mean: Annotated[
        str | None, typer.Option("--mean", help="R,G,B subtracted after scaling (0,0,0).")
    ] = None,
    std: Annotated[str | None, typer.Option("--std", help="R,G,B divided by after that (1,1,1).")] = None,
    scale: Annotated[float | None, typer.Option("--scale", help="Pixel (0-255) multiplier (1/255).")] = None,
    description: Annotated[str | None, typer.Option(help="Description.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Import an ONNX model with its labels, input size and normalisation."""
    labels = list(label or [])
    if labels_file is not None:
        labels.extend(line.strip() for line in labels_file.read_text().splitlines() if line.strip())
    try:
        height, width = (int(v) for v in input_size.lower().split("x"))
    except ValueError:
        print_error("--input-size takes HEIGHTxWIDTH, e.g. 224x224")
        raise typer.Exit(2) from None
    with make_client() as client:
        model = client.import_model(
            name,
            file.read_bytes(),
            kind=kind,
            labels=labels,
            input_size=(height, width),
            model_version=version,
            layout=layout,
            mean=_floats(mean, "--mean"),
            std=_floats(std, "--std"),
            scale=scale,
            description=description,
        )
    print_model(model.to_dict(), output)


@app.command("list")
@api_command
def list_models(
    name: Annotated[str | None, typer.Option("--name", help="Only models of this name.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    page: Annotated[int, typer.Option(min=0, help="Page number (ModelArts offset).")] = 0,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the project's models, newest first."""
    params: dict[str, Any] = {"limit": limit, "offset": page}
    if name:
        params["model_name"] = name
    with make_client() as client:
        result = client.list_models(**params).to_dict()
    if output == OutputFormat.json:
        print_json(result)
        return
    rows = [{**m, "labels": len(m["labels"])} for m in result["models"]]
    print_table(rows, LIST_COLUMNS, title=f"{result['total_count']} models")


@app.command("show")
@api_command
def show_model(
    model_id: ModelIdArg,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show one model."""
    with make_client() as client:
        print_model(client.get_model(model_id).to_dict(), output)


@app.command("delete")
@api_command
def delete_model(
    model_id: ModelIdArg,
) -> None:
    """Delete a model and its file."""
    with make_client() as client:
        client.delete_model(model_id)
    print_message(f"deleted model {model_id}")


@app.command("prelabel")
@api_command
def prelabel(
    dataset_id: str,
    model_id: ModelIdArg,
    confidence_scope: Annotated[
        str | None, typer.Option(help="Confidence range marked as hard examples, e.g. 0.1-0.6.")
    ] = None,
    score_threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Detectors: keep boxes scoring at least this (0.5)."),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the task to end.")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Pre-label the dataset's unlabeled images with a registered model (task_type pre-label)."""
    with make_client() as client:
        task_id = client.start_pre_label(
            dataset_id, model_id, confidence_scope=confidence_scope, score_threshold=score_threshold
        )
        if wait:
            wait_and_report(client, dataset_id, task_id, output)
            return
    _print_task_id(task_id, output)


@api_command
def autogroup(
    dataset_id: str,
    groups: Annotated[int, typer.Option("--groups", "-k", min=2, max=200, help="Number of groups (2-200).")],
    attribute: Annotated[
        str | None,
        typer.Option(
            "--attribute", help="Write each image's group to this sample attribute (result_type 1)."
        ),
    ] = None,
    brightness: Annotated[bool, typer.Option("--brightness", help="Group by brightness too.")] = False,
    colorfulness: Annotated[bool, typer.Option("--colorfulness", help="Group by colorfulness too.")] = False,
    blur: Annotated[bool, typer.Option("--blur", help="Group by blurriness too (ambiguity).")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the task to end.")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Group the unlabeled images by content (task_type auto-grouping); without --attribute the
    groups are written under the dataset's work path (result_type 0)."""
    with make_client() as client:
        task_id = client.start_auto_grouping(
            dataset_id,
            groups,
            result_type=1 if attribute else 0,
            property=attribute,
            image_brightness=brightness,
            image_colorfulness=colorfulness,
            ambiguity=blur,
        )
        if wait:
            wait_and_report(client, dataset_id, task_id, output)
            return
    _print_task_id(task_id, output)
