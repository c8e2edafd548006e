"""Intelligent task request model (CreateTask, "Starting Intelligent Tasks")."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

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


class SmartTaskConfig(BaseModel):
    """The fields auto labeling uses, typed; other SmartTaskConfig fields are accepted and
    echoed without effect (they configure ModelArts' cloud training jobs).

    LabelArts extras: ``target_precision`` (precision the per-class auto-accept thresholds
    aim at, default 0.95) and ``feature_model`` (the pretrained encoder, docs/autolabel.md).
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


class CreateTaskRequest(BaseModel):
    model_config = StrictModel
    task_type: Literal["auto-label", "pre-label", "auto-grouping"] = "auto-label"
    collect_key_sample: bool = False
    config: SmartTaskConfig = Field(default_factory=SmartTaskConfig)
    model_id: ShortText | None = None
    task_name: Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)] | None = None
