"""Deterministic perturbations behind hard-example reasons 19-29."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from labelarts.ml.augment import AUGMENTATION_NAMES, AUGMENTATIONS
from labelarts.ml.image_stats import laplacian_variance

ALL_CODES = list(range(19, 30))


def _noise(width: int = 48, height: int = 40, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _gradient(width: int = 60, height: int = 40) -> Image.Image:
    """Smooth picture: red rises left to right, green top to bottom."""
    xs = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    ys = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    arr = np.stack([xs, ys, np.full_like(xs, 60)], axis=2)
    return Image.fromarray(arr.astype(np.uint8))


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_codes_match_the_reference_table() -> None:
    assert sorted(AUGMENTATIONS) == ALL_CODES
    assert AUGMENTATION_NAMES == {
        19: "GaussianBlur",
        20: "fliplr",
        21: "Crop",
        22: "flipud",
        23: "scale",
        24: "translate",
        25: "shear",
        26: "superpixels",
        27: "sharpen",
        28: "add",
        29: "invert",
    }


@pytest.mark.parametrize("code", ALL_CODES)
@pytest.mark.parametrize(
    ("mode", "expected_mode"), [("RGB", "RGB"), ("L", "L"), ("RGBA", "RGB"), ("P", "RGB")]
)
def test_size_and_mode(code: int, mode: str, expected_mode: str) -> None:
    image = _noise(37, 23).convert(mode)
    out = AUGMENTATIONS[code](image)
    assert out.size == image.size
    assert out.mode == expected_mode


@pytest.mark.parametrize("code", ALL_CODES)
def test_deterministic_and_input_untouched(code: int) -> None:
    image = _noise()
    before = image.tobytes()
    first = AUGMENTATIONS[code](image)
    second = AUGMENTATIONS[code](image.copy())
    assert first.tobytes() == second.tobytes()
    assert image.tobytes() == before


def _picture() -> Image.Image:
    """A gradient with a bright square on it: smooth areas and sharp edges."""
    arr = np.asarray(_gradient(), dtype=np.int16).copy()
    arr[12:28, 20:40] = 250
    return Image.fromarray(arr.astype(np.uint8))


@pytest.mark.parametrize("code", ALL_CODES)
def test_changes_a_picture(code: int) -> None:
    image = _picture()
    assert AUGMENTATIONS[code](image).tobytes() != image.tobytes()


@pytest.mark.parametrize("code", ALL_CODES)
def test_tiny_images(code: int) -> None:
    for size in [(1, 1), (2, 5), (5, 2)]:
        out = AUGMENTATIONS[code](_noise(*size))
        assert out.size == size


@pytest.mark.parametrize("code", [20, 22, 29])
def test_involutions(code: int) -> None:
    image = _noise()
    once = AUGMENTATIONS[code](image)
    assert once.tobytes() != image.tobytes()
    assert AUGMENTATIONS[code](once).tobytes() == image.tobytes()


def test_flips_move_pixels() -> None:
    image = _gradient()
    arr = _array(image)
    assert np.array_equal(_array(AUGMENTATIONS[20](image)), arr[:, ::-1])
    assert np.array_equal(_array(AUGMENTATIONS[22](image)), arr[::-1])


def test_invert_and_add() -> None:
    image = Image.fromarray(np.array([[[0, 100, 250]]], dtype=np.uint8))
    assert _array(AUGMENTATIONS[29](image)).tolist() == [[[255, 155, 5]]]
    assert _array(AUGMENTATIONS[28](image)).tolist() == [[[40, 140, 255]]]


def _sharpness(image: Image.Image) -> float:
    return laplacian_variance(np.asarray(image.convert("L"), dtype=np.float64))


@pytest.mark.parametrize("size", [32, 224])
def test_blur_lowers_and_sharpen_raises_the_laplacian_variance(size: int) -> None:
    image = _noise(size, size).resize((size, size))
    # Blur strength is scaled to the image: at 224 px, sigma 2 removes most pixel-level detail.
    blurred = AUGMENTATIONS[19](image)
    assert _sharpness(blurred) < 0.8 * _sharpness(image)
    edges = _block_image(size, size)
    assert _sharpness(AUGMENTATIONS[27](edges)) > 1.1 * _sharpness(edges)


def test_blur_strength_scales_with_size() -> None:
    small = AUGMENTATIONS[19](_noise(32, 32))
    big = AUGMENTATIONS[19](_noise(224, 224))
    assert _sharpness(big) < 0.1 * _sharpness(_noise(224, 224))
    assert _sharpness(small) > 0.3 * _sharpness(_noise(32, 32))


def _block_image(width: int = 50, height: int = 40) -> Image.Image:
    """Grey background with a white square at the centre (one fifth of each side)."""
    arr = np.full((height, width, 3), 80, dtype=np.uint8)
    arr[height * 2 // 5 : height * 3 // 5, width * 2 // 5 : width * 3 // 5] = 255
    return Image.fromarray(arr)


def _white_fraction(image: Image.Image) -> float:
    return float((np.asarray(image.convert("L")) > 200).mean())


def test_crop_enlarges_and_scale_shrinks_the_centre() -> None:
    image = _block_image()
    base = _white_fraction(image)
    # Crop keeps 80% of each side: the square grows by 1 / 0.8^2; scale 0.75 shrinks it by 0.75^2.
    assert _white_fraction(AUGMENTATIONS[21](image)) == pytest.approx(base / 0.64, rel=0.2)
    assert _white_fraction(AUGMENTATIONS[23](image)) == pytest.approx(base * 0.5625, rel=0.25)


def test_scale_and_translate_fill_with_border_pixels() -> None:
    image = _block_image()
    for code in (23, 24):
        out = np.asarray(AUGMENTATIONS[code](image))
        border = np.concatenate([out[0], out[-1], out[:, 0], out[:, -1]])
        assert np.all(border == 80)


def test_translate_moves_right_and_down_by_ten_percent() -> None:
    arr = np.zeros((40, 50), dtype=np.uint8)
    arr[10, 20] = 255
    out = np.asarray(AUGMENTATIONS[24](Image.fromarray(arr)))
    assert list(zip(*np.nonzero(out), strict=True)) == [(14, 25)]


def test_shear_keeps_the_middle_row_and_shifts_the_others() -> None:
    arr = np.zeros((41, 60), dtype=np.uint8)
    arr[:, 30] = 255  # a vertical line
    out = np.asarray(AUGMENTATIONS[25](Image.fromarray(arr)))
    column = {y: int(np.argmax(out[y])) for y in (0, 20, 40)}
    assert column[20] == 30
    # x_in = x + 0.2 (y - h/2): the top row shows the line further right, the bottom row further left.
    assert column[0] == pytest.approx(34, abs=1)
    assert column[40] == pytest.approx(26, abs=1)


def test_superpixels_flatten_regions_and_keep_strong_edges() -> None:
    noisy = _noise(96, 80)
    out = AUGMENTATIONS[26](noisy)
    colours_in = len(np.unique(np.asarray(noisy).reshape(-1, 3), axis=0))
    colours_out = len(np.unique(np.asarray(out).reshape(-1, 3), axis=0))
    assert colours_out <= 100 < colours_in
    halves = np.zeros((64, 64, 3), dtype=np.uint8)
    halves[:, 32:] = (200, 30, 30)
    out_halves = np.asarray(AUGMENTATIONS[26](Image.fromarray(halves)))
    assert np.array_equal(out_halves, halves)
    flat = Image.new("L", (30, 30), 77)
    assert AUGMENTATIONS[26](flat).tobytes() == flat.tobytes()


def test_all_perturbations_differ_from_each_other() -> None:
    image = _picture()
    results = {code: fn(image).tobytes() for code, fn in AUGMENTATIONS.items()}
    assert len(set(results.values())) == len(results)
