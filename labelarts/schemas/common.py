"""Types shared by the request models."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# Integer fields take JSON numbers only ("0" as a string is a wrong type, 400).
StrictModel = ConfigDict(strict=True, extra="ignore")

DATASET_TYPES = frozenset({0, 1, 3, 100, 101, 102, 200, 201, 202, 400, 600, 900})
LABEL_TYPES = frozenset({0, 1, 3, 100, 101, 102, 103, 200, 201, 202, 600})
DEFAULT_SHAPES = frozenset({"bndbox", "polygon", "circle", "line", "dashed", "point", "polyline"})

_FORBIDDEN_DESCRIPTION = re.compile(r"[\^!<>=&\"']")
_FORBIDDEN_ATTRIBUTE_NAME = re.compile(r"[<>=&\"'!]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _description(value: str) -> str:
    if _FORBIDDEN_DESCRIPTION.search(value):
        raise ValueError("description must not contain any of ^!<>=&\"'")
    return no_nul(value)


def no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here (400) instead of failing in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _label_name(value: str) -> str:
    if _CONTROL.search(value) or value != value.strip():
        raise ValueError("label name must not contain control characters or edge spaces")
    if "/" in value or "\\" in value:
        raise ValueError("label name must not contain / or \\")
    return value


def _attribute_name(value: str) -> str:
    if _FORBIDDEN_ATTRIBUTE_NAME.search(value):
        raise ValueError("attribute name must not contain any of !<>=&\"'")
    return value


Description = Annotated[str, StringConstraints(max_length=256), AfterValidator(_description)]
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=1024), AfterValidator(_label_name)]


class LabelAttributeValue(BaseModel):
    model_config = StrictModel
    id: Annotated[str, StringConstraints(max_length=64)] | None = None
    value: Annotated[str, StringConstraints(max_length=1024)] | None = None


class LabelAttribute(BaseModel):
    model_config = StrictModel
    default_value: Annotated[str, StringConstraints(max_length=1024)] | None = None
    id: Annotated[str, StringConstraints(max_length=64)] | None = None
    name: Annotated[str, StringConstraints(max_length=64), AfterValidator(_attribute_name)] | None = None
    type: Annotated[str, AfterValidator(lambda v: _one_of(v, {"text", "select"}))] | None = None
    values: Annotated[list[LabelAttributeValue], Field(max_length=1000)] | None = None


def _one_of(value: str, allowed: set[str]) -> str:
    if value not in allowed:
        raise ValueError(f"must be one of {sorted(allowed)}")
    return value


def _label_property(value: dict[str, Any]) -> dict[str, Any]:
    for key, item in value.items():
        if len(key) > 128:
            raise ValueError("property keys are at most 128 characters")
        if key.startswith("@modelarts:") and not isinstance(item, str):
            raise ValueError(f"{key} must be a string")
        if not isinstance(item, str | int | float | bool) or (isinstance(item, str) and len(item) > 1024):
            raise ValueError("property values are strings, numbers or booleans (<= 1024 chars)")
        if isinstance(item, float) and not math.isfinite(item):
            # Python's JSON parser accepts NaN/Infinity; JSON responses (and PostgreSQL) cannot.
            raise ValueError("property values must be finite numbers")
    shape = value.get("@modelarts:default_shape")
    if shape not in (None, "") and shape not in DEFAULT_SHAPES:
        raise ValueError(f"@modelarts:default_shape must be one of {sorted(DEFAULT_SHAPES)}")
    return value


LabelProperty = Annotated[dict[str, Any], Field(max_length=64), AfterValidator(_label_property)]


def _label_type(value: int) -> int:
    if value not in LABEL_TYPES:
        raise ValueError(f"label type must be one of {sorted(LABEL_TYPES)}")
    return value


LabelType = Annotated[int, AfterValidator(_label_type)]


class LabelIn(BaseModel):
    """ModelArts ``Label``. ``name`` is optional in the reference tables but required by
    every operation that uses it; services check it."""

    model_config = StrictModel
    name: LabelName | None = None
    type: LabelType | None = None
    property: LabelProperty | None = None
    attributes: Annotated[list[LabelAttribute], Field(max_length=100)] | None = None
