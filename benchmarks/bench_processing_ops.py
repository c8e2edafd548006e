"""Data-processing algorithms (labelarts/ml/processing): samples per second and peak memory of
each operator, and de-duplication precision and recall, on generated images.

Each (operator, size) runs in its own Python process, so its peak RSS (``ru_maxrss``) is that
run's alone; the baseline (interpreter, NumPy, Pillow, scikit-learn, imagehash imported) is
printed beside it. Inputs are generated and streamed one at a time (96 x 72 JPEGs, the
de-duplication family layout of ``tests/ml/processing/duplicates.py``: each picture with an
exact copy, a re-encode, a resize, a mirror image, a 5 % crop and a brighter copy, plus
unrelated pictures); the time spent generating them is not counted. Whole-set operators use
the tests' cheap embedder by default (the operator's own cost); ``--embedder
efficientnet-lite0`` uses the service's encoder (its cost dominates). Run from the
repository root::

    python -m benchmarks.bench_processing_ops
    python -m benchmarks.bench_processing_ops --sizes 2000 --operators SimDeduplication,RRD
    python -m benchmarks.bench_processing_ops --sizes 2000 --operators SimDeduplication \\
        --embedder efficientnet-lite0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from labelarts.ml.processing import (
    OPERATORS,
    TEMPLATES,
    ProcessingInput,
    SampleOperator,
    SetOperator,
    rng_for,
)
from tests.ml.processing.duplicates import generate, score, tiny_embed

SET_OPERATORS = ("SimDeduplication", "RRD", "PCC")


def _embedder(name: str) -> Callable[[Sequence[ProcessingInput]], np.ndarray]:
    if name == "tiny":
        return tiny_embed
    from benchmarks.shared_data import cache_dir
    from labelarts.ml.features import open_encoder

    encoder = open_encoder("image", name, model_dir=cache_dir() / "models")

    def embed(batch: Sequence[ProcessingInput]) -> np.ndarray:
        rows = np.asarray(encoder.encode([item.data for item in batch]), dtype=np.float32)
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)

    return embed


class Timed:
    """Streams generated samples and counts the seconds spent generating them."""

    def __init__(self, size: int, seed: int = 0) -> None:
        families = size // 10
        per_family = 7
        self.family: dict[str, int] = {}
        self._pairs = generate(families, size - families * per_family, seed)
        self.generating = 0.0

    def __iter__(self) -> Iterator[ProcessingInput]:
        while True:
            start = time.perf_counter()
            try:
                sample, fid = next(self._pairs)
            except StopIteration:
                return
            self.generating += time.perf_counter() - start
            self.family[sample.sample_id] = fid
            yield sample


def run_one(name: str, size: int, embedder_name: str) -> dict[str, object]:
    operator = OPERATORS[name]
    embed = _embedder(embedder_name)
    embed([next(iter(Timed(1)))])  # load the encoder before the clock starts
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stream = Timed(size)
    params = operator.parse_params({"prototype_sample_path": "generated"} if name == "PCC" else {})
    start = time.perf_counter()
    counts = [0, 0, 0, 0]
    result: dict[str, object] = {}
    if isinstance(operator, SetOperator) and name in SET_OPERATORS:
        if name == "PCC":
            # 20 prototypes: pictures of the first 20 families.
            protos = tuple(s for s, f in generate(20, 0, seed=0) if s.name.endswith(("_copy.jpg",)))
            params = dataclasses.replace(params, prototypes=protos)  # type: ignore[type-var]
        outcomes = list(operator.select(iter(stream), params, embed, rng_for("bench", name)))
        for outcome in outcomes:
            counts[outcome.result_property] += 1
        if name == "SimDeduplication":
            quality = score(stream.family, outcomes)
            result.update(precision=quality.precision, recall=quality.recall, expected=quality.expected)
    else:
        assert isinstance(operator, SampleOperator)
        for sample in stream:
            outcome = operator.process(sample, params, rng_for("bench", sample.sample_id))
            counts[outcome.result_property] += 1
    seconds = time.perf_counter() - start - stream.generating
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result.update(
        operator=name,
        size=size,
        seconds=seconds,
        per_second=size / seconds,
        peak_mib=peak,
        baseline_mib=baseline,
        counts=counts,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="2000,10000", help="numbers of images, comma-separated")
    parser.add_argument(
        "--operators",
        default=",".join(name for spec in TEMPLATES.values() for name in spec.operators),
        help="operator names, comma-separated (default: all)",
    )
    parser.add_argument("--embedder", default="tiny", help="tiny (default) or efficientnet-lite0")
    parser.add_argument("--one", nargs=2, metavar=("OPERATOR", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), args.embedder)))
        return
    print(f"processing operators on generated 96x72 JPEGs; embedder {args.embedder}; load {os.getloadavg()}")
    print(
        f"{'operator':<18} {'images':>7} {'per s':>8} {'peak MiB':>9} {'base MiB':>9}  "
        "results 0/1/2/3   quality"
    )
    for name in args.operators.split(","):
        for size in (int(v) for v in args.sizes.split(",")):
            command = [sys.executable, "-m", "benchmarks.bench_processing_ops", "--one", name, str(size)]
            out = subprocess.run(
                [*command, "--embedder", args.embedder], check=True, capture_output=True, text=True
            ).stdout
            row = json.loads(out.strip().splitlines()[-1])
            quality = (
                f"precision {row['precision']:.3f} recall {row['recall']:.3f} ({row['expected']} duplicates)"
                if "precision" in row
                else ""
            )
            counts = "/".join(str(c) for c in row["counts"])
            print(
                f"{name:<18} {size:>7} {row['per_second']:>8.0f} {row['peak_mib']:>9.0f} "
                f"{row['baseline_mib']:>9.0f}  {counts:<16} {quality}",
                flush=True,
            )
    print(f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
