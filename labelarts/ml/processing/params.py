"""Parameter parsing shared by the operators.

ModelArts sends every operator parameter as a string (``"1920"``, ``"0.9"``, ``"True"``,
``"[0,1,2]"``) although its tables type them; LabelArts accepts the string and the typed JSON
value alike. ``None`` and the empty string mean "not given" (the console leaves unset fields
empty), so the default applies. Anything else that does not parse, or lies outside the
documented range, raises :class:`ProcessingParameterError` with ``ModelArts.0104``. Keys an
operator does not know are ignored (they are echoed by the API, as ``dataset_type``,
``source_service`` and ``filter_func`` are).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict, TypeVar, cast

from labelarts.ml.processing.base import ProcessingParameterError

__all__ = [
    "BAD_TASK_TYPE",
    "BAD_VALUE",
    "TASK_TYPES",
    "CommonFields",
    "CommonParams",
    "TaskType",
    "common_fields",
    "parse_bool",
    "parse_choice",
    "parse_float",
    "parse_int",
    "parse_n_clusters",
    "parse_status_list",
    "parse_text",
]

BAD_VALUE = "ModelArts.0104"
BAD_TASK_TYPE = "ModelArts.4399"
TASK_TYPES: tuple[str, ...] = ("image_classification", "object_detection")

T = TypeVar("T")
TaskType = Literal["image_classification", "object_detection"]


def _given(raw: Mapping[str, object], key: str) -> object | None:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    return value


def _bad(key: str, value: object, expected: str) -> ProcessingParameterError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ProcessingParameterError(BAD_VALUE, f"Invalid value {shown} for parameter {key}: {expected}.")


def parse_bool(raw: Mapping[str, object], key: str, default: bool) -> bool:
    """``True``/``False`` in any case, ``1``/``0``, or a JSON boolean."""
    value = _given(raw, key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
    raise _bad(key, value, "expected True or False")


def parse_float(
    raw: Mapping[str, object],
    key: str,
    default: float,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
) -> float:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    value = _given(raw, key)
    if value is None:
        return default
    return _check_float(key, value, low, high, low_open)


def _check_float(key: str, value: object, low: float, high: float, low_open: bool) -> float:
    bracket = "(" if low_open else "["
    expected = f"a number in {bracket}{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad(key, value, expected)
    try:
        number = float(value)
    except ValueError:
        raise _bad(key, value, expected) from None
    if not math.isfinite(number) or number > high or number < low or (low_open and number == low):
        raise _bad(key, value, expected)
    return number


def parse_int(
    raw: Mapping[str, object],
    key: str,
    default: int,
    *,
    low: int,
    high: int,
    also: Sequence[int] = (),
) -> int:
    """An integer in ``[low, high]`` or one of ``also`` (e.g. ``-1`` for "no limit")."""
    value = _given(raw, key)
    if value is None:
        return default
    extra = "".join(f" or {v}" for v in also)
    expected = f"an integer from {low} to {high}{extra}"
    number: int
    if isinstance(value, bool):
        raise _bad(key, value, expected)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise _bad(key, value, expected) from None
    else:
        raise _bad(key, value, expected)
    if number in also or low <= number <= high:
        return number
    raise _bad(key, value, expected)


def parse_choice(raw: Mapping[str, object], key: str, default: T, choices: Sequence[T]) -> T:
    """One of ``choices`` (strings), matched without regard to case; answers the canonical spelling."""
    value = _given(raw, key)
    if value is None:
        return default
    if isinstance(value, str):
        for choice in choices:
            if isinstance(choice, str) and choice.lower() == value.strip().lower():
                return choice
    raise _bad(key, value, "expected one of " + ", ".join(str(c) for c in choices))


def parse_text(raw: Mapping[str, object], key: str, *, max_length: int = 1024) -> str | None:
    """A string (a path or a name), or None when not given."""
    value = _given(raw, key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise _bad(key, value, f"expected a string of at most {max_length} characters")
    return value.strip()


def parse_n_clusters(raw: Mapping[str, object], key: str = "n_clusters") -> int | None:
    """``"auto"`` (None) or a positive integer."""
    value = _given(raw, key)
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    return parse_int(raw, key, 0, low=1, high=1_000_000)


def parse_status_list(raw: Mapping[str, object], key: str = "total_status") -> tuple[int, ...] | None:
    """``"[0,1,2]"``, ``[0, 1, 2]`` or ``"0,1,2"``: result kinds from 0 to 3, sorted, no repeats."""
    value = _given(raw, key)
    if value is None:
        return None
    expected = "expected a list of result kinds from 0 to 3, such as [0,1,2]"
    items: object = value
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            text = f"[{text}]"
        try:
            items = json.loads(text)
        except ValueError:
            raise _bad(key, value, expected) from None
    if not isinstance(items, list) or not items:
        raise _bad(key, value, expected)
    kinds: set[int] = set()
    for item in items:
        if isinstance(item, bool):
            raise _bad(key, value, expected)
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item.strip())
        if not isinstance(item, int) or not 0 <= item <= 3:
            raise _bad(key, value, expected)
        kinds.add(item)
    return tuple(sorted(kinds))


@dataclass(frozen=True, kw_only=True)
class CommonParams:
    """Parameters every operator takes (processing.md §3).

    ``task_type`` must match the dataset type (the service checks that: ModelArts.4399);
    ``do_validation`` asks the runner to run MetaValidation first; ``total_status`` filters
    the results endpoint. ``dataset_type``, ``source_service`` and ``filter_func`` have no
    effect and are not kept here (the API echoes the raw parameters).
    """

    task_type: TaskType | None = None
    do_validation: bool = True
    total_status: tuple[int, ...] | None = None


class CommonFields(TypedDict):
    task_type: TaskType | None
    do_validation: bool
    total_status: tuple[int, ...] | None


def common_fields(raw: Mapping[str, object]) -> CommonFields:
    """The :class:`CommonParams` fields parsed from ``raw``, as keyword arguments."""
    task_type = _given(raw, "task_type")
    if task_type is not None:
        if not isinstance(task_type, str) or task_type.strip() not in TASK_TYPES:
            raise ProcessingParameterError(
                BAD_TASK_TYPE,
                f"task_type {task_type!r} is not supported: the processing operators take "
                + " or ".join(TASK_TYPES)
                + ".",
            )
        task_type = task_type.strip()
    return {
        "task_type": cast(TaskType | None, task_type),
        "do_validation": parse_bool(raw, "do_validation", True),
        "total_status": parse_status_list(raw),
    }
