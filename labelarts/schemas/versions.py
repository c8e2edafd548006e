"""Dataset version request model ("Creating a Dataset Labeling Version")."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from labelarts.schemas.common import Description, StrictModel, no_nul

VERSION_FORMATS = ("Default", "CarbonData", "CSV")
# version_format as the list's query parameter numbers it.
VERSION_FORMAT_CODES = {"Default": 0, "CarbonData": 1, "CSV": 2}
VersionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


def parse_ratio(value: str | float) -> float:
    """``train_evaluate_sample_ratio`` as a number in [0, 1] (the reference types it String;
    a JSON number is taken too). ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError("train_evaluate_sample_ratio must be a number in [0, 1]")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except ValueError:
        raise ValueError("train_evaluate_sample_ratio must be a number in [0, 1]") from None
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ValueError("train_evaluate_sample_ratio must be a number in [0, 1]")
    return number


def _ratio(value: str | float) -> str | float:
    parse_ratio(value)
    return value


Ratio = Annotated[
    Annotated[str, StringConstraints(max_length=16), AfterValidator(no_nul)] | float, AfterValidator(_ratio)
]


class CreateVersionRequest(BaseModel):
    """Every field is optional. ``version_name`` defaults to ``V001``, ``V002``... (the
    dataset's next number). ``sample_state`` is a LabelArts extension (the reference answers
    it on the version): publish only the samples in that state (``__ALL__`` labeled,
    ``__NONE__`` unlabeled, ``__AUTO_ANNOTATION__`` to be confirmed); absent: every sample.
    ``split_seed`` (LabelArts): the seed of the training/validation split, answered as
    ``split_seed``; absent: a random one. The same samples, ratio and seed split the same."""

    model_config = StrictModel
    clear_hard_property: bool = True
    description: Description = ""
    export_images: bool = False
    remove_sample_usage: bool = True
    train_evaluate_sample_ratio: Ratio = "1.00"
    version_format: Literal["Default", "CarbonData", "CSV"] = "Default"
    version_name: VersionName | None = None
    with_column_header: bool = True
    sample_state: Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)] | None = None
    split_seed: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None

    @property
    def ratio(self) -> float:
        return parse_ratio(self.train_evaluate_sample_ratio)

    @property
    def ratio_text(self) -> str:
        value = self.train_evaluate_sample_ratio
        return value.strip() if isinstance(value, str) else f"{value:g}"


VersionFormat = Literal["Default", "CarbonData", "CSV"]
StatusFilter = Literal[0, 1, 2, 3, 4]
