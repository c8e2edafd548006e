"""The 19 augmentation operators: golden outputs, what a user checks, boxes exact to the pixel.

Golden images: ``golden/<case>.png`` holds each operator's output on a 32x24 picture with the
generator of sample ``s1`` in version ``golden``. They were written once by running this file
with ``LABELARTS_WRITE_GOLDEN=1``; rewrite them only for an intended change of an operator.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from labelarts.ml.processing import (
    ADDED,
    DELETED,
    TEMPLATES,
    UNMODIFIED,
    Box,
    ProcessingInput,
    ProcessingOutcome,
    ProcessingParameterError,
    Step,
    get_operator,
    rng_for,
    run_sample_steps,
)
from labelarts.ml.processing.images import added_sample_id
from tests.ml.processing.helpers import decoded, encoded, gradient, item

GOLDEN = Path(__file__).parent / "golden"
AUGMENTATIONS = TEMPLATES["sys_data_augmentation"].operators

GOLDEN_CASES: list[tuple[str, str, dict[str, object]]] = [
    (name, name, {}) for name in AUGMENTATIONS if name not in ("AddNoise", "Weather", "LightContrast")
]
GOLDEN_CASES += [
    (f"AddNoise-{kind}", "AddNoise", {"noise_type": kind, "scale": "20", "p": "0.1"})
    for kind in ("Gauss", "Laplace", "Poisson", "Impulse", "SaltAndPepper")
]
GOLDEN_CASES += [
    (f"Weather-{mode}", "Weather", {"weather_mode": mode}) for mode in ("Rain", "Fog", "Snow", "Clouds")
]
GOLDEN_CASES += [
    (f"LightContrast-{f}", "LightContrast", {"func": f}) for f in ("gamma", "sigmoid", "log", "linear")
]


def picture(width: int = 32, height: int = 24) -> Image.Image:
    """A gradient with a white square and a dark bar, so moves and flips show."""
    image = gradient(width, height)
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, 11, 11), fill=(255, 255, 255))
    draw.rectangle((width - 8, height - 6, width - 3, height - 3), fill=(10, 10, 10))
    return image


def augment(
    name: str,
    data: bytes,
    params: Mapping[str, object] | None = None,
    *,
    file_name: str = "pic.png",
    boxes: tuple[Box, ...] = (),
    labels: tuple[str, ...] = (),
    sample_id: str = "s1",
    version: str = "golden",
) -> ProcessingOutcome:
    operator = get_operator(name, "sys_data_augmentation")
    parsed = operator.parse_params(params or {})
    sample = item(data, file_name, sample_id=sample_id, boxes=boxes, labels=labels)
    return operator.process(sample, parsed, rng_for(version, sample_id))  # type: ignore[attr-defined, no-any-return]


def pixels(outcome: ProcessingOutcome) -> np.ndarray:
    assert outcome.data is not None
    return np.asarray(decoded(outcome.data).convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize(("case", "name", "params"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden_output(case: str, name: str, params: dict[str, object]) -> None:
    outcome = augment(name, encoded(picture()), params)
    assert outcome.result_property == ADDED
    assert outcome.name == f"pic_{name.lower()}.png"
    out = pixels(outcome)
    path = GOLDEN / f"{case}.png"
    if os.environ.get("LABELARTS_WRITE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(encoded(Image.fromarray(out.astype(np.uint8))))
    expected = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    assert out.shape == expected.shape
    # Equal here; a little slack for resampling changes between Pillow releases.
    difference = np.abs(out - expected)
    assert difference.mean() < 0.5 and difference.max() <= 4, case
    # Every operator visibly changes the picture.
    if out.shape == np.asarray(picture()).shape:
        assert np.abs(out - np.asarray(picture(), dtype=np.int16)).mean() > 0.5, case


def test_every_operator_is_seeded_by_version_and_sample() -> None:
    data = encoded(picture())
    for name in AUGMENTATIONS:
        first = augment(name, data)
        assert augment(name, data) == first, name
    assert augment("AddNoise", data, sample_id="s2").data != augment("AddNoise", data).data
    assert augment("Rotate", data, version="other").data != augment("Rotate", data).data


def test_added_sample_copies_labels_keeps_the_format_and_gets_a_new_id() -> None:
    outcome = augment(
        "Grayscale", encoded(picture(), "JPEG", quality=95), file_name="cat.jpeg", labels=("cat",)
    )
    assert outcome.result_property == ADDED
    assert outcome.name == "cat_grayscale.jpeg"
    assert outcome.sample_id == added_sample_id("s1", "cat_grayscale.jpeg") != "s1"
    assert outcome.labels == ("cat",)
    assert outcome.description == ("Grayscale: converted to grey (three equal channels)",)
    assert outcome.data is not None
    assert decoded(outcome.data).format == "JPEG"


def test_an_undecodable_input_is_deleted() -> None:
    outcome = augment("Flip", b"not an image")
    assert outcome.result_property == DELETED
    assert outcome.description[0].startswith("Flip: deleted: ")


# --------------------------------------------------------------------------- what a user checks


def test_flip_mirrors_pixels_exactly() -> None:
    source = np.asarray(picture(), dtype=np.int16)
    assert (pixels(augment("Flip", encoded(picture()))) == source[:, ::-1]).all()
    assert (pixels(augment("Flip", encoded(picture()), {"lr_ud": "ud"})) == source[::-1]).all()


def test_flip_probability_zero_makes_no_copy() -> None:
    outcome = augment("Flip", encoded(picture()), {"flip_p": "0"})
    assert outcome.result_property == UNMODIFIED
    assert outcome.description == ("Flip: no copy: not flipped (flip_p 0)",)


def test_grayscale_channels_are_equal() -> None:
    out = pixels(augment("Grayscale", encoded(picture())))
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_light_arithmetic_adds_the_drawn_value() -> None:
    flat = Image.new("RGB", (16, 16), (100, 100, 100))
    outcome = augment("LightArithmetic", encoded(flat), {"brightness_delta": "30"})
    delta = float(outcome.description[0].split("added ")[1].split(" ")[0])
    assert -30 <= delta <= 30
    assert np.abs(pixels(outcome) - (100 + delta)).max() <= 0.6


def test_histogram_equalization_spreads_a_dull_picture() -> None:
    dull = Image.fromarray((np.linspace(100, 140, 32 * 24).reshape(24, 32)).astype(np.uint8)).convert("RGB")
    out = pixels(augment("HistogramEqual", encoded(dull)))
    assert out.max() - out.min() > 200


def test_salt_and_pepper_sets_about_p_of_the_pixels_to_black_or_white() -> None:
    grey = Image.new("RGB", (40, 40), (128, 128, 128))
    out = pixels(augment("AddNoise", encoded(grey), {"noise_type": "SaltAndPepper", "p": "0.25"}))
    hit = (out != 128).any(axis=2)
    assert 0.18 < hit.mean() < 0.32
    assert set(np.unique(out[hit])) <= {0, 255}


def test_cutout_blacks_out_one_box_of_ten_to_thirty_percent() -> None:
    white = Image.new("RGB", (50, 40), (255, 255, 255))
    out = pixels(augment("CutOut", encoded(white)))
    ys, xs = np.nonzero((out == 0).all(axis=2))
    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert (out == 0).all(axis=2).sum() == width * height
    assert 5 <= width <= 15 and 4 <= height <= 12


def test_motion_blur_and_blur_soften_edges() -> None:
    source = np.asarray(picture(), dtype=np.float64)
    for name in ("Blur", "MotionBlur"):
        out = pixels(augment(name, encoded(picture()))).astype(np.float64)
        assert np.abs(np.diff(out, axis=1)).mean() < np.abs(np.diff(source, axis=1)).mean(), name


def test_photometric_operators_keep_size_and_boxes() -> None:
    box = Box("cat", 4, 4, 12, 12)
    for name in AUGMENTATIONS:
        if name in ("Crop", "Flip", "Padding", "Resize", "Rotate", "Scale", "Shear", "Translate"):
            continue
        outcome = augment(name, encoded(picture()), boxes=(box,))
        assert outcome.boxes == (box,), name
        assert pixels(outcome).shape == (24, 32, 3), name


# --------------------------------------------------------------------------- boxes exact to the pixel


def boxed(width: int = 64, height: int = 48, box: tuple[int, int, int, int] = (10, 8, 30, 20)) -> bytes:
    """Black, with the box's pixels (xmin <= x < xmax, ymin <= y < ymax) white."""
    image = Image.new("RGB", (width, height))
    ImageDraw.Draw(image).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=(255, 255, 255))
    return encoded(image)


