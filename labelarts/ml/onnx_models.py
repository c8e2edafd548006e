"""A user's own ONNX model (pre-labeling): check it against what its owner declared, and run it.

What a model declares (docs/model-registry.md): ``kind`` (``classifier`` or ``detector``), its
``labels``, ``input_size`` ``(height, width)``, ``layout`` (``NCHW`` or ``NHWC``) and the
normalisation ``x = (pixel * scale - mean) / std`` per RGB channel.

The contracts the checks enforce:

* **input**: exactly one graph input, float32 (float16/float64 are converted to), rank 4, with
  3 channels where the layout puts them and the declared height and width wherever the
  file gives fixed sizes; the batch dimension may be fixed to 1 or free.
* **classifier output**: the first output, shape ``(batch, len(labels))``: one score per label,
  logits or probabilities (rows that are already non-negative and sum to 1 are taken as
  probabilities, others go through a softmax).
* **detector output**: the first output, shape ``(batch, boxes, 6)`` (or ``(boxes, 6)`` for a
  batch of one): each row ``x1, y1, x2, y2, score, class``, corners in pixels of the model
  input (``input_size``), ``score`` in [0, 1], ``class`` an index into ``labels``. Rows with
  a score of 0 or less or a negative class are padding. Non-maximum suppression is the
  model's business.

Every model is run once on a zero input when it is imported, so a file whose real output
does not fit (dynamic sizes that resolve to something else) is refused then, not at labeling
time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

Kind = Literal["classifier", "detector"]
Layout = Literal["NCHW", "NHWC"]
DETECTION_WIDTH = 6

__all__ = [
    "DETECTION_WIDTH",
    "Detection",
    "InvalidModel",
    "ModelSpec",
    "OnnxModel",
    "inspect_model",
]


class InvalidModel(ValueError):
    """The file is not a model of the declared shape; ``labels`` when the label count is wrong."""

    def __init__(self, message: str, *, labels: bool = False) -> None:
        super().__init__(message)
        self.labels = labels


@dataclass(frozen=True)
class ModelSpec:
    kind: Kind
    labels: tuple[str, ...]
    input_size: tuple[int, int]  # (height, width)
    layout: Layout
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float


@dataclass(frozen=True)
class Signature:
    """What :func:`inspect_model` found: names and dtypes the runner needs."""

    input_name: str
    input_dtype: str
    output_name: str
    fixed_batch: bool  # the file fixes the batch dimension to 1


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the original image
    score: float
    label: int


_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def _session(data: bytes, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own types for every kind of bad file
        raise InvalidModel(f"not a loadable ONNX model: {str(error)[:300]}") from None


def _fixed(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def _check_input(shape: Sequence[Any], spec: ModelSpec) -> bool:
    if len(shape) != 4:
        raise InvalidModel(
            f"the model input has rank {len(shape)}; an image model takes rank 4 ({spec.layout})"
        )
    height, width = spec.input_size
    if spec.layout == "NCHW":
        channels, h, w = shape[1], shape[2], shape[3]
    else:
        h, w, channels = shape[1], shape[2], shape[3]
    if _fixed(channels) not in (None, 3):
        raise InvalidModel(
            f"the model input has {channels} channels where {spec.layout} puts them; 3 (RGB) needed"
        )
    for name, got, want in (("height", h, height), ("width", w, width)):
        if _fixed(got) is not None and got != want:
            raise InvalidModel(
                f"the model input {name} is {got} ({spec.layout} {list(shape)}); input_size declares {want}"
            )
    batch = _fixed(shape[0])
    if batch not in (None, 1):
        raise InvalidModel(f"the model input fixes the batch size to {batch}; it must be 1 or free")
    return batch == 1


def inspect_model(data: bytes, spec: ModelSpec, *, threads: int | None = 1) -> Signature:
    """Check ``data`` against ``spec`` (InvalidModel otherwise) and run it once on zeros."""
    if not spec.labels:
        raise InvalidModel("the model has no labels", labels=True)
    session = _session(data, threads)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise InvalidModel(f"the model has {len(inputs)} inputs; an image model has one")
    model_input = inputs[0]
    if model_input.type not in _DTYPES:
        raise InvalidModel(f"the model input is {model_input.type}; float, float16 or double needed")
    fixed_batch = _check_input(model_input.shape, spec)
    outputs = session.get_outputs()
    if not outputs:
        raise InvalidModel("the model has no output")
    signature = Signature(model_input.name, model_input.type, outputs[0].name, fixed_batch)
    runner = OnnxModel(session, spec, signature)
    try:
        raw = runner.run(np.zeros((1, *runner.input_shape), dtype=np.float32))
    except InvalidModel:
        raise
    except Exception as error:
        raise InvalidModel(
            f"the model does not run on a {runner.input_shape} input: {str(error)[:300]}"
        ) from None
    runner.check_output(raw, 1)
    return signature


def softmax_rows(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Probabilities: rows that already are (non-negative, sum 1) stay, others get a softmax."""
    if scores.size and np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):
        return scores
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
    return out


