"""OBS ``image/resize`` semantics: parsing, geometry (hand-computed tables) and real rendering."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from labelarts.media.resize import (
    Geometry,
    ImageDecodeError,
    ProcessParameterError,
    ResizeSpec,
    decode_for_target,
    image_size,
    parse_process_parameter,
    resize_image,
    target_geometry,
)

ROOT = Path(__file__).resolve().parents[2]
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def spec(params: str) -> ResizeSpec:
    return parse_process_parameter(f"image/resize,{params}")


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def solid(size: tuple[int, int], color: tuple[int, ...] = BLUE, mode: str = "RGB") -> Image.Image:
    return Image.new(mode, size, color)


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def close_to(actual: object, expected: tuple[int, ...], tolerance: int = 24) -> bool:
    """JPEG is lossy: compare colours channel by channel within ``tolerance``."""
    assert isinstance(actual, tuple)
    return len(actual) == len(expected) and all(
        abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True)
    )


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_header(width: int, height: int) -> bytes:
    """A well-formed PNG start declaring ``width`` x ``height``, whose pixel data stops at once.

    The IDAT chunk holds one zlib-compressed empty row: enough for a header reader, nowhere
    near enough pixels, so anything that decodes must fail.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00"))


# -- geometry: hand-computed tables ------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    source: tuple[int, int]
    params: str
    canvas: tuple[int, int]
    scaled: tuple[int, int] | None = None  # None: same as canvas
    offset: tuple[int, int] = (0, 0)
    unchanged: bool = False


