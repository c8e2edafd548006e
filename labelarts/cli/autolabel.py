"""``labelarts autolabel ...``: auto-labeling tasks, and reviewing and confirming their labels."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from labelarts.cli._common import (
    OutputFormat,
    OutputOption,
    QuietOption,
    api_command,
    emit_list,
    emit_object,
    make_client,
    print_error,
    print_ids,
    print_message,
    print_table,
    progress_bar,
)
from labelarts.client import LabelArtsClient
from labelarts.client._client import TASK_SUCCEEDED

app = typer.Typer(help="Auto labeling (start, status, list, stop, wait, review, confirm).")

STATUS_NAMES = {
    -1: "queued",
    0: "initializing",
    1: "running",
    2: "failed",
    3: "succeeded",
    4: "stopping",
    5: "stopped",
}
LIST_COLUMNS = ["task_id", "task_name", "status", "progress", "create_time", "elapsed_time", "message"]
REVIEW_COLUMNS = ["sample_id", "name", "label", "score", "hard", "reasons"]
# Figures of a task's ``result`` worth a line in the summary, in this order.
RESULT_FIELDS = [
    "total_sample_count",
    "annotated_sample_count",
    "unconfirmed_sample_count",
    "auto_accepted_sample_count",
    "hard_sample_count",
    "failed_sample_count",
    "changed_during_task_count",
    "checked_labeled_sample_count",
    "label_error_sample_count",
    "feature_model",
    "algorithm_type",
    "thresholds",
]
PAGE = 100  # the largest page the sample lists give
UPDATE_BATCH = 500  # samples per confirming PUT (the API takes up to 1000)

TaskIdArg = Annotated[str, typer.Argument(help="Task id (from start or list).")]


def status_name(status: Any) -> str:
    return STATUS_NAMES.get(status, str(status))


def summary_rows(task: dict[str, Any]) -> list[dict[str, Any]]:
    """``field``/``value`` rows: the task's state, then its result figures."""
    rows: list[dict[str, Any]] = [
        {"field": "task_id", "value": task.get("task_id")},
        {"field": "status", "value": status_name(task.get("status"))},
        {"field": "progress", "value": f"{task.get('progress', 0)}%"},
        {"field": "message", "value": task.get("message")},
        {"field": "elapsed_time", "value": f"{task.get('elapsed_time', 0)} s"},
    ]
    result = task.get("result") or {}
    rows += [{"field": key, "value": result[key]} for key in RESULT_FIELDS if key in result]
    if task.get("error_code"):
        rows.append({"field": "error", "value": f"{task['error_code']}: {task.get('error_msg', '')}"})
    return rows


def print_task(task: dict[str, Any], output: OutputFormat) -> None:
    emit_object(task, output, lambda: print_table(summary_rows(task), ["field", "value"]))


def wait_and_report(
    client: LabelArtsClient, dataset_id: str, task_id: str, output: OutputFormat, *, quiet: bool = False
) -> None:
    """Follow the task with a progress bar on stderr, print its summary; exit 1 unless it succeeded."""
    try:
        with progress_bar("Queued.") as bar:
            final = client.wait_for_task(
                dataset_id,
                task_id,
                on_progress=lambda task: bar.update(float(task.progress), task.message),
            ).to_dict()
    except KeyboardInterrupt:
        print_error(
            f"stopped waiting; task {task_id} keeps running "
            f"(labelarts autolabel stop {dataset_id} {task_id} stops it)"
        )
        raise typer.Exit(130) from None
    if quiet:
        print_ids([task_id])
    else:
        print_task(final, output)
    if final["status"] != TASK_SUCCEEDED:
        detail = f": {final['error_code']}: {final.get('error_msg', '')}" if final.get("error_code") else ""
        print_error(f"task {task_id} {status_name(final['status'])}{detail}")
        raise typer.Exit(1)