def white_extent(outcome: ProcessingOutcome) -> tuple[int, int, int, int]:
    """The box around the pixels brighter than half (edge coordinates)."""
    ys, xs = np.nonzero(pixels(outcome).mean(axis=2) > 127)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def box_edges(box: Box) -> tuple[float, float, float, float]:
    return box.xmin, box.ymin, box.xmax, box.ymax


BOX = Box("cat", 10, 8, 30, 20)

EXACT_CASES: list[tuple[str, dict[str, object], tuple[float, float, float, float], tuple[int, int]]] = [
    ("Flip", {"lr_ud": "lr"}, (34, 8, 54, 20), (64, 48)),
    ("Flip", {"lr_ud": "ud"}, (10, 28, 30, 40), (64, 48)),
    ("Padding", {"px_top": "3", "px_left": 5, "px_right": "0", "px_bottom": "7"}, (15, 11, 35, 23), (69, 58)),
    ("Resize", {"width": "128", "height": 96}, (20, 16, 60, 40), (128, 96)),
    ("Scale", {"scaleXY": "X", "scale_min": "2", "scale_max": "2"}, (20, 8, 60, 20), (128, 48)),
    ("Scale", {"scaleXY": "Y", "scale_min": "0.5", "scale_max": "0.5"}, (10, 4, 30, 10), (64, 24)),
    # Pillow's counter-clockwise 90 degrees about the centre (32, 24): (x, y) -> (y + 8, 56 - x).
    ("Rotate", {"angle_min": "90", "angle_max": "90"}, (16, 26, 28, 46), (64, 48)),
]


