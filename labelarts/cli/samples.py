"""``labelarts sample ...``: list, show, label, confirm, reject, delete and upload samples.

Confirm and reject act on samples waiting for confirmation (auto labels, status
``__AUTO_ANNOTATION__``), the console's To Be Confirmed tab:

- **confirm** puts a sample's labels back unchanged (``PUT .../data-annotations/samples``):
  the sample becomes labeled (``__ALL__``); each label keeps its score and ``annotated_by``.
- **reject** puts an empty label list (same request): the auto labels are dropped and the
  sample goes back to unlabeled (``__NONE__``), as <kbd>R</kbd> does in the review page. The
  sample and its file stay; ``sample delete`` removes samples.
- **label** replaces a sample's labels with the given ones (a person's labels, whatever the
  sample's state): this is how a wrong auto label is corrected.
"""

from __future__ import annotations

import base64
import sys
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
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
    print_jsonl,
    print_message,
    print_table,
    progress_bar,
)
from labelarts.client import LabelArtsClient, LabelArtsError

app = typer.Typer(help="Samples (list, show, label, confirm, reject, delete, upload).")

PAGE = 100  # the largest page the sample lists give
SAMPLE_NOT_FOUND = "ModelArts.4420"
UPDATE_BATCH = 500  # samples per PUT (the API takes up to 1,000)
DELETE_BATCH = 10_000  # ids per delete (the API's limit)
UPLOAD_BATCH = 100  # samples per upload (the API's limit)
# Raw bytes per upload request: base64 makes them 4/3 larger, and the server takes 64 MiB
# by default (max_upload_body_bytes).
UPLOAD_BYTES = 32 * 1024 * 1024
COLUMNS = ["sample_id", "sample_name", "state", "labels", "hard"]
STATES = {
    "labeled": "__ALL__",
    "unlabeled": "__NONE__",
    "auto": "__AUTO_ANNOTATION__",
    "to-confirm": "__AUTO_ANNOTATION__",
}
STATE_NAMES = {"__ALL__": "labeled", "__NONE__": "unlabeled", "__AUTO_ANNOTATION__": "to confirm"}

DatasetArg = Annotated[str, typer.Argument(help="Dataset id.")]
StateOption = Annotated[
    str | None,
    typer.Option(
        "--state",
        help="labeled, unlabeled or auto (to confirm); or the API's sample_state (__ALL__, __NONE__, ...).",
    ),
]
LabelOption = Annotated[str | None, typer.Option("--label", help="Samples carrying this label.")]
ScoreOption = Annotated[
    str | None,
    typer.Option("--score", help="Top label score in LOW:HIGH, inclusive (0.3:0.6, 0.9:, :0.5)."),
]
HardOption = Annotated[
    bool | None,
    typer.Option(
        "--hard/--not-hard", help="Only hard examples / only samples that are not.", show_default=False
    ),
]
SearchOption = Annotated[
    list[str] | None,
    typer.Option(
        "--search",
        help="KEY=VALUE search condition (sample_name=a.jpg, hard_reason=6, score=0.5-0.9; "
        "a JSON value for label_list/metadata); repeatable, all must hold.",
    ),
]
IdsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Sample ids; '-' reads them from stdin (one a line, or JSON lines with sample_id)."),
]


class Order(StrEnum):
    asc = "asc"
    desc = "desc"


# -- filters ------------------------------------------------------------------------------------


def parse_score(value: str) -> tuple[str | None, str | None]:
    """``LOW:HIGH`` (either side may be empty) as the API's low_score/high_score strings."""
    low, sep, high = value.partition(":")
    if not sep:
        raise typer.BadParameter(f"expected LOW:HIGH such as 0.3:0.6, got {value!r}", param_hint="--score")
    bounds: list[str | None] = []
    for part in (low.strip(), high.strip()):
        if not part:
            bounds.append(None)
            continue
        try:
            float(part)
        except ValueError:
            raise typer.BadParameter(f"{part!r} is not a number", param_hint="--score") from None
        bounds.append(part)
    if bounds == [None, None]:
        raise typer.BadParameter("give at least one bound, e.g. 0.5:", param_hint="--score")
    return bounds[0], bounds[1]


