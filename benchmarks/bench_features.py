"""Feature-encoder speed: the full bytes-to-features path against raw onnxruntime, and memory.

For each image set (the 2,000 CIFAR-10 JPEGs of ``shared/data``, and ``--photos`` generated
photo-like 640 x 480 JPEGs) and each ``--models`` image model it measures, alternating the
two ``--repeats`` times and keeping the median:

* **raw**: onnxruntime alone on float32 inputs preprocessed beforehand, in two ways, both
  with every CPU: the encoder's own sessions (``encoder.infer`` on the runs ``encode`` makes,
  from ``encoder.runners`` threads at once, each session with its share of the threads), and
  one session with all the threads running batches in turn (the better of batches of 32, how
  the encoder ran until 2026-12-06, and of the encoder's run size);
* **encode**: ``encoder.encode(payloads)`` from the file bytes (each runner decoding,
  resizing and normalising the images of its run, then running it);
* **ratio** encode / the faster raw (issue 10's goal is >= 0.9).

CPU time per image (``time.process_time``, all threads) is shown beside: on a shared machine
it varies less than wall time.

Memory: in a fresh subprocess, the peak RSS (VmHWM) after loading the model and encoding two
batches, and after streaming ``--stream`` photo-like JPEGs (50 distinct payloads, reused)
through ``encode_iter``, one tenth as many, and through ``encode`` (which also holds the
(n, 1280) output). Bounded memory shows as the same peak for both stream lengths.

Text sentences/s (USE-m3 on the AG News sample; MiniLM-L6 with ``--minilm``) and audio clips/s
(the 1,500 spoken digits) complete the table. Run from the repository root::

    python -m benchmarks.bench_features                    # about 8 minutes on 2 busy cores
    python -m benchmarks.bench_features --models efficientnet-lite0,efficientnet-lite2 --minilm
    python -m benchmarks.bench_features --parts memory     # images, memory, text, audio
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageDraw, ImageFilter

from benchmarks import shared_data
from labelarts.ml.features import open_encoder
from labelarts.ml.features.base import available_cpus
from labelarts.ml.features.image import EfficientNetLiteEncoder, decode_image, preprocess_image


@dataclass
class ImageRow:
    images: str
    model: str
    count: int
    raw_per_s: float  # the encoder's sessions side by side
    raw_one_session_per_s: float  # one session with every thread, batches in turn
    encode_per_s: float
    ratio: float
    raw_cpu_ms: float  # CPU time (all threads) per image
    encode_cpu_ms: float


@dataclass
class MemoryRow:
    path: str
    count: int
    peak_rss_before_mib: float  # after loading the model and encoding two batches
    peak_rss_after_mib: float


@dataclass
class OtherRow:
    what: str
    model: str
    count: int
    per_s: float
    unit: str


def photo_like_jpegs(count: int, *, seed: int = 0, size: tuple[int, int] = (640, 480)) -> list[bytes]:
    """JPEGs (quality 90) of smooth colour fields with blurred shapes and sensor-like noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    payloads = []
    for _ in range(count):
        field = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(
            size, Image.Resampling.BICUBIC
        )
        draw = ImageDraw.Draw(field)
        for _ in range(int(rng.integers(4, 12))):
            x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
            radius = int(rng.integers(10, 120))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            box = (x - radius, y - radius, x + radius, y + radius)
            if rng.random() < 0.5:
                draw.ellipse(box, fill=colour)
            else:
                draw.rectangle(box, fill=colour)
        pixels = np.asarray(field.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.int16)
        pixels = pixels + rng.normal(0, 6, pixels.shape).astype(np.int16)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=90)
        payloads.append(buffer.getvalue())
    return payloads


def per_second(count: int, action: Callable[[], object]) -> float:
    return timed(count, action)[0]


