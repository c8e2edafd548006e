"""Sample edit request models (UploadSamplesJson, DeleteSamples, UpdateSamples).

Field names and types follow the reference tables. Checks that need the dataset (label types,
image content, sample ids) live in :mod:`labelarts.services.samples.edits`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from labelarts.schemas.common import DEFAULT_SHAPES, LabelName, LabelType, StrictModel, no_nul
from labelarts.schemas.datasets import LabelFormatIn

SAMPLE_TYPES = frozenset({0, 1, 2, 4, 6, 9})
ENCODINGS = frozenset({"UTF-8", "GBK", "GB2312"})
SAMPLE_USAGES = frozenset({"TRAIN", "EVAL", "TEST", "INFERENCE"})
MAX_UPLOAD_SAMPLES = 100
MAX_DELETE_SAMPLES = 10_000
MAX_UPDATE_SAMPLES = 1_000
MAX_LABELS_PER_SAMPLE = 1_000
MAX_HARD_REASON = 30

HARD = "@modelarts:hard"
HARD_COEFFICIENT = "@modelarts:hard_coefficient"
HARD_REASONS = "@modelarts:hard_reasons"
SIZE = "@modelarts:size"
IMPORT_ORIGIN = "@modelarts:import_origin"
# Keys LabelArts keeps for itself in a sample's metadata (e.g. hard-example details).
RESERVED_PREFIX = "@labelarts:"

_NAME_FORBIDDEN = re.compile(r"[!<>=&\"'/\\\x00-\x1f\x7f]")
_MAX_PROPERTY_JSON = 256 * 1024
_MAX_METADATA_JSON = 64 * 1024
MAX_PROPERTY_KEYS = 64
MAX_JSON_DEPTH = 8


def check_sample_name(value: str) -> str:
    """A sample name (ValueError otherwise); the manifest importer checks names with it too."""
    if _NAME_FORBIDDEN.search(value):
        raise ValueError("sample name must not contain !<>=&\"', / or \\, or control characters")
    if value in (".", ".."):
        raise ValueError("sample name must not be . or ..")
    return value


def _one_of(value: Any, allowed: frozenset[Any], what: str) -> Any:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {sorted(allowed)}")
    return value


SampleName = Annotated[str, StringConstraints(max_length=1024), AfterValidator(check_sample_name)]
SampleType = Annotated[int, AfterValidator(lambda v: _one_of(v, SAMPLE_TYPES, "sample_type"))]
SampleId = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(no_nul)]
SampleUsage = Annotated[str, AfterValidator(lambda v: _one_of(v, SAMPLE_USAGES, "sample_usage"))]
Score = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite_json(value: Any, depth: int = 0) -> None:
    """Plain JSON (strings, finite numbers, booleans, null, lists and objects), not too deep."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"values are nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        # Python's JSON parser accepts NaN/Infinity and reads 1e400 as Infinity; JSON responses
        # (and PostgreSQL) cannot hold them.
        raise ValueError("numbers must be finite (at most about 1.8e308)")
    if _is_int(value) and not -(2**63) <= value < 2**63:
        raise ValueError("integers must fit in 64 bits")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("strings must not contain NUL characters")
    if isinstance(value, list):
        for item in value:
            _finite_json(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise ValueError("keys must not contain NUL characters")
            _finite_json(item, depth + 1)


_SIZE_ENCODER: Final = json.JSONEncoder(ensure_ascii=False)  # json.dumps builds one per call


def _json_size(value: Any) -> int:
    return len(_SIZE_ENCODER.encode(value))


# -- label property -------------------------------------------------------------------------------

# Table 9 (SampleLabelProperty): these default attributes are Strings, these Integers; the
# @labelarts: ones are what the manifest importer keeps (creation-time, a triplet label's id).
_STRING_PROPERTIES = frozenset(
    {
        "@labelarts:creation_time",
        "@labelarts:id",
        "@modelarts:content",
        "@modelarts:end_time",
        "@modelarts:from",
        "@modelarts:hard",
        "@modelarts:hard_coefficient",
        "@modelarts:hard_reasons",
        "@modelarts:shape",
        "@modelarts:source",
        "@modelarts:start_time",
        "@modelarts:to",
    }
)
_INTEGER_PROPERTIES = frozenset({"@modelarts:start_index", "@modelarts:end_index"})


def check_label_property(value: dict[str, Any]) -> dict[str, Any]:
    """A label's ``property`` (ValueError otherwise): uploads, updates and manifest imports."""
    if not value:  # the usual case, and every rule below holds for it (a manifest's every line)
        return value
    if len(value) > MAX_PROPERTY_KEYS:
        raise ValueError(f"a label's property has at most {MAX_PROPERTY_KEYS} keys")
    for key, item in value.items():
        if not key or len(key) > 128 or "\x00" in key:
            raise ValueError("property keys are 1 to 128 characters")
        if key in _STRING_PROPERTIES and not isinstance(item, str):
            raise ValueError(f"{key} must be a string")
        if key in _INTEGER_PROPERTIES and (not isinstance(item, int) or isinstance(item, bool) or item < 0):
            raise ValueError(f"{key} must be a non-negative integer")
        if key == "@modelarts:feature" and not isinstance(item, list):
            raise ValueError("@modelarts:feature must be a list of points")
    _finite_json(value)
    hard = value.get("@modelarts:hard")
    if hard is not None and hard.lower() not in ("0", "1", "true", "false"):
        raise ValueError('@modelarts:hard must be "0", "1", "true" or "false"')
    coefficient = value.get("@modelarts:hard_coefficient")
    if coefficient is not None:
        try:
            number = float(coefficient)
        except ValueError:
            raise ValueError("@modelarts:hard_coefficient must be a number in [0, 1]") from None
        if not 0.0 <= number <= 1.0:
            raise ValueError("@modelarts:hard_coefficient must be a number in [0, 1]")
    reasons = value.get("@modelarts:hard_reasons")
    if reasons is not None and reasons != "":
        parts = reasons.split("-")
        if not all(p.isdigit() and int(p) <= MAX_HARD_REASON for p in parts):
            raise ValueError('@modelarts:hard_reasons must be reason ids 0..30 joined by "-", e.g. "3-20"')
    shape = value.get("@modelarts:shape")
    if shape not in (None, "") and shape not in DEFAULT_SHAPES:
        raise ValueError(f"@modelarts:shape must be one of {sorted(DEFAULT_SHAPES)}")
    if _json_size(value) > _MAX_PROPERTY_JSON:
        raise ValueError(f"a label's property is at most {_MAX_PROPERTY_JSON // 1024} KiB of JSON")
    return value


SampleLabelProperty = Annotated[dict[str, Any], AfterValidator(check_label_property)]


class SampleLabelIn(BaseModel):
    """A label on a sample (Table 8). ``name`` is required by the services; ``id`` is ignored."""

    model_config = StrictModel
    id: Annotated[str, StringConstraints(max_length=64)] | None = None
    name: LabelName | None = None
    type: LabelType | None = None
    score: Score | None = None
    property: SampleLabelProperty | None = None
    # The reference's two values; what the sample list answers, so a read-modify-write works.
    annotated_by: Literal["human", "auto"] | None = None


# -- sample metadata ------------------------------------------------------------------------------


def _check_metadata_entry(key: str, item: Any) -> None:
    if item is None:
        return  # null removes the key (update) or is ignored (upload)
    if key == HARD:
        # COMPATIBILITY.md 2.11: "Double" in the table, true in the example; no strings
        # (openstacksdk reads the field as a float).
        if not (isinstance(item, bool) or (_is_number(item) and item in (0, 1))):
            raise ValueError(f"{HARD} must be 0, 1, true or false (a number or a boolean, not a string)")
    elif key == HARD_COEFFICIENT:
        if not _is_number(item) or not math.isfinite(item) or not 0 <= item <= 1:
            raise ValueError(f"{HARD_COEFFICIENT} must be a number in [0, 1]")
    elif key == HARD_REASONS:
        if (
            not isinstance(item, list)
            or len(item) > MAX_HARD_REASON + 1
            or not all(_is_int(r) and 0 <= r <= MAX_HARD_REASON for r in item)
        ):
            raise ValueError(f"{HARD_REASONS} must be a list of integers 0..{MAX_HARD_REASON}")
    elif key == SIZE:
        if (
            not isinstance(item, list)
            or len(item) not in (2, 3)
            or not all(_is_int(v) and 1 <= v <= 1_000_000 for v in item)
        ):
            raise ValueError(f"{SIZE} must be [width, height] or [width, height, depth], positive integers")
    elif key == IMPORT_ORIGIN and not (_is_int(item) and item >= 0):
        raise ValueError(f"{IMPORT_ORIGIN} must be a non-negative integer")


def check_sample_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """A sample's ``metadata`` (ValueError otherwise): uploads, updates and a manifest line's
    ``property``."""
    if len(value) > MAX_PROPERTY_KEYS:
        raise ValueError(f"metadata has at most {MAX_PROPERTY_KEYS} keys")
    for key, item in value.items():
        if not key or len(key) > 128 or "\x00" in key:
            raise ValueError("metadata keys are 1 to 128 characters")
        if key.startswith(RESERVED_PREFIX):
            raise ValueError(f"metadata keys starting with {RESERVED_PREFIX} are reserved")
        _check_metadata_entry(key, item)
    _finite_json(value)
    if _json_size(value) > _MAX_METADATA_JSON:
        raise ValueError(f"metadata is at most {_MAX_METADATA_JSON // 1024} KiB of JSON")
    return value


SampleMetadata = Annotated[dict[str, Any], AfterValidator(check_sample_metadata)]
Labels = Annotated[list[SampleLabelIn], Field(max_length=MAX_LABELS_PER_SAMPLE)]


# -- requests -------------------------------------------------------------------------------------


class UploadSampleIn(BaseModel):
    """One sample of UploadSamplesJson (Table 4). ``data`` is the file's bytes in base64."""

    model_config = StrictModel
    name: SampleName | None = None
    sample_type: SampleType | None = None
    data: str | None = None
    data_source: dict[str, Any] | None = None
    encoding: Annotated[str, AfterValidator(lambda v: _one_of(v, ENCODINGS, "encoding"))] | None = None
    labels: Labels | None = None
    metadata: SampleMetadata | None = None


class UploadSamplesRequest(BaseModel):
    model_config = StrictModel
    final_annotation: bool = True
    label_format: LabelFormatIn | None = None
    samples: Annotated[list[UploadSampleIn], Field(max_length=MAX_UPLOAD_SAMPLES)] | None = None


class DeleteSamplesRequest(BaseModel):
    model_config = StrictModel
    samples: Annotated[list[SampleId], Field(max_length=MAX_DELETE_SAMPLES)] | None = None
    delete_source: bool = False


class UpdateSampleIn(BaseModel):
    """One sample of UpdateSamples (Table 3). Absent ``labels`` removes all labels (the page)."""

    model_config = StrictModel
    sample_id: SampleId | None = None
    labels: Labels | None = None
    metadata: SampleMetadata | None = None
    sample_type: SampleType | None = None
    sample_usage: SampleUsage | None = None
    source: Annotated[str, StringConstraints(max_length=8192)] | None = None
    worker_id: Annotated[str, StringConstraints(max_length=64)] | None = None


class UpdateSamplesRequest(BaseModel):
    model_config = StrictModel
    email: Annotated[str, StringConstraints(max_length=256), AfterValidator(no_nul)] | None = None
    samples: Annotated[list[UpdateSampleIn], Field(max_length=MAX_UPDATE_SAMPLES)] | None = None
