"""Data-processing algorithms (ModelArts processing tasks), as a pure library: no database, no HTTP.

    TEMPLATES          the four processing templates, their labels and operator names
    get_operator(name) the operator object (MetaValidation, SimDeduplication, RRD, PCC, Flip, ...)
    rng_for(v, s)      the random generator of one sample in one task version

Per-sample operators answer ``process(item, params, rng)``; whole-set operators answer
``select(items, params, embed, rng)``; see :mod:`labelarts.ml.processing.base` and
``docs/processing.md`` ("Algorithms").
"""

from __future__ import annotations

from types import MappingProxyType

from labelarts.ml.processing.augmentation import AUGMENTATION_OPERATORS
from labelarts.ml.processing.base import (
    ADDED,
    DELETED,
    MODIFIED,
    UNMODIFIED,
    Box,
    Embedder,
    Operator,
    ProcessingInput,
    ProcessingOutcome,
    ProcessingParameterError,
    SampleOperator,
    SetOperator,
    TemplateSpec,
    rng_for,
)
from labelarts.ml.processing.dedup import SimDeduplication
from labelarts.ml.processing.pcc import PCC
from labelarts.ml.processing.pipeline import SampleResult, Step, as_input, run_sample_steps
from labelarts.ml.processing.rrd import RRD, check_n_clusters
from labelarts.ml.processing.validation import MetaValidation

__all__ = [
    "ADDED",
    "DELETED",
    "GAN_OPERATORS",
    "MODIFIED",
    "OPERATORS",
    "TEMPLATES",
    "UNMODIFIED",
    "Box",
    "Embedder",
    "Operator",
    "ProcessingInput",
    "ProcessingOutcome",
    "ProcessingParameterError",
    "SampleOperator",
    "SampleResult",
    "SetOperator",
    "Step",
    "TemplateSpec",
    "as_input",
    "check_sample_count",
    "get_operator",
    "rng_for",
    "run_sample_steps",
    "template_for_operator",
]

UNSUPPORTED = "ModelArts.4396"

_ALL: tuple[Operator, ...] = (MetaValidation(), PCC(), SimDeduplication(), RRD(), *AUGMENTATION_OPERATORS)
_OPERATORS: dict[str, Operator] = {op.name: op for op in _ALL}
OPERATORS = MappingProxyType(_OPERATORS)
"""Every supported operator, by name."""

GAN_OPERATORS: tuple[str, ...] = ("StyleGAN", "CycleGAN")
"""The guide's generation operators: they train GANs and load TensorFlow models from user
paths, which cannot run offline on a small CPU; LabelArts refuses them."""

TEMPLATES: dict[str, TemplateSpec] = {
    spec.template_id: spec
    for spec in (
        TemplateSpec("sys_data_cleaning", "data cleaning", "数据清洗", ("PCC",), (0, 2)),
        TemplateSpec("sys_data_validation", "data validation", "数据校验", ("MetaValidation",), (0, 1, 2)),
        TemplateSpec("sys_data_selection", "data selection", "数据选择", ("SimDeduplication", "RRD"), (0, 2)),
        TemplateSpec(
            "sys_data_augmentation",
            "data augmentation",
            "数据增强",
            (
                "AddNoise",
                "Blur",
                "Crop",
                "CutOut",
                "Flip",
                "Grayscale",
                "HistogramEqual",
                "LightArithmetic",
                "LightContrast",
                "MotionBlur",
                "Padding",
                "Resize",
                "Rotate",
                "Saturation",
                "Scale",
                "Sharpen",
                "Shear",
                "Translate",
                "Weather",
            ),
            (3,),
        ),
    )
}
"""The processing templates in the order ``GET processor-tasks/items`` lists them."""


def _supported(template_id: str | None = None) -> list[str]:
    if template_id is not None and template_id in TEMPLATES:
        names = TEMPLATES[template_id].operators
    else:
        names = tuple(name for spec in TEMPLATES.values() for name in spec.operators)
    return [name for name in names if name in _OPERATORS]


def get_operator(name: str, template_id: str | None = None) -> Operator:
    """The operator called ``name``; with ``template_id``, it must belong to that template.

    Raises :class:`ProcessingParameterError` (``ModelArts.4396``) for an unknown name, a GAN
    operator, or an operator of another template; the message lists the supported ones.
    """
    if name in GAN_OPERATORS:
        raise ProcessingParameterError(
            UNSUPPORTED,
            f"Operator {name} is not supported: it trains a GAN, which LabelArts does not run. "
            f"Supported operators: {', '.join(_supported(template_id))}.",
        )
    operator = _OPERATORS.get(name) if isinstance(name, str) else None
    if operator is None or (template_id is not None and name not in _supported(template_id)):
        where = f" in template {template_id}" if template_id is not None else ""
        raise ProcessingParameterError(
            UNSUPPORTED,
            f"Operator {name!r} is not supported{where}. Supported operators: "
            f"{', '.join(_supported(template_id))}.",
        )
    return operator


def template_for_operator(name: str) -> TemplateSpec | None:
    """The template an operator belongs to, or None for an unknown name."""
    for spec in TEMPLATES.values():
        if name in spec.operators:
            return spec
    return None


def check_sample_count(params: object, sample_count: int) -> None:
    """ModelArts.4622 when the parsed parameters ask for ``n_clusters`` not below ``sample_count``.

    PCC and RRD check this themselves at the end of a run; a service can call it before
    starting one, to answer 400 at once.
    """
    check_n_clusters(getattr(params, "n_clusters", None), sample_count)
