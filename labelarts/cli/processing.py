"""``labelarts process ...``: data-processing tasks (create, run, status, results, list).

An operator is given as ``NAME`` or ``NAME:key=value,key=value`` (``--operator`` again for
the next one, applied in order): ``--operator MetaValidation:image_max_width=1920``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from labelarts.cli._common import (
    OutputFormat,
    OutputOption,
    api_command,
    emit_list,
    emit_object,
    make_client,
    print_error,
    print_table,
    progress_bar,
)
from labelarts.client import LabelArtsClient

app = typer.Typer(help="Data processing: validation, cleaning, selection, augmentation, analysis.")

STATUS_NAMES = {0: "initialized", 1: "running", 2: "completed", 3: "failed", 4: "stopped"}
TASK_TYPES = {0: "image_classification", 1: "object_detection"}
LIST_COLUMNS = ["task_id", "name", "template", "status", "version_count", "duration_seconds", "create_time"]
VERSION_FIELDS = [
    "task_version_id",
    "version_name",
    "status",
    "origin_sample_count",
    "unmodified_sample_count",
    "modified_sample_count",
    "deleted_sample_count",
    "add_sample_count",
    "duration_seconds",
    "output_path",
    "dataset_version_id",
    "error_msg",
]
RESULT_COLUMNS = ["sample_id", "result_property", "origin_source", "new_source", "result_description"]


def parse_operator(text: str, task_type: str) -> dict[str, Any]:
    """``NAME`` or ``NAME:key=value,...`` as an ``operator_params`` item."""
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {"task_type": task_type}
    for pair in filter(None, rest.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--operator")
        params[key.strip()] = value.strip()
    if not name.strip():
        raise typer.BadParameter("an operator needs a name", param_hint="--operator")
    return {"name": name.strip(), "params": params}


def status_name(status: Any) -> str:
    return STATUS_NAMES.get(status, str(status))


def _version_rows(version: dict[str, Any]) -> list[dict[str, Any]]:
    work = version.get("work_path") or {}
    flat = {**version, "output_path": work.get("output_path"), "dataset_version_id": work.get("version_id")}
    return [
        {"field": key, "value": status_name(flat[key]) if key == "status" else flat[key]}
        for key in VERSION_FIELDS
        if flat.get(key) is not None
    ]


def follow(client: LabelArtsClient, task_id: str, version_id: str, output: OutputFormat) -> None:
    """Follow a run with a progress bar on stderr (when it is a terminal), print it; exit 1
    unless it completed. Ctrl-C stops the run."""

    def show(version: dict[str, Any]) -> None:
        done = 100.0 if version.get("status") == 2 else float(version.get("progress") or 0)
        bar.update(done, f"Processing {version.get('version_name', '')}")

    try:
        with progress_bar("Processing") as bar:
            final = client.wait_for_processor_task_version(
                task_id, version_id, on_progress=lambda v: show(v.to_dict())
            ).to_dict()
    except KeyboardInterrupt:
        client.stop_processor_task_version(task_id, version_id)
        print_error(f"stopped run {version_id}; its results so far are kept")
        raise typer.Exit(130) from None
    emit_object(final, output, lambda: print_table(_version_rows(final), ["field", "value"]))
    if final["status"] != 2:
        print_error(f"run {version_id} {status_name(final['status'])}: {final.get('error_msg', '')}")
        raise typer.Exit(1)


@app.command("create")
@api_command
def create(
    name: Annotated[str, typer.Argument(help="Task name (letters, digits, _ and -).")],
    template: Annotated[
        str,
        typer.Option(
            "--template",
            help="sys_data_validation, sys_data_cleaning, sys_data_selection, sys_data_augmentation "
            "or sys_data_analyse.",
        ),
    ],
    dataset: Annotated[str | None, typer.Option("--dataset", help="Input: a dataset id.")] = None,
    version_id: Annotated[
        str | None, typer.Option("--version-id", help="Input: a published version of --dataset.")
    ] = None,
    from_task: Annotated[
        str | None, typer.Option("--from-task", help="Input: another task's latest completed output.")
    ] = None,
    operator: Annotated[
        list[str] | None, typer.Option("--operator", help="NAME or NAME:key=value,... (repeat, in order).")
    ] = None,
    task_type: Annotated[
        str | None,
        typer.Option(help="image_classification or object_detection (default: the input dataset's)."),
    ] = None,
    into_dataset: Annotated[
        str | None,
        typer.Option("--into-dataset", help="Publish the output as a new version of this dataset."),
    ] = None,
    into_version_name: Annotated[
        str | None, typer.Option("--into-version-name", help="Name of that version (default: the next).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="Task description.")] = None,
    run: Annotated[bool, typer.Option("--run/--no-run", help="Start the first run at once.")] = True,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow the run with a progress bar.")
    ] = True,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create a processing task (and run it), or a feature analysis (sys_data_analyse)."""
    if (dataset is None) == (from_task is None):
        print_error("give the input as --dataset DATASET or --from-task TASK")
        raise typer.Exit(2)
    with make_client() as client:
        if task_type is None:
            if dataset is not None:
                task_type = TASK_TYPES.get(client.get_dataset(dataset).dataset_type, "image_classification")
            else:
                task_type = "image_classification"
        if template == "sys_data_analyse":
            params: dict[str, Any] = {"op_list": [], "task_type": task_type}
            operators = [{"id": template, "params": params}]
        else:
            operators = [parse_operator(text, task_type) for text in operator or []]
        source: dict[str, Any] = (
            {"type": "DATASET", "source": dataset}
            if dataset is not None
            else {"type": "TASK", "source": from_task}
        )
        if version_id is not None:
            source["version_id"] = version_id
        work_path = None
        if into_dataset is not None:
            work_path = {"type": "DATASET", "path": into_dataset}
            if into_version_name is not None:
                work_path["version_name"] = into_version_name
        task_id = client.create_processor_task(
            name,
            {"id": template, "operator_params": operators},
            inputs=[source],
            work_path=work_path,
            description=description,
            create_version=run and template != "sys_data_analyse",
        )
        if template == "sys_data_analyse":
            task = client.wait_for_processor_task(task_id) if wait else client.get_processor_task(task_id)
            body = task.to_dict()
            emit_object(body, output, lambda: _task_table(body))
            return
        if not run or not wait:
            emit_object(
                {"task_id": task_id}, output, lambda: print_table([{"task_id": task_id}], ["task_id"])
            )
            return
        version = client.list_processor_task_versions(task_id).versions[0].task_version_id
        follow(client, task_id, version, output)