GEOMETRY_CASES = [
    # COMPATIBILITY.md section 2 item 9 (exact)
    Case((300, 400), "m_lfit,h_200", (150, 200)),
    Case((100, 100), "m_lfit,h_200", (100, 100), unchanged=True),
    Case((100, 100), "m_lfit,h_200,limit_0", (200, 200)),
    # lfit: largest proportional size inside w x h
    Case((600, 400), "m_lfit,w_500,h_300", (450, 300)),  # OSS/Baidu example
    Case((600, 400), "w_500,h_300", (450, 300)),  # lfit is the default
    Case((400, 600), "m_lfit,w_500,h_300", (200, 300)),
    Case((500, 500), "m_lfit,w_500,h_300", (300, 300)),
    Case((600, 400), "m_lfit,w_300", (300, 200)),
    Case((600, 400), "m_lfit,w_600,h_400", (600, 400), unchanged=True),
    Case((600, 401), "w_300", (300, 201)),  # 200.5 rounds half up
    Case((601, 400), "h_200", (301, 200)),  # 300.5 rounds half up
    Case((1000, 3), "w_100", (100, 1)),  # 0.3 px never rounds below 1
    Case((10, 10), "w_5", (5, 5)),
    Case((10, 10), "w_4096,h_4096", (10, 10), unchanged=True),
    Case((10, 10), "w_4096,h_4096,limit_0", (4096, 4096)),
    # mfit: smallest proportional size covering w x h
    Case((600, 400), "m_mfit,w_500,h_300", (500, 333)),  # OSS/Baidu example
    Case((400, 600), "m_mfit,w_500,h_300", (400, 600), unchanged=True),  # would be 500x750
    Case((400, 600), "m_mfit,w_500,h_300,limit_0", (500, 750)),
    Case((500, 500), "m_mfit,w_300,h_200", (300, 300)),
    Case((600, 400), "m_mfit,w_300,h_300", (450, 300)),
    Case((600, 400), "m_mfit,h_100", (150, 100)),
    # fill: mfit, then a centred crop (negative offsets); odd leftovers go right/bottom
    Case((600, 400), "m_fill,w_500,h_300", (500, 300), (500, 333), (0, -16)),
    Case((600, 400), "m_fill,w_300,h_300", (300, 300), (450, 300), (-75, 0)),
    Case((400, 600), "m_fill,w_300,h_300", (300, 300), (300, 450), (0, -75)),
    Case((500, 500), "m_fill,w_100,h_50", (100, 50), (100, 100), (0, -25)),
    Case((600, 400), "m_fill,w_500,h_500", (600, 400), unchanged=True),  # would scale to 750x500
    Case((600, 400), "m_fill,w_500,h_500,limit_0", (500, 500), (750, 500), (-125, 0)),
    Case((600, 400), "m_fill,w_300", (300, 200)),  # one side: nothing to crop
    # pad: lfit, then centred on the canvas (positive offsets)
    Case((600, 400), "m_pad,w_500,h_500", (500, 500), (500, 333), (0, 83)),
    Case((400, 600), "m_pad,w_300,h_300", (300, 300), (200, 300), (50, 0)),
    Case((500, 500), "m_pad,w_300,h_200", (300, 200), (200, 200), (50, 0)),
    Case((100, 100), "m_pad,w_100,h_200", (100, 200), (100, 100), (0, 50)),  # image not enlarged
    Case((100, 100), "m_pad,w_200,h_150", (100, 100), unchanged=True),  # image would be 150x150
    Case((100, 100), "m_pad,w_200,h_150,limit_0", (200, 150), (150, 150), (25, 0)),
    Case((600, 400), "m_pad,h_100", (150, 100)),  # one side: nothing to pad
    # fixed: exactly w x h; one side given: the other proportional
    Case((600, 400), "m_fixed,w_300,h_300", (300, 300)),
    Case((600, 400), "m_fixed,w_700,h_300", (600, 400), unchanged=True),
    Case((600, 400), "m_fixed,w_700,h_300,limit_0", (700, 300)),
    Case((600, 400), "m_fixed,w_300", (300, 200)),
    Case((400, 600), "m_fixed,h_300", (200, 300)),
    # l / s: the image's own long and short sides (width counts as long when square)
    Case((600, 400), "l_300", (300, 200)),
    Case((400, 600), "l_300", (200, 300)),
    Case((600, 400), "s_100", (150, 100)),
    Case((400, 600), "s_100", (100, 150)),
    Case((500, 500), "l_200", (200, 200)),
    Case((600, 400), "l_300,s_100", (150, 100)),  # box 300x100, lfit
    Case((400, 600), "l_300,s_100", (100, 150)),  # box turned: 100x300
    Case((600, 400), "m_fill,l_300,s_100", (300, 100), (300, 200), (0, -50)),
    Case((400, 600), "m_pad,l_300,s_300", (300, 300), (200, 300), (50, 0)),
    Case((600, 400), "l_1000", (600, 400), unchanged=True),
    Case((600, 400), "l_1200,limit_0", (1200, 800)),
    # w/h win over l/s
    Case((600, 400), "w_300,l_100", (300, 200)),
    Case((600, 400), "h_100,s_300", (150, 100)),
    # p: percent of the source, or of the requested box
    Case((600, 400), "p_50", (300, 200)),
    Case((601, 401), "p_50", (301, 201)),
    Case((10, 10), "p_1", (1, 1)),
    Case((600, 400), "p_100", (600, 400), unchanged=True),
    Case((600, 400), "p_200", (600, 400), unchanged=True),
    Case((600, 400), "p_200,limit_0", (1200, 800)),
    Case((600, 400), "w_500,h_300,p_50", (225, 150)),  # box 250x150
    Case((600, 400), "m_fixed,w_200,h_100,p_50", (100, 50)),
    Case((600, 400), "w_200,p_150", (300, 200)),  # box w=300
    Case((600, 400), "m_pad,w_200,h_200,p_50", (100, 100), (100, 67), (0, 16)),
    Case((600, 400), "l_200,p_50", (100, 67)),
    # colour changes nothing in the geometry
    Case((600, 400), "m_pad,w_500,h_500,color_FF0000", (500, 500), (500, 333), (0, 83)),
]


@pytest.mark.parametrize("case", GEOMETRY_CASES, ids=lambda c: f"{c.source[0]}x{c.source[1]}:{c.params}")
def test_target_geometry_table(case: Case) -> None:
    scaled = case.scaled or case.canvas
    assert target_geometry(*case.source, spec(case.params)) == Geometry(
        width=case.canvas[0],
        height=case.canvas[1],
        scaled_width=scaled[0],
        scaled_height=scaled[1],
        offset_x=case.offset[0],
        offset_y=case.offset[1],
        unchanged=case.unchanged,
    )


