"""Running per-sample operators in sequence, with optional validation first.

A processing version may list several operators (``operator_params``); they are applied in
sequence (processing.md §7.10), and ``do_validation`` runs MetaValidation before them.
:func:`run_sample_steps` does that for one input and answers the rows the results endpoint
shows: the input's own row (0 kept, 1 changed by validation, 2 deleted) and, for
augmentation, the one added sample, each with one description array per operator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from labelarts.ml.processing import images
from labelarts.ml.processing.base import (
    ADDED,
    DELETED,
    MODIFIED,
    UNMODIFIED,
    ProcessingInput,
    ProcessingOutcome,
    SampleOperator,
    rng_for,
)
from labelarts.ml.processing.validation import MetaValidation, MetaValidationParams

__all__ = ["SampleResult", "Step", "as_input", "run_sample_steps"]


@dataclass(frozen=True)
class Step:
    """One entry of ``operator_params``: an operator and its parsed parameters."""

    operator: SampleOperator
    params: object


@dataclass(frozen=True)
class SampleResult:
    source: ProcessingOutcome
    """The input's own row: 0, 1 (validation changed it; ``name``/``data`` are the new file) or 2."""
    source_description: tuple[tuple[str, ...], ...]
    added: ProcessingOutcome | None
    """The new sample (3) of an augmentation, or None."""
    added_description: tuple[tuple[str, ...], ...]


def as_input(item: ProcessingInput, outcome: ProcessingOutcome) -> ProcessingInput:
    """The sample as the next operator sees it after ``outcome`` (1 or 3) changed it."""
    if outcome.result_property not in (MODIFIED, ADDED) or outcome.data is None or outcome.name is None:
        return item
    return replace(
        item,
        sample_id=outcome.sample_id,
        name=outcome.name,
        data=outcome.data,
        labels=outcome.labels,
        boxes=outcome.boxes,
        sha256=hashlib.sha256(outcome.data).hexdigest(),
    )


def run_sample_steps(
    item: ProcessingInput,
    steps: Sequence[Step],
    task_version_id: str,
    *,
    validate: bool,
    validation_params: MetaValidationParams | None = None,
) -> SampleResult:
    """Validation (when ``validate`` and the steps do not start with it), then every step.

    Augmentation steps chain: each works on the previous step's copy, and the last copy is the
    added sample, named with every operator's suffix (``cat_flip_blur.jpg``) and identified by
    the MD5 of the input id and that name. A step that makes no copy (Flip's draw, a Rotate
    whose box would leave the image) is passed over; an input that does not decode is deleted.
    """
    rng = rng_for(task_version_id, item.sample_id)
    source = ProcessingOutcome(item.sample_id, UNMODIFIED, ())
    source_description: list[tuple[str, ...]] = []
    current = item
    first_is_validation = bool(steps) and isinstance(steps[0].operator, MetaValidation)
    pending = list(steps)
    if validate and not first_is_validation:
        pending.insert(0, Step(MetaValidation(), validation_params or MetaValidationParams()))
    added: ProcessingOutcome | None = None
    added_description: list[tuple[str, ...]] = []
    for step in pending:
        if isinstance(step.operator, MetaValidation):
            outcome = step.operator.process(current, step.params, rng)
            source_description.append(outcome.description)
            source = replace(outcome, description=())
            if outcome.result_property == DELETED:
                break
            current = replace(as_input(current, outcome), sample_id=item.sample_id)
            continue
        outcome = step.operator.process(current, step.params, rng)
        added_description.append(outcome.description)
        if outcome.result_property == DELETED:
            source = replace(outcome, sample_id=item.sample_id, description=())
            source_description.append(outcome.description)
            added = None
            break
        if outcome.result_property == ADDED:
            added = outcome
            current = as_input(current, outcome)
    if added is not None:
        added = replace(added, sample_id=images.added_sample_id(item.sample_id, added.name or ""))
    return SampleResult(
        source=source,
        source_description=tuple(source_description),
        added=added,
        added_description=tuple(source_description + added_description) if added is not None else (),
    )
