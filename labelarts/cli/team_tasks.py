"""``labelarts team-task ...``: the owner's side of team labeling tasks (create, list, show,
start, delete, acceptance: sample, report, close; notify; agreement and gold samples), and
``mine``, a member's own tasks. See docs/team-labeling.md."""

from __future__ import annotations

import json
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
    print_message,
    print_table,
)

app = typer.Typer(help="Team labeling tasks (workforce tasks): create, list, show, start, accept.")

STATUS_NAMES = {
    0: "starting",
    1: "running",
    2: "accepting",
    3: "accepted",
    4: "rejected",
    5: "synchronizing",
    6: "created",
    7: "sampling",
}
LIST_COLUMNS = ["task_id", "task_name", "status", "repetition", "total", "unannotated", "uncheck", "accepted"]
MEMBER_COLUMNS = ["email", "role", "total", "unannotated", "unreviewed", "uncheck", "accepted", "pass_rate"]
DatasetArg = Annotated[str, typer.Argument(help="Dataset id.")]
TaskArg = Annotated[str, typer.Argument(help="Team task id (from create or list).")]


def _counts(stats: dict[str, Any] | None) -> dict[str, Any]:
    stats = stats or {}
    return {
        "total": stats.get("total_sample_count", 0),
        "unannotated": stats.get("unannotated_sample_count", 0),
        "unreviewed": stats.get("unreviewed_sample_count", 0),
        "uncheck": stats.get("uncheck_sample_count", 0),
        "accepted": stats.get("accepted_sample_count", 0),
    }


def _row(task: dict[str, Any]) -> dict[str, Any]:
    status = task.get("status", -1)
    return {**task, "status": STATUS_NAMES.get(status, str(status)), **_counts(task.get("sample_stats"))}