class OnnxModel:
    """A loaded model: preprocess images, run batches, decode outputs. One per task."""

    def __init__(self, session: Any, spec: ModelSpec, signature: Signature) -> None:
        self._session = session
        self.spec = spec
        self.signature = signature
        height, width = spec.input_size
        self.input_shape = (3, height, width) if spec.layout == "NCHW" else (height, width, 3)
        self._mean = np.asarray(spec.mean, dtype=np.float32)
        self._inv_std = 1.0 / np.asarray(spec.std, dtype=np.float32)
        self._dtype = _DTYPES[signature.input_dtype]

    @classmethod
    def load(cls, data: bytes, spec: ModelSpec, *, threads: int | None = None) -> OnnxModel:
        signature = inspect_model(data, spec, threads=1)
        return cls(_session(data, threads), spec, signature)

    @property
    def batch_size(self) -> int:
        return 1 if self.signature.fixed_batch else 32

    def preprocess(self, image: Image.Image, out: NDArray[np.float32] | None = None) -> NDArray[np.float32]:
        """One RGB image resized (bilinear, whole image, no crop) to ``input_size`` and normalised."""
        height, width = self.spec.input_size
        resized = (
            image
            if image.size == (width, height)
            else image.resize((width, height), Image.Resampling.BILINEAR)
        )
        pixels = np.asarray(resized, dtype=np.float32) * np.float32(self.spec.scale)
        pixels -= self._mean
        pixels *= self._inv_std
        arranged = pixels.transpose(2, 0, 1) if self.spec.layout == "NCHW" else pixels
        if out is None:
            return np.ascontiguousarray(arranged)
        out[...] = arranged
        return out

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float64]:
        """The model's first output for a preprocessed batch."""
        feed = batch if self._dtype is np.float32 else batch.astype(self._dtype)
        (raw, *_rest) = self._session.run([self.signature.output_name], {self.signature.input_name: feed})
        return np.asarray(raw, dtype=np.float64)

    def check_output(self, raw: NDArray[np.float64], batch: int) -> None:
        n_labels = len(self.spec.labels)
        if self.spec.kind == "classifier":
            if raw.ndim != 2 or raw.shape[0] != batch:
                raise InvalidModel(
                    f"a classifier's output must be (batch, {n_labels}); this model gives {list(raw.shape)}"
                )
            if raw.shape[1] != n_labels:
                raise InvalidModel(
                    f"the model gives {raw.shape[1]} scores per image but {n_labels} labels were given",
                    labels=True,
                )
            return
        shape = list(raw.shape)
        ok = (raw.ndim == 3 and raw.shape[0] == batch) or (raw.ndim == 2 and batch == 1)
        if not ok or raw.shape[-1] != DETECTION_WIDTH:
            raise InvalidModel(
                f"a detector's output must be (batch, boxes, 6) rows x1, y1, x2, y2, score, class; "
                f"this model gives {shape}"
            )

    def classify(self, batch: NDArray[np.float32]) -> NDArray[np.float64]:
        """Probabilities ``(n, len(labels))``."""
        raw = self.run(batch)
        self.check_output(raw, len(batch))
        return softmax_rows(raw)

    def detect(self, batch: NDArray[np.float32], sizes: Sequence[tuple[int, int]]) -> list[list[Detection]]:
        """Boxes per image, scaled to each image's original (width, height) in ``sizes``."""
        raw = self.run(batch)
        self.check_output(raw, len(batch))
        if raw.ndim == 2:
            raw = raw[None]
        height, width = self.spec.input_size
        n_labels = len(self.spec.labels)
        found: list[list[Detection]] = []
        for rows, (orig_w, orig_h) in zip(raw, sizes, strict=True):
            boxes: list[Detection] = []
            sx, sy = orig_w / width, orig_h / height
            for x1, y1, x2, y2, score, label in rows:
                if not np.isfinite([x1, y1, x2, y2, score, label]).all() or score <= 0 or label < 0:
                    continue
                index = round(float(label))
                if index >= n_labels:
                    continue
                left, right = sorted((min(max(x1 * sx, 0.0), orig_w), min(max(x2 * sx, 0.0), orig_w)))
                top, bottom = sorted((min(max(y1 * sy, 0.0), orig_h), min(max(y2 * sy, 0.0), orig_h)))
                if right - left < 1 or bottom - top < 1:
                    continue
                corners = (float(left), float(top), float(right), float(bottom))
                boxes.append(Detection(corners, float(min(score, 1.0)), index))
            found.append(sorted(boxes, key=lambda d: -d.score))
        return found
