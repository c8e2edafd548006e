"""``labelarts version ...``: publish dataset versions, list, show and delete them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from labelarts.cli._common import (
    OutputFormat,
    OutputOption,
    api_command,
    emit_list,
    emit_object,
    err_console,
    make_client,
    print_error,
    print_message,
    print_table,
    progress_bar,
)
from labelarts.client import LabelArtsClient
from labelarts.client._client import VERSION_NORMAL

app = typer.Typer(help="Dataset versions (publish, list, show, delete).")

STATUS_NAMES = {0: "creating", 1: "normal", 2: "deleting", 3: "deleted", 4: "error"}
LIST_COLUMNS = [
    "version_id",
    "version_name",
    "status",
    "version_format",
    "total_sample_count",
    "annotated_sample_count",
    "train_evaluate_sample_ratio",
    "is_current",
    "create_time",
]
SUMMARY_FIELDS = [
    "version_id",
    "version_name",
    "status",
    "version_format",
    "description",
    "total_sample_count",
    "annotated_sample_count",
    "add_sample_count",
    "deleted_sample_count",
    "modified_sample_count",
    "train_evaluate_sample_ratio",
    "split_seed",
    "label_type",
    "is_current",
    "previous_version_id",
    "manifest_path",
    "message",
]

VersionIdArg = Annotated[str, typer.Argument(help="Version id (from publish or list).")]


def status_name(status: Any) -> str:
    return STATUS_NAMES.get(status, str(status))


def print_version(version: dict[str, Any], output: OutputFormat) -> None:
    emit_object(version, output, lambda: _version_table(version))


def _version_table(version: dict[str, Any]) -> None:
    rows = [
        {"field": key, "value": status_name(version[key]) if key == "status" else version[key]}
        for key in SUMMARY_FIELDS
        if key in version
    ]
    stats = version.get("data_statistics") or {}
    rows.append(
        {
            "field": "train / evaluate",
            "value": f"{stats.get('train_sample_count', 0)} / {stats.get('evaluate_sample_count', 0)}",
        }
    )
    print_table(rows, ["field", "value"])
    labels = version.get("label_stats") or []
    if labels:
        print_table(labels, ["name", "type", "count", "sample_count"], title="labels")


def wait_and_report(client: LabelArtsClient, dataset_id: str, version_id: str, output: OutputFormat) -> None:
    """Follow the publishing with a progress bar on stderr, print the version; exit 1 unless
    it became normal."""

    def show(version: dict[str, Any]) -> None:
        done = 100.0 if version.get("status") == VERSION_NORMAL else float(version.get("progress", 0))
        bar.update(done, f"Publishing {version.get('version_name', '')}")

    try:
        with progress_bar("Publishing") as bar:
            final = client.wait_for_version(
                dataset_id, version_id, on_progress=lambda v: show(v.to_dict())
            ).to_dict()
    except KeyboardInterrupt:
        print_error(f"stopped waiting; version {version_id} is still being published")
        raise typer.Exit(130) from None
    print_version(final, output)
    if final["status"] != VERSION_NORMAL:
        print_error(f"version {version_id} {status_name(final['status'])}: {final.get('message', '')}")
        raise typer.Exit(1)


@app.command("publish")
@api_command
def publish(
    dataset_id: str,
    name: Annotated[str | None, typer.Option("--name", help="Version name (default V001, V002...).")] = None,
    train_ratio: Annotated[
        float | None,
        typer.Option("--train-ratio", min=0.0, max=1.0, help="Share of labeled samples for training (1.0)."),
    ] = None,
    version_format: Annotated[
        str | None, typer.Option("--format", help="Default, or CSV (text classification).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="Version description.")] = None,
    sample_state: Annotated[
        str | None, typer.Option(help="Publish only samples in this state (__ALL__ = labeled).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Seed of the split (reuse one).")] = None,
    keep_hard: Annotated[
        bool, typer.Option("--keep-hard", help="Keep hard-example attributes in the manifest.")
    ] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Print the version id and return.")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Publish a version of the dataset; waits with a progress bar unless --no-wait."""
    body: dict[str, Any] = {"clear_hard_property": not keep_hard}
    for key, value in (
        ("version_name", name),
        ("train_evaluate_sample_ratio", None if train_ratio is None else f"{train_ratio:g}"),
        ("version_format", version_format),
        ("description", description),
        ("sample_state", sample_state),
        ("split_seed", seed),
    ):
        if value is not None:
            body[key] = value
    with make_client() as client:
        version_id = client.publish_version(dataset_id, **body)
        if not no_wait:
            wait_and_report(client, dataset_id, version_id, output)
            return
    emit_object(
        {"version_id": version_id}, output, lambda: print_table([{"version_id": version_id}], ["version_id"])
    )


@app.command("list")
@api_command
def list_versions(
    dataset_id: str,
    status: Annotated[int | None, typer.Option(min=0, max=4, help="0 creating, 1 normal, 4 error.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    page: Annotated[int, typer.Option(min=0, help="Page number (ModelArts offset).")] = 0,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the dataset's versions, newest first."""
    params: dict[str, Any] = {"limit": limit, "offset": page}
    if status is not None:
        params["status"] = status
    with make_client() as client:
        result = client.list_versions(dataset_id, **params).to_dict()
    rows = [{**v, "status": status_name(v.get("status"))} for v in result["versions"]]
    emit_list(
        result,
        "versions",
        output,
        columns=LIST_COLUMNS,
        title=f"{result['total_number']} versions",
        rows=rows,
    )


@app.command("show")
@api_command
def show_version(
    dataset_id: str,
    version_id: VersionIdArg,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", help="Also save the version's manifest to this file.")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show a version: counts, split, label statistics; --manifest saves its manifest."""
    with make_client() as client:
        version = client.get_version(dataset_id, version_id).to_dict()
        if manifest is not None:
            partial = manifest.with_name(f".{manifest.name}.part")
            with partial.open("wb") as out:
                size = client.download_manifest(dataset_id, version_id, out)
            partial.replace(manifest)
            err_console.print(f"manifest saved to {manifest} ({size} bytes)", soft_wrap=True, markup=False)
    print_version(version, output)


@app.command("delete")
@api_command
def delete_version(
    dataset_id: str,
    version_id: VersionIdArg,
) -> None:
    """Delete a version (the live dataset is not touched)."""
    with make_client() as client:
        client.delete_version(dataset_id, version_id)
    print_message(f"version {version_id} deleted")
