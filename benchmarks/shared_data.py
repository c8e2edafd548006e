"""Loaders for the real labeled data in ``../shared/data`` and a feature cache for benchmarks.

The data sets (see ``shared/data/README.md``):

* ``cifar10``: 2,000 CIFAR-10 JPEGs (32 x 32), 200 per class;
* ``agnews``: a stratified sample of the 7,600 AG News test items (``agnews-full``: all);
* ``fsdd``: 1,500 spoken digits (8 kHz WAV);
* ``digits``: scikit-learn's 1,797 8 x 8 digits, as raw pixels (no encoder).

``cached_features(dataset, model)`` encodes a data set once with ``open_encoder`` and keeps
the features in ``~/.cache/labelarts-bench/<dataset>--<model>.npz`` (``LABELARTS_BENCH_CACHE``
moves it). ``cached_copies(dataset, model, codes)`` does the same for perturbed copies of an
image data set (``labelarts.ml.augment``), encoded as the auto-labeling service encodes them.
Set ``LABELARTS_SHARED_DATA`` when the data is not beside the checkout.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import numpy as np

from labelarts.ml.features import AVAILABLE_MODELS, open_encoder

__all__ = [
    "DATASETS",
    "cache_dir",
    "cached_copies",
    "cached_features",
    "data_dir",
    "load_agnews",
    "load_cifar10",
    "load_dataset",
    "load_fsdd",
    "load_sklearn_digits",
]

Loaded = tuple[list[bytes], np.ndarray, list[str]]
Features = tuple[np.ndarray, np.ndarray, list[str]]

DATASETS: dict[str, str] = {"cifar10": "image", "agnews": "text", "agnews-full": "text", "fsdd": "audio"}
RAW_PIXELS = "raw-pixels"


def data_dir() -> Path:
    configured = os.environ.get("LABELARTS_SHARED_DATA")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def cache_dir() -> Path:
    configured = os.environ.get("LABELARTS_BENCH_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "labelarts-bench"


def load_cifar10() -> Loaded:
    """The 2,000 CIFAR-10 JPEG files, their class indices and the class names (sorted)."""
    root = data_dir() / "cifar10-train-200"
    class_names = sorted(entry.name for entry in root.iterdir() if entry.is_dir())
    payloads: list[bytes] = []
    labels: list[int] = []
    for label, class_name in enumerate(class_names):
        for path in sorted((root / class_name).glob("*.jpg")):
            payloads.append(path.read_bytes())
            labels.append(label)
    return payloads, np.array(labels, dtype=np.int64), class_names


def load_agnews(limit: int | None = 2000, seed: int = 0) -> Loaded:
    """AG News test items as UTF-8 ``title + ". " + description``, a stratified random sample.

    ``limit`` items in all (the same number from each class, the remainder to the first
    classes), or all 7,600 with ``limit=None``; kept in file order.
    """
    root = data_dir() / "agnews"
    class_names = [line.strip() for line in (root / "classes.txt").read_text().splitlines() if line.strip()]
    texts: list[str] = []
    labels: list[int] = []
    with (root / "test.csv").open(newline="", encoding="utf-8") as file:
        for class_number, title, description in csv.reader(file):
            texts.append(f"{title}. {description}")
            labels.append(int(class_number) - 1)
    y = np.array(labels, dtype=np.int64)
    if limit is not None and limit < len(texts):
        rng = np.random.default_rng(seed)
        chosen: list[np.ndarray] = []
        n_classes = len(class_names)
        for label in range(n_classes):
            members = np.flatnonzero(y == label)
            wanted = limit // n_classes + (1 if label < limit % n_classes else 0)
            chosen.append(rng.choice(members, size=min(wanted, len(members)), replace=False))
        keep = np.sort(np.concatenate(chosen))
        texts = [texts[i] for i in keep]
        y = y[keep]
    return [text.encode("utf-8") for text in texts], y, class_names


def load_fsdd() -> Loaded:
    """The 1,500 spoken-digit WAV files (8 kHz mono); the class is the digit."""
    root = data_dir() / "fsdd"
    paths = sorted(root.glob("*.wav"), key=lambda path: path.name)
    labels = [int(path.name.split("_", 1)[0]) for path in paths]
    return (
        [path.read_bytes() for path in paths],
        np.array(labels, dtype=np.int64),
        [str(d) for d in range(10)],
    )


def load_sklearn_digits() -> Features:
    """scikit-learn's 1,797 8 x 8 digits as raw pixel features (64 numbers, 0-16)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (
        np.asarray(digits.data, dtype=np.float32),
        np.asarray(digits.target, dtype=np.int64),
        [str(d) for d in digits.target_names],
    )


