"""Fixtures shared by the API test modules; each module provides its own ``world``."""

from __future__ import annotations

import httpx
import pytest

from tests.api import World
from tests.conftest import Tenant


@pytest.fixture
def alice(world: World) -> Tenant:
    return world.alice


@pytest.fixture(params=["aksk", "token"])
def user(request: pytest.FixtureRequest, world: World) -> httpx.Client:
    """Alice's client, once signed with AK/SK and once with an IAM token."""
    return world.alice.aksk if request.param == "aksk" else world.alice.token_client