def timed(count: int, action: Callable[[], object]) -> tuple[float, float]:
    """Items per second of wall time, and milliseconds of CPU time (all threads) per item."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return count / (time.perf_counter() - wall), (time.process_time() - cpu) * 1000 / count


def measure_images(
    label: str, payloads: Sequence[bytes], encoder: EfficientNetLiteEncoder, repeats: int
) -> ImageRow:
    size = encoder.input_size
    # Batches are preprocessed and stacked beforehand: raw is onnxruntime alone.
    inputs = np.empty((len(payloads), 3, size, size), dtype=np.float32)
    for row, payload in enumerate(payloads):
        preprocess_image(decode_image(payload, size=size)[0], size, out=inputs[row])
    # The encoder's sessions get the runs encode() gives them (infer_all); the single session
    # the better of batches of 32 (as the encoder ran until 2026-12-06) and of the run size.
    options = ort.SessionOptions()
    options.intra_op_num_threads = available_cpus()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    one_session = ort.InferenceSession(str(encoder.onnx_path), options, providers=["CPUExecutionProvider"])
    input_name = one_session.get_inputs()[0].name

    def run_raw() -> None:
        encoder.infer_all(inputs)

    def one_session_in_batches_of(batch_size: int) -> Callable[[], None]:
        def run() -> None:
            for start in range(0, len(inputs), batch_size):
                one_session.run(None, {input_name: inputs[start : start + batch_size]})

        return run

    one_session_runs = [one_session_in_batches_of(32), one_session_in_batches_of(encoder.run_size)]
    encoder.encode(payloads[: encoder.batch_size])  # warm up every path
    for run in (run_raw, *one_session_runs):
        run()
    raw: list[tuple[float, float]] = []
    raw_one: list[list[tuple[float, float]]] = [[] for _ in one_session_runs]
    full: list[tuple[float, float]] = []
    for _ in range(repeats):
        raw.append(timed(len(payloads), run_raw))
        for figures, run in zip(raw_one, one_session_runs, strict=True):
            figures.append(timed(len(payloads), run))
        full.append(timed(len(payloads), lambda: encoder.encode(payloads)))
    raw_rate, full_rate = (statistics.median(rate for rate, _ in runs) for runs in (raw, full))
    raw_one_rate = max(statistics.median(rate for rate, _ in figures) for figures in raw_one)
    raw_cpu, full_cpu = (statistics.median(cpu for _, cpu in runs) for runs in (raw, full))
    return ImageRow(
        label,
        encoder.name,
        len(payloads),
        raw_rate,
        raw_one_rate,
        full_rate,
        full_rate / max(raw_rate, raw_one_rate),
        raw_cpu,
        full_cpu,
    )


def memory_child(count: int, path: str, model_dir: str) -> None:
    """Runs in a fresh process: peak RSS growth of encoding ``count`` images, as JSON on stdout."""
    encoder = open_encoder("image", model_dir=Path(model_dir))
    assert isinstance(encoder, EfficientNetLiteEncoder)
    distinct = photo_like_jpegs(50, seed=1)
    encoder.encode(distinct[: 2 * encoder.batch_size])  # warm up: arenas, threads, first batches

    def stream() -> Iterator[bytes]:
        for i in range(count):
            yield distinct[i % len(distinct)]

    before = peak_rss_mib()
    if path == "encode_iter":
        for _ in encoder.encode_iter(stream()):
            pass
    else:
        encoder.encode([distinct[i % len(distinct)] for i in range(count)])
    print(json.dumps({"before": before, "after": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak resident memory.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child started by
    a big parent would report the parent's peak.
    """
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_memory(count: int, path: str, model_dir: Path) -> MemoryRow:
    command = [sys.executable, "-m", "benchmarks.bench_features", "--memory-child", str(count), path]
    command += ["--model-dir", str(model_dir)]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    peaks = json.loads(result.stdout.strip().splitlines()[-1])
    return MemoryRow(path, count, float(peaks["before"]), float(peaks["after"]))


def measure_other(
    what: str, modality: str, model: str, payloads: Sequence[bytes], model_dir: Path
) -> OtherRow:
    encoder = open_encoder(modality, model, model_dir=model_dir)
    encoder.encode(payloads[:16])
    unit = {"text": "texts/s", "audio": "clips/s"}[modality]
    return OtherRow(
        what, model, len(payloads), per_second(len(payloads), lambda: encoder.encode(payloads)), unit
    )