def parse_search(values: list[str] | None) -> list[dict[str, Any]]:
    """``KEY=VALUE`` pairs as SearchCondition objects, one each; a VALUE starting with ``{`` or
    ``[`` is read as JSON (label_list, metadata)."""
    import json

    conditions: list[dict[str, Any]] = []
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--search")
        parsed: Any = value
        if value.lstrip().startswith(("{", "[")):
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                raise typer.BadParameter(f"{key}: not JSON: {exc}", param_hint="--search") from None
        conditions.append({key.strip(): parsed})
    return conditions


def list_params(
    *,
    state: str | None = None,
    label: str | None = None,
    score: str | None = None,
    hard: bool | None = None,
    search: list[str] | None = None,
    order: Order | None = None,
) -> dict[str, Any]:
    """The sample list's query parameters for the CLI's filters."""
    params: dict[str, Any] = {}
    if state:
        params["sample_state"] = STATES.get(state.lower(), state)
    if label:
        params["label_name"] = label
    if score:
        low, high = parse_score(score)
        if low is not None:
            params["low_score"] = low
        if high is not None:
            params["high_score"] = high
    conditions = parse_search(search)
    if hard is not None:
        conditions.append({"hard": "1" if hard else "0"})
    if conditions:
        params["search_conditions"] = conditions
    if order is not None:
        params["order"] = order.value
    return params


# -- API calls ------------------------------------------------------------------------------------


def _encode(params: dict[str, Any]) -> dict[str, Any]:
    import json

    if "search_conditions" in params and not isinstance(params["search_conditions"], str):
        return {**params, "search_conditions": json.dumps(params["search_conditions"])}
    return params


def list_page(
    client: LabelArtsClient, dataset_id: str, params: dict[str, Any], *, auto: bool = False
) -> dict[str, Any]:
    """One page: ``sample_count`` and ``samples``; ``auto`` lists the samples to confirm."""
    path = "auto-annotations" if auto else "data-annotations"
    result: dict[str, Any] = client.request(
        "GET", f"/datasets/{dataset_id}/{path}/samples", params=_encode(params)
    )
    return result


def iter_all(
    client: LabelArtsClient, dataset_id: str, params: dict[str, Any], *, auto: bool = False
) -> Iterator[dict[str, Any]]:
    """Every sample of the list, page after page, until a short page."""
    page = 0
    while True:
        result = list_page(client, dataset_id, {**params, "limit": PAGE, "offset": page}, auto=auto)
        yield from result["samples"]
        if len(result["samples"]) < PAGE:
            return
        page += 1


def get_sample(
    client: LabelArtsClient, dataset_id: str, sample_id: str, *, auto: bool = False
) -> dict[str, Any]:
    from urllib.parse import quote

    path = "auto-annotations" if auto else "data-annotations"
    result: dict[str, Any] = client.request(
        "GET", f"/datasets/{dataset_id}/{path}/samples/{quote(sample_id, safe='')}"
    )
    return result


def update_samples(client: LabelArtsClient, dataset_id: str, updates: list[dict[str, Any]]) -> None:
    for start in range(0, len(updates), UPDATE_BATCH):
        client.request(
            "PUT",
            f"/datasets/{dataset_id}/data-annotations/samples",
            json={"samples": updates[start : start + UPDATE_BATCH]},
        )


def _samples(count: int) -> str:
    return f"{count} sample" if count == 1 else f"{count} samples"


# -- rows -----------------------------------------------------------------------------------------


def label_text(sample: dict[str, Any]) -> str:
    parts = []
    for label in sample.get("labels") or []:
        score = label.get("score")
        parts.append(
            f"{label.get('name', '')} {score:.3f}"
            if isinstance(score, int | float)
            else label.get("name", "")
        )
    return ", ".join(parts)


def row(sample: dict[str, Any]) -> dict[str, Any]:
    status = sample.get("sample_status", "")
    hard = (sample.get("metadata") or {}).get("@modelarts:hard")
    return {
        "sample_id": sample.get("sample_id"),
        "sample_name": sample.get("sample_name"),
        "state": STATE_NAMES.get(status, status),
        "labels": label_text(sample),
        "hard": "yes" if hard else "",
    }