SOURCES = [(1, 1), (3, 1000), (1000, 3), (7, 5), (600, 400), (400, 600), (500, 500), (4000, 3000)]
SPECS = [
    f"m_{m},{size}{limit}"
    for m in ("lfit", "mfit", "fill", "pad", "fixed")
    for size in ("w_1", "h_333", "w_333,h_77", "w_4096,h_1", "l_250,s_90", "s_7", "p_37", "w_100,h_100,p_333")
    for limit in ("", ",limit_0")
]


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_geometry_invariants(source: tuple[int, int]) -> None:
    """Contracts that must hold for every mode, size and source, not just the hand-picked ones."""
    for params in SPECS:
        s = spec(params)
        try:
            g = target_geometry(*source, s)
        except ProcessParameterError:
            assert not s.limit, params  # only enlarging can go over the output limits
            continue
        assert min(g.width, g.height, g.scaled_width, g.scaled_height) >= 1, params
        if s.limit:
            assert g.scaled_width <= source[0] and g.scaled_height <= source[1], params
        if g.scaled_width >= g.width and g.scaled_height >= g.height:  # crop (or nothing)
            assert g.offset_x == -((g.scaled_width - g.width) // 2), params
            assert g.offset_y == -((g.scaled_height - g.height) // 2), params
        else:  # pad: the image fits inside the canvas
            assert s.mode == "pad", params
            assert g.scaled_width <= g.width and g.scaled_height <= g.height, params
            assert g.offset_x == (g.width - g.scaled_width) // 2, params
            assert g.offset_y == (g.height - g.scaled_height) // 2, params
        if s.mode in ("lfit", "mfit", "fixed"):
            assert g.size == g.scaled_size, params
        assert g.unchanged == (g.size == g.scaled_size == source), params


def test_geometry_refuses_huge_enlargement_but_not_big_sources() -> None:
    with pytest.raises(ProcessParameterError, match="over the limit"):
        target_geometry(4000, 4000, spec("p_1000,limit_0"))
    with pytest.raises(ProcessParameterError, match="over the limit"):
        target_geometry(100, 100, spec("m_pad,w_4096,h_1,p_1000"))  # image 10x10, canvas 40960x10
    # Shrinking a source that is itself over OBS's output limits is fine.
    assert target_geometry(10_000, 6_000, spec("p_90")).size == (9_000, 5_400)


@pytest.mark.parametrize("size", [(0, 10), (10, 0), (-1, 5)])
def test_geometry_rejects_empty_sources(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        target_geometry(*size, spec("w_10"))


# -- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("image/resize,m_lfit,h_200", ResizeSpec(mode="lfit", h=200)),
        ("image/resize,h_200", ResizeSpec(h=200)),
        ("  image/resize,w_1\n", ResizeSpec(w=1)),
        ("image/resize,w_4096,h_4096", ResizeSpec(w=4096, h=4096)),
        ("image/resize,p_1000", ResizeSpec(p=1000)),
        ("image/resize,p_1", ResizeSpec(p=1)),
        ("image/resize,l_300,s_100,m_mfit", ResizeSpec(mode="mfit", l=300, s=100)),
        ("image/resize,m_fixed,w_10,h_20,limit_0", ResizeSpec(mode="fixed", w=10, h=20, limit=False)),
        ("image/resize,m_fill,w_10,h_20,limit_1", ResizeSpec(mode="fill", w=10, h=20)),
        ("image/resize,m_pad,w_10,h_20,color_FF0000", ResizeSpec(mode="pad", w=10, h=20, color=RED)),
        ("image/resize,m_pad,w_10,color_00ff7f", ResizeSpec(mode="pad", w=10, color=(0, 255, 127))),
        ("image/resize,w_010", ResizeSpec(w=10)),
    ],
)
def test_parse_valid(text: str, expected: ResizeSpec) -> None:
    assert parse_process_parameter(text) == expected


BAD_PARAMETERS = [
    ("", "must start with 'image/'"),
    ("   ", "must start with 'image/'"),
    ("resize,w_100", "must start with 'image/'"),
    ("IMAGE/resize,w_100", "must start with 'image/'"),
    ("x-image-process=image/resize,w_100", "must start with 'image/'"),
    ("image%2Fresize%2Cw_100", "must start with 'image/'"),
    ("image/", "unsupported image action ''"),
    ("image/crop,w_100,h_100", "unsupported image action 'crop'"),
    ("image/Resize,w_100", "unsupported image action 'Resize'"),
    ("image/resize,w_100/rotate,90", "single image/resize action"),
    ("image/resize", "needs a size"),
    ("image/resize,m_lfit", "needs a size"),
    ("image/resize,limit_0,color_FF0000", "needs a size"),
    ("image/resize,", "malformed resize parameter ''"),
    ("image/resize,w_100,", "malformed resize parameter ''"),
    ("image/resize,w_100,,h_100", "malformed resize parameter ''"),
    ("image/resize,w100", "malformed resize parameter 'w100'"),
    ("image/resize,w_", "malformed resize parameter 'w_'"),
    ("image/resize,_100", "unknown resize parameter ''"),
    ("image/resize,q_90,w_100", "unknown resize parameter 'q'"),
    ("image/resize,W_100", "unknown resize parameter 'W'"),
    ("image/resize, w_100", "unknown resize parameter ' w'"),
    ("image/resize,w_100,w_200", "'w' is given more than once"),
    ("image/resize,m_pad,m_fill,w_1", "'m' is given more than once"),
    ("image/resize,w_0", "w must be between 1 and 4096, got 0"),
    ("image/resize,w_4097", "w must be between 1 and 4096, got 4097"),
    ("image/resize,h_99999999", "h must be between 1 and 4096, got 99999999"),
    ("image/resize,w_" + "9" * 240, "w must be between 1 and 4096"),
    ("image/resize,l_0", "l must be between 1 and 4096"),
    ("image/resize,s_5000", "s must be between 1 and 4096"),
    ("image/resize,p_0", "p must be between 1 and 1000"),
    ("image/resize,p_1001", "p must be between 1 and 1000"),
    ("image/resize,w_-1", "w must be a positive integer"),
    ("image/resize,w_+1", "w must be a positive integer"),
    ("image/resize,w_1.5", "w must be a positive integer"),
    ("image/resize,w_1e3", "w must be a positive integer"),
    ("image/resize,w_abc", "w must be a positive integer"),
    ("image/resize,w_ 100", "w must be a positive integer"),
    ("image/resize,w_\uff11\uff10\uff10", "w must be a positive integer"),  # full-width digits
    ("image/resize,w_\u00b2", "w must be a positive integer"),  # superscript two
    ("image/resize,m_LFIT,w_1", "unknown resize mode 'LFIT'"),
    ("image/resize,m_zoom,w_1", "unknown resize mode 'zoom'"),
    ("image/resize,m_,w_1", "malformed resize parameter 'm_'"),
    ("image/resize,limit_2,w_1", "limit must be 0 or 1"),
    ("image/resize,limit_true,w_1", "limit must be 0 or 1"),
    ("image/resize,color_FF00,w_1", "color must be six hex digits"),
    ("image/resize,color_GG0000,w_1", "color must be six hex digits"),
    ("image/resize,color_#FF0000,w_1", "color must be six hex digits"),
    ("image/resize,color_FF00000,w_1", "color must be six hex digits"),
    ("image/resize,w_100," + "h_1," * 70, "longer than 256 characters"),
]


@pytest.mark.parametrize(("text", "message"), BAD_PARAMETERS, ids=[repr(t[:40]) for t, _ in BAD_PARAMETERS])
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(ProcessParameterError) as info:
        parse_process_parameter(text)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"w": 0},
        {"h": 4097},
        {"p": 0},
        {"w": True},
        {"mode": "zoom", "w": 1},
        {"w": 1, "color": (256, 0, 0)},
        {"w": 1, "color": (1, 2)},
        {"w": 1, "limit": 1},
    ],
)
def test_spec_validates_on_construction(kwargs: dict[str, object]) -> None:
    with pytest.raises(ProcessParameterError):
        ResizeSpec(**kwargs)  # type: ignore[arg-type]


