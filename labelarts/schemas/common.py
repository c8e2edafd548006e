"""Types shared by the request models."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Annotated, Any

from fontTools import unicodedata as unicode_scripts
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# Integer fields take JSON numbers only ("0" as a string is a wrong type, 400).
StrictModel = ConfigDict(strict=True, extra="ignore")

DATASET_TYPES = frozenset({0, 1, 3, 100, 101, 102, 200, 201, 202, 400, 600, 900})
LABEL_TYPES = frozenset({0, 1, 3, 100, 101, 102, 103, 200, 201, 202, 600})
DEFAULT_SHAPES = frozenset({"bndbox", "polygon", "circle", "line", "dashed", "point", "polyline"})

_FORBIDDEN_DESCRIPTION = re.compile(r"[\^!<>=&\"']")
_FORBIDDEN_ATTRIBUTE_NAME = re.compile(r"[<>=&\"'!]")


def _description(value: str) -> str:
    if _FORBIDDEN_DESCRIPTION.search(value):
        raise ValueError("description must not contain any of ^!<>=&\"'")
    return no_nul(value)


def no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here (400) instead of failing in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Characters a label name may not hold: control (Cc), format (Cf: zero-width spaces and
# joiners, bidirectional controls, soft hyphen, BOM), surrogates (Cs), private use (Co),
# unassigned (Cn), line and paragraph separators (Zl, Zp).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Invisible characters of other categories (Default_Ignorable_Code_Point fillers).
_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
# UTS #39 5.1: scripts that one writing system mixes count as one ("Jpan", "Kore", "Hanb").
_AUGMENTED = {
    "Hani": {"Hanb", "Jpan", "Kore"},
    "Hira": {"Jpan"},
    "Kana": {"Jpan"},
    "Hang": {"Kore"},
    "Bopo": {"Hanb"},
}
_ANY_SCRIPT = frozenset({"Zyyy", "Zinh"})  # Common and Inherited go with every script
_WITH_LATIN = frozenset({"Jpan", "Kore", "Hanb"})  # UTS #39 "highly restrictive" mixes


def normalize_label_name(value: str) -> str:
    """The form a label name is stored and looked up in: Unicode NFC."""
    return unicodedata.normalize("NFC", value)


def _resolved_scripts(word: str) -> set[str] | None:
    """The scripts every character of ``word`` belongs to (None: no script-specific character)."""
    resolved: set[str] | None = None
    for char in word:
        scripts = set(unicode_scripts.script_extension(char))
        if scripts & _ANY_SCRIPT:
            continue
        for script in list(scripts):
            scripts |= _AUGMENTED.get(script, set())
        resolved = scripts if resolved is None else resolved & scripts
    return resolved


def mixes_scripts(word: str) -> bool:
    """True when ``word`` mixes scripts the way look-alikes do ("Cat" with a Cyrillic "a").

    UTS #39's "highly restrictive" level: one script per word, where Han with Hiragana and
    Katakana, Han with Hangul, and Han with Bopomofo each count as one, and Latin may join
    those three (``Tシャツ``). Common characters (digits, punctuation) go with any script.
    """
    resolved = _resolved_scripts(word)
    if resolved is None or resolved:
        return False
    latin_removed = "".join(c for c in word if "Latn" not in unicode_scripts.script_extension(c))
    without_latin = _resolved_scripts(latin_removed)
    return not (without_latin and without_latin & _WITH_LATIN)


_WORD = re.compile(r"[^\W_]+")  # runs of letters, marks and digits


def _label_name(value: str) -> str:
    value = normalize_label_name(value)
    if value != value.strip():
        raise ValueError("label name must not start or end with spaces")
    for char in value:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or char in _INVISIBLE or (category == "Zs" and char != " "):
            raise ValueError(
                f"label name must not contain control, invisible or bidirectional characters "
                f"(U+{ord(char):04X}); spaces must be plain U+0020"
            )
    if "/" in value or "\\" in value:
        raise ValueError("label name must not contain / or \\")
    for word in _WORD.findall(value):
        if mixes_scripts(word):
            raise ValueError(f"label name mixes scripts within the word {word!r} (look-alike characters)")
    return value


def _attribute_name(value: str) -> str:
    if _FORBIDDEN_ATTRIBUTE_NAME.search(value):
        raise ValueError("attribute name must not contain any of !<>=&\"'")
    return value


Description = Annotated[str, StringConstraints(max_length=256), AfterValidator(_description)]
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=1024), AfterValidator(_label_name)]


class LabelAttributeValue(BaseModel):
    model_config = StrictModel
    id: Annotated[str, StringConstraints(max_length=64)] | None = None
    value: Annotated[str, StringConstraints(max_length=1024)] | None = None


class LabelAttribute(BaseModel):
    model_config = StrictModel
    default_value: Annotated[str, StringConstraints(max_length=1024)] | None = None
    id: Annotated[str, StringConstraints(max_length=64)] | None = None
    name: Annotated[str, StringConstraints(max_length=64), AfterValidator(_attribute_name)] | None = None
    type: Annotated[str, AfterValidator(lambda v: _one_of(v, {"text", "select"}))] | None = None
    values: Annotated[list[LabelAttributeValue], Field(max_length=1000)] | None = None


def _one_of(value: str, allowed: set[str]) -> str:
    if value not in allowed:
        raise ValueError(f"must be one of {sorted(allowed)}")
    return value


def _label_property(value: dict[str, Any]) -> dict[str, Any]:
    for key, item in value.items():
        if len(key) > 128:
            raise ValueError("property keys are at most 128 characters")
        if key.startswith("@modelarts:") and not isinstance(item, str):
            raise ValueError(f"{key} must be a string")
        if not isinstance(item, str | int | float | bool) or (isinstance(item, str) and len(item) > 1024):
            raise ValueError("property values are strings, numbers or booleans (<= 1024 chars)")
        if isinstance(item, float) and not math.isfinite(item):
            # Python's JSON parser accepts NaN/Infinity; JSON responses (and PostgreSQL) cannot.
            raise ValueError("property values must be finite numbers")
    shape = value.get("@modelarts:default_shape")
    if shape not in (None, "") and shape not in DEFAULT_SHAPES:
        raise ValueError(f"@modelarts:default_shape must be one of {sorted(DEFAULT_SHAPES)}")
    return value


LabelProperty = Annotated[dict[str, Any], Field(max_length=64), AfterValidator(_label_property)]


def _label_type(value: int) -> int:
    if value not in LABEL_TYPES:
        raise ValueError(f"label type must be one of {sorted(LABEL_TYPES)}")
    return value


LabelType = Annotated[int, AfterValidator(_label_type)]


class LabelIn(BaseModel):
    """ModelArts ``Label``. ``name`` is optional in the reference tables but required by
    every operation that uses it; services check it."""

    model_config = StrictModel
    name: LabelName | None = None
    type: LabelType | None = None
    property: LabelProperty | None = None
    attributes: Annotated[list[LabelAttribute], Field(max_length=100)] | None = None