def print_tables(images: list[ImageRow], memory: list[MemoryRow], other: list[OtherRow]) -> None:
    print(
        "\n| images | model | n | raw onnxruntime, the encoder's sessions (img/s) "
        "| raw, one session (img/s) | encode() from bytes (img/s) | ratio to the faster raw "
        "| CPU ms/img raw | CPU ms/img encode |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in images:
        print(
            f"| {row.images} | {row.model} | {row.count} | {row.raw_per_s:.1f} | "
            f"{row.raw_one_session_per_s:.1f} | "
            f"{row.encode_per_s:.1f} | {row.ratio:.2f} | {row.raw_cpu_ms:.2f} | {row.encode_cpu_ms:.2f} |"
        )
    if memory:
        print(
            "\n| memory: 640x480 JPEGs through | n | peak RSS before (MiB) | peak RSS after (MiB) | growth |"
        )
        print("|---|---:|---:|---:|---:|")
        for m in memory:
            growth = m.peak_rss_after_mib - m.peak_rss_before_mib
            before, after = m.peak_rss_before_mib, m.peak_rss_after_mib
            print(f"| {m.path} | {m.count} | {before:.0f} | {after:.0f} | {growth:.1f} |")
    if other:
        print("\n| data | model | n | throughput |")
        print("|---|---|---:|---:|")
        for other_row in other:
            print(
                f"| {other_row.what} | {other_row.model} | {other_row.count} | "
                f"{other_row.per_s:.1f} {other_row.unit} |"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="efficientnet-lite0", help="image models, comma-separated")
    parser.add_argument("--photos", type=int, default=500, help="generated 640x480 JPEGs")
    parser.add_argument("--cifar", type=int, default=2000, help="CIFAR-10 images used (at most 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating raw/encode rounds (median)")
    parser.add_argument("--stream", type=int, default=5000, help="images streamed for the memory figure")
    parser.add_argument("--minilm", action="store_true", help="also time MiniLM-L6 (loads torch)")
    parser.add_argument("--model-dir", type=Path, default=shared_data.cache_dir() / "models")
    parser.add_argument(
        "--parts", default="images,memory,text,audio", help="what to measure, comma-separated"
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--memory-child", nargs=2, metavar=("COUNT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child:
        memory_child(int(args.memory_child[0]), args.memory_child[1], str(args.model_dir))
        return 0

    load = os.getloadavg()[0]
    print(f"{available_cpus()} CPUs, load average {load:.1f} at start; onnxruntime threads in all = CPUs")
    parts = set(args.parts.split(","))
    have_data = shared_data.data_dir().is_dir()
    if not have_data:
        print(f"no shared data at {shared_data.data_dir()}: generated images only")

    image_sets: list[tuple[str, list[bytes]]] = []
    if have_data and "images" in parts:
        image_sets.append(("CIFAR-10 32x32 JPEG", shared_data.load_cifar10()[0][: args.cifar]))
    if "images" in parts:
        image_sets.append((f"generated 640x480 JPEG (q90, {args.photos})", photo_like_jpegs(args.photos)))

    images: list[ImageRow] = []
    for model in args.models.split(",") if "images" in parts else []:
        encoder = open_encoder("image", model, model_dir=args.model_dir)
        assert isinstance(encoder, EfficientNetLiteEncoder)
        for label, payloads in image_sets:
            row = measure_images(label, payloads, encoder, args.repeats)
            print(
                f"  {row.images} {row.model}: raw {row.raw_per_s:.1f}/s "
                f"(one session {row.raw_one_session_per_s:.1f}/s), encode {row.encode_per_s:.1f}/s"
            )
            images.append(row)

    memory: list[MemoryRow] = []
    if "memory" in parts:
        for count, path in (
            (args.stream // 10, "encode_iter"),
            (args.stream, "encode_iter"),
            (args.stream, "encode"),
        ):
            memory.append(measure_memory(count, path, args.model_dir))
            print(f"  memory {path} {count}: peak {memory[-1].peak_rss_after_mib:.0f} MiB")

    other: list[OtherRow] = []
    if have_data and "text" in parts:
        agnews = shared_data.load_agnews()[0]
        other.append(measure_other("AG News (title + description)", "text", "use-m3", agnews, args.model_dir))
        if args.minilm:
            other.append(
                measure_other("AG News (title + description)", "text", "minilm-l6", agnews, args.model_dir)
            )
    if have_data and "audio" in parts:
        fsdd = shared_data.load_fsdd()[0]
        other.append(
            measure_other("spoken digits, 8 kHz WAV", "audio", "oww-speech-embedding", fsdd, args.model_dir)
        )

    print_tables(images, memory, other)
    if args.json:
        figures = {
            "cpus": available_cpus(),
            "load_average_at_start": load,
            "images": [asdict(row) for row in images],
            "memory": [asdict(row) for row in memory],
            "other": [asdict(row) for row in other],
        }
        with tempfile.NamedTemporaryFile("w", dir=args.json.parent, delete=False) as file:
            json.dump(figures, file, indent=2)
        os.replace(file.name, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
