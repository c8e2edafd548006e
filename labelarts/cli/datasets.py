"""``labelarts dataset ...``: datasets through the API client."""

from __future__ import annotations

import time
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
    print_ids,
    print_jsonl,
    print_table,
)

app = typer.Typer(help="Datasets (list, create, show, update, delete, stats, metrics).")
COLUMNS = [
    "dataset_id",
    "dataset_name",
    "dataset_type",
    "status",
    "total_sample_count",
    "annotated_sample_count",
]


@app.command("list")
@api_command
def list_datasets(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    page: Annotated[int, typer.Option(min=0, help="Page number (ModelArts offset).")] = 0,
    search: Annotated[str | None, typer.Option(help="Fuzzy search keyword.")] = None,
    quiet: QuietOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List datasets, newest first."""
    params: dict[str, Any] = {"limit": limit, "offset": page}
    if search:
        params["search_content"] = search
    with make_client() as client:
        result = client.list_datasets(**params).to_dict()
    if quiet:
        print_ids(d["dataset_id"] for d in result["datasets"])
        return
    emit_list(result, "datasets", output, columns=COLUMNS, title=f"{result['total_number']} datasets")


@app.command("create")
@api_command
def create_dataset(
    name: str,
    dataset_type: Annotated[
        int, typer.Option("--type", help="0 image classification, 1 detection, 100 text...")
    ] = 0,
    data_path: Annotated[str | None, typer.Option(help="Folder under an import root.")] = None,
    work_path: Annotated[str, typer.Option(help="Output path.")] = "/labelarts/output/",
    label: Annotated[list[str] | None, typer.Option(help="Label name; repeatable.")] = None,
    description: str = "",
    quiet: QuietOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create a dataset; prints its id and import task id."""
    body: dict[str, Any] = {
        "dataset_name": name,
        "dataset_type": dataset_type,
        "data_sources": [{"data_type": 0, "data_path": data_path}] if data_path else [],
        "work_path": work_path,
        "work_path_type": 0,
        "description": description,
    }
    if label:
        body["labels"] = [{"name": n} for n in label]
    with make_client() as client:
        result = client.create_dataset(**body).to_dict()
    if quiet:
        print_ids([result["dataset_id"]])
        return
    emit_object(result, output, lambda: print_table([result], ["dataset_id", "import_task_id"]))


@app.command("show")
@api_command
def show_dataset(
    dataset_id: str,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show one dataset."""
    with make_client() as client:
        result = client.get_dataset(dataset_id).to_dict()
    emit_object(result, output, lambda: field_table(result))


@app.command("update")
@api_command
def update_dataset(
    dataset_id: str,
    name: Annotated[str | None, typer.Option(help="New dataset name.")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Rename a dataset or change its description."""
    with make_client() as client:
        result = client.update_dataset(dataset_id, dataset_name=name, description=description).to_dict()
    emit_object(result, output, lambda: print_table([result], ["dataset_id"]))


@app.command("delete")
@api_command
def delete_dataset(
    dataset_id: str,
) -> None:
    """Delete a dataset with its labels and samples."""
    with make_client() as client:
        client.delete_dataset(dataset_id)


@app.command("stats")
@api_command
def dataset_stats(
    dataset_id: str,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Sample and label statistics."""
    with make_client() as client:
        result = client.get_dataset_stats(dataset_id).to_dict()

    def table() -> None:
        print_table([result["sample_stats"]], list(result["sample_stats"]), title="samples")
        print_table(result["label_stats"], ["name", "type", "count", "sample_count"], title="labels")

    emit_object(result, output, table)


@app.command("metrics")
@api_command
def dataset_metrics(
    dataset_id: str,
    hours: Annotated[float, typer.Option(min=0, help="How far back to look, in hours.")] = 24.0,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Monitoring series (sample counts and tasks by state) over the last HOURS, one row a point."""
    end = int(time.time() * 1000)
    with make_client() as client:
        result = client.get_dataset_metrics(
            dataset_id, start_time=end - int(hours * 3_600_000), end_time=end
        ).to_dict()
    series: dict[str, dict[str, int]] = result["metrics"]
    times = sorted({at for points in series.values() for at in points}, key=int)
    rows = [{"time": at, **{name: points.get(at, "") for name, points in series.items()}} for at in times]
    if output == OutputFormat.jsonl:
        print_jsonl(rows)  # one line a point in time
        return
    emit_object(result, output, lambda: print_table(rows, ["time", *series], title=f"{len(rows)} points"))


def parse_properties(values: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs; a bare ``color=#fff`` means ``@modelarts:color``."""
    props: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected key=value, got {item!r}")
        props[key if key.startswith("@") else f"@modelarts:{key}"] = value
    return props
