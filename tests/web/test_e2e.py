"""End to end in a real headless Chromium against a real ``labelarts serve`` on loopback.

One journey, as a person does it: the first-start admin signs in and changes its password;
creates an image dataset from a generated folder and watches the import; labels five
samples per class by hand with the keyboard; starts auto labeling and watches it finish;
filters to hard examples; confirms a batch; corrects one label; rejects one and undoes it;
draws, moves, resizes and deletes boxes on a detection dataset; then checks through the
API that the labels are exactly what the clicks and keys said. Then axe-core checks every
page. These tests run on SQLite only: the pages add no SQL of their own (they call the
services the API calls, which the rest of the suite runs on both databases, as does
tests/web/test_pages.py); docs/web.md says so.
"""

from __future__ import annotations

import base64
import io
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests import conftest
from tests.autolabel import picture, tone
from tests.web.browser import Served, chromium, chromium_missing, run_axe, serve, sign_in_admin

pytestmark = [
    pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing())),
    pytest.mark.skipif(
        conftest.test_database_kind() == "postgresql", reason="browser tests run on SQLite only (docs/web.md)"
    ),
]

PASSWORD = "a-new-admin-password"
PER_CLASS = 10
WAIT_MS = 300_000  # a deadline for waits on a busy machine, not a timed assertion


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("web-e2e")
    with conftest.fresh_database_url(workdir) as url, serve(workdir, url) as running:
        pics = running.import_root / "pics"
        pics.mkdir()
        for kind in ("red", "blue"):
            for i in range(PER_CLASS):
                (pics / f"{kind}_{i:02d}.jpg").write_bytes(
                    picture(kind, seed=i + (100 if kind == "blue" else 0))
                )
        boxes = running.import_root / "street"
        boxes.mkdir()
        out = io.BytesIO()
        Image.new("RGB", (320, 240), (90, 140, 60)).save(out, "JPEG")
        (boxes / "street.jpg").write_bytes(out.getvalue())
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _create_dataset(page: Any, served: Served, name: str, kind: str, folder: str, labels: str) -> str:
    page.goto(f"{served.url}/ui/datasets")
    page.get_by_role("link", name="Create dataset").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Type").select_option(label=kind)
    page.get_by_label("Folder of samples").fill(str(served.import_root / folder))
    page.get_by_label("Labels (comma-separated, optional)").fill(labels)
    page.get_by_role("button", name="Create and import").click()
    page.wait_for_url(re.compile(r"/ui/datasets/[^/]+$"))
    # The import's progress is live (htmx polls); wait until it says it is done.
    page.get_by_test_id("import-status").filter(has_text="Imported").wait_for(timeout=WAIT_MS)
    dataset_id: str = page.url.rsplit("/", 1)[1]
    return dataset_id


def _api_dataset(served: Served, name: str, dataset_type: int, folder: str, labels: list[str]) -> str:
    """A dataset over a folder, made through the API; returns once its import is done."""
    with served.api() as api:
        body = {
            "dataset_name": name,
            "dataset_type": dataset_type,
            "data_sources": [{"data_type": 0, "data_path": str(served.import_root / folder)}],
            "work_path": "/e2e/",
            "labels": [{"name": n} for n in labels],
        }
        response = api.post(served.v2("/datasets"), json=body)
        assert response.status_code == 201, response.text
        dataset_id: str = response.json()["dataset_id"]
        task = response.json()["import_task_id"]
        deadline = time.monotonic() + WAIT_MS / 1000
        while (
            api.get(served.v2(f"/datasets/{dataset_id}/import-tasks/{task}")).json()["status"] != "COMPLETED"
        ):
            assert time.monotonic() < deadline, "the import did not finish"
            time.sleep(0.2)
        return dataset_id


def _api_samples(served: Served, dataset_id: str) -> dict[str, dict[str, Any]]:
    with served.api() as api:
        found: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            body = api.get(
                served.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
                params={"limit": 100, "offset": offset},
            ).json()
            for sample in body["samples"]:
                found[sample["sample_name"]] = sample
            if len(found) >= body["sample_count"]:
                return found
            offset += 1


