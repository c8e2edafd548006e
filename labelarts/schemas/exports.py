"""Export task request model (ExportTask, "Creating a Dataset Export Task")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, field_validator

from labelarts.schemas.common import StrictModel, no_nul

ExportPath = Annotated[str, StringConstraints(min_length=1, max_length=4096), AfterValidator(no_nul)]
SampleId = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(no_nul)]
# annotation_format: the reference's VOC and COCO, and the formats LabelArts adds (docs/export.md).
ANNOTATION_FORMATS = ("VOC", "COCO", "YOLO", "IMAGENET", "CVAT", "LABELME", "MANIFEST", "CSV", "JSONL")
MAX_EXPORT_SAMPLE_IDS = 100_000


class ExportParamsIn(BaseModel):
    model_config = StrictModel
    clear_hard_property: bool = True
    export_dataset_version_format: (
        Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)] | None
    ) = None
    export_dataset_version_name: (
        Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)] | None
    ) = None
    export_dest: Literal["DIR", "NEW_DATASET"] = "DIR"
    export_new_dataset_name: (
        Annotated[str, StringConstraints(max_length=100), AfterValidator(no_nul)] | None
    ) = None
    export_new_dataset_work_path: (
        Annotated[str, StringConstraints(max_length=700), AfterValidator(no_nul)] | None
    ) = None
    ratio_sample_usage: bool = False
    sample_state: Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)] | None = None
    samples: Annotated[list[SampleId], Field(max_length=MAX_EXPORT_SAMPLE_IDS)] | None = None
    search_conditions: Annotated[list[dict[str, Any]], Field(max_length=20)] | None = None
    # The reference types it String ("1.00"); its own answers show a number. Both are taken.
    train_sample_ratio: (
        Annotated[str, StringConstraints(max_length=16), AfterValidator(no_nul)] | float | None
    ) = None

    def ratio(self) -> float:
        """``train_sample_ratio`` as a number in [0, 1] (default 1.0); ValueError otherwise."""
        if self.train_sample_ratio is None or self.train_sample_ratio == "":
            return 1.0
        value = float(self.train_sample_ratio)
        if not 0.0 <= value <= 1.0:
            raise ValueError("train_sample_ratio must be a number between 0 and 1")
        return value


class CreateExportTaskRequest(BaseModel):
    """``path`` is required for ``export_dest`` DIR (checked by the service after the dataset,
    so that another project's dataset is a 404 whatever the body).

    ``annotation_format``: VOC or COCO as in the reference, or one of YOLO, IMAGENET, CVAT,
    LABELME, MANIFEST, CSV, JSONL (any case); absent: the ModelArts folder layout that
    ``export_format`` chooses (1 tree: class folders; 2 tile: each file beside its labels).
    Accepted without effect: ``source_type_header``, ``status``, ``task_id``,
    ``with_column_header`` (table datasets), ``version_format``.
    """

    model_config = StrictModel
    annotation_format: Annotated[str, StringConstraints(max_length=32), AfterValidator(no_nul)] | None = None
    export_format: Literal[1, 2] = 2
    export_params: ExportParamsIn = Field(default_factory=ExportParamsIn)
    export_type: Literal[0, 1, 2, 3] | None = None
    path: ExportPath | None = None
    sample_state: Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)] | None = None
    source_type_header: Annotated[str, StringConstraints(max_length=16), AfterValidator(no_nul)] | None = None
    status: int | None = None
    task_id: Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)] | None = None
    version_format: Annotated[str, StringConstraints(max_length=32), AfterValidator(no_nul)] | None = None
    version_id: Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)] | None = None
    with_column_header: bool | None = None

    @field_validator("annotation_format")
    @classmethod
    def _format(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        upper = value.strip().upper()
        if upper not in ANNOTATION_FORMATS:
            raise ValueError(f"annotation_format must be one of {', '.join(ANNOTATION_FORMATS)}")
        return upper