def load_dataset(dataset: str) -> Loaded:
    if dataset == "cifar10":
        return load_cifar10()
    if dataset == "agnews":
        return load_agnews()
    if dataset == "agnews-full":
        return load_agnews(limit=None)
    if dataset == "fsdd":
        return load_fsdd()
    raise ValueError(f"unknown data set {dataset!r}; choose one of {', '.join([*DATASETS, 'digits'])}")


def cached_features(dataset: str, model: str) -> Features:
    """Features ``X`` (float32), labels ``y`` and class names of ``dataset`` encoded by ``model``.

    ``model`` is a name from ``AVAILABLE_MODELS`` of the data set's modality
    (``"digits"`` takes ``"raw-pixels"``). The first call encodes and caches; later calls,
    in any process, read the cache.
    """
    if dataset == "digits":
        if model != RAW_PIXELS:
            raise ValueError(f"the digits data set has only {RAW_PIXELS!r} features")
        return load_sklearn_digits()
    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r}; choose one of {', '.join([*DATASETS, 'digits'])}")
    modality = DATASETS[dataset]
    if model not in AVAILABLE_MODELS[modality]:
        raise ValueError(
            f"{dataset} is {modality} data; choose one of {', '.join(AVAILABLE_MODELS[modality])}"
        )
    path = cache_dir() / f"{dataset}--{model}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as cached:
            return cached["X"], cached["y"], [str(name) for name in cached["class_names"]]
    payloads, y, class_names = load_dataset(dataset)
    encoder = open_encoder(modality, model, model_dir=cache_dir() / "models")
    X = encoder.encode(payloads)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a process reading the cache never sees half a file.
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, X=X, y=y, class_names=np.array(class_names))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return X, y, class_names


def cached_copies(dataset: str, model: str, codes: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Features of perturbed copies of every sample of an image data set, per reason code.

    ``cifar10``: each JPEG decoded as the service decodes it for rules 19-29 (short side 256),
    perturbed by ``AUGMENTATIONS[code]`` and encoded by ``model``. ``digits``: each 8 x 8 image
    (values 0-16) as a grey image scaled to 0-255, perturbed, and scaled back to raw pixels.
    Cached like :func:`cached_features`.
    """
    from labelarts.ml.augment import AUGMENTATIONS
    from labelarts.ml.features.image import decode_image

    if dataset == "digits":
        from PIL import Image

        X, _, _ = load_sklearn_digits()
        images = [Image.fromarray(np.rint(row.reshape(8, 8) * 255.0 / 16.0).astype(np.uint8)) for row in X]
        scale = 16.0 / 255.0
        return {
            code: np.array(
                [np.asarray(AUGMENTATIONS[code](im), dtype=np.float32).ravel() * scale for im in images]
            )
            for code in codes
        }
    if DATASETS.get(dataset) != "image":
        raise ValueError(f"{dataset} is not an image data set: it has no perturbed copies")
    path = cache_dir() / f"{dataset}--{model}--copies-{'-'.join(str(c) for c in codes)}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as cached:
            return {code: cached[str(code)] for code in codes}
    payloads, _, _ = load_dataset(dataset)
    encoder = open_encoder("image", model, model_dir=cache_dir() / "models")
    out: dict[int, list[np.ndarray]] = {code: [] for code in codes}
    for start in range(0, len(payloads), 256):
        decoded = [decode_image(p, size=256)[0] for p in payloads[start : start + 256]]
        for code in codes:
            out[code].append(encoder.encode_images([AUGMENTATIONS[code](im) for im in decoded]))
    copies = {code: np.concatenate(parts) for code, parts in out.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, **{str(code): feats for code, feats in copies.items()})
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return copies
