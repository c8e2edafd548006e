"""Regenerate the screenshots of the main pages in docs/screenshots/ (shown in README.md and
docs/web.md).

    python scripts/web_screenshots.py            # needs /usr/bin/chromium and playwright

Starts ``labelarts serve`` on a scratch folder (SQLite), makes a small image dataset from
generated pictures, labels five per class and auto-labels the rest through the API, adds a
detection dataset with two boxes, then opens each page in headless Chromium at 1280x800.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.autolabel import picture  # noqa: E402
from tests.cli import cli_env, run_cli  # noqa: E402
from tests.web.browser import Served, chromium, first_sign_in, serve, sign_in_page  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PASSWORD = "screenshots-password"
LABELER = "labeler@example.com"


def _dataset(served: Served, name: str, folder: str, dataset_type: int, labels: list[str]) -> str:
    with served.api() as api:
        body = {
            "dataset_name": name,
            "dataset_type": dataset_type,
            "data_sources": [{"data_type": 0, "data_path": str(served.import_root / folder)}],
            "work_path": "/screens/",
            "labels": [{"name": n} for n in labels],
        }
        response = api.post(served.v2("/datasets"), json=body)
        response.raise_for_status()
        dataset_id: str = response.json()["dataset_id"]
        while api.get(served.v2(f"/datasets/{dataset_id}")).json()["status"] == 8:
            time.sleep(0.3)
        return dataset_id


def _samples(served: Served, dataset_id: str) -> list[dict[str, object]]:
    with served.api() as api:
        path = served.v2(f"/datasets/{dataset_id}/data-annotations/samples")
        samples: list[dict[str, object]] = api.get(path, params={"limit": 100}).json()["samples"]
        return samples


def prepare(served: Served) -> tuple[str, str, str]:
    pics = served.import_root / "colours"
    pics.mkdir()
    for kind in ("red", "blue"):
        for i in range(16):
            (pics / f"{kind}_{i:02d}.jpg").write_bytes(
                picture(kind, seed=i + (50 if kind == "blue" else 0), size=96)
            )
    street = served.import_root / "street"
    street.mkdir()
    (street / "street.jpg").write_bytes(picture("blue", 7, size=320))
    colours = _dataset(served, "colours", "colours", 0, ["red", "blue"])
    boxes = _dataset(served, "street", "street", 1, ["car", "tree"])
    with served.api() as api:
        picked: dict[str, int] = {"red": 0, "blue": 0}
        updates = []
        for sample in _samples(served, colours):
            kind = str(sample["sample_name"]).split("_")[0]
            if picked[kind] < 5:
                picked[kind] += 1
                updates.append({"sample_id": sample["sample_id"], "labels": [{"name": kind, "type": 0}]})
        api.put(
            served.v2(f"/datasets/{colours}/data-annotations/samples"), json={"samples": updates}
        ).raise_for_status()
        task = api.post(
            served.v2(f"/datasets/{colours}/tasks"),
            json={"task_type": "auto-label", "collect_key_sample": True},
        )
        task.raise_for_status()
        task_id = task.json()["task_id"]
        while api.get(served.v2(f"/datasets/{colours}/tasks/{task_id}")).json()["status"] in (-1, 1, 4):
            time.sleep(0.5)
        street_sample = str(_samples(served, boxes)[0]["sample_id"])
        feature = {"@modelarts:shape": "bndbox"}
        labels = [
            {"name": "car", "type": 1, "property": {**feature, "@modelarts:feature": [[30, 40], [150, 130]]}},
            {
                "name": "tree",
                "type": 1,
                "property": {**feature, "@modelarts:feature": [[190, 20], [290, 200]]},
            },
        ]
        api.put(
            served.v2(f"/datasets/{boxes}/data-annotations/samples"),
            json={"samples": [{"sample_id": street_sample, "labels": labels}]},
        ).raise_for_status()
    return colours, boxes, street_sample


def team(served: Served, database_url: str) -> tuple[str, str]:
    """A team labeling task on a fresh image dataset, labeler ``LABELER``; two of its samples
    labeled and accepted so that the owner can start an acceptance."""
    pics = served.import_root / "team"
    pics.mkdir()
    for i in range(6):
        (pics / f"shape_{i:02d}.jpg").write_bytes(picture("red" if i % 2 else "blue", seed=200 + i, size=96))
    dataset_id = _dataset(served, "team", "team", 0, ["red", "blue"])
    env = cli_env(LABELARTS_DATABASE_URL=database_url, LABELARTS_DATA_DIR=str(served.data_dir))
    made = run_cli(
        "member", "create", LABELER, "--project-id", served.project_id, "--password", PASSWORD, env=env
    )
    assert made.returncode == 0, made.stderr
    with served.api() as api:
        created = api.post(served.v2("/workforces"), json={"workforce_name": "colourists"})
        team_id = created.json()["workforce_id"]
        worker = {"emails": LABELER, "role": 0}
        api.post(served.v2(f"/workforces/{team_id}/workers"), json=worker).raise_for_status()
        body = {"task_name": "colours", "workforces_config": {"workforces": [{"workforce_id": team_id}]}}
        task = api.post(served.v2(f"/datasets/{dataset_id}/workforce-tasks"), json=body)
        task.raise_for_status()
        task_id: str = task.json()["task_id"]
        samples = _samples(served, dataset_id)[:2]
        updates = [{"sample_id": s["sample_id"], "labels": [{"name": "red"}]} for s in samples]
        path = served.v2(f"/datasets/{dataset_id}/workforce-tasks/{task_id}")
        api.put(path + "/data-annotations/samples", json={"samples": updates}).raise_for_status()
        api.post(path + "/acceptance", json={"sampling_num": 2}).raise_for_status()
    return dataset_id, task_id


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, chromium() as browser:
        work = Path(scratch)
        with serve(work, f"sqlite:///{work / 'labelarts.db'}") as served:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(f"{served.url}/ui/sign-in")
            page.screenshot(path=str(OUT / "sign-in.png"))
            first_sign_in(page, served, PASSWORD)
            colours, boxes, street_sample = prepare(served)
            shots = {
                "datasets": "/ui/datasets",
                "dataset": f"/ui/datasets/{colours}",
                "samples-auto": f"/ui/datasets/{colours}/samples?tab=auto&size=20",
                "review": f"/ui/datasets/{colours}/review?tab=auto",
                "tasks": f"/ui/datasets/{colours}/tasks",
                "boxes": f"/ui/datasets/{boxes}/samples/{street_sample}/boxes",
            }
            for name, path in shots.items():
                page.goto(f"{served.url}{path}")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / f"{name}.png"))
                print(OUT / f"{name}.png")
            database_url = f"sqlite:///{work / 'labelarts.db'}"
            team_dataset, task_id = team(served, database_url)
            acceptance = f"/ui/datasets/{team_dataset}/team-tasks/{task_id}/acceptance"
            page.goto(f"{served.url}{acceptance}")
            page.locator("#verdicts[data-sample-id]").wait_for()
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(OUT / "acceptance.png"), full_page=True)
            context.close()
            member = browser.new_context(viewport={"width": 1280, "height": 800})
            page = member.new_page()
            sign_in_page(page, served.url, LABELER, PASSWORD)
            page.get_by_role("heading", name="My tasks").wait_for()
            page.screenshot(path=str(OUT / "work.png"))
            page.goto(f"{served.url}/ui/work/{team_dataset}/{task_id}/label")
            page.locator("#review[data-sample-id]").wait_for()
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(OUT / "label-queue.png"))
            member.close()
            for name in ("acceptance", "work", "label-queue"):
                print(OUT / f"{name}.png")


if __name__ == "__main__":
    main()