def _wait_written(page: Any) -> None:
    page.evaluate("() => window.labelartsReview.pending()")


def _shown(page: Any) -> str:
    name: str = page.get_by_test_id("sample-name").inner_text()
    return name


def test_the_whole_journey_leaves_exactly_the_labels_the_keys_and_clicks_gave(
    served: Served, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(90_000)
    page = context.new_page()
    external: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(served.url) else external.append(r.url))

    sign_in_admin(page, served, PASSWORD)  # through the change-password step on a new server
    assert page.get_by_test_id("project-name").inner_text()
    dataset_id = _create_dataset(page, served, "colours", "Image classification", "pics", "red, blue")
    assert page.get_by_test_id("count-all").inner_text() == str(2 * PER_CLASS)
    assert page.get_by_test_id("count-unlabeled").inner_text() == str(2 * PER_CLASS)

    # -- label five per class by hand, with the keyboard -------------------------------------
    page.get_by_role("link", name="Samples").click()
    page.get_by_test_id("tab-unlabeled").click()
    page.get_by_role("link", name="Review one by one (keyboard)").click()
    expected: dict[str, str] = {}
    done = {"red": 0, "blue": 0}
    keys = {"red": "1", "blue": "2"}
    for _ in range(2 * PER_CLASS):
        if min(done.values()) == 5:
            break
        name = _shown(page)
        kind = name.split("_")[0]
        if done[kind] < 5:
            page.keyboard.press(keys[kind])
            expected[name] = kind
            done[kind] += 1
        else:
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "name => document.querySelector('[data-testid=sample-name]').textContent !== name", arg=name
        )
    assert done == {"red": 5, "blue": 5}
    _wait_written(page)
    assert page.locator("dd[data-count=labeled]").inner_text() == "10"
    assert page.locator("dd[data-count=unlabeled]").inner_text() == "10"

    # -- auto labeling: start it and watch it finish --------------------------------------------
    page.get_by_role("link", name="Auto labeling").click()
    page.get_by_label("Fast").check()
    page.get_by_test_id("start-task").click()
    page.get_by_test_id("task-status").filter(has_text="succeeded").wait_for(timeout=WAIT_MS)
    assert "To be confirmed" in page.get_by_test_id("task").first.inner_text()

    # -- filter to hard examples ----------------------------------------------------------------
    auto = _api_samples(served, dataset_id)
    hard_names = {
        n
        for n, s in auto.items()
        if s["sample_status"] == "__AUTO_ANNOTATION__" and s["metadata"]["@modelarts:hard"]
    }
    page.goto(f"{served.url}/ui/datasets/{dataset_id}/samples?tab=auto")
    page.get_by_label("Hard examples only").check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"hard=1"))
    shown_hard = set(page.locator(".tile .name").all_inner_texts())
    assert shown_hard == hard_names
    if hard_names:
        badge = page.get_by_test_id("hard").first
        badge.focus()
        assert badge.locator(".why").is_visible()  # the reasons, as words, on focus

    # -- confirm a batch ----------------------------------------------------------------------
    page.goto(f"{served.url}/ui/datasets/{dataset_id}/samples?tab=auto")
    tiles = page.locator(".tile")
    assert tiles.count() == PER_CLASS
    batch: dict[str, str] = {}
    for i in range(4):
        tile = tiles.nth(i)
        batch[tile.locator(".name").inner_text()] = tile.locator(".label").first.inner_text()
        tile.locator("input[type=checkbox]").check()
    page.get_by_test_id("confirm-selected").click()
    page.locator("[data-count=auto]").filter(has_text=str(PER_CLASS - 4)).wait_for()
    assert page.locator(".tile").count() == PER_CLASS - 4
    expected.update(batch)

    # -- correct one label; reject one and undo it ----------------------------------------------
    page.get_by_role("link", name="Review one by one (keyboard)").click()
    corrected = _shown(page)
    auto_label = page.get_by_test_id("current-labels").inner_text().split(" (")[0]
    other = "blue" if auto_label == "red" else "red"
    page.keyboard.press(keys[other])
    expected[corrected] = other
    page.wait_for_function(
        "name => document.querySelector('[data-testid=sample-name]').textContent !== name", arg=corrected
    )
    undone = _shown(page)
    undone_label = page.get_by_test_id("current-labels").inner_text().split(" (")[0]
    page.keyboard.press("r")
    page.wait_for_function(
        "name => document.querySelector('[data-testid=sample-name]').textContent !== name", arg=undone
    )
    page.keyboard.press("z")
    page.wait_for_function(
        "name => document.querySelector('[data-testid=sample-name]').textContent === name", arg=undone
    )
    assert page.get_by_test_id("current-labels").inner_text().startswith(undone_label)
    expected[undone] = undone_label  # undo puts its labels back (as a person's: docs/web.md)
    _wait_written(page)
    assert page.locator("dd[data-count=auto]").inner_text() == str(PER_CLASS - 6)

    # -- boxes on a detection dataset --------------------------------------------------------------
    boxes_id = _create_dataset(page, served, "street", "Object detection", "street", "car, tree")
    page.get_by_role("link", name="Samples").click()
    page.locator(".tile a.thumb").first.click()
    # click() returns once the navigation starts: until the editor page has loaded, the
    # sample list is still the document, so the wait below must not assume #editor exists.
    page.wait_for_url("**/boxes")
    editor = page.get_by_test_id("editor")
    page.wait_for_function("() => document.getElementById('editor')?.dataset.ready === '1'")
    origin = editor.bounding_box()

    def drag(x1: float, y1: float, x2: float, y2: float) -> None:
        page.mouse.move(origin["x"] + x1, origin["y"] + y1)
        page.mouse.down()
        page.mouse.move(origin["x"] + (x1 + x2) / 2, origin["y"] + (y1 + y2) / 2)
        page.mouse.move(origin["x"] + x2, origin["y"] + y2)
        page.mouse.up()

    drag(40, 30, 140, 110)  # draw a car
    page.mouse.click(origin["x"] + 300, origin["y"] + 20)  # select no box
    page.get_by_label("Label of new and selected boxes").select_option("tree")
    drag(200, 150, 260, 220)  # draw a tree
    assert editor.get_attribute("data-count") == "2"
    # Choose a box's label: the tree becomes a car and back.
    page.get_by_label("Label of new and selected boxes").select_option("car")
    assert page.get_by_test_id("box-list").get_by_role("button").nth(1).inner_text().startswith("car")
    page.get_by_label("Label of new and selected boxes").select_option("tree")
    drag(90, 70, 110, 80)  # move the car by (20, 10)
    drag(160, 120, 170, 130)  # resize it by its corner: (10, 10)
    page.get_by_test_id("box-list").get_by_role("button").nth(1).click()  # select the tree
    page.get_by_role("button", name="Delete selected").click()
    assert editor.get_attribute("data-count") == "1"
    page.get_by_role("button", name="Save").click()
    page.wait_for_function("() => document.getElementById('editor')?.dataset.saved === '1'")

    assert external == []  # nothing left the machine
    context.close()

    # -- the API says exactly what the keys and clicks said ---------------------------------
    final = _api_samples(served, dataset_id)
    for name, label in expected.items():
        assert [label_["name"] for label_ in final[name]["labels"]] == [label], name
        assert final[name]["sample_status"] == "__ALL__", name
    rest = {n for n, s in auto.items() if s["sample_status"] == "__AUTO_ANNOTATION__"} - set(expected)
    assert len(rest) == PER_CLASS - 6
    for name in rest:
        assert final[name]["sample_status"] == "__AUTO_ANNOTATION__"
        assert final[name]["labels"] == auto[name]["labels"]
    street = _api_samples(served, boxes_id)["street.jpg"]
    assert [
        (b["name"], b["property"]["@modelarts:shape"], b["property"]["@modelarts:feature"])
        for b in street["labels"]
    ] == [("car", "bndbox", [[60, 40], [170, 130]])]


