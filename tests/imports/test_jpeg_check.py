"""The import's check of a plain JPEG by libjpeg-turbo alone (sniff._inspect_plain_jpeg) judges
every file as Pillow's check does: the same size and depth for a whole image, the same refusal
and reason for a truncated or corrupt one, and Pillow's path for what it does not take on."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from labelarts.services.importing.sniff import (
    ImageInfo,
    Rejected,
    _inspect_plain_jpeg,
    inspect_image,
    inspect_image_with_pillow,
)


def encode(mode: str, size: tuple[int, int], seed: int, **options: object) -> bytes:
    rng = random.Random(seed)
    bands = len(Image.new(mode, (1, 1)).getbands())
    pixels = bytes(rng.randrange(256) for _ in range(size[0] * size[1] * bands))
    buffer = io.BytesIO()
    Image.frombytes(mode, size, pixels).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def with_orientation(data: bytes, orientation: int) -> bytes:
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


PLAIN = {
    "colour 64x64": encode("RGB", (64, 64), 1, quality=85),
    "colour 1x1": encode("RGB", (1, 1), 2),
    "colour 7x13, 4:4:4": encode("RGB", (7, 13), 3, subsampling=0),
    "grey 33x17": encode("L", (33, 17), 4),
    "progressive": encode("RGB", (48, 40), 5, progressive=True),
    "optimized, with a comment": encode("RGB", (40, 48), 6, optimize=True, comment=b"hello"),
    "restart markers": encode("RGB", (64, 64), 7, restart_marker_blocks=2),
    "ICC profile (APP2)": encode("RGB", (16, 16), 8, icc_profile=b"\0" * 200),
}
NOT_PLAIN = {
    "EXIF orientation 6": with_orientation(PLAIN["colour 7x13, 4:4:4"], 6),
    "EXIF orientation 1": with_orientation(PLAIN["grey 33x17"], 1),
    "CMYK": encode("CMYK", (16, 16), 9),
    "not a JPEG": b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
}


def outcome(check: object, data: bytes) -> ImageInfo | str:
    try:
        return check(data)  # type: ignore[operator, no-any-return]
    except Rejected as exc:
        return exc.reason.split(":")[0]  # the reason's kind, not libjpeg's wording after it


@pytest.mark.parametrize("name", list(PLAIN))
def test_a_plain_jpeg_is_checked_by_libjpeg_alone_with_pillows_answer(name: str) -> None:
    data = PLAIN[name]
    assert _inspect_plain_jpeg(data) is not None
    assert inspect_image(data) == inspect_image_with_pillow(data)


@pytest.mark.parametrize("name", list(NOT_PLAIN))
def test_what_may_be_turned_or_is_not_grey_or_colour_goes_to_pillow(name: str) -> None:
    data = NOT_PLAIN[name]
    assert _inspect_plain_jpeg(data) is None
    assert outcome(inspect_image, data) == outcome(inspect_image_with_pillow, data)


def test_an_exif_turned_jpeg_keeps_its_displayed_size() -> None:
    info = inspect_image(NOT_PLAIN["EXIF orientation 6"])
    assert (info.width, info.height) == (13, 7)


@pytest.mark.parametrize("name", list(PLAIN))
def test_truncated_and_corrupted_jpegs_are_judged_as_pillow_judges_them(name: str) -> None:
    data = PLAIN[name]
    rng = random.Random(name)
    variants = [data[:cut] for cut in sorted(rng.sample(range(2, len(data)), min(40, len(data) - 2)))]
    for _ in range(60):  # a few bytes overwritten anywhere after the start marker
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(2, len(data))] = rng.randrange(256)
        variants.append(bytes(damaged))
    refused = 0
    for variant in variants:
        fast, pillow = outcome(inspect_image, variant), outcome(inspect_image_with_pillow, variant)
        assert fast == pillow, (len(variant), fast, pillow)
        refused += isinstance(fast, str)
    assert refused >= len(variants) // 4  # the damage was seen, not only survived
