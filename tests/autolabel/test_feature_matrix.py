"""How an auto-labeling task holds its features: one float32 matrix read page by page from the
cache, memory-mapped past the configured size; and the batched learning steps give the same
answers as one pass over everything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete

from labelarts.ml import hard, head
from labelarts.ml.pipeline import auto_label
from labelarts.services.autolabel import features
from labelarts.services.autolabel.features import FeatureCache, allocate_features
from labelarts.storage.db.models import SampleFeature
from tests.api import World, add_sample, shared_world, unique_name
from tests.conftest import create_dataset

DIM = 12


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("autolabel-features")) as built:
        yield built


def test_small_matrices_stay_in_memory_and_large_ones_are_mapped(tmp_path: Path) -> None:
    small = allocate_features(10, DIM, memmap_bytes=10 * DIM * 4, scratch_dir=tmp_path)
    large = allocate_features(11, DIM, memmap_bytes=10 * DIM * 4, scratch_dir=tmp_path)
    assert small.dtype == large.dtype == np.float32
    assert not isinstance(small, np.memmap)
    assert isinstance(large, np.memmap) and large.shape == (11, DIM)
    large[:] = 1.5
    assert float(large.sum()) == 1.5 * 11 * DIM
    assert list(tmp_path.iterdir()) == []  # the file is unlinked at once: nothing to clean up


@pytest.mark.parametrize("memmap_bytes", [0, 1 << 30], ids=["mapped", "in-memory"])
def test_read_matrix_streams_the_cache_into_one_float32_matrix(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memmap_bytes: int
) -> None:
    services = world.services
    monkeypatch.setattr(features, "_PAGE_ROWS", 3)  # several pages
    monkeypatch.setattr(features, "_COMPACT_ROWS", 2)  # several compaction steps
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name())
    labeled = [add_sample(services, dataset_id, ["cat"]) for _ in range(4)]
    targets = [add_sample(services, dataset_id) for _ in range(7)]
    rng = np.random.default_rng(0)
    vectors = {s: rng.normal(size=DIM).astype(np.float32) for s in labeled + targets}
    broken, uncached = labeled[1], targets[2]  # a file that could not be decoded; one never encoded
    cache = FeatureCache(services.db)
    cache.store(
        "fake-encoder",
        dataset_id,
        [
            (s, None if s == broken else vectors[s], np.arange(6.0) + i)
            for i, s in enumerate(labeled + targets)
        ],
    )
    with services.db.session() as session:  # the uncached sample's row is gone
        session.execute(delete(SampleFeature).where(SampleFeature.sample_id == uncached))

    matrix = cache.read_matrix(
        "fake-encoder",
        dataset_id,
        labeled,
        targets,
        DIM,
        with_stats=True,
        memmap_bytes=memmap_bytes,
        scratch_dir=tmp_path,
    )

    assert matrix.X.dtype == np.float32
    assert isinstance(matrix.X, np.memmap) == (memmap_bytes == 0)
    assert matrix.labeled_ok.tolist() == [s != broken for s in labeled]
    assert matrix.targets_ok.tolist() == [s != uncached for s in targets]
    kept = [s for s in labeled if s != broken] + [s for s in targets if s != uncached]
    expected = np.stack([vectors[s].astype(np.float16).astype(np.float32) for s in kept])
    np.testing.assert_array_equal(matrix.X, expected)
    assert matrix.labeled.shape == (3, DIM) and matrix.targets.shape == (6, DIM)
    order = labeled + targets
    assert matrix.stats is not None
    np.testing.assert_array_equal(matrix.stats[:, 0], [float(order.index(s)) for s in kept])


def _data(n_unlabeled: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (3, DIM))
    y = np.repeat(np.arange(3), 8)
    X_lab = centers[y] + rng.normal(0, 1, (y.size, DIM))
    X_unl = centers[rng.integers(0, 3, n_unlabeled)] + rng.normal(0, 1, (n_unlabeled, DIM))
    return X_lab.astype(np.float32), y, X_unl.astype(np.float32)


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_batched_learning_gives_the_answers_of_one_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str
) -> None:
    X_lab, y, X_unl = _data(3000)
    mapped = np.memmap(tmp_path / "x.f32", dtype=np.float32, mode="w+", shape=X_unl.shape)
    mapped[:] = X_unl
    one_pass = auto_label(X_lab, y, mapped, n_classes=3, mode=mode, target_precision=0.9)
    monkeypatch.setattr(head, "_BATCH_BYTES", 1)  # 1,024 rows per batch: three batches
    monkeypatch.setattr(hard, "_CHUNK_ROWS", 700)
    batched = auto_label(X_lab, y, X_unl, n_classes=3, mode=mode, target_precision=0.9)
    np.testing.assert_array_equal(batched.predicted, one_pass.predicted)
    np.testing.assert_allclose(batched.confidence, one_pass.confidence, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(batched.hard.hard, one_pass.hard.hard)
    assert batched.hard.reasons == one_pass.hard.reasons


def test_accurate_mode_spreads_over_a_bounded_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    X_lab, y, X_unl = _data(600)
    everything = auto_label(X_lab, y, X_unl, n_classes=3, mode="accurate", target_precision=0.9)
    monkeypatch.setattr(head, "SPREADING_MAX_UNLABELED", 200)
    bounded = auto_label(X_lab, y, X_unl, n_classes=3, mode="accurate", target_precision=0.9)
    assert everything.estimates["n_pseudo_labels"] == 600
    assert bounded.estimates["n_pseudo_labels"] == 200
    # Separable classes: the samples outside the graph are labeled as well as the nodes.
    assert np.mean(bounded.predicted == everything.predicted) > 0.97