PAGES = (
    "/ui/datasets",
    "/ui/datasets/new",
    "/ui/datasets/{ds}",
    "/ui/datasets/{ds}/samples",
    "/ui/datasets/{ds}/samples?tab=auto",
    "/ui/datasets/{ds}/review",
    "/ui/datasets/{ds}/tasks",
)


@pytest.mark.parametrize("width", [1280, 420])
def test_every_page_passes_axe_without_serious_violations(served: Served, browser: Any, width: int) -> None:
    by_type = {
        0: _api_dataset(served, f"axe-images-{width}", 0, "pics", ["red", "blue"]),
        1: _api_dataset(served, f"axe-boxes-{width}", 1, "street", ["car", "tree"]),
    }
    # axe is injected as a script: the pages' Content-Security-Policy would refuse it.
    context = browser.new_context(viewport={"width": width, "height": 800}, bypass_csp=True)
    context.set_default_timeout(90_000)
    page = context.new_page()
    page.goto(f"{served.url}/ui/sign-in")
    problems: dict[str, list[str]] = {}

    def check(path: str) -> None:
        found = run_axe(page)
        serious = [f"{v['id']}: {v['help']}" for v in found if v.get("impact") in ("serious", "critical")]
        if serious:
            problems[path] = serious

    check("/ui/sign-in")
    sign_in_admin(page, served, PASSWORD)
    for template in PAGES:
        path = template.format(ds=by_type[0])
        page.goto(f"{served.url}{path}")
        check(path)
    with served.api() as api:
        sample = api.get(served.v2(f"/datasets/{by_type[1]}/data-annotations/samples")).json()["samples"][0]
    page.goto(f"{served.url}/ui/datasets/{by_type[1]}/samples/{sample['sample_id']}/boxes")
    page.wait_for_function("() => document.getElementById('editor')?.dataset.ready === '1'")
    check("boxes")
    context.close()
    assert problems == {}