# -- cache keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("m_lfit,h_200", "h_200,m_lfit"),
        ("m_lfit,h_200", "h_200"),  # lfit and limit_1 are defaults
        ("h_200,limit_1", "h_200"),
        ("m_pad,w_10,h_20,color_ff0000", "color_FF0000,h_20,w_10,m_pad"),
        ("m_pad,w_10,h_20", "m_pad,w_10,h_20,color_FFFFFF"),
        ("w_10,l_500", "w_10"),  # l has no effect when w is given
        ("m_lfit,w_10,color_123456", "w_10"),  # colour only matters for pad
        ("p_50,s_20,l_30,m_fill,limit_0", "limit_0,m_fill,l_30,s_20,p_50"),
    ],
)
def test_cache_key_is_canonical(a: str, b: str) -> None:
    assert spec(a).cache_key() == spec(b).cache_key()


def test_cache_key_distinguishes_and_round_trips() -> None:
    variants = [
        "h_200",
        "w_200",
        "m_mfit,h_200",
        "h_200,limit_0",
        "l_200",
        "s_200",
        "p_50",
        "h_200,p_50",
        "m_pad,w_10,h_10",
        "m_pad,w_10,h_10,color_000000",
        "m_fill,w_10,h_10",
        "m_fixed,w_10,h_10",
    ]
    keys = [spec(v).cache_key() for v in variants]
    assert len(set(keys)) == len(keys)
    assert (
        spec("m_pad,h_20,w_10,color_ff0000").cache_key()
        == "v1:image/resize,m_pad,w_10,h_20,limit_1,color_FF0000"
    )
    for key in keys:
        version, _, canonical = key.partition(":")
        assert version == "v1"
        assert parse_process_parameter(canonical).cache_key() == key


