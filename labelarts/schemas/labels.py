"""Label request models (CreateLabels, UpdateLabels, DeleteLabels, UpdateLabel)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from labelarts.schemas.common import LabelIn, StrictModel


class LabelsRequest(BaseModel):
    model_config = StrictModel
    labels: Annotated[list[LabelIn], Field(max_length=10_000)] | None = None
