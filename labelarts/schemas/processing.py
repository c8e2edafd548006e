"""Data-processing request models (ModelArts group E: "Creating a Processing Task" and the
version create and update calls). Field names are the reference's; the service checks what
depends on the project (datasets, tasks, paths) and the operators' parameters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from labelarts.schemas.common import Description, StrictModel, no_nul

Text64 = Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)]
Text256 = Annotated[str, StringConstraints(max_length=256), AfterValidator(no_nul)]
PathText = Annotated[str, StringConstraints(max_length=4096), AfterValidator(no_nul)]
# Our choice: the reference gives no pattern for a task's name (docs/processing.md).
TaskName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
VersionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{0,32}$")]
SOURCE_TYPES = ("OBS", "TASK", "DATASET", "CUSTOM")
TEMPLATE_IDS = (
    "sys_data_analyse",
    "sys_data_cleaning",
    "sys_data_validation",
    "sys_data_selection",
    "sys_data_augmentation",
)
# At most this many operators in one template (a chain of augmentations).
MAX_OPERATORS = 32


class ProcessorDataSource(BaseModel):
    model_config = StrictModel
    name: Text256 | None = None
    source: PathText | None = None
    type: Literal["OBS", "TASK", "DATASET", "CUSTOM"] | None = None
    version_id: Text64 | None = None
    version_name: Text64 | None = None


class WorkPath(BaseModel):
    model_config = StrictModel
    name: Text256 | None = None
    output_path: PathText | None = None
    path: PathText | None = None
    type: Literal["OBS", "DATASET"] | None = None
    version_id: Text64 | None = None
    version_name: VersionName | None = None


def _no_nul_anywhere(value: Any) -> Any:
    """Operator parameters are stored as JSON: no NUL in any key or string (PostgreSQL)."""
    if isinstance(value, str):
        no_nul(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul_anywhere(key)
            _no_nul_anywhere(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul_anywhere(item)
    return value


class OperatorParam(BaseModel):
    model_config = StrictModel
    advanced_params_switch: bool | None = None
    id: Text64 | None = None
    name: Text64 | None = None
    params: Annotated[dict[str, Any], Field(max_length=64), AfterValidator(_no_nul_anywhere)] = Field(
        default_factory=dict
    )


class TemplateParam(BaseModel):
    model_config = StrictModel
    id: (
        Literal[
            "sys_data_analyse",
            "sys_data_cleaning",
            "sys_data_validation",
            "sys_data_selection",
            "sys_data_augmentation",
        ]
        | None
    ) = None
    name: Text256 | None = None
    operator_params: Annotated[list[OperatorParam], Field(max_length=MAX_OPERATORS)] = Field(
        default_factory=list
    )


class CreateProcessorTaskRequest(BaseModel):
    """``template.id`` chooses the algorithm; exactly one input (``data_source`` or
    ``inputs[0]``; both may be sent if they agree)."""

    model_config = StrictModel
    create_version: bool = False
    data_source: ProcessorDataSource | None = None
    description: Description = ""
    inputs: Annotated[list[ProcessorDataSource], Field(max_length=8)] | None = None
    name: TaskName
    template: TemplateParam
    version_id: Text64 | None = None
    work_path: WorkPath | None = None
    workspace_id: Text64 | None = None


class UpdateProcessorTaskRequest(BaseModel):
    model_config = StrictModel
    description: Description = ""


class CreateProcessorTaskVersionRequest(BaseModel):
    """``inputs``, ``work_path`` and ``template.operator_params`` override the task's for this
    run; ``name`` is the task's name (another name is refused)."""

    model_config = StrictModel
    create_version: bool | None = None
    data_source: ProcessorDataSource | None = None
    description: Description = ""
    inputs: Annotated[list[ProcessorDataSource], Field(max_length=8)] | None = None
    name: Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)] | None = None
    template: TemplateParam | None = None
    version_id: Text64 | None = None
    work_path: WorkPath | None = None
    workspace_id: Text64 | None = None
