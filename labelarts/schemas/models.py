"""Model registry request model (a LabelArts extension: docs/model-registry.md)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, field_validator

from labelarts.schemas.common import Description, LabelName, StrictModel

MAX_MODEL_LABELS = 10_000

ModelName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
ModelVersion = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")]
Side = Annotated[int, Field(ge=1, le=8192)]
Channel = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
PositiveChannel = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]


def _unique(labels: list[str]) -> list[str]:
    if len(set(labels)) != len(labels):
        raise ValueError("labels must be unique")
    return labels


class ImportModelRequest(BaseModel):
    """``POST /v2/{project_id}/models``: the ONNX file as base64 in ``model_data``."""

    model_config = StrictModel
    model_name: ModelName
    model_version: ModelVersion = "1.0.0"
    description: Description = ""
    kind: Literal["classifier", "detector"]
    labels: Annotated[
        list[LabelName], Field(min_length=1, max_length=MAX_MODEL_LABELS), AfterValidator(_unique)
    ]
    input_size: Annotated[list[Side], Field(min_length=2, max_length=2)]
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    mean: Annotated[list[Channel], Field(min_length=3, max_length=3)] = [0.0, 0.0, 0.0]
    std: Annotated[list[PositiveChannel], Field(min_length=3, max_length=3)] = [1.0, 1.0, 1.0]
    scale: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] = 1.0 / 255.0
    model_data: Annotated[str, StringConstraints(min_length=1)]

    @field_validator("model_data")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("model_data must be base64") from None
        return value

    def file_bytes(self) -> bytes:
        return base64.b64decode(self.model_data, validate=True)