@pytest.mark.parametrize(("name", "params", "expected", "size"), EXACT_CASES, ids=[c[0] for c in EXACT_CASES])
def test_boxes_follow_the_pixels_exactly(
    name: str, params: dict[str, object], expected: tuple[float, float, float, float], size: tuple[int, int]
) -> None:
    outcome = augment(name, boxed(), params, boxes=(BOX,))
    assert outcome.result_property == ADDED
    assert decoded(outcome.data or b"").size == size
    assert len(outcome.boxes) == 1
    assert box_edges(outcome.boxes[0]) == expected
    assert white_extent(outcome) == expected


def test_crop_moves_boxes_with_the_cut() -> None:
    outcome = augment("Crop", boxed(), {"crop_percent_min": "0.1", "crop_percent_max": "0.15"}, boxes=(BOX,))
    left, top, right, bottom = (
        int(v) for v in outcome.description[0].split("cut ")[1].split(" px")[0].split(", ")
    )
    assert 6 <= left <= 9 and 4 <= top <= 7 and 6 <= right <= 9 and 4 <= bottom <= 7
    assert decoded(outcome.data or b"").size == (64 - left - right, 48 - top - bottom)
    assert box_edges(outcome.boxes[0]) == (10 - left, 8 - top, 30 - left, 20 - top)
    assert white_extent(outcome) == box_edges(outcome.boxes[0])