@app.command("create")
@api_command
def create(
    dataset_id: DatasetArg,
    workforce: Annotated[
        list[str] | None,
        typer.Option("--workforce", help="A team id taking part (repeatable): all its members."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Task name (default task-xxxx).")] = None,
    description: Annotated[str | None, typer.Option(help="Task description.")] = None,
    repetition: Annotated[int, typer.Option(min=1, max=100, help="Labelers per sample.")] = 1,
    agency: Annotated[
        str | None, typer.Option(help="Email of the team administrator who starts it (else it starts now).")
    ] = None,
    conditions: Annotated[str | None, typer.Option(help="Sample search conditions (a JSON array).")] = None,
    sync_data: Annotated[
        bool, typer.Option("--sync-data", help="New samples join the running task.")
    ] = False,
    sync_auto: Annotated[
        bool, typer.Option("--sync-auto", help="New auto labels become the labelers' drafts.")
    ] = False,
    no_auto_sync: Annotated[
        bool, typer.Option("--no-auto-sync", help="Keep accepted results in the task, not the dataset.")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create a team task; with teams and no --agency its samples are dealt at once."""
    config: dict[str, Any] | None = None
    if workforce:
        config = {"workforces": [{"workforce_id": w} for w in workforce]}
        if agency:
            config["agency"] = agency
    elif agency:
        print_error("--agency needs --workforce")
        raise typer.Exit(2)
    with make_client() as client:
        task_id = client.create_workforce_task(
            dataset_id,
            task_name=name,
            description=description,
            repetition=repetition,
            workforces_config=config,
            sample_conditions=conditions,
            synchronize_data=sync_data,
            synchronize_auto_labeling_data=sync_auto,
            auto_sync_dataset=not no_auto_sync,
        )
    answer = {"task_id": task_id}
    emit_object(answer, output, lambda: print_table([answer], ["task_id"]))


@app.command("list")
@api_command
def list_tasks(dataset_id: DatasetArg, output: OutputOption = OutputFormat.table) -> None:
    """The dataset's team tasks, newest first (a member: the tasks that name them)."""
    with make_client() as client:
        result = client.list_workforce_tasks(dataset_id).to_dict()
    emit_list(
        result,
        "tasks",
        output,
        columns=LIST_COLUMNS,
        title=f"{result['count']} team tasks",
        rows=[_row(t) for t in result["tasks"]],
    )


@app.command("show")
@api_command
def show(dataset_id: DatasetArg, task_id: TaskArg, output: OutputOption = OutputFormat.table) -> None:
    """A team task, its counts and each member's progress."""
    with make_client() as client:
        task = client.get_workforce_task(dataset_id, task_id).to_dict()

    def table() -> None:
        print_table([_row(task)], LIST_COLUMNS)
        members = [{**w, **_counts(w.get("sample_stats"))} for w in task.get("worker_stats") or []]
        if members:
            print_table(members, MEMBER_COLUMNS, title="members")

    emit_object(task, output, table)


@app.command("start")
@api_command
def start(dataset_id: DatasetArg, task_id: TaskArg) -> None:
    """Start a created task: its samples are dealt to the labelers."""
    with make_client() as client:
        client.start_workforce_task(dataset_id, task_id)
    print_message(f"started {task_id}")


@app.command("delete")
@api_command
def delete(dataset_id: DatasetArg, task_id: TaskArg) -> None:
    """Delete a team task (results not accepted yet go with it)."""
    with make_client() as client:
        client.delete_workforce_task(dataset_id, task_id)
    print_message(f"deleted {task_id}")


@app.command("sample")
@api_command
def sample(
    dataset_id: DatasetArg,
    task_id: TaskArg,
    rate: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Share of waiting samples to draw.")
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Number of samples to draw.")] = None,
) -> None:
    """Start an acceptance: draw samples waiting for it (--rate or --count)."""
    if (rate is None) == (count is None):
        print_error("give exactly one of --rate and --count")
        raise typer.Exit(2)
    with make_client() as client:
        check_id = client.start_acceptance(dataset_id, task_id, sampling_num=count, sampling_rate=rate)
    print_message(f"acceptance {check_id}")


@app.command("report")
@api_command
def report(
    dataset_id: DatasetArg,
    task_id: TaskArg,
    acceptance: Annotated[
        str | None, typer.Option(help="Acceptance id (default: the current or last).")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """The acceptance report: this acceptance, and all of them together."""
    with make_client() as client:
        result = client.get_acceptance_report(dataset_id, task_id, checking_task_id=acceptance).to_dict()
    columns = [
        "sampled_sample_count",
        "checked_sample_count",
        "accepted_sample_count",
        "rejected_sample_count",
    ]

    def table() -> None:
        rows = [{"report": name, **result[name]} for name in ("checking_stats", "total_stats")]
        print_table(rows, ["report", *columns, "pass_rate", "score", "total_score"])

    emit_object(result, output, table)


@app.command("close")
@api_command
def close(
    dataset_id: DatasetArg,
    task_id: TaskArg,
    action: Annotated[
        int,
        typer.Argument(
            min=0,
            max=5,
            help="0 pass all, 1 reject all, 2 cancel, 3 list conflicts, 4 pass unless drawn and rejected, "
            "5 pass only drawn and accepted.",
        ),
    ],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Team results win over labels changed in the dataset.")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """End the acceptance with an action; what passes is written to the dataset."""
    with make_client() as client:
        result = client.close_acceptance(
            dataset_id, task_id, action, overwrite_last_result=overwrite
        ).to_dict()
    emit_list(
        result,
        "samples",
        output,
        columns=["sample_id", "worker_id", "sample_status"],
        title=f"{result['sample_count']} samples",
    )


@app.command("notify")
@api_command
def notify(
    dataset_id: DatasetArg,
    task_id: TaskArg,
    emails: Annotated[list[str], typer.Argument(help="Members of the task to mail.")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Mail members of the task about their work (the outbox, or SMTP when configured); exit 1
    when any address was not queued."""
    with make_client() as client:
        result = client.notify_workforce_task_members(dataset_id, task_id, emails).to_dict()
    rows = [{"email": email, **item} for email, item in zip(emails, result["results"], strict=False)]
    queued = sum(1 for item in result["results"] if item["success"])
    emit_list(
        result,
        "results",
        output,
        columns=["email", "success", "error_code", "error_msg"],
        title=f"{queued} of {len(emails)} queued",
        rows=rows,
    )
    if not result["success"]:
        raise typer.Exit(1)


@app.command("mine")
@api_command
def mine(
    search: Annotated[str | None, typer.Option(help="Only tasks whose name contains this.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    page: Annotated[int, typer.Option(min=0, help="Page number (ModelArts offset).")] = 0,
    output: OutputOption = OutputFormat.table,
) -> None:
    """A member's own side: the team tasks that name the caller, with their own counts."""
    with make_client() as client:
        result = client.list_worker_tasks(limit=limit, offset=page, search_content=search).to_dict()
    rows = [
        {
            **t,
            "task_status": STATUS_NAMES.get(t["task_status"], str(t["task_status"])),
            **_counts(t.get("sample_stats")),
        }
        for t in result["worker_tasks"]
    ]
    emit_list(
        result,
        "worker_tasks",
        output,
        columns=["task_id", "workforce_task_name", "dataset_id", "task_status", "role", *MEMBER_COLUMNS[2:]],
        title=f"{result['count']} team tasks",
        rows=rows,
    )


@app.command("agreement")
@api_command
def agreement(dataset_id: DatasetArg, task_id: TaskArg, output: OutputOption = OutputFormat.table) -> None:
    """Agreement between the labelers (Fleiss' kappa overall and per label, Cohen's kappa per
    pair) and each one's accuracy on the gold samples (a LabelArts extension)."""
    with make_client() as client:
        result = client.get_workforce_task_agreement(dataset_id, task_id).to_dict()

    def table() -> None:
        overall = {"scope": "overall", **result["overall"]}
        rows = [overall, *({"scope": f"label {row['name']}", **row} for row in result["labels"])]
        print_table(
            rows, ["scope", "fleiss_kappa", "observed_agreement", "sample_count"], title="Fleiss' kappa"
        )
        pairs = [{**p, "labelers": " + ".join(p["emails"])} for p in result["pairs"]]
        print_table(
            pairs, ["labelers", "cohen_kappa", "observed_agreement", "sample_count"], title="Cohen's kappa"
        )
        print_table(
            result["members"],
            ["email", "gold_labeled_count", "gold_correct_count", "gold_accuracy"],
            title=f"Gold samples: {result['gold_sample_count']}",
        )

    emit_object(result, output, table)


def _gold_item(text: str) -> dict[str, Any]:
    sample_id, sep, names = text.partition("=")
    if not sep or not sample_id or not names:
        raise typer.BadParameter(f"{text!r}: expected SAMPLE_ID=LABEL[,LABEL...]")
    return {"sample_id": sample_id, "labels": [{"name": n} for n in names.split(",") if n]}


@app.command("gold")
@api_command
def gold(
    dataset_id: DatasetArg,
    task_id: TaskArg,
    mark: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Mark a gold sample with its answer: SAMPLE_ID=LABEL[,LABEL...] (repeatable; "
            "image-level labels; for boxes use --file).",
        ),
    ] = None,
    file: Annotated[
        typer.FileText | None,
        typer.Option(help='A JSON array of {"sample_id", "labels": [...]} to mark as gold.'),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List a task's gold samples, or mark samples as gold with their known answers (a
    LabelArts extension: gold samples join every labeler's queue unannounced)."""
    items = [_gold_item(text) for text in mark or []]
    if file is not None:
        loaded = json.load(file)
        if not isinstance(loaded, list):
            print_error("--file must hold a JSON array")
            raise typer.Exit(2)
        items.extend(loaded)
    with make_client() as client:
        if items:
            count = client.set_gold_samples(dataset_id, task_id, items).gold_sample_count
            print_message(f"{count} gold samples")
            return
        result = client.list_gold_samples(dataset_id, task_id).to_dict()
    rows = [
        {**s, "answer": ", ".join(str(label.get("name")) for label in s["labels"])} for s in result["samples"]
    ]
    emit_list(
        result,
        "samples",
        output,
        columns=["sample_id", "answer", "labeled_count", "correct_count"],
        title=f"{result['sample_count']} gold samples",
        rows=rows,
    )
