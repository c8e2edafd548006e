"""The LabelArts error tree. Each error knows its ModelArts ``error_code`` and HTTP status.

    LabelArtsError (500, ModelArts.0001)
    ├── BadRequestError (400, ModelArts.4200)
    │   ├── InvalidJsonError (ModelArts.4105)
    │   ├── ValidationFailedError (ModelArts.0104)
    │   ├── InvalidPathError (ModelArts.4374)
    │   ├── PathNotFoundError (ModelArts.4312)
    │   ├── DatasetExistsError (ModelArts.4351)
    │   ├── LabelNotFoundError (ModelArts.4410)
    │   ├── LabelExistsError (ModelArts.4411)
    │   ├── SampleUploadError (ModelArts.4421)
    │   ├── ImageProcessError (ModelArts.4200)
    │   ├── ImportRunningError (ModelArts.4356)
    │   ├── ImportFailedError (ModelArts.4362)
    │   ├── ImportParameterError (ModelArts.4396)
    │   ├── TaskConflictError (ModelArts.4409)
    │   ├── NoLabelsError (ModelArts.4405)
    │   ├── TooFewLabeledError (ModelArts.4406)
    │   ├── NoUnlabeledError (ModelArts.4407)
    │   ├── PublishRunningError (ModelArts.4343)
    │   ├── VersionExistsError (ModelArts.4371)
    │   ├── VersionStateError (ModelArts.4828)
    │   ├── VersionEmptyError (ModelArts.4825)
    │   ├── PublishFailedError (ModelArts.4712)
    │   ├── InvalidModelError (ModelArts.3037)
    │   ├── InvalidModelLabelsError (ModelArts.3023)
    │   ├── ModelExistsError (ModelArts.3037)
    │   ├── WorkforceExistsError (ModelArts.4602)
    │   ├── WorkerExistsError (ModelArts.4605)
    │   ├── TeamManagerError (ModelArts.4617)
    │   ├── WorkforceInUseError (ModelArts.4603)
    │   ├── WorkforceTaskExistsError (ModelArts.4620)
    │   ├── WorkforceTaskStateError (ModelArts.4621)
    │   ├── AcceptanceOpenError (ModelArts.4623)
    │   ├── NotInAcceptanceError (ModelArts.4624)
    │   ├── NothingToAcceptError (ModelArts.4625)
    │   ├── ObjectStoreAccessError (ModelArts.4314)
    │   └── ObjectStoreBucketError (ModelArts.4311)
    ├── UnauthorizedError (401, ModelArts.0203 / 0201 / 0202 / 3801 / 4122)
    ├── ForbiddenError (403, ModelArts.4630)
    │   └── RoleForbiddenError (ModelArts.4600)
    ├── NotFoundError (404, ModelArts.4338)
    │   ├── DatasetNotFoundError (ModelArts.4352)
    │   ├── SampleNotFoundError (ModelArts.4420)
    │   ├── SourceUnavailableError (ModelArts.4338)
    │   ├── TaskNotFoundError (ModelArts.4612)
    │   ├── VersionNotFoundError (ModelArts.4353)
    │   ├── ModelNotFoundError (ModelArts.4338)
    │   ├── WorkforceNotFoundError (ModelArts.4601)
    │   ├── WorkerNotFoundError (ModelArts.4604)
    │   └── WorkforceTaskNotFoundError (ModelArts.4619)
    ├── MethodNotAllowedError (405, ModelArts.4201)
    ├── PayloadTooLargeError (413, ModelArts.4200)
    ├── TooManyRequestsError (429, ModelArts.4206)
    ├── BusyError (429, ModelArts.6101)
    └── ObjectStoreUnavailableError (503, ModelArts.1002)

Codes come from the ModelArts error-code appendix; where the appendix files a code under
another HTTP status (for example "Dataset does not exist" under 400), LabelArts keeps the
code and uses the status COMPATIBILITY.md settles (404).
"""

from __future__ import annotations

from typing import ClassVar


