"""The Ray tests' cluster: one two-node local cluster for the session (its start is the slow
part, about a minute on 2 busy cores). Every test here is marked ``ray``; select them with
``-m ray``, leave them out with ``-m "not ray"``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ray.cluster import Cluster, local_cluster


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install labelarts[ray]")
    with local_cluster(cpus_per_node=1, nodes=2) as cluster:
        yield cluster