# -- rendering real images ----------------------------------------------------------------------

LANDSCAPE_JPEG_PARAMS = [
    "m_lfit,h_200",
    "m_lfit,w_500,h_300",
    "m_mfit,w_500,h_300",
    "m_fill,w_300,h_300",
    "m_pad,w_300,h_300",
    "m_fixed,w_123,h_45",
    "l_250,s_100",
    "s_100",
    "p_10",
    "m_pad,w_999,h_999,limit_0",
    "m_fill,w_1,h_1",
]


@pytest.fixture(scope="module")
def landscape_jpeg() -> bytes:
    return encode(Image.effect_noise((1000, 800), 40).convert("RGB"), "JPEG", quality=90)


@pytest.mark.parametrize("params", LANDSCAPE_JPEG_PARAMS)
def test_render_jpeg_matches_geometry(landscape_jpeg: bytes, params: str) -> None:
    out, content_type = resize_image(landscape_jpeg, spec(params))
    assert content_type == "image/jpeg"
    img = decoded(out)
    assert img.format == "JPEG"
    assert img.size == target_geometry(1000, 800, spec(params)).size


def test_render_keeps_transparency_as_png() -> None:
    source = Image.new("RGBA", (400, 300), (*RED, 255))
    source.paste((0, 0, 0, 0), (0, 0, 200, 300))  # left half fully transparent
    out, content_type = resize_image(encode(source, "PNG"), spec("m_lfit,w_200"))
    assert content_type == "image/png"
    img = decoded(out)
    assert (img.format, img.mode, img.size) == ("PNG", "RGBA", (200, 150))
    assert img.getchannel("A").getpixel((10, 75)) == 0
    assert img.getpixel((190, 75)) == (*RED, 255)


def test_render_pads_transparent_png_with_opaque_colour() -> None:
    source = Image.new("RGBA", (400, 200), (0, 0, 0, 0))
    out, content_type = resize_image(encode(source, "PNG"), spec("m_pad,w_100,h_100,color_00FF00"))
    img = decoded(out)
    assert (content_type, img.size) == ("image/png", (100, 100))
    assert img.getpixel((50, 0)) == (*GREEN, 255)  # pad band above the 100x50 image
    assert img.getchannel("A").getpixel((50, 50)) == 0  # the image itself stays transparent


