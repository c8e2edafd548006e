"""The grant syntax of --import-root / LABELARTS_IMPORT_ROOTS and --object-prefix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from labelarts.config import Grant, Settings


@pytest.mark.parametrize(
    ("text", "grant"),
    [
        ("/srv/pics", Grant("/srv/pics", None, bare=True)),
        ("/srv/pics=*", Grant("/srv/pics", None)),
        ("/srv/pics=abc", Grant("/srv/pics", frozenset({"abc"}))),
        ("/srv/pics=abc,d_e-f", Grant("/srv/pics", frozenset({"abc", "d_e-f"}))),
        ("/srv/pics=*+delete", Grant("/srv/pics", None, delete=True)),
        ("/srv/a=b=abc+delete", Grant("/srv/a=b", frozenset({"abc"}), delete=True)),
        ("incoming/team=abc", Grant("incoming/team", frozenset({"abc"}))),
    ],
)
def test_grants_parse(text: str, grant: Grant) -> None:
    assert Grant.parse(text) == grant


@pytest.mark.parametrize("text", ["/srv/a=", "/srv/a=x y", "=abc", "/srv/a=abc,", "/srv/a=+delete", "/a=b/c"])
def test_malformed_grants_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid grant"):
        Grant.parse(text)


def test_grants_come_from_flags_lists_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELARTS_IMPORT_ROOTS", "/a=p1,p2+delete:/b")
    monkeypatch.setenv("LABELARTS_OBJECT_PREFIXES", '["in/a=*"]')
    settings = Settings()
    assert settings.import_roots == [
        Grant("/a", frozenset({"p1", "p2"}), delete=True),
        Grant("/b", None, bare=True),
    ]
    assert settings.object_prefixes == [Grant("in/a", None)]
    assert Settings(import_roots=[Path("/c"), "/d=*"]).import_roots == [
        Grant("/c", None, bare=True),
        Grant("/d", None),
    ]
    with pytest.raises(ValidationError):
        Settings(import_roots=["/e=not a project"])


def test_a_bare_grant_opens_only_while_one_project_exists() -> None:
    bare, everyone, some = Grant.parse("/a"), Grant.parse("/a=*"), Grant.parse("/a=p1")
    assert bare.opens_to("p1", single_project=True) and not bare.opens_to("p1", single_project=False)
    assert everyone.opens_to("p9", single_project=False)
    assert some.opens_to("p1", single_project=False) and not some.opens_to("p2", single_project=True)


def test_settings_with_grants_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve hands its settings to worker processes as LABELARTS_* variables (labelarts/worker.py)."""
    settings = Settings(import_roots=["/a=p2,p1+delete", "/b", "/c=*"], object_prefixes=["/=*"])
    dumped = settings.model_dump(mode="json")
    assert dumped["import_roots"] == ["/a=p1,p2+delete", "/b", "/c=*"]
    assert Settings.model_validate(settings.model_dump()).import_roots == settings.import_roots
    monkeypatch.setenv("LABELARTS_IMPORT_ROOTS", json.dumps(dumped["import_roots"]))
    monkeypatch.setenv("LABELARTS_OBJECT_PREFIXES", json.dumps(dumped["object_prefixes"]))
    again = Settings()
    assert again.import_roots == settings.import_roots
    assert again.object_prefixes == settings.object_prefixes
