"""The review page in a real browser at 100k samples: time to first render of the
To-be-confirmed grid (100 thumbnails), cold and warm, and the time from pressing the confirm
key to the next sample shown.

    python -m benchmarks.bench_web [--samples 100000] [--warm 5] [--confirms 20]

``labelarts serve`` runs as a subprocess on a scratch folder (SQLite); one image dataset gets
``--samples`` samples inserted through the storage layer (benchmarks.bench_sample_list: about
30% to be confirmed, 10% hard); the samples the first grid page shows get real 64x64 JPEG
files. Debian's headless Chromium (Playwright) signs in and opens the pages; the figures are
the browser's own (Navigation Timing, Paint Timing, ``performance.now()`` in the page):

* ``grid cold``: the first visit after the server started (no list cache, no thumbnail made);
  ``grid warm``: median of ``--warm`` reloads. Each gives DOMContentLoaded, first contentful
  paint, and "all 100 thumbnails loaded" (the last thumbnail's load event), all from the
  navigation's start.
* ``confirm -> next``: in the keyboard review view of the same tab, from the Enter keydown to
  the first animation frame in which the next sample's picture is loaded and shown (the view
  shows the next sample at once and sends the write in the background), and, beside it, the
  write's own round trip (the POST's Resource Timing duration). Median and p95 of
  ``--confirms`` presses.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.bench_sample_list import insert_samples

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.web.browser import Served, chromium, first_sign_in, serve  # noqa: E402

PASSWORD = "benchmark-password"

GRID_TIMES = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const imgs = Array.from(document.querySelectorAll('.grid img'));
  const loads = performance.getEntriesByType('resource').filter(e => e.initiatorType === 'img');
  const last = loads.length ? Math.max(...loads.map(e => e.responseEnd)) : NaN;
  return {dcl: nav.domContentLoadedEventEnd, fcp: fcp ? fcp.startTime : NaN, images: last,
          count: imgs.length, html: nav.responseEnd - nav.requestStart};
}"""

ALL_LOADED = (
    "() => Array.from(document.querySelectorAll('.grid img')).every(i => i.complete && i.naturalWidth > 0)"
)

CONFIRM_PROBE = """() => {
  window.__confirm = [];
  document.addEventListener('keydown', event => {
    if (event.key !== 'Enter') return;
    const t0 = performance.now();
    const before = document.getElementById('review').dataset.sampleId;
    const check = () => {
      const img = document.querySelector('#sample-view img');
      const now = document.getElementById('review').dataset.sampleId;
      if (now !== before && img && img.complete && img.naturalWidth > 0) {
        window.__confirm.push(performance.now() - t0);
      } else {
        requestAnimationFrame(check);
      }
    };
    requestAnimationFrame(check);
  }, true);
}"""


def _jpeg(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)).save(out, "JPEG")
    return out.getvalue()


def prepare(served: Served, database_url: str, count: int) -> str:
    with served.api() as api:
        body = {
            "dataset_name": "bench-web",
            "dataset_type": 0,
            "data_sources": [{"data_type": 0}],
            "work_path": "/bench/",
            "labels": [
                {"name": n}
                for n in ("cat", "dog", "bird", "fish", "horse", "frog", "ship", "truck", "car", "plane")
            ],
        }
        response = api.post(served.v2("/datasets"), json=body)
        response.raise_for_status()
        dataset_id: str = response.json()["dataset_id"]
    seconds = insert_samples(database_url, dataset_id, count)
    # Real files for the samples the first pages show (the newest; ~30% of them are to be confirmed).
    objects = served.data_dir / "objects" / "bench"
    objects.mkdir(parents=True, exist_ok=True)
    for i in range(max(0, count - 1000), count):
        (objects / f"{i}.jpg").write_bytes(_jpeg(i))
    print(f"inserted {count} samples in {seconds:.1f} s", flush=True)
    return dataset_id


def grid(page: Any, url: str) -> dict[str, float]:
    page.goto(url)
    page.wait_for_function(ALL_LOADED, timeout=120_000)
    times: dict[str, float] = page.evaluate(GRID_TIMES)
    assert times["count"] == 100, times
    return times


def confirms(page: Any, url: str, presses: int) -> tuple[list[float], list[float]]:
    page.goto(url)
    page.wait_for_function(
        "() => { const i = document.querySelector('#sample-view img'); return i && i.complete; }"
    )
    page.evaluate(CONFIRM_PROBE)
    for n in range(presses):
        page.keyboard.press("Enter")
        page.wait_for_function("n => window.__confirm.length > n", arg=n)
    page.evaluate("() => window.labelartsReview.pending()")
    shown: list[float] = page.evaluate("() => window.__confirm")
    writes: list[float] = page.evaluate(
        "() => performance.getEntriesByType('resource')"
        ".filter(e => e.name.endsWith('/labels')).map(e => e.duration)"
    )
    return shown, writes


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--confirms", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, chromium() as browser:
        work = Path(scratch)
        database_url = f"sqlite:///{work / 'labelarts.db'}"
        with serve(work, database_url) as served:
            dataset_id = prepare(served, database_url, args.samples)
        # A fresh server process: the cold visit meets no cache.
        with serve(work, database_url) as served:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            first_sign_in(page, served, PASSWORD)
            grid_url = f"{served.url}/ui/datasets/{dataset_id}/samples?tab=auto"
            cold = grid(page, grid_url)
            warm_runs = [grid(page, grid_url) for _ in range(args.warm)]
            shown, writes = confirms(
                page, f"{served.url}/ui/datasets/{dataset_id}/review?tab=auto", args.confirms
            )
            context.close()
    print(
        f"\nTo-be-confirmed grid, 100 thumbnails, {args.samples:,} samples in the dataset"
        " (ms from navigation start)"
    )
    print(f"{'':<10} {'HTML':>8} {'DCL':>8} {'FCP':>8} {'thumbnails':>11}")
    print(
        f"{'cold':<10} {cold['html']:>8.0f} {cold['dcl']:>8.0f} {cold['fcp']:>8.0f} {cold['images']:>11.0f}"
    )
    med = {k: statistics.median(r[k] for r in warm_runs) for k in ("html", "dcl", "fcp", "images")}
    print(
        f"{'warm med':<10} {med['html']:>8.0f} {med['dcl']:>8.0f} {med['fcp']:>8.0f} {med['images']:>11.0f}"
    )
    print(
        f"\nconfirm key -> next sample shown ({len(shown)} presses): "
        f"median {statistics.median(shown):.0f} ms, "
        f"p95 {_p95(shown):.0f} ms; the write's round trip: median {statistics.median(writes):.0f} ms, "
        f"p95 {_p95(writes):.0f} ms"
    )


if __name__ == "__main__":
    main()