@app.command("run")
@api_command
def run_task(
    task_id: Annotated[str, typer.Argument(help="Processing task id.")],
    description: Annotated[str | None, typer.Option(help="Run description.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow it with a progress bar.")] = True,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Run the task again (a new version V002, ...)."""
    with make_client() as client:
        version_id = client.create_processor_task_version(task_id, description=description)
        if wait:
            follow(client, task_id, version_id, output)
            return
    emit_object(
        {"version_id": version_id}, output, lambda: print_table([{"version_id": version_id}], ["version_id"])
    )


def _task_table(task: dict[str, Any]) -> None:
    rows = [
        {"field": key, "value": status_name(task[key]) if key == "status" else task[key]}
        for key in ("task_id", "name", "status", "version_count", "duration_seconds", "error_msg")
        if task.get(key) is not None
    ]
    rows.insert(2, {"field": "template", "value": task["template"]["id"]})
    print_table(rows, ["field", "value"])
    result = task.get("result")
    if result:
        metrics = [
            {
                "metric": name,
                "samples": sum(split.get("all", {}).get("counts", [])),
                "bins": len(split["all"]["bins"]),
            }
            for name, split in result.get("metrics", {}).items()
            if "all" in split
        ]
        print_table(metrics, ["metric", "samples", "bins"], title="feature analysis")


@app.command("status")
@api_command
def status(
    task_id: Annotated[str, typer.Argument(help="Processing task id.")],
    version_id: Annotated[str | None, typer.Argument(help="A run (default: the latest).")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show a task and one of its runs (the latest by default)."""
    with make_client() as client:
        task = client.get_processor_task(task_id).to_dict()
        if version_id is None:
            versions = client.list_processor_task_versions(task_id, limit=1).versions
            version_id = versions[0].task_version_id if versions else None
        version = client.get_processor_task_version(task_id, version_id).to_dict() if version_id else None
    body = {**task, "latest_version": version} if version is not None else task

    def table() -> None:
        _task_table(task)
        if version is not None:
            print_table(_version_rows(version), ["field", "value"], title="run")

    emit_object(body, output, table)


@app.command("results")
@api_command
def results(
    task_id: Annotated[str, typer.Argument(help="Processing task id.")],
    version_id: Annotated[str, typer.Argument(help="The run's version id.")],
    result_property: Annotated[
        int | None,
        typer.Option("--property", min=-1, max=3, help="0 unmodified, 1 modified, 2 deleted, 3 added."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    page: Annotated[int, typer.Option(min=0, help="Page number (ModelArts offset).")] = 0,
    output: OutputOption = OutputFormat.table,
) -> None:
    """What a run did, sample by sample."""
    with make_client() as client:
        result = client.list_processor_task_version_results(
            task_id, version_id, result_property=result_property, limit=limit, offset=page
        ).to_dict()
    rows = [
        {**r, "result_description": "; ".join(" ".join(x) for x in r["result_description"] if x)}
        for r in result["results"]
    ]
    emit_list(
        result, "results", output, columns=RESULT_COLUMNS, title=f"{result['count']} results", rows=rows
    )


@app.command("list")
@api_command
def list_tasks(
    template: Annotated[str | None, typer.Option("--template", help="Only tasks of this template.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Only tasks whose name contains this.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    page: Annotated[int, typer.Option(min=0, help="Page number (ModelArts offset).")] = 0,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the project's processing tasks, newest first."""
    with make_client() as client:
        result = client.list_processor_tasks(
            task_type=template, task_name=name, limit=limit, offset=page, return_result=False
        ).to_dict()
    rows = [
        {**t, "template": t["template"]["id"], "status": status_name(t.get("status"))}
        for t in result["tasks"]
    ]
    emit_list(result, "tasks", output, columns=LIST_COLUMNS, title=f"{result['count']} tasks", rows=rows)
