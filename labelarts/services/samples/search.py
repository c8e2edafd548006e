"""``search_conditions``: parsing the ModelArts SearchCondition list into SQL filters.

Conditions in the list are ANDed (the sample-list page says AND). Each condition object may
hold several keys, also ANDed. Matching rules, one per key (docs/api.md repeats them):

- ``hard``: "0"/"1" (also "true"/"false") against the sample's hard-example flag.
- ``hard_reason``: a ``hard_reasons`` code (0-30, as a number or a string): samples that
  auto labeling found hard for that reason (a LabelArts extension; the review page's filter);
  31 (LabelArts): labeled samples whose human label is probably wrong (docs/autolabel.md).
- ``coefficient`` / ``score``: "x" means value >= x; "x-y" means x <= value <= y (inclusive),
  on the sample's hard coefficient / top label score.
- ``sample_name``: the exact file name; ``sample_dir``: samples directly in that folder.
- ``sample_time``: "day" (since the start of yesterday, UTC), "month" (the last 30 days), or
  "yyyyMMdd-yyyyMMdd" (inclusive, UTC days).
- ``import_origin``, ``labeler``, ``parent_sample_id``: equality.
- ``label_list``: ``{"op": "AND"|"OR", "labels": [{"name", "type", "op", "property":
  {key: [values] | null}}]}``; a label matches a sample that carries a label with that name
  (and type), whose property values are among the listed ones (``null``: any value).
- ``metadata``: ``{"op", "props": {key: [values]}}`` against the sample's metadata, compared
  as strings (``@modelarts:hard`` is answered from the hard flag).
- ``kvp``, ``slice_thickness``, ``study_date``, ``time_in_video``, ``frame_in_video``: DICOM and
  video attributes, which no LabelArts sample has: a condition naming one matches nothing.

Limits (400, never a database error): integers must fit the column they are compared with
(label ``type``: 32 bits), ranges must be finite numbers, and the conditions together may bind
at most :data:`MAX_SEARCH_VALUES` values (SQLite nests each ANDed/ORed term one level deeper
and stops at 1,000 levels; PostgreSQL takes at most 65,535 parameters per statement).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from sqlalchemy import BindParameter, ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.sql.visitors import iterate

from labelarts.errors import ValidationFailedError
from labelarts.schemas.common import normalize_label_name
from labelarts.storage.db.models import Sample, SampleLabel

UNSUPPORTED_KEYS = frozenset({"kvp", "slice_thickness", "study_date", "time_in_video", "frame_in_video"})
KNOWN_KEYS = (
    frozenset(
        {
            "hard",
            "hard_reason",
            "coefficient",
            "score",
            "sample_name",
            "sample_dir",
            "sample_time",
            "import_origin",
            "labeler",
            "parent_sample_id",
            "label_list",
            "metadata",
        }
    )
    | UNSUPPORTED_KEYS
)
MAX_CONDITIONS = 20
# Values bound by all conditions of one request (an IN list counts each of its values).
MAX_SEARCH_VALUES = 500
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
DAY_MS = 86_400_000


def parse_search_conditions(raw: str | None) -> list[dict[str, Any]]:
    """Decode the query value: a JSON array of objects (one extra URL-encoding tolerated)."""
    if raw is None or raw.strip() == "":
        return []
    text = raw.strip()
    if text.startswith("%"):
        text = unquote(text)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ValidationFailedError("search_conditions must be a JSON array of objects.") from None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValidationFailedError("search_conditions must be a JSON array of objects.")
    if len(value) > MAX_CONDITIONS:
        raise ValidationFailedError(f"At most {MAX_CONDITIONS} search conditions.")
    if holds_nul(value):  # no stored value holds NUL; PostgreSQL refuses it in a parameter
        raise ValidationFailedError("search_conditions must not contain NUL characters.")
    return value


def holds_nul(value: Any) -> bool:
    """Whether a string in ``value`` (search conditions: lists, objects and their keys) has NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(holds_nul(item) for item in value)
    return False


def _bad(key: str, why: str) -> ValidationFailedError:
    return ValidationFailedError(f"search_conditions.{key}: {why}")


def _as_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str | int | float):
        return str(value)
    raise _bad(key, "expected a string")


def _flag(key: str, value: Any) -> bool:
    text = _as_text(key, value).strip().lower()
    if text in ("1", "true"):
        return True
    if text in ("0", "false"):
        return False
    raise _bad(key, 'expected "0" or "1"')