@pytest.mark.parametrize(("mode", "color"), [("RGBA", (*BLUE, 255)), ("LA", (90, 255)), ("P", 3)])
def test_render_opaque_alpha_or_palette_becomes_jpeg(mode: str, color: object) -> None:
    out, content_type = resize_image(encode(Image.new(mode, (80, 60), color), "PNG"), spec("w_40"))  # type: ignore[arg-type]
    assert content_type == "image/jpeg"
    assert decoded(out).size == (40, 30)


@pytest.mark.parametrize(
    ("params", "source_size", "pad_pixel", "image_pixel"),
    [
        ("m_pad,w_300,h_300,color_FF0000", (600, 400), (150, 5), (150, 150)),  # bands above/below
        ("m_pad,w_300,h_300,color_00FF00", (400, 600), (5, 150), (150, 150)),  # bands left/right
        ("m_pad,w_300,h_300", (600, 400), (0, 0), (150, 150)),  # default white
        ("m_pad,w_100,h_200,color_FF0000", (100, 100), (50, 10), (50, 100)),  # canvas > source
    ],
)
def test_pad_uses_requested_colour(
    params: str, source_size: tuple[int, int], pad_pixel: tuple[int, int], image_pixel: tuple[int, int]
) -> None:
    s = spec(params)
    out, _ = resize_image(encode(solid(source_size, BLUE), "JPEG"), s)
    img = decoded(out)
    assert img.size == target_geometry(*source_size, s).size
    assert close_to(img.getpixel(pad_pixel), s.color)
    assert close_to(img.getpixel(image_pixel), BLUE)
    assert close_to(img.getpixel((img.width - 1, img.height - 1)), s.color)


