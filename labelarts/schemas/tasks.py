"""Intelligent task request model (CreateTask, "Starting Intelligent Tasks")."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints

from labelarts.schemas.common import Description, StrictModel, no_nul

_SCOPE = re.compile(r"^\s*([01](?:\.\d+)?)\s*-\s*([01](?:\.\d+)?)\s*$")


def parse_confidence_scope(value: str) -> tuple[float, float]:
    """``"0.10-0.90"`` -> (0.1, 0.9); both ends in [0, 1], low <= high."""
    match = _SCOPE.match(value)
    if not match:
        raise ValueError("confidence_scope must look like 0.10-0.90")
    low, high = float(match.group(1)), float(match.group(2))
    if not (0.0 <= low <= high <= 1.0):
        raise ValueError("confidence_scope needs 0 <= min <= max <= 1")
    return low, high


def _scope(value: str) -> str:
    parse_confidence_scope(value)
    return value


ShortText = Annotated[str, StringConstraints(max_length=256), AfterValidator(no_nul)]


def _digits_to_int(value: object) -> object:
    """The reference's own example sends ``"n_clusters": "2"``: a string of digits counts."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def _attribute_name(value: str) -> str:
    if value.startswith("@"):
        raise ValueError("property must not start with @ (reserved for @modelarts: and @labelarts: keys)")
    if any(ch in value for ch in "\x00<>=&\"'!") or value != value.strip():
        raise ValueError("property must not contain <>=&\"'! or NUL, nor start or end with spaces")
    return value


AttributeName = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_attribute_name)
]


class SmartTaskConfig(BaseModel):
    """The fields auto labeling uses, typed; other SmartTaskConfig fields are accepted and
    echoed without effect (they configure ModelArts' cloud training jobs).

    LabelArts extras: ``target_precision`` (precision the per-class auto-accept thresholds
    aim at, default 0.95), ``feature_model`` (the pretrained encoder, docs/autolabel.md) and
    ``check_labeled_samples`` (also look for probably wrong human labels: hard reason 31,
    docs/autolabel.md "Wrong human labels") and ``key_sample_count`` (with
    ``collect_key_sample``: how many samples to propose for labeling next, default 50).
    """

    model_config = StrictModel
    algorithm_type: Literal["fast", "accurate"] = "fast"
    confidence_scope: Annotated[str, StringConstraints(max_length=32), AfterValidator(_scope)] | None = None
    description: Description | None = None
    ambiguity: bool | None = None
    collect_rule: Literal["all"] | None = None
    collect_sample: bool | None = None
    image_brightness: bool | None = None
    image_colorfulness: bool | None = None
    worker_server_num: Annotated[int, Field(ge=0, le=1024)] | None = None
    target_precision: Annotated[float, Field(ge=0.5, le=0.999)] = 0.95
    feature_model: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    check_labeled_samples: bool | None = None
    # With collect_key_sample: how many samples to propose for labeling next (docs/autolabel.md).
    key_sample_count: Annotated[int, Field(ge=1, le=1000)] | None = None
    # pre-label (docs/model-registry.md): the model may also come here; score_threshold (a
    # LabelArts extra) keeps a detector's boxes scoring at least this much.
    model_id: ShortText | None = None
    model_name: ShortText | None = None
    model_version: ShortText | None = None
    inf_config_list: Annotated[list[dict[str, object]], Field(max_length=16)] | None = None
    score_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    # auto-grouping (docs/auto-grouping.md)
    n_clusters: Annotated[int, BeforeValidator(_digits_to_int), Field(ge=2, le=200)] | None = None
    result_type: Literal[0, 1] | None = None
    property: AttributeName | None = None


class CreateTaskRequest(BaseModel):
    model_config = StrictModel
    task_type: Literal["auto-label", "pre-label", "auto-grouping"] = "auto-label"
    collect_key_sample: bool = False
    config: SmartTaskConfig = Field(default_factory=SmartTaskConfig)
    model_id: ShortText | None = None
    task_name: Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)] | None = None