def _range(key: str, value: Any) -> tuple[float, float | None]:
    text = _as_text(key, value).strip()
    low, sep, high = text.partition("-")
    try:
        lo = float(low)
        hi = float(high) if sep else None
    except ValueError:
        raise _bad(key, 'expected "x" or "x-y" numbers') from None
    if not all(math.isfinite(bound) for bound in (lo, hi) if bound is not None):
        raise _bad(key, "expected finite numbers")
    if hi is not None and lo > hi:
        raise _bad(key, "lower bound above upper bound")
    return lo, hi


def _between(column: Any, bounds: tuple[float, float | None]) -> ColumnElement[bool]:
    lo, hi = bounds
    condition: ColumnElement[bool] = column >= lo
    return condition if hi is None else and_(condition, column <= hi)


def _sample_time(value: Any, now: datetime) -> ColumnElement[bool]:
    text = _as_text("sample_time", value).strip()
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if text == "day":
        start = today - timedelta(days=1)
        return Sample.sample_time >= int(start.timestamp() * 1000)
    if text == "month":
        start = today - timedelta(days=30)
        return Sample.sample_time >= int(start.timestamp() * 1000)
    first, sep, last = text.partition("-")
    try:
        begin = datetime.strptime(first, "%Y%m%d").replace(tzinfo=UTC)
        end = datetime.strptime(last, "%Y%m%d").replace(tzinfo=UTC) if sep else begin
    except ValueError:
        raise _bad("sample_time", 'expected "day", "month" or "yyyyMMdd-yyyyMMdd"') from None
    if end < begin:
        raise _bad("sample_time", "end date before start date")
    start_ms = int(begin.timestamp() * 1000)
    end_ms = int(end.timestamp() * 1000) + DAY_MS
    return and_(Sample.sample_time >= start_ms, Sample.sample_time < end_ms)


def _op(key: str, value: Any) -> str:
    if value is None:
        return "OR"
    if not isinstance(value, str) or value.upper() not in ("AND", "OR"):
        raise _bad(key, 'op must be "AND" or "OR"')
    return value.upper()


