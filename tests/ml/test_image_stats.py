"""Image statistics behind hard-example reasons 5-10, checked on images whose figures are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageFilter

from labelarts.ml.image_stats import STAT_NAMES, STAT_REASONS, image_stats, laplacian_variance


def _stat(image: Image.Image, name: str, original_size: tuple[int, int] | None = None) -> float:
    values = image_stats(image, original_size or image.size)
    return float(values[STAT_NAMES.index(name)])


def _noise(size: int = 64, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def test_names_and_reason_codes() -> None:
    assert STAT_NAMES == (
        "resolution",
        "aspect_ratio",
        "brightness",
        "saturation",
        "colorfulness",
        "sharpness",
    )
    assert [STAT_REASONS[name] for name in STAT_NAMES] == [5, 6, 7, 8, 9, 10]


def test_shape_and_dtype() -> None:
    values = image_stats(_noise(), (64, 64))
    assert values.shape == (6,)
    assert values.dtype == np.float64
    assert np.all(np.isfinite(values))


def test_resolution_and_aspect_come_from_the_original_size() -> None:
    resized = Image.new("RGB", (100, 25), (10, 20, 30))
    assert _stat(resized, "resolution", (400, 100)) == pytest.approx(200.0)
    assert _stat(resized, "aspect_ratio", (400, 100)) == pytest.approx(4.0)
    assert _stat(resized, "aspect_ratio", (100, 400)) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("colour", "luma"),
    [((0, 0, 0), 0.0), ((255, 255, 255), 255.0), ((100, 100, 100), 100.0), ((255, 0, 0), 0.299 * 255)],
)
def test_brightness_is_bt601_luma(colour: tuple[int, int, int], luma: float) -> None:
    assert _stat(Image.new("RGB", (16, 16), colour), "brightness") == pytest.approx(luma, abs=1e-6)


def test_brightness_is_a_mean_over_pixels() -> None:
    half = np.zeros((10, 20, 3), dtype=np.uint8)
    half[:, 10:] = 200
    assert _stat(Image.fromarray(half), "brightness") == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("colour", "saturation"),
    [((128, 128, 128), 0.0), ((0, 0, 0), 0.0), ((255, 0, 0), 255.0), ((200, 100, 100), 127.5)],
)
def test_saturation_is_hsv_saturation(colour: tuple[int, int, int], saturation: float) -> None:
    assert _stat(Image.new("RGB", (8, 8), colour), "saturation") == pytest.approx(saturation)


def test_colorfulness() -> None:
    assert _stat(Image.new("RGB", (8, 8), (90, 90, 90)), "colorfulness") == pytest.approx(0.0)
    # A constant colour: no spread, so only 0.3 x the length of the mean opponent colour (rg, yb).
    red = _stat(Image.new("RGB", (8, 8), (255, 0, 0)), "colorfulness")
    assert red == pytest.approx(0.3 * math.hypot(255.0, 127.5))
    stripes = np.zeros((8, 8, 3), dtype=np.uint8)
    stripes[:, ::2] = (255, 0, 0)
    stripes[:, 1::2] = (0, 0, 255)
    assert _stat(Image.fromarray(stripes), "colorfulness") > red


def test_sharpness_falls_with_blur_and_ignores_resolution() -> None:
    sharp = _noise(256)
    blurred = sharp.filter(ImageFilter.GaussianBlur(3))
    assert _stat(sharp, "sharpness") > 5 * _stat(blurred, "sharpness")
    assert _stat(Image.new("RGB", (50, 40), (7, 7, 7)), "sharpness") == 0.0
    # The same picture stored at three times the resolution: compared at a fixed size, so the same figure.
    bigger = sharp.resize((768, 768), Image.Resampling.NEAREST)
    assert _stat(bigger, "sharpness") == pytest.approx(_stat(sharp, "sharpness"), rel=0.01)
    # Small images are enlarged to that size, so their figures are comparable with each other.
    small = _noise(64)
    assert _stat(small, "sharpness") > 5 * _stat(small.filter(ImageFilter.GaussianBlur(1)), "sharpness")


def test_laplacian_variance_of_a_single_spike() -> None:
    gray = np.zeros((5, 5))
    gray[2, 2] = 1.0
    # Interior 3x3 Laplacian: -4 at the centre, 1 at its four neighbours, 0 at the corners.
    expected = np.array([0, 1, 0, 1, -4, 1, 0, 1, 0], dtype=float).var()
    assert laplacian_variance(gray) == pytest.approx(expected)
    assert laplacian_variance(np.zeros((2, 9))) == 0.0


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_other_modes(mode: str) -> None:
    image = _noise(32).convert(mode) if mode != "I;16" else Image.new("I;16", (32, 32), 300)
    values = image_stats(image, image.size)
    assert np.all(np.isfinite(values))
    assert 0.0 <= values[2] <= 255.0
    assert 0.0 <= values[3] <= 255.0


def test_grey_image_has_no_saturation_or_colour() -> None:
    values = image_stats(_noise(32).convert("L"), (32, 32))
    assert values[3] == 0.0
    assert values[4] == 0.0


@pytest.mark.parametrize("size", [(0, 10), (10, 0), (-1, 5)])
def test_bad_original_size(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="original_size"):
        image_stats(_noise(8), size)
