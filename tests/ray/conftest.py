"""The Ray tests' cluster: one two-node local cluster for the session (its start is the slow
part, about a minute on 2 busy cores).

Every test here is marked ``ray`` and runs only when selected, ``pytest -m ray tests/ray``
(without ``-n``: each xdist worker would start a cluster of its own): a plain run of the suite
skips them, so the two passes of ``scripts/test`` do not start two clusters each. CI runs
them in a cell of their own (docs/configuration.md, "Tests on Ray").
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ray.cluster import Cluster, local_cluster


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = str(config.getoption("markexpr") or "")
    if "ray" in selected and "not ray" not in selected:
        return
    skip = pytest.mark.skip(reason="Ray tests run when selected: pytest -m ray tests/ray")
    for item in items:
        if item.get_closest_marker("ray") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install labelarts[ray]")
    with local_cluster(cpus_per_node=1, nodes=2) as cluster:
        yield cluster
