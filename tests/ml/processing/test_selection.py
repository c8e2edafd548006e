"""Whole-set operators: SimDeduplication, RRD and PCC."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from PIL import Image

from labelarts.ml.processing import (
    DELETED,
    UNMODIFIED,
    ProcessingInput,
    ProcessingOutcome,
    ProcessingParameterError,
    check_sample_count,
    get_operator,
    rng_for,
)
from tests.ml.processing.duplicates import duplicate_set, random_picture, score, tiny_embed
from tests.ml.processing.helpers import encoded, item


def select(
    name: str,
    items: Sequence[ProcessingInput],
    params: Mapping[str, object] | object,
    embed: object = tiny_embed,
) -> list[ProcessingOutcome]:
    operator = get_operator(name)
    parsed = operator.parse_params(params) if isinstance(params, Mapping) else params
    return list(operator.select(iter(items), parsed, embed, rng_for("v1", name)))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- SimDeduplication


def test_dedup_precision_and_recall_on_generated_duplicates() -> None:
    dataset = duplicate_set(families=12, unrelated=24, seed=3)
    outcomes = select("SimDeduplication", dataset.items, {"simlarity_threshold": "0.9"})
    assert [o.sample_id for o in outcomes] == [i.sample_id for i in dataset.items]
    both = score(dataset, outcomes)
    hashes_only = score(
        dataset,
        select("SimDeduplication", dataset.items, {"simlarity_threshold": "0.9", "use_embeddings": "False"}),
    )
    print(
        f"\nde-duplication of {len(dataset.items)} images ({both.expected} duplicates): "
        f"pHash+features precision {both.precision:.3f} recall {both.recall:.3f}; "
        f"pHash only precision {hashes_only.precision:.3f} recall {hashes_only.recall:.3f}"
    )
    assert both.precision >= 0.97
    assert both.recall >= 0.93
    assert hashes_only.precision >= 0.97
    assert hashes_only.recall >= 0.85  # crops move a pHash too far: features catch them


def _solid(colour: tuple[int, int, int], size: tuple[int, int] = (48, 36)) -> bytes:
    return encoded(Image.new("RGB", size, colour))


def test_dedup_keeps_labeled_then_larger_then_earlier_then_lower_id() -> None:
    picture = random_picture(np.random.default_rng(1))
    small = encoded(picture.resize((64, 48)), "JPEG", quality=90)
    large = encoded(picture, "JPEG", quality=90)
    cases = [
        # (expected keeper, items)
        ("b", [item(large, sample_id="a"), item(small, sample_id="b", labeled=True)]),
        ("b", [item(small, sample_id="a"), item(large, sample_id="b")]),
        ("b", [item(large, sample_id="a", sample_time=5), item(large, sample_id="b", sample_time=1)]),
        ("a", [item(large, sample_id="b", sample_time=1), item(large, sample_id="a", sample_time=1)]),
    ]
    for keeper, items in cases:
        outcomes = {o.sample_id: o for o in select("SimDeduplication", items, {})}
        assert outcomes[keeper].result_property == UNMODIFIED
        assert outcomes[keeper].description == ("SimDeduplication: kept, 1 duplicate removed",)
        other = next(sid for sid in outcomes if sid != keeper)
        assert outcomes[other].result_property == DELETED
        assert (
            outcomes[other].description[0].startswith(f"SimDeduplication: duplicate of {keeper} (similarity ")
        )


def test_exact_copies_report_similarity_one_and_unique_images_stay() -> None:
    rng = np.random.default_rng(2)
    a = encoded(random_picture(rng))
    b = encoded(random_picture(rng))
    items = [
        item(a, sample_id="x1"),
        item(b, sample_id="x2"),
        item(a, sample_id="x3"),
        item(b"junk", sample_id="x4"),
    ]
    outcomes = select("SimDeduplication", items, {})
    assert [(o.sample_id, o.result_property, o.description) for o in outcomes] == [
        ("x1", UNMODIFIED, ("SimDeduplication: kept, 1 duplicate removed",)),
        ("x2", UNMODIFIED, ("SimDeduplication: unique",)),
        ("x3", DELETED, ("SimDeduplication: duplicate of x1 (similarity 1.00)",)),
        ("x4", UNMODIFIED, ("SimDeduplication: unique",)),
    ]


def test_threshold_one_keeps_everything_but_exact_copies() -> None:
    dataset = duplicate_set(families=3, unrelated=2, seed=5)
    outcomes = select("SimDeduplication", dataset.items, {"simlarity_threshold": 1})
    assert sum(o.result_property == DELETED for o in outcomes) == 3  # one exact copy per family


def test_dedup_reads_each_input_once_and_holds_no_bytes() -> None:
    dataset = duplicate_set(families=2, unrelated=2, seed=4)
    reads = 0

    def stream() -> object:
        nonlocal reads
        for sample in dataset.items:
            reads += 1
            yield sample

    operator = get_operator("SimDeduplication")
    outcomes = list(operator.select(stream(), operator.parse_params({}), tiny_embed, rng_for("v", "s")))  # type: ignore[attr-defined]
    assert reads == len(dataset.items) == len(outcomes)


# --------------------------------------------------------------------------- RRD


def _vector_embedder(vectors: Mapping[str, np.ndarray]) -> object:
    def embed(batch: Sequence[ProcessingInput]) -> np.ndarray:
        rows = np.array([vectors[sample.sample_id] for sample in batch], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    return embed


def _clustered(
    n_clusters: int, per_cluster: int, copies: int, seed: int = 0
) -> tuple[list[ProcessingInput], dict[str, np.ndarray]]:
    """Clusters of distinct points, each with ``copies`` near-copies of its first point."""
    rng = np.random.default_rng(seed)
    items: list[ProcessingInput] = []
    vectors: dict[str, np.ndarray] = {}
    data = encoded(Image.new("RGB", (4, 4)))
    for c in range(n_clusters):
        centre = np.zeros(32)
        centre[c] = 10.0
        points = [centre + rng.normal(0, 1.0, 32) for _ in range(per_cluster)]
        points += [points[0] + rng.normal(0, 0.01, 32) for _ in range(copies)]
        for k, vector in enumerate(points):
            sample_id = f"c{c}-{'copy' if k >= per_cluster else 'distinct'}-{k}"
            vectors[sample_id] = vector
            items.append(item(data, sample_id=sample_id, labels=(f"class{c}",), labeled=True))
    return items, vectors


def test_rrd_keeps_the_ratio_per_cluster_and_drops_the_most_redundant_first() -> None:
    items, vectors = _clustered(3, per_cluster=6, copies=4)
    outcomes = select("RRD", items, {"sample_ratio": "0.6"}, _vector_embedder(vectors))
    assert [o.sample_id for o in outcomes] == [i.sample_id for i in items]
    kept = [o.sample_id for o in outcomes if o.result_property == UNMODIFIED]
    deleted = [o for o in outcomes if o.result_property == DELETED]
    assert len(kept) == 3 * 6  # ceil(0.6 * 10) per cluster: auto k = 3 labels
    # The near-copies go first: each cluster keeps its 5 other distinct points and one of the
    # group made of its first point and that point's 4 near-copies.
    for c in range(3):
        group = {f"c{c}-distinct-0"} | {f"c{c}-copy-{k}" for k in range(6, 10)}
        assert len(group & set(kept)) == 1
        assert {f"c{c}-distinct-{k}" for k in range(1, 6)} <= set(kept)
    for outcome in deleted:
        assert "-copy-" in outcome.sample_id or outcome.sample_id.endswith("-distinct-0")
        nearest = outcome.description[0].split("nearest kept sample ")[1]
        assert nearest.split("-")[0] == outcome.sample_id.split("-")[0]


def test_rrd_ratio_one_keeps_all_and_n_clusters_must_be_below_the_count() -> None:
    items, vectors = _clustered(2, per_cluster=3, copies=1)
    outcomes = select("RRD", items, {"sample_ratio": 1, "n_clusters": "3"}, _vector_embedder(vectors))
    assert all(o.result_property == UNMODIFIED for o in outcomes)
    with pytest.raises(ProcessingParameterError) as caught:
        select("RRD", items, {"n_clusters": str(len(items))}, _vector_embedder(vectors))
    assert caught.value.error_code == "ModelArts.4622"
    with pytest.raises(ProcessingParameterError):
        check_sample_count(get_operator("RRD").parse_params({"n_clusters": 8}), 8)
    check_sample_count(get_operator("RRD").parse_params({"n_clusters": "auto"}), 1)


# --------------------------------------------------------------------------- PCC


def test_pcc_keeps_what_resembles_the_prototypes_and_drops_what_resembles_criticisms() -> None:
    data = encoded(Image.new("RGB", (4, 4)))
    axes = np.eye(8)
    vectors = {
        "proto-1": axes[0],
        "proto-2": axes[1],
        "neg-1": axes[2],
        "close": axes[0] + 0.1 * axes[3],  # cosine 0.995 to proto-1
        "between": axes[0] + axes[1],  # cosine 0.71 to either prototype
        "far": axes[4],
        "negative-like": 0.8 * axes[0] + axes[2],  # kept by distance 0.19, but nearer neg-1
    }
    params = dataclasses.replace(
        get_operator("PCC").parse_params(
            {"prototype_sample_path": "obs://bucket/protos/", "criticism_sample_path": "obs://bucket/neg/"}
        ),
        prototypes=(item(data, sample_id="proto-1"), item(data, sample_id="proto-2")),
        criticisms=(item(data, sample_id="neg-1"),),
    )
    samples = [item(data, sample_id=s) for s in ("close", "between", "far", "negative-like")]
    outcomes = {o.sample_id: o for o in select("PCC", samples, params, _vector_embedder(vectors))}
    assert outcomes["close"].result_property == UNMODIFIED
    assert outcomes["close"].description == (
        "PCC: kept: similarity 1.00 to nearest positive, distance 0.00 to nearest centre",
    )
    # (1 - 0.71) / 2 = 0.15 <= embedding_distance 0.2: kept though below the 0.9 similarity
    assert outcomes["between"].result_property == UNMODIFIED
    assert outcomes["far"].result_property == DELETED
    assert outcomes["far"].description == (
        "PCC: deleted: similarity 0.00 to nearest positive, distance 0.50 to nearest centre",
    )
    assert outcomes["negative-like"].result_property == DELETED
    assert "to nearest negative" in outcomes["negative-like"].description[0]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "ModelArts.0104"),
        ({"prototype_sample_path": ""}, "ModelArts.0104"),
        ({"prototype_sample_path": "obs://b/p/", "simlarity_threshold": "1.2"}, "ModelArts.0104"),
        ({"prototype_sample_path": "obs://b/p/", "embedding_distance": "-0.1"}, "ModelArts.0104"),
        ({"prototype_sample_path": "obs://b/p/", "n_clusters": "many"}, "ModelArts.0104"),
        ({"prototype_sample_path": "obs://b/p/", "n_clusters": "0"}, "ModelArts.0104"),
        ({"prototype_sample_path": 7}, "ModelArts.0104"),
    ],
)
def test_pcc_bad_parameters(params: dict[str, object], code: str) -> None:
    with pytest.raises(ProcessingParameterError) as caught:
        get_operator("PCC").parse_params(params)
    assert caught.value.error_code == code


def test_pcc_needs_prototypes_and_fewer_clusters_than_samples() -> None:
    data = encoded(Image.new("RGB", (4, 4)))
    embed = _vector_embedder({"p": np.ones(4), "a": np.ones(4), "b": -np.ones(4)})
    params = get_operator("PCC").parse_params({"prototype_sample_path": "obs://b/p/", "n_clusters": "2"})
    with pytest.raises(ProcessingParameterError) as caught:
        select("PCC", [item(data, sample_id="a")], params, embed)
    assert caught.value.error_code == "ModelArts.0104"
    with_protos = dataclasses.replace(params, prototypes=(item(data, sample_id="p"),))
    with pytest.raises(ProcessingParameterError) as caught:
        select("PCC", [item(data, sample_id="a"), item(data, sample_id="b")], with_protos, embed)
    assert caught.value.error_code == "ModelArts.4622"


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("SimDeduplication", {"simlarity_threshold": "high"}),
        ("SimDeduplication", {"simlarity_threshold": "1.5"}),
        ("SimDeduplication", {"similarity_threshold": "-0.5"}),
        ("SimDeduplication", {"use_embeddings": "sometimes"}),
        ("RRD", {"sample_ratio": "0"}),
        ("RRD", {"sample_ratio": "1.1"}),
        ("RRD", {"n_clusters": "-3"}),
        ("RRD", {"task_type": "image_segmentation"}),
    ],
)
def test_selection_bad_parameters(name: str, params: dict[str, object]) -> None:
    with pytest.raises(ProcessingParameterError) as caught:
        get_operator(name).parse_params(params)
    expected = "ModelArts.4399" if "task_type" in params else "ModelArts.0104"
    assert caught.value.error_code == expected
