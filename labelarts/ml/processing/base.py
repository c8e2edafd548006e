"""The data-processing interface: samples in, one outcome per sample out, no I/O.

A processing run (``sys_data_validation``, ``sys_data_cleaning``, ``sys_data_selection``,
``sys_data_augmentation``) feeds :class:`ProcessingInput` records to an :class:`Operator` and
stores what it answers. Two kinds of operator exist:

* per-sample operators (``kind == "sample"``: MetaValidation and the augmentation operators)
  implement :meth:`SampleOperator.process`, one input to one :class:`ProcessingOutcome`;
* whole-set operators (``kind == "set"``: SimDeduplication, RRD, PCC) implement
  :meth:`SetOperator.select`, which reads the inputs once, keeps only compact per-item state
  (hashes, float16 feature rows, sizes; never the file bytes) and then yields one outcome per
  input, in input order.

Parameters arrive as the API sends them (strings such as ``"0.9"``, ``"True"``, ``"[0,1,2]"``,
or typed JSON values); :meth:`Operator.parse_params` validates and normalises them, or raises
:class:`ProcessingParameterError`, which carries the ModelArts error code the HTTP layer
answers with (400).

Coordinates: a :class:`Box` is in pixels of the image as displayed (EXIF orientation applied,
which is how LabelArts records image sizes), continuous edge coordinates: a box with
``xmin=10, xmax=20`` covers the pixel columns 10 to 19.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "ADDED",
    "DELETED",
    "MODIFIED",
    "UNMODIFIED",
    "Box",
    "Embedder",
    "Operator",
    "ProcessingInput",
    "ProcessingOutcome",
    "ProcessingParameterError",
    "SampleOperator",
    "SetOperator",
    "TemplateSpec",
    "rng_for",
]

UNMODIFIED = 0
"""``result_property`` of an input kept as it is."""
MODIFIED = 1
"""``result_property`` of an input whose file or boxes changed."""
DELETED = 2
"""``result_property`` of an input left out of the output."""
ADDED = 3
"""``result_property`` of a new sample (augmentation)."""


@dataclass(frozen=True)
class Box:
    """One detection box, in pixels of the image as displayed (continuous edge coordinates)."""

    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float


@dataclass(frozen=True)
class ProcessingInput:
    """One sample as an operator sees it."""

    sample_id: str
    name: str
    """File name with extension, e.g. ``"cat_01.jpg"``."""
    data: bytes
    """The file's bytes."""
    labels: tuple[str, ...]
    """Classification label names (may be empty)."""
    boxes: tuple[Box, ...]
    """Detection boxes (empty for classification)."""
    sha256: str
    """Content hash of ``data`` (hex)."""
    labeled: bool
    sample_time: int
    """Milliseconds since the epoch; breaks ties in the keep rules."""


@dataclass(frozen=True)
class ProcessingOutcome:
    """What one operator did to one sample.

    ``result_property``: 0 unmodified, 1 modified, 2 deleted, 3 added. For 1 and 3, ``name``
    and ``data`` are the new file (``data`` may equal the input's bytes when only the name or
    the boxes changed) and ``labels``/``boxes`` the sample's labels afterwards. For an added
    sample, ``sample_id`` is a new id (the MD5 of the input id and the new name).
    """

    sample_id: str
    result_property: int
    description: tuple[str, ...]
    name: str | None = None
    data: bytes | None = None
    labels: tuple[str, ...] = ()
    boxes: tuple[Box, ...] = ()


class ProcessingParameterError(ValueError):
    """Bad operator parameters: a 400 answer with ``error_code`` and ``message``.

    Codes: ``ModelArts.0104`` malformed or out-of-range value, ``ModelArts.4396`` unknown or
    unsupported operator (the GAN operators), ``ModelArts.4399`` a ``task_type`` other than
    ``image_classification`` or ``object_detection``, ``ModelArts.4622`` ``n_clusters`` not
    below the number of samples.
    """

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


Embedder = Callable[[Sequence[ProcessingInput]], np.ndarray]
"""Feature rows for a batch of inputs: float ``(len(batch), dim)``, each row L2-normalised.

A row of NaN marks an input that could not be decoded; whole-set operators leave such inputs
unmodified (validation is the step that deletes them).
"""


@runtime_checkable
class Operator(Protocol):
    """What every operator has: a name, a kind, and a parameter parser."""

    name: str
    """The operator's name in ``operator_params``, e.g. ``"MetaValidation"``, ``"Flip"``."""

    @property
    def kind(self) -> Literal["sample", "set"]:
        """``"sample"``: :class:`SampleOperator`; ``"set"``: :class:`SetOperator`."""
        ...

    def parse_params(self, raw: Mapping[str, object]) -> object:
        """Validated, normalised parameters; raises :class:`ProcessingParameterError`."""
        ...


@runtime_checkable
class SampleOperator(Operator, Protocol):
    """Validation and augmentation: one input, one outcome."""

    def process(
        self, item: ProcessingInput, params: object, rng: np.random.Generator
    ) -> ProcessingOutcome: ...


@runtime_checkable
class SetOperator(Operator, Protocol):
    """De-duplication, de-redundancy and cleaning: decisions that need the whole set."""

    def select(
        self,
        items: Iterable[ProcessingInput],
        params: object,
        embed: Embedder,
        rng: np.random.Generator,
    ) -> Iterator[ProcessingOutcome]:
        """One outcome per input, in input order, after reading every input once."""
        ...


@dataclass(frozen=True)
class TemplateSpec:
    """One processing template as ``GET processor-tasks/items`` lists it."""

    template_id: str
    label_en: str
    label_zh: str
    operators: tuple[str, ...]
    """The operator names this template runs (the first is its default)."""
    total_status: tuple[int, ...]
    """The result kinds this template's operators produce (the examples' ``total_status``)."""


def rng_for(task_version_id: str, sample_id: str) -> np.random.Generator:
    """The random generator for one sample in one task version.

    Seeded with the first 128 bits of SHA-256 of ``"{task_version_id}/{sample_id}"``, so a
    rerun of the same version gives the same outputs, on any machine, whatever the order the
    samples are processed in.
    """
    digest = hashlib.sha256(f"{task_version_id}/{sample_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))