def test_translate_shifts_boxes_by_whole_pixels() -> None:
    for axis in ("X", "Y"):
        outcome = augment(
            "Translate", boxed(), {"translateXY": axis, "translate_percent": "0.1"}, boxes=(BOX,)
        )
        moved = box_edges(outcome.boxes[0])
        dx, dy = moved[0] - 10, moved[1] - 8
        assert (dy if axis == "X" else dx) == 0
        assert 0 < abs(dx if axis == "X" else dy) <= 6.4
        assert white_extent(outcome) == moved


@pytest.mark.parametrize(
    "params", [{"shearXY": "X"}, {"shearXY": "Y"}, {"shear_min": "20", "shear_max": "20"}]
)
def test_shear_box_encloses_the_sheared_object_within_a_pixel(params: dict[str, object]) -> None:
    outcome = augment("Shear", boxed(), params, boxes=(BOX,))
    extent = white_extent(outcome)
    box = box_edges(outcome.boxes[0])
    assert all(abs(a - b) <= 1 for a, b in zip(extent, box, strict=True)), (extent, box)


def test_rotate_box_encloses_the_rotated_object_within_a_pixel() -> None:
    outcome = augment("Rotate", boxed(), {"angle_min": "25", "angle_max": "35"}, boxes=(BOX,))
    assert outcome.result_property == ADDED
    extent = white_extent(outcome)
    box = box_edges(outcome.boxes[0])
    assert all(abs(a - b) <= 1 for a, b in zip(extent, box, strict=True)), (extent, box)


def test_rotate_makes_no_copy_when_a_box_would_leave_the_image() -> None:
    corner = Box("cat", 0, 0, 20, 12)
    outcome = augment(
        "Rotate", boxed(box=(0, 0, 20, 12)), {"angle_min": "45", "angle_max": "45"}, boxes=(corner,)
    )
    assert outcome.result_property == UNMODIFIED
    assert outcome.description[0].startswith("Rotate: no copy: box cat [")
    assert outcome.description[0].endswith("would leave the image")


def test_boxes_cut_by_a_crop_follow_the_validation_rules() -> None:
    boxes = (Box("in", 20, 10, 40, 30), Box("clip", 4, 10, 24, 30), Box("drop", 44, 10, 64, 30))
    params = {"crop_percent_min": "0.2", "crop_percent_max": "0.2"}  # 12 px left and right, 9 top and bottom
    outcome = augment("Crop", boxed(), params, boxes=boxes)
    assert decoded(outcome.data or b"").size == (40, 30)
    assert outcome.boxes == (Box("in", 8, 1, 28, 21), Box("clip", 0, 1, 12, 21))
    assert outcome.description[1:] == (
        "Crop: clipped box clip [-8, 1, 12, 21] to clip [0, 1, 12, 21]",
        "Crop: dropped box drop [32, 1, 52, 21]: 60% outside the image",
    )


# --------------------------------------------------------------------------- parameters


BAD_PARAMETERS: list[tuple[str, dict[str, object]]] = [
    ("AddNoise", {"noise_type": "Pink"}),
    ("AddNoise", {"scale": "-1"}),
    ("AddNoise", {"p": "1.5"}),
    ("AddNoise", {"lam": "lots"}),
    ("AddNoise", {"loc": "nan"}),
    ("Blur", {"blur_type": "Median"}),
    ("Blur", {"radius": "0"}),
    ("Crop", {"crop_percent_min": "0.3", "crop_percent_max": "0.1"}),
    ("Crop", {"crop_percent_max": "0.6"}),
    ("CutOut", {"cutout_percent": "2"}),
    ("Flip", {"lr_ud": "diagonal"}),
    ("Flip", {"flip_p": "-0.1"}),
    ("Grayscale", {"do_validation": "yes please"}),
    ("HistogramEqual", {"total_status": "[9]"}),
    ("LightArithmetic", {"brightness_delta": "300"}),
    ("LightContrast", {"func": "cubic"}),
    ("LightContrast", {"gamma": "0"}),
    ("MotionBlur", {"kernel_size": "2"}),
    ("Padding", {"px_top": "-1"}),
    ("Padding", {"px_left": "1.5"}),
    ("Resize", {"width": "0"}),
    ("Resize", {"height": "100000"}),
    ("Rotate", {"angle_min": "720"}),
    ("Saturation", {"do_validation": 2}),
    ("Scale", {"scaleXY": "Z"}),
    ("Scale", {"scale_min": "2", "scale_max": "1"}),
    ("Sharpen", {"total_status": "[3, x]"}),
    ("Shear", {"shear_min": "-89"}),
    ("Shear", {"shearXY": 1}),
    ("Translate", {"translateXY": "Z"}),
    ("Translate", {"translate_percent": "1.5"}),
    ("Weather", {"weather_mode": "Hail"}),
]