def read_ids(ids: list[str] | None) -> list[str]:
    """The ids given, with ``-`` replaced by stdin's: plain lines or JSON lines with sample_id
    (what ``sample list -o jsonl`` prints). Order kept, repeats dropped."""
    import json

    found: list[str] = []
    for item in ids or []:
        if item != "-":
            found.append(item)
            continue
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    found.append(str(json.loads(line)["sample_id"]))
                except (ValueError, KeyError, TypeError):
                    print_error(f"stdin: not a JSON line with sample_id: {line[:80]}")
                    raise typer.Exit(2) from None
            else:
                found.append(line)
    return list(dict.fromkeys(found))


# -- commands -------------------------------------------------------------------------------------


@app.command("list")
@api_command
def list_samples(
    dataset_id: DatasetArg,
    state: StateOption = None,
    label: LabelOption = None,
    score: ScoreOption = None,
    hard: HardOption = None,
    search: SearchOption = None,
    order: Annotated[
        Order, typer.Option(help="By time (or score with --score); desc newest first.")
    ] = Order.desc,
    version: Annotated[
        str | None, typer.Option("--version", help="The samples and labels this version froze.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Page size.")] = 20,
    page: Annotated[int, typer.Option(min=0, help="Page number, from 0.")] = 0,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Every page (ignores --limit and --page).")
    ] = False,
    quiet: QuietOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List samples with the API's filters; --all walks every page (pipe -o jsonl or -q onward)."""
    params = list_params(state=state, label=label, score=score, hard=hard, search=search, order=order)
    if version:
        params["version_id"] = version
    with make_client() as client:
        result: dict[str, Any]
        if all_pages and (quiet or output == OutputFormat.jsonl):
            # Streamed: each page is printed as it arrives.
            for sample in iter_all(client, dataset_id, params):
                if quiet:
                    sys.stdout.write(f"{sample['sample_id']}\n")
                else:
                    print_jsonl([sample])
            return
        if all_pages:
            samples = list(iter_all(client, dataset_id, params))
            result = {"sample_count": len(samples), "samples": samples}
        else:
            result = list_page(client, dataset_id, {**params, "limit": limit, "offset": page})
    if quiet:
        sys.stdout.write("".join(f"{s['sample_id']}\n" for s in result["samples"]))
        return
    shown = len(result["samples"])
    title = f"{result['sample_count']} samples" + (f" (page {page}, {shown} shown)" if not all_pages else "")
    emit_list(
        result, "samples", output, columns=COLUMNS, title=title, rows=[row(s) for s in result["samples"]]
    )


