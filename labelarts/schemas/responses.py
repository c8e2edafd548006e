"""Response bodies: what the API answers, as pydantic models the Python client returns.

The server builds these answers as dicts (services own their shapes); these models are the
wire contract the client parses them into. ``tests/client`` checks every answer the client
receives against them with unknown fields refused (:func:`undeclared_fields`), so a field the
server adds without declaring it here fails a test instead of drifting.

Models keep unknown fields (``extra="allow"``): a newer server's extra field reaches the caller
in ``model_extra`` instead of breaking an older client. ``to_dict()`` gives the wire JSON back.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    model_validator,
)


class WireModel(BaseModel):
    """A response body: fields by their ModelArts names, unknown fields kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    _wire: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_wire(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        model = handler(data)
        if isinstance(data, dict) and isinstance(model, WireModel):
            model._wire = data
        return model

    def to_dict(self) -> dict[str, Any]:
        """The body as the server sent it: its keys in their order, its numbers as written
        (``0``, not ``0.0``), fields it did not send absent. A model built in Python (not parsed
        from an answer) gives its fields' JSON."""
        if self._wire is not None:
            return copy.deepcopy(self._wire)
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def undeclared_fields(model: BaseModel, where: str = "$") -> list[str]:
    """Paths of the fields in ``model`` (and nested models) that no model declares."""
    found = [f"{where}.{name}" for name in model.model_extra or {}]
    for name in type(model).model_fields:
        found += _undeclared_in(getattr(model, name), f"{where}.{name}")
    return found


def _undeclared_in(value: Any, where: str) -> list[str]:
    if isinstance(value, BaseModel):
        return undeclared_fields(value, where)
    if isinstance(value, list):
        return [path for i, item in enumerate(value) for path in _undeclared_in(item, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [path for key, item in value.items() for path in _undeclared_in(item, f"{where}.{key}")]
    return []


# --- generic answers -------------------------------------------------------------------------
class Success(WireModel):
    """``{"success": true}``: the batch was applied (all or none)."""

    success: bool = True


class TaskCreated(WireModel):
    """The id of a task started in the background."""

    task_id: str


# --- datasets --------------------------------------------------------------------------------
class DataSource(WireModel):
    data_path: str | None = None
    data_type: int | None = 0
    with_column_header: bool | None = None


class Label(WireModel):
    """A dataset label: ``name``, ``type`` (0 classification, 1 detection, ...) and ``property``
    (``@modelarts:color``, shortcuts...)."""

    name: str
    type: int = 0
    property: dict[str, Any] = Field(default_factory=dict)
    attributes: list[dict[str, Any]] = Field(default_factory=list)


class Dataset(WireModel):
    """A dataset as listed or described (``labels`` only in the detail or ``with_labels``)."""

    dataset_id: str
    dataset_name: str
    dataset_type: int = 0
    dataset_format: int = 0
    dataset_tags: list[str] = Field(default_factory=list)
    data_format: str = "Default"
    data_sources: list[DataSource] = Field(default_factory=list)
    description: str = ""
    status: int = 0
    create_time: int = 0
    update_time: int = 0
    data_update_time: int = 0
    total_sample_count: int = 0
    annotated_sample_count: int = 0
    unconfirmed_sample_count: int = 0
    deleted_sample_count: int = 0
    loading_sample_count: int = 0
    total_sub_sample_count: int = 0
    annotated_sub_sample_count: int = 0
    work_path: str = ""
    work_path_type: int = 0
    inner_work_path: str = ""
    inner_annotation_path: str = ""
    inner_data_path: str = ""
    inner_log_path: str = ""
    inner_temp_path: str = ""
    inner_task_path: str = ""
    workspace_id: str = "0"
    enterprise_project_id: str = "0"
    import_data: bool = False
    import_task_id: str | None = None
    managed: bool = False
    content_labeling: bool = True
    feature_supports: list[str] = Field(default_factory=list)
    next_version_num: int = 0
    current_version_id: str | None = None
    current_version_name: str | None = None
    dataset_version_count: int = 0
    label_task_count: int = 0
    workforce_task_count: int = 0
    exist_workforce_task: bool = False
    # The current team task (newest unfinished, else newest): ShowDataset's WorkforceDescriptor.
    workforce_descriptor: dict[str, Any] | None = None
    exist_running_task: bool = False
    running_tasks_id: list[str] = Field(default_factory=list)
    labels: list[Label] | None = None


class DatasetList(WireModel):
    datasets: list[Dataset]
    total_number: int


class DatasetCreated(WireModel):
    dataset_id: str
    import_task_id: str | None = None


class DatasetUpdated(WireModel):
    dataset_id: str


class LabelStats(Label):
    """A label with how often it is used: ``count`` labels on ``sample_count`` samples."""

    count: int = 0
    sample_count: int = 0


class DatasetStats(WireModel):
    """Label and sample counts (``sample_stats``: ``un_annotation``, ``manual_annotation``,
    ``auto_annotation``, ``total``...)."""

    label_stats: list[LabelStats] = Field(default_factory=list)
    grouped_label_stats: dict[str, list[LabelStats]] = Field(default_factory=dict)
    sample_stats: dict[str, int] = Field(default_factory=dict)
    key_sample_stats: dict[str, int] = Field(default_factory=dict)
    hard_detail_stats: dict[str, Any] = Field(default_factory=dict)
    metadata_stats: dict[str, Any] = Field(default_factory=dict)
    data_spliting_enable: bool = False
    data_path: str = ""


class DatasetMetrics(WireModel):
    """``metrics``: for each series (``total``, ``un_annotation``...) its values by epoch ms."""

    metrics: dict[str, dict[str, int | float]]


class LabelList(WireModel):
    labels: list[Label]
    total_number: int


# --- samples ---------------------------------------------------------------------------------
class SampleLabel(WireModel):
    """A label on a sample; ``score`` and ``annotated_by="auto"`` for auto labels."""

    id: str | None = None
    name: str
    type: int = 0
    property: dict[str, Any] = Field(default_factory=dict)
    score: float | None = None
    annotated_by: str | None = None


class Sample(WireModel):
    """A sample as listed or described; ``source`` is a pre-signed URL of its file."""

    sample_id: str
    sample_type: int = 0
    sample_status: str = ""
    sample_name: str | None = None
    sample_dir: str | None = None
    sample_size: int | None = None
    sample_time: int | None = None
    source: str | None = None
    preview: str | None = None
    labels: list[SampleLabel] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    labelers: list[dict[str, Any]] | None = None
    check_accept: bool | None = None
    check_comment: str | None = None
    check_score: str | None = None
    deletion_reasons: list[str] | None = None
    hard_details: dict[str, Any] | None = None
    hard_reasons: list[str] | None = None
    sample_data: list[str] | None = None
    sample_usage: str | None = None
    worker_id: str | None = None
    # A team labeling task's sample: the result's review and its grade (check, else review).
    review_accept: bool | None = None
    review_comment: str | None = None
    review_score: str | None = None
    score: str | None = None


class SampleList(WireModel):
    """One page of samples; ``sample_count`` counts every match, not just this page."""

    sample_count: int
    samples: list[Sample]


class UploadResult(WireModel):
    """One uploaded sample's outcome; ``info`` is its new sample id."""

    success: bool = True
    name: str | None = None
    info: str | None = None
    error_code: str | None = None
    error_msg: str | None = None


class SamplesUploaded(WireModel):
    success: bool = True
    results: list[UploadResult] = Field(default_factory=list)


class SearchConditions(WireModel):
    """What the sample list can be searched by: ``labels``, ``labelers`` and, for each
    ``metadata`` key, the values present."""

    labels: list[Label] = Field(default_factory=list)
    labelers: list[Any] = Field(default_factory=list)
    metadata: dict[str, list[Any]] = Field(default_factory=dict)


# --- background work -------------------------------------------------------------------------
class ImportTask(WireModel):
    """An import: ``status`` QUEUING, RUNNING, COMPLETED, FAILED...; counts of what it read."""

    task_id: str
    dataset_id: str
    status: str
    import_type: int | None = None
    import_path: str = ""
    data_source: DataSource | None = None
    progress: float = 0.0
    create_time: int = 0
    update_ms: int = 0
    elapsed_time: int = 0
    error_code: str | None = None
    error_msg: str | None = None
    total_sample_count: int = 0
    imported_sample_count: int = 0
    annotated_sample_count: int = 0
    unconfirmed_sample_count: int = 0
    total_sub_sample_count: int = 0
    imported_sub_sample_count: int = 0
    total_file_count: int = 0
    total_file_size: int = 0
    finished_file_count: int = 0
    finished_file_size: int = 0
    skipped_file_count: int = 0
    failed_file_count: int = 0
    annotation_file_count: int = 0
    ignored_annotation_count: int = 0
    failed_files_omitted: int = 0
    file_statistics: dict[str, int] = Field(default_factory=dict)
    skipped_reasons: dict[str, int] = Field(default_factory=dict)
    failed_files: list[dict[str, Any]] = Field(default_factory=list)


class ImportTaskList(WireModel):
    import_tasks: list[ImportTask]
    total_count: int


class Task(WireModel):
    """An intelligent (auto-labeling) task; ``status`` -1 queued, 0 initial, 1 running,
    2 failed, 3 succeeded, 4 stopping, 5 stopped; ``progress`` in percent; ``result`` holds the
    counts and the calibration figures (docs/autolabel.md)."""

    task_id: str
    task_name: str = ""
    dataset_id: str = ""
    resource_id: str | None = None
    type: int = 0
    status: int
    code: str = ""
    message: str = ""
    progress: float = 0.0
    create_time: str = ""
    elapsed_time: int = 0
    config: dict[str, Any] = Field(default_factory=dict)
    model_id: str = ""
    result: dict[str, Any] = Field(default_factory=dict)
    total_sample_count: int = 0
    annotated_sample_count: int = 0
    unconfirmed_sample_count: int = 0
    error_code: str | None = None
    error_msg: str | None = None
    error_detail: str | None = None


class Model(WireModel):
    """A model of the registry (docs/model-registry.md): an ONNX classifier or detector and
    how its input is prepared (``input_size`` [height, width], ``layout``, ``mean``, ``std``,
    ``scale``)."""

    model_id: str
    model_name: str
    model_version: str = ""
    description: str = ""
    kind: str
    labels: list[str] = Field(default_factory=list)
    input_size: list[int] = Field(default_factory=list)
    layout: str = "NCHW"
    mean: list[float] = Field(default_factory=list)
    std: list[float] = Field(default_factory=list)
    scale: float = 1.0
    input_name: str = ""
    output_name: str = ""
    model_size: int = 0
    sha256: str = ""
    create_at: int = 0


class ModelList(WireModel):
    models: list[Model]
    total_count: int


class TaskList(WireModel):
    tasks: list[Task]
    total_count: int
    exist_running_deploy_task: bool = False


class ExportTask(WireModel):
    """An export; ``status`` INIT, RUNNING, SUCCESSED or FAILED; ``progress`` in percent."""

    task_id: str
    path: str = ""
    export_type: int = 3
    version_format: str = "Default"
    export_format: int = 2
    export_params: dict[str, Any] = Field(default_factory=dict)
    status: str
    progress: float = 0.0
    total_sample_count: int = 0
    finished_sample_count: int = 0
    create_time: int = 0
    update_time: int = 0
    version_id: str | None = None
    annotation_format: str | None = None
    export_new_dataset_id: str | None = None
    error_code: str | None = None
    error_msg: str | None = None


class ExportTaskList(WireModel):
    export_tasks: list[ExportTask]
    total_count: int


class Version(WireModel):
    """A dataset version; ``status`` 0 creating, 1 normal, 4 error (docs/versions.md)."""

    version_id: str
    version_name: str = ""
    version_format: str = "Default"
    status: int
    create_time: int = 0
    update_time: int = 0
    description: str = ""
    total_sample_count: int = 0
    annotated_sample_count: int = 0
    total_sub_sample_count: int = 0
    annotated_sub_sample_count: int = 0
    add_sample_count: int = 0
    deleted_sample_count: int = 0
    modified_sample_count: int = 0
    deletion_stats: dict[str, Any] = Field(default_factory=dict)
    manifest_path: str = ""
    data_path: str = ""
    is_current: bool = False
    train_evaluate_sample_ratio: str = ""
    remove_sample_usage: bool = True
    export_images: bool = False
    clear_hard_property: bool = True
    with_column_header: bool = True
    crop: bool = False
    rotate: bool = False
    data_validate: bool = False
    start_processor_task: bool = False
    extract_serial_number: bool = False
    include_dataset_data: bool = False
    task_type: int = 0
    tags: list[str] = Field(default_factory=list)
    label_stats: list[dict[str, Any]] = Field(default_factory=list)
    data_statistics: dict[str, Any] = Field(default_factory=dict)
    label_type: str | None = None
    previous_version_id: str | None = None
    previous_total_sample_count: int | None = None
    previous_annotated_sample_count: int | None = None
    sample_state: str | None = None
    split_seed: int | None = None
    task_id: str | None = None
    progress: float | None = None
    message: str | None = None
    processor_task_id: str | None = None
    processor_task_status: int | None = None
    data_analysis: dict[str, Any] | None = None
    analysis_task_id: str | None = None
    analysis_status: int | None = None


class ProcessorDataSource(WireModel):
    """A processing input: ``type`` DATASET, TASK (another task's latest output) or OBS."""

    type: str = "DATASET"
    source: str = ""
    version_id: str | None = None
    version_name: str | None = None
    name: str | None = None


class ProcessorWorkPath(WireModel):
    """Where a run's output goes: ``type`` DATASET (a new version, ``version_id`` once it ran)
    or OBS; ``output_path`` is the run's ``obs://`` prefix."""

    type: str | None = None
    path: str | None = None
    name: str | None = None
    version_id: str | None = None
    version_name: str | None = None
    output_path: str | None = None


class ProcessorTemplate(WireModel):
    id: str
    name: str | None = None
    operator_params: list[dict[str, Any]] = Field(default_factory=list)


class ProcessorTask(WireModel):
    """A processing task; ``status`` (its latest run's) 0 initialized, 1 running, 2 completed,
    3 failed, 4 stopped; ``result`` holds a feature analysis."""

    task_id: str
    name: str
    description: str = ""
    data_source: ProcessorDataSource | None = None
    inputs: list[ProcessorDataSource] = Field(default_factory=list)
    template: ProcessorTemplate
    work_path: ProcessorWorkPath | None = None
    status: int
    duration_seconds: int = 0
    create_time: int = 0
    version_count: int = 0
    is_current: bool = False
    workspace_id: str = "0"
    version_id: str | None = None
    version_name: str | None = None
    error_msg: str | None = None
    result: dict[str, Any] | None = None


class ProcessorTaskList(WireModel):
    count: int
    tasks: list[ProcessorTask]


class ProcessorTaskItem(WireModel):
    template_id: str
    label_en: str
    label_zh: str


class ProcessorTaskItems(WireModel):
    total: int
    items: list[ProcessorTaskItem]


class ProcessorTaskVersion(WireModel):
    """One run of a processing task, with its result counts (``progress`` in percent while
    it runs; ``error_msg`` when failed or stopped)."""

    task_version_id: str
    task_id: str
    version_name: str
    description: str = ""
    status: int
    create_time: int = 0
    update_time: int = 0
    inputs: list[ProcessorDataSource] = Field(default_factory=list)
    work_path: ProcessorWorkPath | None = None
    template: ProcessorTemplate
    duration_seconds: int = 0
    origin_sample_count: int = 0
    unmodified_sample_count: int = 0
    modified_sample_count: int = 0
    deleted_sample_count: int = 0
    add_sample_count: int = 0
    progress: float | None = None
    error_msg: str | None = None


class ProcessorTaskVersionList(WireModel):
    count: int
    versions: list[ProcessorTaskVersion]


class ProcessorTaskVersionCreated(WireModel):
    version_id: str


class ProcessorResult(WireModel):
    """What a run did to one sample: ``result_property`` 0 unmodified, 1 modified, 2 deleted,
    3 added; signed URLs of the original and new files."""

    sample_id: str
    version_id: str
    origin_source: str = ""
    new_source: str = ""
    signed_origin_source: str = ""
    signed_new_source: str = ""
    result_property: int
    result_description: list[list[str]] = Field(default_factory=list)


class ProcessorResultList(WireModel):
    count: int
    has_more: bool
    results: list[ProcessorResult]


class VersionList(WireModel):
    versions: list[Version]
    total_number: int


class VersionCreated(WireModel):
    version_id: str


class SyncStatus(WireModel):
    """The latest data-source sync: ``status`` RUNNING, COMPLETED, FAILED or NOT_EXIST (then only
    ``dataset_id`` comes with it); counts of what it added, updated and deleted (docs/sync.md)."""

    dataset_id: str = ""
    status: str
    task_id: str | None = None
    create_time: int | None = None
    duration_time: int | None = None
    add_sample_count: int | None = None
    deleted_sample_count: int | None = None
    total_sample_count: int | None = None
    updated_sample_count: int | None = None
    unchanged_sample_count: int | None = None
    failed_file_count: int | None = None
    total_file_count: int | None = None
    progress: float | None = None
    removal_skipped: bool | None = None
    failed_files: list[dict[str, Any]] | None = None
    error_code: str | None = None
    error_msg: str | None = None


# --- labeling teams (workforces) and their members (workers) --------------------------------
class Workforce(WireModel):
    """A labeling team; ``worker_count`` counts its members that are not deleted."""

    workforce_id: str
    workforce_name: str
    description: str = ""
    workspace_id: str = "0"
    worker_count: int = 0
    create_time: int = 0
    update_time: int = 0


class WorkforceCreated(WireModel):
    workforce_id: str


class WorkforceList(WireModel):
    """One page of labeling teams; ``total_number`` counts every match."""

    total_number: int
    workforces: list[Workforce]


class Worker(WireModel):
    """A team member, known by ``email``. ``role``: 0 labeler, 1 reviewer, 2 team
    administrator (3 dataset owner, only in task answers). ``status``: 0 not invited yet, 1
    invited but never signed in, 2 has signed in (3 deleted: never listed)."""

    worker_id: str
    workforce_id: str
    email: str
    role: int
    status: int = 0
    description: str = ""
    create_time: int = 0
    update_time: int = 0


class WorkerList(WireModel):
    """One page of team members; ``total_number`` counts every match."""

    total_number: int
    workers: list[Worker]


class BatchResult(WireModel):
    """One item of a batch applied item by item: ``success``, else why not."""

    success: bool
    error_code: str | None = None
    error_msg: str | None = None


class BatchResults(WireModel):
    """A batch applied item by item: ``success`` is true when every item succeeded;
    ``results`` has one entry per item, in the request's order."""

    success: bool
    results: list[BatchResult] = Field(default_factory=list)
    error_code: str | None = None
    error_msg: str | None = None


# --- team labeling tasks (workforce tasks) -------------------------------------------------
class TaskWorkforce(WireModel):
    """A team of a task's ``workforces_config`` and the members of it the task uses."""

    workforce_id: str
    workforce_name: str = ""
    workers: list[Worker] = Field(default_factory=list)


class WorkforcesConfig(WireModel):
    """Who works on a task; ``agency``: the email of the team administrator who starts it."""

    agency: str | None = None
    workforces: list[TaskWorkforce] = Field(default_factory=list)


class CheckTaskStats(WireModel):
    """An acceptance's report: ``total_sample_count`` samples could be drawn, ``sampled``,
    ``checked`` (``accepted`` + ``rejected``) and ``unchecked`` of them; ``pass_rate`` =
    accepted / checked; ``total_score`` the points (A 100, B 80, C 60, D 40, a reject 0) and
    ``score`` the letter of their mean ("E" below 30 or when nothing is checked)."""

    task_id: str | None = None
    sampling_num: int | None = None
    sampling_rate: float | None = None
    total_sample_count: int = 0
    sampled_sample_count: int = 0
    checked_sample_count: int = 0
    accepted_sample_count: int = 0
    rejected_sample_count: int = 0
    unchecked_sample_count: int = 0
    pass_rate: float = 0.0
    score: str = "E"
    total_score: int = 0


class CheckingTaskDesc(WireModel):
    """A task's current (or last) acceptance; ``action`` once it closed."""

    checking_task_id: str
    action: int | None = None
    overwrite_last_result: bool = False
    checking_stats: CheckTaskStats
    total_stats: CheckTaskStats


class CheckReport(WireModel):
    """GetWorkforceSamplingTask: one acceptance's report and all (not cancelled) together."""

    checking_stats: CheckTaskStats
    total_stats: CheckTaskStats


class WorkerTask(WireModel):
    """One member's row of one team task: their own counts and quality. ``email_status``: 0
    not sent, 1 bad address, 2 unreachable, 3 sent."""

    task_id: str
    workforce_task_name: str
    dataset_id: str
    dataset_type: int = 0
    task_status: int = 0
    worker_id: str
    email: str
    role: int = 0
    sample_stats: dict[str, int] = Field(default_factory=dict)
    pass_rate: float = 0.0
    score: float = 0.0
    email_status: int = 0
    last_notify_time: int | None = None
    create_time: int = 0
    update_time: int = 0


class WorkerTaskList(WireModel):
    """ListWorkerTasks: the caller's own rows; ``count`` counts them all."""

    count: int
    worker_tasks: list[WorkerTask]


class WorkforceTask(WireModel):
    """A team labeling task. ``status``: 6 created, 0 starting, 1 running, 7 sampling, 2
    accepting, 5 synchronizing, 3 accepted, 4 rejected (labelers rework). ``score`` is the
    mean acceptance points and ``check_rate`` the share of its samples checked."""

    task_id: str
    task_name: str
    description: str = ""
    dataset_id: str
    repetition: int = 1
    status: int
    synchronize_data: bool = False
    synchronize_auto_labeling_data: bool = False
    auto_sync_dataset: bool = True
    sample_search_conditions: list[dict[str, Any]] = Field(default_factory=list)
    workforces_config: WorkforcesConfig | None = None
    version_id: str | None = None
    check_rate: float = 0.0
    pass_rate: float = 0.0
    score: float = 0.0
    checking_task_desc: CheckingTaskDesc | None = None
    sample_stats: dict[str, int] | None = None
    workforce_stats: dict[str, int] | None = None
    worker_stats: list[WorkerTask] | None = None
    label_stats: list[LabelStats] | None = None
    create_time: int = 0
    update_time: int = 0


class WorkforceTaskList(WireModel):
    """ListWorkforceTasks: one page; ``count`` counts every task the caller may see."""

    count: int
    tasks: list[WorkforceTask]


class WorkforceTaskStats(WireModel):
    """ListWorkforceTaskStats: per-sample counts (``total``, ``un_annotation``, ``unreviewed``,
    ``uncheck``, ``accepted``...), hard-example counts and the team results' label counts."""

    sample_stats: dict[str, int] = Field(default_factory=dict)
    key_sample_stats: dict[str, int] = Field(default_factory=dict)
    label_stats: list[LabelStats] = Field(default_factory=list)
    grouped_label_stats: dict[str, list[LabelStats]] = Field(default_factory=dict)
    hard_detail_stats: dict[str, Any] = Field(default_factory=dict)
    metadata_stats: dict[str, Any] = Field(default_factory=dict)
    data_spliting_enable: bool = False
    data_path: str = ""


class WorkforceTaskMetrics(WireModel):
    """GetWorkforceTaskMetrics: ``sample_stats`` by labeler email."""

    sample_stats: dict[str, dict[str, int]] = Field(default_factory=dict)


class OverallAgreement(WireModel):
    fleiss_kappa: float | None = None
    observed_agreement: float | None = None
    sample_count: int = 0
    rater_count: int = 0


class LabelAgreement(WireModel):
    name: str
    fleiss_kappa: float | None = None
    observed_agreement: float | None = None
    sample_count: int = 0


class PairAgreement(WireModel):
    worker_ids: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    cohen_kappa: float | None = None
    observed_agreement: float | None = None
    sample_count: int = 0


class MemberAccuracy(WireModel):
    worker_id: str
    email: str = ""
    active: bool = True
    gold_sample_count: int = 0
    gold_labeled_count: int = 0
    gold_correct_count: int = 0
    gold_accuracy: float | None = None


class AgreementReport(WireModel):
    """LabelArts extension: a team task's agreement (Fleiss' kappa overall and per label,
    Cohen's kappa per labeler pair) and each labeler's accuracy on the gold samples."""

    task_id: str
    repetition: int = 1
    gold_sample_count: int = 0
    overall: OverallAgreement
    labels: list[LabelAgreement] = Field(default_factory=list)
    pairs: list[PairAgreement] = Field(default_factory=list)
    members: list[MemberAccuracy] = Field(default_factory=list)


class GoldSample(WireModel):
    sample_id: str
    labels: list[dict[str, Any]] = Field(default_factory=list)
    labeled_count: int = 0
    correct_count: int = 0


class GoldSampleList(WireModel):
    """LabelArts extension: a team task's gold samples, their answers and how labelers did."""

    sample_count: int = 0
    samples: list[GoldSample] = Field(default_factory=list)


class GoldSamplesSet(WireModel):
    gold_sample_count: int = 0


# --- IAM -------------------------------------------------------------------------------------
class TokenInfo(WireModel):
    """A token's details (``token``: ``expires_at``, ``user``, ``project``, ``roles``...)."""

    token: dict[str, Any]
