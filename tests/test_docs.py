"""Documentation that must stay in step with the code."""

from __future__ import annotations

from pathlib import Path

from labelarts.config import Settings
from tests.routes import ROUTES

DOCS = Path(__file__).parent.parent / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [n for n in Settings.model_fields if f"LABELARTS_{n.upper()}" not in text]
    assert not missing, f"undocumented settings: {missing}"


def test_every_route_is_documented() -> None:
    text = (DOCS / "api.md").read_text()
    missing = [r.id for r in ROUTES if r.path.startswith(("/v2", "/v3")) and f"`{r.id}`" not in text]
    assert not missing, f"routes missing from docs/api.md: {missing}"
