"""A template's operators, checked: what a create call refuses (400 before anything runs) and
what a run executes, from the same code.

Values arrive as strings ("1920", "True", "[0,1,2]") in every reference example although the
tables type them; both are taken (docs/processing.md). The parameters every operator shares
are read here: ``task_type`` must match the dataset type (400 ModelArts.4399), ``do_validation``
(default true) puts MetaValidation first, ``total_status`` is kept to filter the results;
``dataset_type``, ``source_service`` and ``filter_func`` are echoed without effect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from labelarts.errors import BadRequestError, ValidationFailedError
from labelarts.ml.processing import TEMPLATES
from labelarts.ml.processing.base import Operator, ProcessingParameterError

ANALYSE: Final = "sys_data_analyse"
VALIDATION_OPERATOR: Final = "MetaValidation"
# task_type -> the dataset type it processes (operators are image-only).
TASK_TYPES: Final = {"image_classification": 0, "object_detection": 1}
DATASET_TASK_TYPES: Final = {v: k for k, v in TASK_TYPES.items()}
# What each template's results hold when total_status is not sent.
DEFAULT_TOTAL_STATUS: Final = {
    "sys_data_validation": (0, 1, 2),
    "sys_data_cleaning": (0, 2),
    "sys_data_selection": (0, 2),
    "sys_data_augmentation": (3,),
}
_COMMON: Final = frozenset(
    {"task_type", "dataset_type", "source_service", "filter_func", "total_status", "do_validation"}
)

OperatorLookup = Callable[[str], Operator]


@dataclass(frozen=True)
class Step:
    """One operator of a run, its parsed parameters, and whether it sees the whole set."""

    name: str
    operator: Operator
    params: object
    whole_set: bool


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    task_type: str
    total_status: tuple[int, ...]


def parse_bool(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValidationFailedError(f"{name} must be true or false.")


def parse_total_status(value: object) -> tuple[int, ...]:
    items: object = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except ValueError:
            items = None
    if not isinstance(items, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i <= 3 for i in items
    ):
        raise ValidationFailedError('total_status must be a list of result kinds 0-3, such as "[0,1,2]".')
    return tuple(sorted(set(items)))


def operator_name(raw: Mapping[str, Any]) -> str:
    name = raw.get("name") or raw.get("id")
    if not isinstance(name, str) or not name:
        raise ValidationFailedError("Each operator_params item needs its operator's name.")
    return name


def message_of(exc: ProcessingParameterError) -> str:
    """The operator's message (its last argument), without the error code."""
    text = exc.args[-1] if exc.args else ""
    return text if isinstance(text, str) and text else str(exc)


def _operator(lookup: OperatorLookup, name: str) -> Operator:
    try:
        return lookup(name)
    except ProcessingParameterError as exc:
        raise BadRequestError(message_of(exc), error_code=exc.error_code) from None


def _parse(operator: Operator, name: str, params: Mapping[str, Any]) -> object:
    try:
        return operator.parse_params(params)
    except ProcessingParameterError as exc:
        raise BadRequestError(f"{name}: {message_of(exc)}", error_code=exc.error_code) from None
    except (TypeError, ValueError) as exc:
        raise ValidationFailedError(f"{name}: {exc}") from None


def input_type_of(operator_params: Sequence[Mapping[str, Any]]) -> int:
    """The dataset type an input without a dataset (a folder or prefix) is processed as: its
    operators' ``task_type`` (400 without one)."""
    for raw in operator_params:
        params = raw.get("params") or {}
        if "task_type" in params:
            found = TASK_TYPES.get(str(params["task_type"]))
            if found is None:
                raise BadRequestError(
                    f"task_type {params['task_type']!r} is not image_classification or object_detection.",
                    error_code="ModelArts.4399",
                )
            return found
    raise ValidationFailedError(
        "An input of type OBS has no dataset type: send task_type (image_classification or "
        "object_detection) in the operators' params."
    )


def build_plan(
    template_id: str, operator_params: Sequence[Mapping[str, Any]], dataset_type: int, lookup: OperatorLookup
) -> Plan:
    """The run's steps, every parameter checked; 400 with the reason otherwise."""
    if template_id not in TEMPLATES:
        raise BadRequestError(f"Unknown template {template_id!r}.", error_code="ModelArts.4396")
    if not operator_params:
        raise ValidationFailedError("template.operator_params must name at least one operator.")
    expected = DATASET_TASK_TYPES.get(dataset_type)
    if expected is None:
        raise BadRequestError(
            "Data processing takes image classification (0) or object detection (1) datasets.",
            error_code="ModelArts.4399",
        )
    allowed = TEMPLATES[template_id].operators
    steps: list[Step] = []
    total_status: tuple[int, ...] | None = None
    validate = False
    for raw in operator_params:
        name = operator_name(raw)
        params = dict(raw.get("params") or {})
        task_type = params.get("task_type", expected)
        if task_type != expected:
            raise BadRequestError(
                f"task_type {task_type!r} does not match the input dataset ({expected}).",
                error_code="ModelArts.4399",
            )
        if "do_validation" in params:
            validate = parse_bool(params["do_validation"], "do_validation") or validate
        else:
            validate = validate or name != VALIDATION_OPERATOR
        if "total_status" in params:
            total_status = parse_total_status(params["total_status"])
        operator = _operator(lookup, name)
        if name not in allowed:
            raise BadRequestError(
                f"Operator {name} is not one of {template_id}'s: {', '.join(allowed)}.",
                error_code="ModelArts.4396",
            )
        own = {k: v for k, v in params.items() if k not in _COMMON}
        own["task_type"] = expected
        steps.append(Step(name, operator, _parse(operator, name, own), hasattr(operator, "select")))
    if validate and steps[0].name != VALIDATION_OPERATOR:
        operator = _operator(lookup, VALIDATION_OPERATOR)
        first = Step(
            VALIDATION_OPERATOR,
            operator,
            _parse(operator, VALIDATION_OPERATOR, {"task_type": expected}),
            False,
        )
        steps.insert(0, first)
    return Plan(
        steps=tuple(steps),
        task_type=expected,
        total_status=total_status if total_status is not None else DEFAULT_TOTAL_STATUS[template_id],
    )