def _combine(op: str, parts: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    if not parts:
        return true()
    return and_(*parts) if op == "AND" else or_(*parts)


def _value_list(key: str, values: Any) -> list[str] | None:
    if values is None:
        return None
    if not isinstance(values, list) or len(values) > 100:
        raise _bad(key, "expected a list of values (at most 100) or null")
    return [_as_text(key, v) for v in values]


def _label_matches(spec: Any) -> ColumnElement[bool]:
    """What one ``label_list.labels`` entry asks of a single label row."""
    if not isinstance(spec, dict):
        raise _bad("label_list.labels", "each label is an object")
    where: list[ColumnElement[bool]] = []
    name = spec.get("name")
    if name is not None:
        where.append(SampleLabel.name == normalize_label_name(_as_text("label_list.labels.name", name)))
    label_type = spec.get("type")
    if label_type is not None:
        if isinstance(label_type, bool) or not isinstance(label_type, int | str):
            raise _bad("label_list.labels.type", "expected an integer")
        try:
            number = int(label_type)
        except ValueError:
            raise _bad("label_list.labels.type", "expected an integer") from None
        if not INT32_MIN <= number <= INT32_MAX:
            raise _bad("label_list.labels.type", "out of range (a 32-bit integer)")
        where.append(SampleLabel.type == number)
    properties = spec.get("property") or {}
    if not isinstance(properties, dict):
        raise _bad("label_list.labels.property", "expected an object")
    prop_parts = []
    for prop_key, values in properties.items():
        wanted = _value_list("label_list.labels.property", values)
        if wanted is None:
            continue
        prop_parts.append(SampleLabel.property[str(prop_key)].as_string().in_(wanted))
    if prop_parts:
        where.append(_combine(_op("label_list.labels.op", spec.get("op")), prop_parts))
    return and_(true(), *where)


def _has_label(dataset_id: str, matches: ColumnElement[bool]) -> ColumnElement[bool]:
    """The sample carries at least one label row that ``matches``."""
    return exists(
        select(SampleLabel.id).where(
            SampleLabel.sample_id == Sample.id, SampleLabel.dataset_id == dataset_id, matches
        )
    )


def _label_list(dataset_id: str, op: str, specs: list[Any]) -> ColumnElement[bool]:
    """``label_list``: AND needs each entry met (possibly by different labels): one EXISTS per
    entry. OR needs one label row meeting any entry: a single EXISTS over the ORed entries, the
    same rows as ORed EXISTS, but a condition PostgreSQL turns into a semi-join walked in list
    order. ORed EXISTS it can only answer with hashed subplans, each reading every sample id
    with that label on every page (80-100 ms per page at 1M samples; docs/postgresql.md)."""
    matches = [_label_matches(spec) for spec in specs]
    if not matches:
        return true()
    if op == "OR":
        return _has_label(dataset_id, or_(*matches))
    return and_(*(_has_label(dataset_id, m) for m in matches))


def _hard_reason(value: Any) -> ColumnElement[bool]:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isdigit() or not 0 <= int(text) <= 31:
        raise _bad("hard_reason", "expected a hard_reasons code from 0 to 31")
    # The hard-example details auto labeling keeps per sample, keyed by code (JSON path on
    # both databases: json_extract on SQLite, #> on PostgreSQL).
    detail_id = Sample.metadata_[("@labelarts:hard_details", text, "id")].as_integer()
    return and_(Sample.hard.is_(True), detail_id == int(text))


def _metadata_condition(spec: Any) -> ColumnElement[bool]:
    if not isinstance(spec, dict):
        raise _bad("metadata", "expected an object")
    props = spec.get("props") or {}
    if not isinstance(props, dict):
        raise _bad("metadata.props", "expected an object")
    parts: list[ColumnElement[bool]] = []
    for key, values in props.items():
        wanted = _value_list("metadata.props", values)
        if wanted is None:
            continue
        if key == "@modelarts:hard":
            flags = {_flag("metadata.props", v) for v in wanted}
            parts.append(Sample.hard.in_(flags))
        else:
            parts.append(Sample.metadata_[str(key)].as_string().in_(wanted))
    return _combine(_op("metadata.op", spec.get("op")), parts)


def _bound_values(clause: ColumnElement[bool]) -> int:
    count = 0
    for element in iterate(clause):  # subqueries (EXISTS) included
        if isinstance(element, BindParameter):
            value = element.value
            count += len(value) if element.expanding and isinstance(value, list | tuple) else 1
    return count


def conditions_to_sql(
    dataset_id: str, conditions: Iterable[dict[str, Any]], *, now: datetime | None = None
) -> list[ColumnElement[bool]]:
    """All conditions of a request as SQL booleans; 400 if together they bind too many values."""
    clauses = [condition_to_sql(dataset_id, condition, now=now) for condition in conditions]
    total = sum(_bound_values(clause) for clause in clauses)
    if total > MAX_SEARCH_VALUES:
        raise ValidationFailedError(
            f"search_conditions: too many terms ({total} values; at most {MAX_SEARCH_VALUES})."
        )
    return clauses


def condition_to_sql(
    dataset_id: str, condition: dict[str, Any], *, now: datetime | None = None
) -> ColumnElement[bool]:
    """One SearchCondition object as a SQL boolean over ``Sample``."""
    parts: list[ColumnElement[bool]] = []
    moment = now or datetime.now(UTC)
    for key, value in condition.items():
        if value is None:
            continue
        if key not in KNOWN_KEYS:
            raise _bad(key, "unknown search key")
        if key in UNSUPPORTED_KEYS:
            parts.append(false())
        elif key == "hard":
            parts.append(Sample.hard.is_(_flag(key, value)))
        elif key == "hard_reason":
            parts.append(_hard_reason(value))
        elif key == "coefficient":
            parts.append(_between(Sample.hard_coefficient, _range(key, value)))
        elif key == "score":
            parts.append(_between(Sample.top_score, _range(key, value)))
        elif key == "sample_name":
            parts.append(Sample.sample_name == _as_text(key, value))
        elif key == "sample_dir":
            parts.append(Sample.sample_dir == _as_text(key, value))
        elif key == "sample_time":
            parts.append(_sample_time(value, moment))
        elif key == "import_origin":
            parts.append(Sample.import_origin == _as_text(key, value))
        elif key == "labeler":
            parts.append(Sample.labeler == _as_text(key, value))
        elif key == "parent_sample_id":
            parts.append(Sample.parent_sample_id == _as_text(key, value))
        elif key == "label_list":
            if not isinstance(value, dict):
                raise _bad(key, "expected an object")
            labels = value.get("labels") or []
            if not isinstance(labels, list) or len(labels) > 100:
                raise _bad(key, "labels must be a list (at most 100)")
            parts.append(_label_list(dataset_id, _op(key, value.get("op")), labels))
        elif key == "metadata":
            parts.append(_metadata_condition(value))
    return and_(true(), *parts)
