"""Dataset request models (CreateDataset, UpdateDataset)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from labelarts.schemas.common import DATASET_TYPES, Description, LabelIn, StrictModel, no_nul

DatasetName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,100}$")]
_SEPARATORS = set("!@#$%^&*_=|?/':.;,") | set("\t")


def _dataset_type(value: int) -> int:
    if value not in DATASET_TYPES:
        raise ValueError(f"dataset_type must be one of {sorted(DATASET_TYPES)}")
    return value


def _separator(value: str) -> str:
    if len(value) != 1 or not (value.isalnum() or value in _SEPARATORS):
        raise ValueError("separator must be one letter, digit, tab or one of !@#$%^&*_=|?/':.;,")
    return value


class DataSourceIn(BaseModel):
    model_config = StrictModel
    data_path: Annotated[str, StringConstraints(max_length=4096)] | None = None
    data_type: int = 0
    with_column_header: bool | None = None


class LabelFormatIn(BaseModel):
    model_config = StrictModel
    label_type: Annotated[str, StringConstraints(pattern=r"^[01]$")] | None = None
    text_label_separator: Annotated[str, AfterValidator(_separator)] | None = None
    text_sample_separator: Annotated[str, AfterValidator(_separator)] | None = None


class SchemaFieldIn(BaseModel):
    model_config = StrictModel
    description: Annotated[str, StringConstraints(max_length=256)] | None = None
    name: Annotated[str, StringConstraints(max_length=256)] | None = None
    schema_id: int | None = None
    type: Annotated[str, StringConstraints(max_length=64)] | None = None


class CreateDatasetRequest(BaseModel):
    model_config = StrictModel
    dataset_name: DatasetName
    data_sources: Annotated[list[DataSourceIn], Field(max_length=1)]
    work_path: Annotated[str, StringConstraints(min_length=3, max_length=700), AfterValidator(no_nul)]
    # Mandatory in the table, but "default 0"; clients that omit it get 0 (docs/api.md).
    work_path_type: int = 0
    dataset_type: Annotated[int, AfterValidator(_dataset_type)] = 0
    data_format: Annotated[str, StringConstraints(pattern=r"^(Default|CarbonData)$")] = "Default"
    description: Description = ""
    import_annotations: bool = True
    import_data: bool = False
    label_format: LabelFormatIn | None = None
    labels: Annotated[list[LabelIn], Field(max_length=10_000)] | None = None
    managed: bool = False
    schema_: Annotated[list[SchemaFieldIn] | None, Field(alias="schema", max_length=1000)] = None
    workspace_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "0"

    @model_validator(mode="after")
    def _work_path_type_known(self) -> CreateDatasetRequest:
        if self.work_path_type != 0:
            raise ValueError("work_path_type must be 0")
        return self


class UpdateDatasetRequest(BaseModel):
    model_config = StrictModel
    dataset_name: DatasetName | None = None
    description: Description | None = None
    current_version_id: Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)] | None = None
    add_labels: Annotated[list[LabelIn], Field(max_length=10_000)] | None = None
    delete_labels: Annotated[list[LabelIn], Field(max_length=10_000)] | None = None
    update_labels: Annotated[list[LabelIn], Field(max_length=10_000)] | None = None
