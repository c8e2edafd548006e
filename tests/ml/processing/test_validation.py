"""MetaValidation on a corpus of broken and unusual files, each with its expected outcome."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

import numpy as np
import pytest
from PIL import Image

from labelarts.ml.processing import (
    DELETED,
    MODIFIED,
    UNMODIFIED,
    Box,
    ProcessingOutcome,
    ProcessingParameterError,
    get_operator,
    rng_for,
)
from tests.ml.processing.helpers import decoded, encoded, gradient, item

VALIDATION = get_operator("MetaValidation")


def run(
    data: bytes, name: str, params: Mapping[str, object] | None = None, **kwargs: object
) -> ProcessingOutcome:
    parsed = VALIDATION.parse_params(params or {})
    sample = item(data, name, **kwargs)  # type: ignore[arg-type]
    return VALIDATION.process(sample, parsed, rng_for("v", sample.sample_id))  # type: ignore[attr-defined]


def _png_with_size(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` (a decompression bomb's header)."""
    data = bytearray(encoded(Image.new("RGB", (8, 8))))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _truncated_jpeg() -> bytes:
    data = encoded(gradient(64, 48), "JPEG")
    return data[: len(data) * 3 // 4]


def test_a_clean_jpeg_is_kept_unmodified() -> None:
    outcome = run(encoded(gradient(), "JPEG"), "cat.jpg")
    assert outcome == ProcessingOutcome("s1", UNMODIFIED, ("MetaValidation: ok",))


def test_a_jpeg_extension_spelled_jpeg_is_fine() -> None:
    assert run(encoded(gradient(), "JPEG"), "cat.JPEG").result_property == UNMODIFIED


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_truncated_jpeg(), "cannot be decoded"),
        (b"", "empty"),
        (b"just some text, not an image", "not an image"),
        (_png_with_size(12_000, 12_000), "more than the limit of 100000000 pixels"),
    ],
    ids=["truncated-jpeg", "empty", "text", "decompression-bomb"],
)
def test_undecodable_files_are_deleted_with_the_reason(data: bytes, expected: str) -> None:
    outcome = run(data, "broken.jpg")
    assert outcome.result_property == DELETED
    assert outcome.data is None and outcome.name is None
    assert len(outcome.description) == 1
    assert outcome.description[0].startswith("MetaValidation: deleted: ")
    assert expected in outcome.description[0]


def test_cmyk_jpeg_is_converted_to_rgb_keeping_colours() -> None:
    rgb = gradient(40, 30)
    outcome = run(encoded(rgb.convert("CMYK"), "JPEG", quality=95), "cmyk.jpg")
    assert outcome.result_property == MODIFIED
    assert outcome.description == ("MetaValidation: converted CMYK to RGB",)
    assert outcome.name == "cmyk_checked.jpg"
    assert outcome.data is not None
    out = decoded(outcome.data)
    assert (out.format, out.mode, out.size) == ("JPEG", "RGB", (40, 30))
    diff = np.abs(np.asarray(out, dtype=np.int16) - np.asarray(rgb, dtype=np.int16))
    assert diff.mean() < 6


def test_16_bit_png_is_scaled_to_8_bits_not_clipped() -> None:
    values = np.array([[0, 257 * 128, 65535, 65535]] * 3, dtype=np.uint16)
    outcome = run(encoded(Image.fromarray(values)), "depth.png")
    assert outcome.result_property == MODIFIED
    assert outcome.description[0].startswith("MetaValidation: converted I")
    assert outcome.data is not None
    out = decoded(outcome.data)
    assert (out.format, out.mode) == ("PNG", "RGB")
    assert np.asarray(out)[0, :, 0].tolist() == [0, 128, 255, 255]


def test_transparent_png_is_flattened_onto_white() -> None:
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 255))
    image.putpixel((0, 0), (0, 0, 0, 0))
    outcome = run(encoded(image), "logo.png")
    assert outcome.description == ("MetaValidation: converted RGBA to RGB",)
    assert outcome.data is not None
    out = np.asarray(decoded(outcome.data))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[1, 1].tolist() == [255, 0, 0]


def test_wrong_extension_is_renamed_and_the_bytes_are_kept() -> None:
    data = encoded(gradient())
    outcome = run(data, "photo.jpg")
    assert outcome.result_property == MODIFIED
    assert outcome.description == ("MetaValidation: renamed: the file is PNG, not .jpg",)
    assert outcome.name == "photo_checked.png"
    assert outcome.data == data


def test_other_formats_become_jpeg() -> None:
    outcome = run(encoded(gradient(), "WEBP", lossless=True), "pic.webp")
    assert outcome.result_property == MODIFIED
    assert outcome.description == ("MetaValidation: converted WEBP to JPEG",)
    assert outcome.name == "pic_checked.jpg"
    assert outcome.data is not None
    assert decoded(outcome.data).format == "JPEG"


def test_exif_orientation_is_applied_to_pixels_and_boxes_stay_in_the_displayed_frame() -> None:
    stored = gradient(40, 20)  # displayed as 20 wide, 40 tall (orientation 6: rotate 90 clockwise)
    exif = Image.Exif()
    exif[0x0112] = 6
    box = Box("cat", 2, 5, 18, 35)
    outcome = run(encoded(stored, "JPEG", quality=95, exif=exif.tobytes()), "phone.jpg", boxes=(box,))
    assert outcome.description == ("MetaValidation: applied EXIF orientation 6",)
    assert outcome.data is not None
    out = decoded(outcome.data)
    assert out.size == (20, 40)
    assert out.getexif().get(0x0112, 1) == 1
    assert outcome.boxes == (box,)


