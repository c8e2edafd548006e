"""``labelarts label ...``: dataset labels through the API client."""

from __future__ import annotations

from typing import Annotated

import typer

from labelarts.cli._common import (
    OutputFormat,
    OutputOption,
    api_command,
    emit_list,
    make_client,
    print_json,
)
from labelarts.cli.datasets import parse_properties

app = typer.Typer(help="Labels of a dataset (list, create, update, rename, delete).")
PropOption = Annotated[
    list[str] | None, typer.Option("--property", "-p", help="key=value, e.g. color=#3399ff; repeatable.")
]


@app.command("list")
@api_command
def list_labels(
    dataset_id: str,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the labels of a dataset."""
    with make_client() as client:
        result = client.list_labels(dataset_id).to_dict()
    emit_list(
        result,
        "labels",
        output,
        columns=["name", "type", "property"],
        title=f"{result['total_number']} labels",
    )


@app.command("create")
@api_command
def create_labels(
    dataset_id: str,
    names: list[str],
    label_type: Annotated[int | None, typer.Option("--type")] = None,
    prop: PropOption = None,
) -> None:
    """Create one or more labels."""
    labels = []
    for name in names:
        label: dict[str, object] = {"name": name, "property": parse_properties(prop)}
        if label_type is not None:
            label["type"] = label_type
        labels.append(label)
    with make_client() as client:
        print_json(client.create_labels(dataset_id, labels).to_dict())


@app.command("update")
@api_command
def update_label(
    dataset_id: str,
    name: str,
    prop: PropOption = None,
    rename_to: Annotated[str | None, typer.Option(help="New label name.")] = None,
) -> None:
    """Change a label's properties or rename it (samples keep it under the new name)."""
    props = parse_properties(prop)
    if rename_to:
        props["@modelarts:rename_to"] = rename_to
    with make_client() as client:
        print_json(client.update_labels(dataset_id, [{"name": name, "property": props}]).to_dict())


@app.command("delete")
@api_command
def delete_labels(
    dataset_id: str,
    names: list[str],
    policy: Annotated[
        int, typer.Option(min=0, max=2, help="0 labels only; 1 also samples with only them; 2 also files.")
    ] = 0,
) -> None:
    """Delete labels."""
    with make_client() as client:
        print_json(client.delete_labels(dataset_id, names, delete_policy=policy).to_dict())
