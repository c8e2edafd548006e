"""Features of two or more encoders of one modality, side by side.

Two encoders trained on different data make different mistakes: the head learns from both sets
of numbers at once. Each part's row is divided by its L2 norm, so every encoder weighs the same
whatever the scale of its numbers (a no-op for the sentence encoders, which are L2-normalised
already). A payload that one part cannot decode gives a NaN row, as with a single encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelarts.ml.features.base import FeatureEncoder

__all__ = ["ConcatenatedEncoder"]


class ConcatenatedEncoder:
    """The features of ``parts`` (same modality), each row L2-normalised, concatenated."""

    def __init__(self, name: str, parts: Sequence[FeatureEncoder]) -> None:
        if len(parts) < 2:
            raise ValueError("a concatenated encoder needs at least two parts")
        modalities = {part.modality for part in parts}
        if len(modalities) != 1:
            raise ValueError(
                f"parts of one concatenated encoder must share a modality, got {sorted(modalities)}"
            )
        self.name = name
        self.modality = parts[0].modality
        self.parts = tuple(parts)
        self.dim = sum(part.dim for part in parts)

    def encode(self, payloads: Sequence[bytes]) -> np.ndarray:
        blocks = []
        for part in self.parts:
            features = np.asarray(part.encode(payloads), dtype=np.float32)
            norms = np.linalg.norm(features, axis=1, keepdims=True)
            # NaN rows (undecodable payloads) stay NaN; an all-zero row stays zero.
            blocks.append(features / np.where(norms > 0, norms, 1.0))
        features = np.hstack(blocks).astype(np.float32, copy=False).reshape(len(payloads), self.dim)
        features[np.isnan(features).any(axis=1)] = np.nan  # one part could not decode it: none counts
        return features
