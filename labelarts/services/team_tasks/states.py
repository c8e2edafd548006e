"""Team task and assignment states (docs/team-labeling.md, "State machines")."""

from __future__ import annotations

from collections.abc import Iterable

# Task status (the reference's integers).
STARTING, RUNNING, ACCEPTING, ACCEPTED_TASK, REJECTED_TASK, SYNCHRONIZING, CREATED, SAMPLING = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
)
BUSY = frozenset({STARTING, SYNCHRONIZING, SAMPLING})
WORKING = frozenset({RUNNING, REJECTED_TASK})

# Assignment states.
NONE = "__NONE__"
AUTO = "__AUTO_ANNOTATION__"
UNREVIEWED = "__UNREVIEWED__"
REJECTED = "__REJECTED__"
UNCHECK = "__UNCHECK__"
SAMPLED_UNCHECK = "__WORKFORCE_SAMPLED_UNCHECK__"
SAMPLED_ACCEPTED = "__WORKFORCE_SAMPLED_ACCEPTED__"
SAMPLED_REJECTED = "__WORKFORCE_SAMPLED_REJECTED__"
ACCEPTED = "__ACCEPTED__"
STORED = (
    NONE,
    AUTO,
    UNREVIEWED,
    REJECTED,
    UNCHECK,
    SAMPLED_UNCHECK,
    SAMPLED_ACCEPTED,
    SAMPLED_REJECTED,
    ACCEPTED,
)
SAMPLED = frozenset({SAMPLED_UNCHECK, SAMPLED_ACCEPTED, SAMPLED_REJECTED})
# A labeler may still change these (from __UNCHECK__ on, only the owner edits).
EDITABLE = frozenset({NONE, AUTO, REJECTED, UNREVIEWED})
# Not yet handed in: what a removed labeler's leaving deals to the others again.
UNFINISHED = frozenset({NONE, AUTO, REJECTED})

# Filters that are unions of stored states, and the examples' aliases.
ALL = "__ALL__"
WORKFORCE_SAMPLED = "__WORKFORCE_SAMPLED__"
WORKFORCE_SAMPLED_CHECKED = "__WORKFORCE_SAMPLED_CHECKED__"
REVIEWED = "__REVIEWED__"
UNIONS = frozenset({ALL, WORKFORCE_SAMPLED, WORKFORCE_SAMPLED_CHECKED, REVIEWED})
ALIASES = {"UN_ANNOTATION": NONE, "AUTO_ANNOTATION": AUTO, "MANUAL_ANNOTATION": ALL}

_RANK = {
    NONE: 0,
    AUTO: 0,
    REJECTED: 1,
    UNREVIEWED: 2,
    UNCHECK: 3,
    SAMPLED_REJECTED: 4,
    SAMPLED_UNCHECK: 4,
    SAMPLED_ACCEPTED: 4,
    ACCEPTED: 5,
}


def rank(state: str) -> int:
    return _RANK.get(state, 0)


def sample_state(states: Iterable[str]) -> str:
    """A sample's state when several people label it: that of its least advanced assignment."""
    return min(states, key=lambda s: (rank(s), s != NONE, s))


def normalize_filter(value: str | None) -> str | None:
    """A ``sample_state`` query value as stored (case-insensitive, aliases taken); None: any."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    upper = text.upper()
    if upper in ALIASES:
        return ALIASES[upper]
    if upper in STORED or upper in UNIONS:
        return upper
    return ""  # unknown: matches nothing (as the dataset sample list answers an unknown state)


def matches(state: str, wanted: str | None, *, has_labels: bool, review_accept: bool | None) -> bool:
    if wanted is None:
        return True
    if wanted == ALL:
        return has_labels
    if wanted == WORKFORCE_SAMPLED:
        return state in SAMPLED
    if wanted == WORKFORCE_SAMPLED_CHECKED:
        return state in (SAMPLED_ACCEPTED, SAMPLED_REJECTED)
    if wanted == REVIEWED:
        return bool(review_accept) and state != ACCEPTED
    return state == wanted