def _upload(served: Served, name: str, dataset_type: int, files: dict[str, bytes]) -> str:
    with served.api() as api:
        body = {
            "dataset_name": name,
            "dataset_type": dataset_type,
            "data_sources": [{"data_type": 0}],
            "work_path": "/e2e/",
            "labels": [{"name": "low"}, {"name": "high"}],
        }
        response = api.post(served.v2("/datasets"), json=body)
        assert response.status_code == 201, response.text
        dataset_id: str = response.json()["dataset_id"]
        samples = [{"name": n, "data": base64.b64encode(d).decode()} for n, d in files.items()]
        added = api.post(
            served.v2(f"/datasets/{dataset_id}/data-annotations/samples"), json={"samples": samples}
        )
        assert added.status_code == 200, added.text
        return dataset_id


def test_text_in_full_and_sound_with_its_waveform_are_labeled_by_key(served: Served, browser: Any) -> None:
    long_text = "The striker scored twice. " * 500  # 13,000 characters: more than the list carries
    text_id = _upload(served, "texts", 100, {"long.txt": long_text.encode()})
    sound_id = _upload(served, "sounds", 200, {"hum.wav": tone("low", 1)})
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(90_000)
    page = context.new_page()
    sign_in_admin(page, served, PASSWORD)
    page.goto(f"{served.url}/ui/datasets/{text_id}/review")
    shown = page.locator(".fulltext")
    page.wait_for_function(
        "n => document.querySelector('.fulltext').textContent.length === n", arg=len(long_text)
    )
    assert shown.inner_text().strip() == long_text.strip()
    page.keyboard.press("2")
    page.evaluate("() => window.labelartsReview.pending()")

    page.goto(f"{served.url}/ui/datasets/{sound_id}/review")
    page.wait_for_function("() => document.querySelector('canvas.wave').dataset.drawn === '1'")
    assert page.locator("audio[controls]").count() == 1
    page.keyboard.press("1")
    page.evaluate("() => window.labelartsReview.pending()")
    context.close()

    assert [label["name"] for label in _api_samples(served, text_id)["long.txt"]["labels"]] == ["high"]
    assert [label["name"] for label in _api_samples(served, sound_id)["hum.wav"]["labels"]] == ["low"]