@app.command("start")
@api_command
def start_task(
    dataset_id: str,
    accurate: Annotated[
        bool,
        typer.Option("--accurate", help="Semi-supervised training on the unlabeled samples too (slower)."),
    ] = False,
    target_precision: Annotated[
        float | None,
        typer.Option(min=0.5, max=0.999, help="Precision the auto-accept thresholds aim at (default 0.95)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Feature model (default: the server's).")
    ] = None,
    confidence_scope: Annotated[
        str | None, typer.Option(help="Confidence range marked as hard examples, e.g. 0.1-0.9.")
    ] = None,
    check_labels: Annotated[
        bool,
        typer.Option(
            "--check-labels",
            help="Also mark labeled samples whose label looks wrong (hard reason 31); runs even "
            "when nothing is left to label.",
        ),
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the task to end (see wait).")] = False,
    quiet: QuietOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Start auto labeling the unlabeled samples; prints the task id."""
    with make_client() as client:
        task_id = client.start_auto_label(
            dataset_id,
            algorithm_type="accurate" if accurate else "fast",
            target_precision=target_precision,
            feature_model=model,
            confidence_scope=confidence_scope,
            check_labeled_samples=True if check_labels else None,
        )
        if wait:
            wait_and_report(client, dataset_id, task_id, output, quiet=quiet)
            return
    if quiet:
        print_ids([task_id])
        return
    emit_object({"task_id": task_id}, output, lambda: print_table([{"task_id": task_id}], ["task_id"]))


@app.command("status")
@api_command
def task_status(
    dataset_id: str,
    task_id: TaskIdArg,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show a task's status, progress and result."""
    with make_client() as client:
        print_task(client.get_task(dataset_id, task_id).to_dict(), output)


@app.command("list")
@api_command
def list_tasks(
    dataset_id: str,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    page: Annotated[int, typer.Option(min=0, help="Page number (ModelArts offset).")] = 0,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the dataset's auto-labeling tasks, newest first."""
    with make_client() as client:
        result = client.list_tasks(dataset_id, limit=limit, offset=page).to_dict()
    rows = [{**task, "status": status_name(task.get("status"))} for task in result["tasks"]]
    emit_list(
        result, "tasks", output, columns=LIST_COLUMNS, title=f"{result['total_count']} tasks", rows=rows
    )


@app.command("stop")
@api_command
def stop_task(
    dataset_id: str,
    task_id: TaskIdArg,
) -> None:
    """Stop a queued or running task; the dataset is left as it was before the task."""
    with make_client() as client:
        client.stop_task(dataset_id, task_id)


@app.command("wait")
@api_command
def wait_task(
    dataset_id: str,
    task_id: TaskIdArg,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Wait for a task to end, with a progress bar; exit code 0 if it succeeded, 1 otherwise."""
    with make_client() as client:
        wait_and_report(client, dataset_id, task_id, output)


def review_row(sample: dict[str, Any]) -> dict[str, Any]:
    labels = sample.get("labels") or []
    scores = [label["score"] for label in labels if label.get("score") is not None]
    metadata = sample.get("metadata") or {}
    details = sample.get("hard_details") or {}
    reasons = [
        f"{code} {details[str(code)]['alo_name']}" if str(code) in details else str(code)
        for code in metadata.get("@modelarts:hard_reasons") or []
    ]
    return {
        "sample_id": sample.get("sample_id"),
        "name": sample.get("sample_name"),
        "label": ", ".join(label.get("name", "") for label in labels),
        "score": f"{max(scores):.3f}" if scores else None,
        "hard": "yes" if metadata.get("@modelarts:hard") else "no",
        "reasons": ", ".join(reasons),
    }


@app.command("review")
@api_command
def review_samples(
    dataset_id: str,
    hard: Annotated[bool, typer.Option("--hard", help="Only hard examples.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Most samples to show.")] = 20,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Auto-labeled samples waiting for confirmation, least confident first."""
    # A score range orders the list by score; [0, 1] keeps every scored sample.
    params: dict[str, Any] = {"order": "asc", "low_score": "0", "high_score": "1"}
    if hard:
        params["search_conditions"] = [{"hard": "1"}]
    samples: list[dict[str, Any]] = []
    with make_client() as client:
        total = 0
        page = 0
        while len(samples) < limit:
            result = client.list_auto_samples(
                dataset_id, **params, limit=min(PAGE, limit), offset=page
            ).to_dict()
            total = result["sample_count"]
            samples += result["samples"]
            if len(result["samples"]) < min(PAGE, limit):
                break
            page += 1
    samples = samples[:limit]
    what = "hard examples" if hard else "samples"
    emit_list(
        {"sample_count": total, "samples": samples},
        "samples",
        output,
        columns=REVIEW_COLUMNS,
        title=f"{total} {what} to confirm",
        rows=[review_row(s) for s in samples],
    )


def confirmation(sample: dict[str, Any]) -> dict[str, Any]:
    """The sample with its labels as they are: putting them back confirms them."""
    keep = ("name", "type", "score", "property", "annotated_by")
    labels = [{k: label[k] for k in keep if label.get(k) is not None} for label in sample.get("labels") or []]
    return {"sample_id": sample["sample_id"], "labels": labels}


@app.command("confirm")
@api_command
def confirm_samples(
    dataset_id: str,
    min_score: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Only samples whose label score is at least this.")
    ] = None,
    confirm_all: Annotated[
        bool, typer.Option("--all", help="Hard examples too (by default they are left for review).")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be confirmed.")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Confirm auto labels as they are: they become manual labels."""
    params: dict[str, Any] = {"order": "asc"}
    if min_score is not None:
        params["low_score"] = repr(min_score)
    if not confirm_all:
        params["search_conditions"] = [{"hard": "0"}]
    with make_client() as client:
        # Read every page first: confirmed samples leave the list, which would shift the pages.
        samples: list[dict[str, Any]] = []
        page = 0
        while True:
            result = client.list_auto_samples(dataset_id, **params, limit=PAGE, offset=page).to_dict()
            samples += result["samples"]
            if len(result["samples"]) < PAGE:
                break
            page += 1
        unique = list({s["sample_id"]: confirmation(s) for s in samples}.values())
        if not dry_run:
            for start in range(0, len(unique), UPDATE_BATCH):
                client.update_samples(dataset_id, unique[start : start + UPDATE_BATCH])
    body = {"confirmed": 0 if dry_run else len(unique), "matched": len(unique)}
    text = f"Would confirm {len(unique)} samples." if dry_run else f"Confirmed {len(unique)} samples."
    emit_object(body, output, lambda: print_message(text))