@pytest.mark.parametrize(
    ("source_size", "centre_box", "params"),
    [
        ((600, 200), (200, 0, 400, 200), "m_fill,w_200,h_200"),
        ((200, 600), (0, 200, 200, 400), "m_fill,w_200,h_200"),
        ((600, 200), (200, 0, 400, 200), "m_fill,w_100,h_100"),
    ],
)
def test_fill_crops_the_centre(
    source_size: tuple[int, int], centre_box: tuple[int, int, int, int], params: str
) -> None:
    source = solid(source_size, RED)  # red edges...
    source.paste(GREEN, centre_box)  # ...a green middle third, exactly what fill must keep
    out, _ = resize_image(encode(source, "PNG"), spec(params))
    img = decoded(out).convert("RGB")
    assert img.size == target_geometry(*source_size, spec(params)).size
    corners = [(1, 1), (img.width - 2, 1), (1, img.height - 2), (img.width - 2, img.height - 2)]
    for xy in [*corners, (img.width // 2, img.height // 2)]:
        assert close_to(img.getpixel(xy), GREEN, tolerance=40), xy


def test_fixed_ignores_aspect_ratio() -> None:
    out, _ = resize_image(encode(solid((600, 400)), "PNG"), spec("m_fixed,w_50,h_300"))
    assert decoded(out).size == (50, 300)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_unchanged_returns_source_bytes(fmt: str) -> None:
    data = encode(solid((100, 100)), fmt)
    out, content_type = resize_image(data, spec("m_lfit,h_200"))
    assert out == data
    assert content_type == f"image/{fmt.lower()}"
    enlarged, _ = resize_image(data, spec("m_lfit,h_200,limit_0"))
    assert decoded(enlarged).size == (200, 200)


@pytest.mark.parametrize(
    ("fmt", "expected_type"), [("GIF", "image/jpeg"), ("BMP", "image/jpeg"), ("WEBP", "image/jpeg")]
)
def test_other_formats_are_re_encoded(fmt: str, expected_type: str) -> None:
    out, content_type = resize_image(encode(solid((100, 100)), fmt), spec("h_200"))  # unchanged size
    assert content_type == expected_type
    assert decoded(out).size == (100, 100)


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    out, _ = resize_image(encode(Image.new("I;16", (50, 40), 40_000), "PNG"), spec("w_20"))
    assert close_to(decoded(out).getpixel((10, 8)), (155, 155, 155), tolerance=3)


def rotated_jpeg(orientation: int) -> bytes:
    """Stored 400x300, left half red, right half blue, with an EXIF orientation tag."""
    raw = solid((400, 300), RED)
    raw.paste(BLUE, (200, 0, 400, 300))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(raw, "JPEG", exif=exif.tobytes())


def test_exif_orientation_is_applied() -> None:
    data = rotated_jpeg(6)  # displayed turned 90 degrees clockwise: 300x400, red on top
    assert image_size(data) == (300, 400)
    out, _ = resize_image(data, spec("m_lfit,h_200"))
    img = decoded(out)
    assert img.size == (150, 200)
    assert close_to(img.getpixel((75, 10)), RED)
    assert close_to(img.getpixel((75, 190)), BLUE)
    assert "exif" not in img.info  # nothing left for a viewer to rotate twice


def test_exif_orientation_applies_even_when_size_is_unchanged() -> None:
    out, content_type = resize_image(rotated_jpeg(6), spec("h_4000"))
    assert content_type == "image/jpeg"
    assert decoded(out).size == (300, 400)


# -- JPEG draft mode --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    return encode(solid((1600, 1200)), "JPEG")


@pytest.mark.parametrize(
    ("target", "decoded_size"),
    [
        ((200, 150), (200, 150)),  # 1/8 scale
        ((267, 200), (400, 300)),  # 1/4: 1/8 would be smaller than the target
        ((400, 300), (400, 300)),
        ((401, 300), (800, 600)),  # 1/2
        ((1000, 10), (1600, 1200)),  # full size needed for the width
        (None, (1600, 1200)),
    ],
)
def test_decode_for_target_uses_jpeg_draft(
    big_jpeg: bytes, target: tuple[int, int] | None, decoded_size: tuple[int, int]
) -> None:
    img = decode_for_target(big_jpeg, target)
    assert img.size == decoded_size
    assert img.mode == "RGB"


def test_decode_for_target_draft_follows_orientation() -> None:
    raw = encode(solid((1600, 1200)), "JPEG", exif=_orientation_exif(6))
    assert decode_for_target(raw, (150, 200)).size == (150, 200)  # displayed 1200x1600, 1/8 scale


def test_decode_for_target_png_is_full_size() -> None:
    assert decode_for_target(encode(solid((800, 600)), "PNG"), (100, 75)).size == (800, 600)


# VmHWM (peak RSS, KiB) belongs to the process's own address space; ru_maxrss would also
# count the pytest process that forked it.
RSS_PROBE = """
import re, sys
from pathlib import Path
from labelarts.media.resize import decode_for_target, parse_process_parameter, resize_image
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1])
data = Path(sys.argv[1]).read_bytes()
before = peak()
if sys.argv[2] == "full":
    decode_for_target(data)
else:
    resize_image(data, parse_process_parameter(sys.argv[2]))
print(peak() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc for peak RSS")
def test_resize_image_decodes_jpeg_in_draft_mode(tmp_path: Path) -> None:
    """Peak memory proves the draft: a full decode of 4000x3000 needs ~48 MB of pixels.

    ``h_200`` lets libjpeg decode at 1/4 scale (1000x750, ~3 MB). Peak RSS is deterministic
    where timings are not, and no full-size decode can stay under the bound. Each probe runs
    in a fresh interpreter so earlier tests' peaks do not hide it.
    """
    path = tmp_path / "big.jpg"
    solid((4000, 3000)).save(path, "JPEG")

    def extra_peak_mib(arg: str) -> float:
        cmd = [sys.executable, "-c", RSS_PROBE, str(path), arg]
        result = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        return int(result.stdout) / 1024

    assert extra_peak_mib("full") > 40  # the probe does see a full decode
    assert extra_peak_mib("image/resize,m_lfit,h_200") < 24


def _orientation_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


# -- bad input ---------------------------------------------------------------------------------


def _corrupt_png() -> bytes:
    data = bytearray(encode(Image.effect_noise((300, 200), 50).convert("RGB"), "PNG"))
    start = data.find(b"IDAT") + 50
    data[start : start + 30] = bytes(b ^ 0xFF for b in data[start : start + 30])
    return bytes(data)


def _noisy_jpeg() -> bytes:
    return encode(Image.effect_noise((300, 200), 50).convert("RGB"), "JPEG")


BAD_IMAGES = {
    "zero bytes": b"",
    "text": b"hello, this is a text file\n" * 10,
    "html": b"<!doctype html><html><body>not an image</body></html>",
    "jpeg magic only": b"\xff\xd8\xff",
    "truncated jpeg": _noisy_jpeg()[:3000],
    "jpeg cut in header": _noisy_jpeg()[:200],
    "truncated png": encode(Image.effect_noise((300, 200), 50).convert("RGB"), "PNG")[:5000],
    "png header, no pixels": png_header(10, 10),
    "corrupt png": _corrupt_png(),
    "png declaring 0 width": png_header(0, 10),
    "tiff is not accepted": encode(solid((10, 10)), "TIFF"),
    "pdf-ish": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
    "bomb 100000x100000": png_header(100_000, 100_000),  # over Pillow's own hard limit
    "bomb 10000x10000": png_header(10_000, 10_000),  # Pillow would only warn
    "bomb 8000x8000": png_header(8_000, 8_000),  # under Pillow's limits, over ours
}


@pytest.mark.parametrize("data", BAD_IMAGES.values(), ids=BAD_IMAGES.keys())
def test_bad_images_raise_decode_error(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        resize_image(data, spec("w_100"))
    with pytest.raises(ImageDecodeError):
        decode_for_target(data, (100, 100))


@pytest.mark.parametrize(
    "name",
    [
        "zero bytes",
        "text",
        "tiff is not accepted",
        "bomb 100000x100000",
        "bomb 10000x10000",
        "bomb 8000x8000",
    ],
)
def test_image_size_rejects_what_it_can_see_in_the_header(name: str) -> None:
    with pytest.raises(ImageDecodeError):
        image_size(BAD_IMAGES[name])


def test_image_size_reads_the_header_only() -> None:
    assert image_size(png_header(640, 480)) == (640, 480)  # no pixel data at all
    assert image_size(encode(solid((123, 45)), "JPEG")) == (123, 45)


def test_bomb_error_names_the_problem() -> None:
    with pytest.raises(ImageDecodeError, match="more than the limit of 50000000 pixels"):
        resize_image(png_header(8_000, 8_000), spec("w_100"))


def test_max_pixels_is_checked_before_decoding() -> None:
    data = encode(solid((100, 100)), "PNG")
    with pytest.raises(ImageDecodeError, match="more than the limit of 9999 pixels"):
        resize_image(data, spec("w_10"), max_pixels=9_999)
    with pytest.raises(ImageDecodeError):
        image_size(data, max_pixels=9_999)
    assert decoded(resize_image(data, spec("w_10"), max_pixels=10_000)[0]).size == (10, 10)
    # A declared size over the cap is refused even though the pixel data is missing: the
    # check cannot have needed the pixels.
    with pytest.raises(ImageDecodeError, match="more than the limit"):
        resize_image(png_header(200, 200), spec("w_10"), max_pixels=10_000)


def test_geometry_limit_surfaces_as_parameter_error() -> None:
    with pytest.raises(ProcessParameterError):
        resize_image(encode(solid((2000, 2000)), "JPEG"), spec("p_1000,limit_0"))


@pytest.mark.parametrize("quality", [0, 101])
def test_quality_is_validated(quality: int) -> None:
    with pytest.raises(ValueError, match="quality"):
        resize_image(encode(solid((10, 10)), "PNG"), spec("w_5"), quality=quality)


def test_quality_changes_jpeg_size(landscape_jpeg: bytes) -> None:
    low, _ = resize_image(landscape_jpeg, spec("w_400"), quality=20)
    high, _ = resize_image(landscape_jpeg, spec("w_400"), quality=95)
    assert len(low) < len(high)