class LabelArtsError(Exception):
    status_code: ClassVar[int] = 500
    error_code: ClassVar[str] = "ModelArts.0001"
    default_message: ClassVar[str] = "Internal server error."

    def __init__(self, message: str | None = None, *, error_code: str | None = None) -> None:
        self.message = message or self.default_message
        self.code = error_code or self.error_code
        super().__init__(self.message)


class BadRequestError(LabelArtsError):
    status_code = 400
    error_code = "ModelArts.4200"
    default_message = "Invalid request."


class InvalidJsonError(BadRequestError):
    error_code = "ModelArts.4105"
    default_message = "Incorrect JSON format of the input data."


class ValidationFailedError(BadRequestError):
    error_code = "ModelArts.0104"
    default_message = "Parameter error."


class InvalidPathError(BadRequestError):
    error_code = "ModelArts.4374"
    default_message = "Invalid path."


class PathNotFoundError(BadRequestError):
    error_code = "ModelArts.4312"
    default_message = "Path does not exist."


class DatasetExistsError(BadRequestError):
    error_code = "ModelArts.4351"
    default_message = "Dataset already exists."


class LabelNotFoundError(BadRequestError):
    error_code = "ModelArts.4410"
    default_message = "Label not found."


class LabelExistsError(BadRequestError):
    error_code = "ModelArts.4411"
    default_message = "Label already exists."


class SampleUploadError(BadRequestError):
    error_code = "ModelArts.4421"
    default_message = "Upload sample failed."


class ImageProcessError(BadRequestError):
    """The sample cannot be processed as an image (not an image, corrupt, too many pixels)."""

    default_message = "The sample is not an image that can be processed."


class ImportRunningError(BadRequestError):
    error_code = "ModelArts.4356"
    default_message = "Dataset already has running import task."


class ImportFailedError(BadRequestError):
    error_code = "ModelArts.4362"
    default_message = "Import data error."


class ImportParameterError(BadRequestError):
    error_code = "ModelArts.4396"
    default_message = "Parameter is invalid."


class TaskConflictError(BadRequestError):
    error_code = "ModelArts.4409"
    default_message = "Running tasks has exceed the max threshold."


class NoLabelsError(BadRequestError):
    error_code = "ModelArts.4405"
    default_message = "Dataset must contains labels to start automation labeling."


class TooFewLabeledError(BadRequestError):
    error_code = "ModelArts.4406"
    default_message = "Dataset must contains labels with at least five images to start automation labeling."


class NoUnlabeledError(BadRequestError):
    error_code = "ModelArts.4407"
    default_message = "Dataset must contains unlabeled files."


class PublishRunningError(BadRequestError):
    error_code = "ModelArts.4343"
    default_message = "Dataset is publishing, the operation is forbidden."


class VersionExistsError(BadRequestError):
    error_code = "ModelArts.4371"
    default_message = "Dataset version already exists."


class VersionStateError(BadRequestError):
    error_code = "ModelArts.4828"
    default_message = "The version in the current state cannot be deleted."


class VersionEmptyError(BadRequestError):
    error_code = "ModelArts.4825"
    default_message = "Dataset version is empty."


class PublishFailedError(BadRequestError):
    error_code = "ModelArts.4712"
    default_message = "Dataset publish version failed."


class InvalidModelError(BadRequestError):
    error_code = "ModelArts.3037"
    default_message = "The model file is not a model of the declared shape."


class InvalidModelLabelsError(BadRequestError):
    error_code = "ModelArts.3023"
    default_message = "Invalid labels of model."


class ModelExistsError(BadRequestError):
    error_code = "ModelArts.3037"
    default_message = "A model with this name and version already exists."


class UnauthorizedError(LabelArtsError):
    status_code = 401
    error_code = "ModelArts.0203"
    default_message = "Invalid token."


class ForbiddenError(LabelArtsError):
    status_code = 403
    error_code = "ModelArts.4630"
    default_message = "No permission."


class RoleForbiddenError(ForbiddenError):
    """A team member whose role does not allow the call (the owner's routes, another role's)."""

    error_code = "ModelArts.4600"
    default_message = "The worker action is forbidden."