@app.command("show")
@api_command
def show_sample(
    dataset_id: DatasetArg,
    sample_id: Annotated[str, typer.Argument(help="Sample id.")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """One sample: its state, labels (name, type, score, by whom), hard-example flags, source URL."""
    with make_client() as client:
        sample = get_sample(client, dataset_id, sample_id)

    def table() -> None:
        summary = {**sample, **row(sample)}
        metadata = sample.get("metadata") or {}
        summary["hard_reasons"] = metadata.get("@modelarts:hard_reasons")
        summary["hard_coefficient"] = metadata.get("@modelarts:hard_coefficient")
        fields = [
            "sample_id",
            "sample_name",
            "sample_status",
            "state",
            "sample_type",
            "sample_size",
            "hard",
            "hard_coefficient",
            "hard_reasons",
            "labeler",
            "sample_time",
            "source",
        ]
        field_table(summary, [f for f in fields if summary.get(f) not in (None, "")])
        labels = sample.get("labels") or []
        if labels:
            print_table(labels, ["name", "type", "score", "annotated_by", "property"], title="labels")

    emit_object(sample, output, table)


def _confirmation(sample: dict[str, Any]) -> dict[str, Any]:
    """The sample with its labels as they are: putting them back confirms them."""
    keep = ("name", "type", "score", "property", "annotated_by")
    labels = [{k: label[k] for k in keep if label.get(k) is not None} for label in sample.get("labels") or []]
    return {"sample_id": sample["sample_id"], "labels": labels}


def _selected_auto_samples(
    client: LabelArtsClient,
    dataset_id: str,
    ids: list[str],
    params: dict[str, Any],
    select_all: bool,
    verb: str,
) -> list[dict[str, Any]]:
    """The samples to confirm or reject: the ids given (each must be waiting for confirmation),
    else every to-be-confirmed sample the filters match (read in full before any change, since
    changed samples leave the list and would shift its pages)."""
    if ids:
        if params:
            print_error(f"give sample ids or filters to {verb}, not both")
            raise typer.Exit(2)
        samples = []
        for sample_id in ids:
            try:
                samples.append(get_sample(client, dataset_id, sample_id, auto=True))
            except LabelArtsError as exc:
                if exc.error_code != SAMPLE_NOT_FOUND:
                    raise  # e.g. the dataset is not found
                print_error(
                    f"sample {sample_id} is not waiting for confirmation (or does not exist); nothing changed"
                )
                raise typer.Exit(1) from None
        return samples
    if not params and not select_all:
        print_error(
            f"give sample ids, filters (--label, --score, --hard/--not-hard, --search) or --all to {verb}"
        )
        raise typer.Exit(2)
    return list({s["sample_id"]: s for s in iter_all(client, dataset_id, params, auto=True)}.values())


@app.command("confirm")
@api_command
def confirm_samples(
    dataset_id: DatasetArg,
    sample_ids: IdsArg = None,
    label: LabelOption = None,
    score: ScoreOption = None,
    hard: HardOption = None,
    search: SearchOption = None,
    select_all: Annotated[bool, typer.Option("--all", help="Every sample waiting for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be confirmed.")] = False,
    quiet: QuietOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Accept auto labels as they are: the samples become labeled (confirmed)."""
    params = list_params(label=label, score=score, hard=hard, search=search)
    with make_client() as client:
        samples = _selected_auto_samples(
            client, dataset_id, read_ids(sample_ids), params, select_all, "confirm"
        )
        if not dry_run:
            update_samples(client, dataset_id, [_confirmation(s) for s in samples])
    if dry_run and not quiet and output == OutputFormat.table:
        print_message(f"Would confirm {_samples(len(samples))}.")
        return
    _emit_count("confirmed", samples, dry_run, output, quiet)


@app.command("reject")
@api_command
def reject_samples(
    dataset_id: DatasetArg,
    sample_ids: IdsArg = None,
    label: LabelOption = None,
    score: ScoreOption = None,
    hard: HardOption = None,
    search: SearchOption = None,
    select_all: Annotated[bool, typer.Option("--all", help="Every sample waiting for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be rejected.")] = False,
    quiet: QuietOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Drop auto labels: the samples go back to unlabeled (they and their files stay)."""
    params = list_params(label=label, score=score, hard=hard, search=search)
    with make_client() as client:
        samples = _selected_auto_samples(
            client, dataset_id, read_ids(sample_ids), params, select_all, "reject"
        )
        if not dry_run:
            update_samples(client, dataset_id, [{"sample_id": s["sample_id"], "labels": []} for s in samples])
    if dry_run and not quiet and output == OutputFormat.table:
        print_message(f"Would reject {_samples(len(samples))}.")
        return
    _emit_count("rejected", samples, dry_run, output, quiet)


def _emit_count(
    verb: str, samples: list[dict[str, Any]], dry_run: bool, output: OutputFormat, quiet: bool
) -> None:
    if quiet:
        sys.stdout.write("".join(f"{s['sample_id']}\n" for s in samples))
        return
    body = {verb: 0 if dry_run else len(samples), "matched": len(samples)}
    emit_object(body, output, lambda: print_message(f"{verb.capitalize()} {_samples(len(samples))}."))


@app.command("label")
@api_command
def label_samples(
    dataset_id: DatasetArg,
    sample_ids: IdsArg = None,
    labels: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="Label name; repeatable (several labels).")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every label instead.")] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Replace the samples' labels with these (a person's labels; missing labels are created)."""
    ids = read_ids(sample_ids)
    if not ids:
        print_error("give sample ids (or '-' to read them from stdin)")
        raise typer.Exit(2)
    if bool(labels) == clear:
        print_error("give --label NAME (repeatable) or --clear")
        raise typer.Exit(2)
    new = [{"name": name} for name in dict.fromkeys(labels or [])]
    with make_client() as client:
        update_samples(client, dataset_id, [{"sample_id": i, "labels": new} for i in ids])
    names = [n["name"] for n in new]
    body = {"labeled": len(ids), "labels": names}
    text = ", ".join(names) or "no labels"
    emit_object(body, output, lambda: print_message(f"Labeled {_samples(len(ids))}: {text}."))


@app.command("delete")
@api_command
def delete_samples(
    dataset_id: DatasetArg,
    sample_ids: IdsArg = None,
    delete_source: Annotated[
        bool,
        typer.Option("--delete-source", help="Also delete their files where the server may (docs/api.md)."),
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Delete samples (all of a batch or none of it)."""
    ids = read_ids(sample_ids)
    if not ids:
        print_error("give sample ids (or '-' to read them from stdin)")
        raise typer.Exit(2)
    with make_client() as client:
        for start in range(0, len(ids), DELETE_BATCH):
            client.request(
                "POST",
                f"/datasets/{dataset_id}/data-annotations/samples/delete",
                json={"samples": ids[start : start + DELETE_BATCH], "delete_source": delete_source},
            )
    emit_object({"deleted": len(ids)}, output, lambda: print_message(f"Deleted {_samples(len(ids))}."))


def _files(paths: list[Path]) -> list[Path]:
    """The files named, and every file below the folders named (sorted, hidden ones left out)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        else:
            print_error(f"{path}: no such file or folder")
            raise typer.Exit(2)
    return found


def _batches(files: list[Path]) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for path in files:
        length = path.stat().st_size
        if batch and (len(batch) >= UPLOAD_BATCH or size + length > UPLOAD_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += length
    if batch:
        yield batch


@app.command("upload")
@api_command
def upload_samples(
    dataset_id: DatasetArg,
    paths: Annotated[list[Path], typer.Argument(help="Files, or folders to upload every file below.")],
    label: Annotated[str | None, typer.Option("--label", help="Put this label on every file.")] = None,
    label_from_folder: Annotated[
        bool,
        typer.Option("--label-from-folder", help="Label each file with its folder's name (class folders)."),
    ] = False,
    to_confirm: Annotated[
        bool,
        typer.Option("--to-confirm", help="The labels wait for confirmation (as auto labels would)."),
    ] = False,
    quiet: QuietOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Upload files as samples, 100 a request, with a progress bar; prints each file's sample id.

    Uploading the same file under the same name again does not make a second sample.
    """
    if label and label_from_folder:
        print_error("give --label or --label-from-folder, not both")
        raise typer.Exit(2)
    files = _files(paths)
    done: list[dict[str, Any]] = []
    with make_client() as client, progress_bar(f"Uploading 0/{len(files)}") as bar:
        for batch in _batches(files):
            samples = []
            for path in batch:
                sample: dict[str, Any] = {
                    "name": path.name,
                    "data": base64.b64encode(path.read_bytes()).decode("ascii"),
                }
                name = label or (path.parent.name if label_from_folder else None)
                if name:
                    sample["labels"] = [{"name": name}]
                samples.append(sample)
            body = {"samples": samples, "final_annotation": not to_confirm}
            result = client.request("POST", f"/datasets/{dataset_id}/data-annotations/samples", json=body)
            for path, answer, sent in zip(batch, result["results"], samples, strict=True):
                labels = [lb["name"] for lb in sent.get("labels", [])]
                done.append({"path": str(path), "sample_id": answer.get("info"), "labels": labels})
            bar.update(100.0 * len(done) / len(files), f"Uploading {len(done)}/{len(files)}")
    if quiet:
        sys.stdout.write("".join(f"{d['sample_id']}\n" for d in done))
        return
    result = {"uploaded": len(done), "samples": done}
    if output == OutputFormat.table:
        # A summary: the ids per file are in -o json / jsonl, or -q.
        counts = Counter(name for d in done for name in d["labels"])
        labeled = ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
        print_message(
            f"Uploaded {len(done)} files" + (f"; labels: {labeled}." if labeled else ", unlabeled.")
        )
        return
    emit_list(result, "samples", output, columns=[], title="")
