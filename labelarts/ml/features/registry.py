"""Open a feature encoder by modality and model name; loaded encoders are cached in-process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from labelarts.ml.features.base import FeatureEncoder

__all__ = ["AVAILABLE_MODELS", "DEFAULT_MODELS", "loaded_encoders", "open_encoder"]

_Loader = Callable[[Path, "int | None"], FeatureEncoder]


def _efficientnet(variant: str) -> _Loader:
    def load(model_dir: Path, threads: int | None) -> FeatureEncoder:
        from labelarts.ml.features.image import EfficientNetLiteEncoder

        return EfficientNetLiteEncoder(variant, model_dir=model_dir, threads=threads)

    return load


def _use_m3(model_dir: Path, threads: int | None) -> FeatureEncoder:
    from labelarts.ml.features.text import UseM3Encoder

    return UseM3Encoder(threads=threads)


def _minilm(model_dir: Path, threads: int | None) -> FeatureEncoder:
    from labelarts.ml.features.text import MiniLMEncoder

    return MiniLMEncoder(threads=threads)


def _speech_embedding(model_dir: Path, threads: int | None) -> FeatureEncoder:
    from labelarts.ml.features.audio import SpeechEmbeddingEncoder

    return SpeechEmbeddingEncoder(threads=threads)


def _concatenated(modality: str, *names: str) -> _Loader:
    """The parts' features side by side (``ConcatenatedEncoder``); each part is itself opened
    through the registry, so a part already loaded for its own name is shared."""

    def load(model_dir: Path, threads: int | None) -> FeatureEncoder:
        from labelarts.ml.features.combined import ConcatenatedEncoder

        parts = [open_encoder(modality, name, model_dir=model_dir, threads=threads) for name in names]
        return ConcatenatedEncoder("+".join(names), parts)

    return load


# modality -> model name -> loader; the first model of each modality is its default.
_LOADERS: dict[str, dict[str, _Loader]] = {
    "image": {"efficientnet-lite0": _efficientnet("lite0"), "efficientnet-lite2": _efficientnet("lite2")},
    "text": {
        "use-m3": _use_m3,
        "minilm-l6": _minilm,
        # The most accurate on English (docs/autolabel-quality.md); needs the MiniLM extra.
        "use-m3+minilm-l6": _concatenated("text", "use-m3", "minilm-l6"),
    },
    "audio": {"oww-speech-embedding": _speech_embedding},
}
AVAILABLE_MODELS: dict[str, tuple[str, ...]] = {
    modality: tuple(models) for modality, models in _LOADERS.items()
}
DEFAULT_MODELS: dict[str, str] = {modality: models[0] for modality, models in AVAILABLE_MODELS.items()}

_CacheKey = tuple[str, str, Path, "int | None"]
_cache: dict[_CacheKey, FeatureEncoder] = {}
_key_locks: dict[_CacheKey, threading.Lock] = {}
_cache_lock = threading.Lock()


def open_encoder(
    modality: str, model: str | None = None, *, model_dir: Path, threads: int | None = None
) -> FeatureEncoder:
    """The encoder for ``modality`` (``"image"``, ``"text"`` or ``"audio"``) and ``model``.

    ``model`` defaults to the modality's first model in AVAILABLE_MODELS. ``model_dir`` is
    where exported model files are kept (the EfficientNet ONNX files). ``threads`` caps the
    inference threads (default: every CPU this process may use). Loading is slow, so each
    encoder is built once per process and shared; two threads opening the same encoder at
    once wait for one load. Raises ValueError for an unknown modality or model, or an optional
    model that is not installed.
    """
    try:
        loaders = _LOADERS[modality]
    except KeyError:
        raise ValueError(f"unknown modality {modality!r}; choose one of {', '.join(_LOADERS)}") from None
    name = model if model is not None else DEFAULT_MODELS[modality]
    if name not in loaders:
        raise ValueError(f"unknown {modality} model {name!r}; choose one of {', '.join(loaders)}")
    key: _CacheKey = (modality, name, Path(model_dir).resolve(), threads)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:  # loads of different encoders run in parallel, one load per key
        with _cache_lock:
            cached = _cache.get(key)
        if cached is None:
            cached = loaders[name](key[2], threads)
            with _cache_lock:
                _cache[key] = cached
        return cached


def loaded_encoders() -> list[str]:
    """The models this process has loaded (a Ray job's driver logs them: none, its encoder
    actors hold the weights)."""
    with _cache_lock:
        return sorted({key[1] for key in _cache})