class WorkforceExistsError(BadRequestError):
    error_code = "ModelArts.4602"
    default_message = "The workforce already exists."


class WorkerExistsError(BadRequestError):
    error_code = "ModelArts.4605"
    default_message = "The worker already exists."


class TeamManagerError(BadRequestError):
    error_code = "ModelArts.4617"
    default_message = "The number of manager should be one."


class NotFoundError(LabelArtsError):
    status_code = 404
    error_code = "ModelArts.4338"
    default_message = "The resource does not exist."


class DatasetNotFoundError(NotFoundError):
    error_code = "ModelArts.4352"
    default_message = "Dataset does not exist."


class SampleNotFoundError(NotFoundError):
    error_code = "ModelArts.4420"
    default_message = "Sample not found."


class SourceUnavailableError(NotFoundError):
    """The sample exists but its file is gone (deleted, moved, or no longer under an import root)."""

    default_message = "The sample's source file is no longer available."


class TaskNotFoundError(NotFoundError):
    error_code = "ModelArts.4612"
    default_message = "Task not found."


class VersionNotFoundError(NotFoundError):
    error_code = "ModelArts.4353"
    default_message = "Dataset version does not exist."


class ModelNotFoundError(NotFoundError):
    default_message = "The model does not exist."


class MethodNotAllowedError(LabelArtsError):
    status_code = 405
    error_code = "ModelArts.4201"
    default_message = "Method not allowed."


class PayloadTooLargeError(LabelArtsError):
    status_code = 413
    error_code = "ModelArts.4200"
    default_message = "Request body too large."


class TooManyRequestsError(LabelArtsError):
    """Rate limited; ``retry_after`` (seconds) becomes the ``Retry-After`` header."""

    status_code = 429
    error_code = "ModelArts.4206"
    default_message = "Excessive number of requests."

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BusyError(LabelArtsError):
    """The database stayed locked by other writers past the wait limit (or PostgreSQL broke a
    lock cycle): nothing was written, and the same request can be sent again."""

    status_code = 429
    error_code = "ModelArts.6101"
    default_message = "The system is busy now. Please try again later."


class ObjectStoreAccessError(BadRequestError):
    """The S3 server refused LabelArts' request: unknown or wrong credentials, a bad
    signature, or a policy that denies it. The message names the S3 error code, never a key."""

    error_code = "ModelArts.4314"
    default_message = "OBS access error."


class ObjectStoreBucketError(BadRequestError):
    error_code = "ModelArts.4311"
    default_message = "The OBS bucket does not exist."


class ObjectStoreUnavailableError(LabelArtsError):
    """The object store could not be reached or failed (retries spent): try again later."""

    status_code = 503
    error_code = "ModelArts.1002"
    default_message = "OBS operation failed."


class WorkforceNotFoundError(NotFoundError):
    error_code = "ModelArts.4601"
    default_message = "The workforce does not exist."


class WorkerNotFoundError(NotFoundError):
    error_code = "ModelArts.4604"
    default_message = "The worker does not exist."


class WorkforceTaskNotFoundError(NotFoundError):
    error_code = "ModelArts.4619"
    default_message = "The workforce task does not exist."


class WorkforceInUseError(BadRequestError):
    error_code = "ModelArts.4603"
    default_message = "The labeling team is used by an unfinished workforce task."


class WorkforceTaskExistsError(BadRequestError):
    error_code = "ModelArts.4620"
    default_message = "The workforce task name already exists in this dataset."


class WorkforceTaskStateError(BadRequestError):
    error_code = "ModelArts.4621"
    default_message = "The workforce task's status does not allow this operation."


class AcceptanceOpenError(BadRequestError):
    error_code = "ModelArts.4623"
    default_message = "An acceptance of this workforce task is in progress."


class NotInAcceptanceError(BadRequestError):
    error_code = "ModelArts.4624"
    default_message = "The sample is not in the current acceptance."


class NothingToAcceptError(BadRequestError):
    error_code = "ModelArts.4625"
    default_message = "No sample is waiting for acceptance."