def test_bad_parameter_cases_cover_every_operator() -> None:
    assert {name for name, _ in BAD_PARAMETERS} == set(AUGMENTATIONS)


@pytest.mark.parametrize(
    ("name", "params"), BAD_PARAMETERS, ids=[f"{n}-{next(iter(p))}" for n, p in BAD_PARAMETERS]
)
def test_bad_parameters_are_refused(name: str, params: dict[str, object]) -> None:
    with pytest.raises(ProcessingParameterError) as caught:
        get_operator(name).parse_params(params)
    assert caught.value.error_code == "ModelArts.0104"
    assert next(iter(params)) in caught.value.message


def test_rotate_sorts_the_guides_inverted_default_bounds() -> None:
    params = get_operator("Rotate").parse_params({"angle_min": "90", "angle_max": "-90"})
    assert (params.angle_min, params.angle_max) == (-90.0, 90.0)  # type: ignore[attr-defined]


def test_the_guides_example_parameters_are_accepted() -> None:
    raw = {
        "task_type": "image_classification",
        "dataset_type": "manifest",
        "noise_type": "Gauss",
        "loc": "0",
        "scale": "1",
        "lam": "2",
        "p": "0.01",
        "total_status": "[3]",
        "filter_func": "data_augmentation",
        "do_validation": "True",
    }
    params = get_operator("AddNoise").parse_params(raw)
    assert params.total_status == (3,)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- sequences


def test_steps_run_in_sequence_after_validation() -> None:
    rgba = Image.new("RGBA", (32, 24), (200, 10, 10, 255))
    sample = ProcessingInput("s1", "red.png", encoded(rgba), ("red",), (), "x", True, 0)
    flip, blur = get_operator("Flip"), get_operator("Blur")
    steps = [Step(flip, flip.parse_params({})), Step(blur, blur.parse_params({}))]  # type: ignore[arg-type]
    result = run_sample_steps(sample, steps, "v1", validate=True)
    assert result.source.result_property == 1
    assert result.source.name == "red_checked.png"
    assert result.source_description == (("MetaValidation: converted RGBA to RGB",),)
    assert result.added is not None
    assert result.added.name == "red_checked_flip_blur.png"
    assert result.added.sample_id == added_sample_id("s1", "red_checked_flip_blur.png")
    assert result.added.labels == ("red",)
    assert [lines[0].split(":")[0] for lines in result.added_description] == [
        "MetaValidation",
        "Flip",
        "Blur",
    ]
    assert decoded(result.added.data or b"").mode == "RGB"


def test_a_deleted_input_gets_no_copy() -> None:
    sample = item(b"broken", "x.jpg")
    flip = get_operator("Flip")
    result = run_sample_steps(sample, [Step(flip, flip.parse_params({}))], "v1", validate=True)  # type: ignore[arg-type]
    assert result.source.result_property == DELETED
    assert result.added is None


def test_outputs_decode_as_their_extension_says() -> None:
    for name in AUGMENTATIONS:
        outcome = augment(name, encoded(picture(), "BMP"), file_name="a.bmp")
        assert Image.open(io.BytesIO(outcome.data or b"")).format == "BMP", name
