"""Feature encoders: raw file bytes in, one float32 feature row per file out.

``open_encoder(modality, model, model_dir=...)`` gives a cached encoder; see
``AVAILABLE_MODELS`` for the choices. The model modules import heavy libraries, so they are
loaded only when an encoder of theirs is opened.
"""

from labelarts.ml.features.base import FeatureEncoder
from labelarts.ml.features.registry import AVAILABLE_MODELS, DEFAULT_MODELS, open_encoder

__all__ = ["AVAILABLE_MODELS", "DEFAULT_MODELS", "FeatureEncoder", "open_encoder"]
