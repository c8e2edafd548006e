"""Team labeling task request models (ModelArts group D: workforce tasks, their samples,
review and acceptance). Field names and types follow the reference tables."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints

from labelarts.schemas.common import Description, StrictModel, no_nul
from labelarts.schemas.samples import MAX_UPDATE_SAMPLES, Labels, UpdateSampleIn

TaskName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Id = Annotated[str, StringConstraints(max_length=64), AfterValidator(no_nul)]
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(no_nul)]
Grade = Annotated[str, StringConstraints(pattern=r"^[A-D]$")]
MAX_COMMENTS = 1_000
MAX_GOLD_SAMPLES = 1_000


def _comment(value: str) -> str:
    if any(c in value for c in "!<>=&\"'"):
        raise ValueError("comment must not contain any of !<>=&\"'")
    return no_nul(value)


Comment = Annotated[str, StringConstraints(max_length=256), AfterValidator(_comment)]


def _role(value: Any) -> Any:
    # CreateWorker's example sends "2": digit strings are taken for role only (docs/team-labeling.md).
    if isinstance(value, str) and value.isdigit() and len(value) == 1:
        return int(value)
    return value


class WorkerIn(BaseModel):
    """A person of a WorkforceConfig: ``email`` or ``worker_id`` names them; the other fields
    are informational (the team's worker decides)."""

    model_config = StrictModel
    email: Email | None = None
    worker_id: Id | None = None
    workforce_id: Id | None = None
    role: Annotated[int, BeforeValidator(_role), Field(ge=0, le=3)] | None = None
    description: Description | None = None
    status: int | None = None
    create_time: int | None = None
    update_time: int | None = None


class WorkforceConfigIn(BaseModel):
    model_config = StrictModel
    workforce_id: Id | None = None
    workforce_name: Annotated[str, StringConstraints(max_length=1024), AfterValidator(no_nul)] | None = None
    workers: Annotated[list[WorkerIn], Field(max_length=1000)] | None = None


class WorkforcesConfigIn(BaseModel):
    model_config = StrictModel
    agency: Email | None = None
    workforces: Annotated[list[WorkforceConfigIn], Field(max_length=100)] | None = None


class CreateWorkforceTaskRequest(BaseModel):
    model_config = StrictModel
    task_name: TaskName | None = None
    description: Description = ""
    repetition: Annotated[int, Field(ge=1, le=100)] = 1
    synchronize_data: bool = False
    synchronize_auto_labeling_data: bool = False
    data_sync_type: Annotated[int, Field(ge=0, le=3)] | None = None
    auto_sync_dataset: bool = True
    sample_conditions: Annotated[str, StringConstraints(max_length=16_384), AfterValidator(no_nul)] | None = (
        None
    )
    workforces_config: WorkforcesConfigIn | None = None
    version_id: Id | None = None


class StartWorkforceTaskRequest(BaseModel):
    model_config = StrictModel
    task_id: Id | None = None
    workforces_config: WorkforcesConfigIn | None = None


class UpdateWorkforceTaskRequest(BaseModel):
    model_config = StrictModel
    task_id: Id | None = None
    task_name: TaskName | None = None
    description: Description | None = None
    workforces_config: WorkforcesConfigIn | None = None


class UpdateTeamSamplesRequest(BaseModel):
    model_config = StrictModel
    email: Email | None = None
    samples: Annotated[list[UpdateSampleIn], Field(max_length=MAX_UPDATE_SAMPLES)] | None = None


class SampleCommentIn(BaseModel):
    model_config = StrictModel
    accept: bool
    comment: Comment | None = None
    sample_id: Id | None = None
    score: Grade | None = None
    worker_id: Id | None = None


class ReviewSamplesRequest(BaseModel):
    model_config = StrictModel
    comments: Annotated[list[SampleCommentIn], Field(max_length=MAX_COMMENTS)] | None = None


class AcceptSamplesRequest(BaseModel):
    # Required fields are checked by the service, after the dataset and task (404 first).
    model_config = StrictModel
    comments: Annotated[list[SampleCommentIn], Field(max_length=MAX_COMMENTS)] | None = None


class StartSamplingRequest(BaseModel):
    model_config = StrictModel
    sampling_num: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    sampling_rate: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] | None = None


class UpdateSamplingRequest(BaseModel):
    model_config = StrictModel
    action: Annotated[int, Field(ge=0, le=5)] | None = None  # required: checked after the 404s
    overwrite_last_result: bool = False


# Any string up to 1024: a malformed address fails its own item (ModelArts.0104), not the call.
NotifyAddress = Annotated[str, StringConstraints(max_length=1024)]


class NotifyRequest(BaseModel):
    """SendEmails: the members to mail (1 to 100 addresses; each one is checked on its own)."""

    model_config = StrictModel
    # Mandatory, but checked by the service after the task lookup: another project's (or an
    # unknown) task is a 404 whatever the body, as on the other team-task routes.
    emails: Annotated[list[NotifyAddress], Field(max_length=100)] | None = None


class GoldSampleIn(BaseModel):
    """A gold sample and its known answer (LabelArts extension)."""

    model_config = StrictModel
    sample_id: Id
    labels: Labels


class SetGoldSamplesRequest(BaseModel):
    """PUT .../gold-samples: samples to mark (or re-mark) as gold, with their answers."""

    model_config = StrictModel
    # Mandatory, but checked by the service after the task lookup (as ``emails`` above).
    samples: Annotated[list[GoldSampleIn], Field(min_length=1, max_length=MAX_GOLD_SAMPLES)] | None = None
