"""Request models for labeling teams (workforces) and their members (workers)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints

from labelarts.schemas.common import Description, StrictModel, no_nul

WorkforceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
WorkerId = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(no_nul)]


def _role_digits(value: object) -> object:
    # The reference types role Integer but its example sends "2": digit strings are taken for
    # role only (docs/team-labeling.md); other integer fields stay strict.
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 2:
        return int(value.strip())
    return value


Role = Annotated[int, BeforeValidator(_role_digits), Field(ge=0, le=2)]
# UpdateWorker lists 3 (dataset owner) among the values; it is accepted by the model so that
# the service can answer a clear 400 (the owner is not a worker).
UpdateRole = Annotated[int, BeforeValidator(_role_digits), Field(ge=0, le=3)]


class CreateWorkforceRequest(BaseModel):
    model_config = StrictModel
    workforce_name: WorkforceName
    description: Description = ""


class UpdateWorkforceRequest(BaseModel):
    model_config = StrictModel
    workforce_name: WorkforceName | None = None
    description: Description | None = None


class CreateWorkerRequest(BaseModel):
    """``emails``: one address, or several separated by commas (all are added or none)."""

    model_config = StrictModel
    emails: Annotated[str, StringConstraints(min_length=1, max_length=100_000), AfterValidator(no_nul)]
    role: Role
    description: Description = ""


class UpdateWorkerRequest(BaseModel):
    model_config = StrictModel
    role: UpdateRole | None = None
    description: Description | None = None


class BatchDeleteWorkersRequest(BaseModel):
    model_config = StrictModel
    workers: Annotated[list[WorkerId], Field(min_length=1, max_length=1000)]
