"""``labelarts sync DATASET``: rescan a dataset's data source, with a progress bar."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from labelarts.cli._common import (
    OutputFormat,
    OutputOption,
    api_command,
    emit_object,
    field_table,
    make_client,
    print_error,
    progress_bar,
)

SUMMARY = [
    "status",
    "add_sample_count",
    "deleted_sample_count",
    "updated_sample_count",
    "unchanged_sample_count",
    "failed_file_count",
    "total_sample_count",
    "duration_time",
]


def _print(body: dict[str, Any], output: OutputFormat) -> None:
    emit_object(body, output, lambda: field_table(body, ["task_id", *SUMMARY]))
    for failure in body.get("failed_files", [])[:20]:
        print_error(f"{failure.get('path')}: {failure.get('reason')}")


@api_command
def sync(
    dataset_id: str,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow the sync with a progress bar (default).")
    ] = True,
    status_only: Annotated[
        bool, typer.Option("--status", help="Show the latest sync's status instead of starting one.")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Synchronize a dataset with its data source: new files become samples, removed files
    leave the dataset, changed files are read again. Exits 1 if the sync failed."""
    with make_client() as client:
        if status_only:
            _print(client.get_sync_status(dataset_id).to_dict(), output)
            return
        task_id = client.sync_data(dataset_id).task_id
        if not wait:
            _print({"task_id": task_id, "status": "QUEUING"}, output)
            return

        def show(body: dict[str, Any]) -> None:
            added, deleted = body.get("add_sample_count", 0), body.get("deleted_sample_count", 0)
            bar.update(100 * float(body.get("progress", 0)), f"{body.get('status', '')}: +{added} -{deleted}")

        try:
            with progress_bar("Syncing") as bar:
                final = client.wait_for_sync(dataset_id, on_progress=lambda s: show(s.to_dict())).to_dict()
        except KeyboardInterrupt:
            print_error(
                f"stopped waiting; sync {task_id} keeps running (labelarts sync {dataset_id} --status)"
            )
            raise typer.Exit(130) from None
    _print(final, output)
    if final.get("status") != "COMPLETED":
        detail = f": {final['error_code']}: {final.get('error_msg', '')}" if final.get("error_code") else ""
        print_error(f"sync {task_id} {final.get('status')}{detail}")
        raise typer.Exit(1)