def test_an_image_over_the_limits_is_scaled_down_with_its_boxes() -> None:
    boxes = (Box("dog", 40, 30, 200, 150), Box("cat", 0, 0, 400, 300))
    outcome = run(
        encoded(gradient(400, 300), "JPEG"),
        "big.jpg",
        {"image_max_width": "200", "image_max_height": "1000"},
        boxes=boxes,
    )
    assert outcome.result_property == MODIFIED
    assert outcome.description == ("MetaValidation: resized 400x300 -> 200x150",)
    assert outcome.data is not None
    assert decoded(outcome.data).size == (200, 150)
    assert outcome.boxes == (Box("dog", 20, 15, 100, 75), Box("cat", 0, 0, 200, 150))


def test_limits_never_enlarge_and_minus_one_means_no_limit() -> None:
    data = encoded(gradient(40, 30), "JPEG")
    assert run(data, "a.jpg", {"image_max_width": "100", "image_max_height": -1}).result_property == 0
    assert run(data, "a.jpg", {"image_max_width": -1, "image_max_height": "15"}).description == (
        "MetaValidation: resized 40x30 -> 20x15",
    )


def test_out_of_frame_and_degenerate_boxes_follow_the_guide() -> None:
    boxes = (
        Box("inside", 2, 2, 20, 20),
        Box("partly-out", -6, 4, 14, 14),  # 30% outside: clipped
        Box("mostly-out", 24, 10, 44, 20),  # 60% outside: dropped
        Box("inverted", 10, 10, 5, 20),
        Box("sliver", 5, 5, 6.5, 20),  # 1.5 px wide
    )
    outcome = run(encoded(gradient(32, 24)), "boxes.png", boxes=boxes)
    assert outcome.result_property == MODIFIED
    assert outcome.name == "boxes_checked.png"
    assert outcome.boxes == (Box("inside", 2, 2, 20, 20), Box("partly-out", 0, 4, 14, 14))
    assert outcome.description == (
        "MetaValidation: clipped box partly-out [-6, 4, 14, 14] to partly-out [0, 4, 14, 14]",
        "MetaValidation: dropped box mostly-out [24, 10, 44, 20]: 60% outside the image",
        "MetaValidation: dropped box inverted [10, 10, 5, 20]: min exceeds max",
        "MetaValidation: dropped box sliver [5, 5, 6.5, 20]: narrower or shorter than 2 px",
    )


def test_an_image_left_without_boxes_stays_unlabeled() -> None:
    outcome = run(encoded(gradient(32, 24)), "empty.png", boxes=(Box("gone", 100, 100, 120, 120),))
    assert outcome.result_property == MODIFIED
    assert outcome.boxes == ()
    assert outcome.description[-1] == "MetaValidation: no boxes left; kept unlabeled"


def test_labels_are_carried_over() -> None:
    outcome = run(encoded(gradient()), "x.jpg", labels=("cat",))
    assert outcome.labels == ("cat",)


@pytest.mark.parametrize(
    ("params", "code", "fragment"),
    [
        ({"image_max_width": "abc"}, "ModelArts.0104", "image_max_width"),
        ({"image_max_width": "0"}, "ModelArts.0104", "image_max_width"),
        ({"image_max_height": True}, "ModelArts.0104", "image_max_height"),
        ({"image_max_height": "12.5"}, "ModelArts.0104", "image_max_height"),
        ({"image_max_height": [1]}, "ModelArts.0104", "image_max_height"),
        ({"do_validation": "maybe"}, "ModelArts.0104", "do_validation"),
        ({"total_status": "[0,5]"}, "ModelArts.0104", "total_status"),
        ({"total_status": "zero"}, "ModelArts.0104", "total_status"),
        ({"task_type": "image_segmentation"}, "ModelArts.4399", "task_type"),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, object], code: str, fragment: str) -> None:
    with pytest.raises(ProcessingParameterError) as caught:
        VALIDATION.parse_params(params)
    assert caught.value.error_code == code
    assert fragment in caught.value.message


def test_parameters_arrive_as_strings_or_typed_values() -> None:
    raw = {
        "task_type": "image_classification",
        "dataset_type": "manifest",
        "source_service": "select",
        "filter_func": "data_validation_select",
        "image_max_width": "1920",
        "image_max_height": 1080,
        "total_status": "[0,1,2]",
        "do_validation": "False",
    }
    params = VALIDATION.parse_params(raw)
    assert params == VALIDATION.parse_params(
        {**raw, "image_max_width": 1920, "total_status": [2, 1, 0], "do_validation": False}
    )
    assert params.image_max_width == 1920  # type: ignore[attr-defined]
    assert params.image_max_height == 1080  # type: ignore[attr-defined]
    assert params.total_status == (0, 1, 2)  # type: ignore[attr-defined]
    assert params.do_validation is False  # type: ignore[attr-defined]
    assert VALIDATION.parse_params({"image_max_width": ""}).image_max_width == -1  # type: ignore[attr-defined]
