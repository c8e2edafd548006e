"""The 19 augmentation operators (``sys_data_augmentation``), boxes moved with the pixels.

Each input gives one new sample (3): the input decoded upright in RGB, transformed, encoded in
its own format (JPEG quality 95, PNG or BMP; other formats become JPEG), named
``{stem}_{operator}{ext}`` (``cat_flip.jpg``), labels copied. Randomness comes only from the
generator passed in (:func:`labelarts.ml.processing.rng_for`), so a rerun of a version
reproduces every image.

Geometric operators (Crop, Flip, Padding, Resize, Rotate, Scale, Shear, Translate) map each
box's four corners with the same transform as the pixels (continuous coordinates, pixel
centres at +0.5, as Pillow's affine transforms use), take the axis-aligned box around them, and
apply the validation box rules (dropped when more than half outside, else clipped; dropped
under 2 px). Rotate follows the guide instead: when a box would leave the frame, no copy is
made. Flip with ``flip_p`` below 1 makes no copy when the draw says "no flip" (a copy equal to
the original would be a duplicate). An input that makes no copy answers unmodified (0), with
the reason; one that does not decode answers deleted (2), as validation would.

Amounts the guide leaves open (processing.md §3.4, §7.8), each overridable by a LabelArts
extra parameter: Blur radius 2 px per 224 px of the longer side (``radius``); CutOut a black
box of 10-30 % of each side (``cutout_percent``); LightArithmetic adds U(-40, 40)
(``brightness_delta``); LightContrast gamma U(0.5, 2) (``gamma``), sigmoid gain 10 and
cutoff 0.5 (``gain``, ``cutoff``), log gain U(0.6, 1.4) (``gain``), linear alpha U(0.6, 1.4)
(``alpha``); MotionBlur a 7-15 px line at a random angle (``kernel_size``); Translate U(±20 %)
of the side (``translate_percent``). AddNoise ``scale`` 1 (the guide's default) is nearly
invisible on 0-255 pixels; it is kept as documented.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageOps
from scipy import signal

from labelarts.ml import augment
from labelarts.ml.processing import images
from labelarts.ml.processing.base import (
    ADDED,
    DELETED,
    UNMODIFIED,
    Box,
    ProcessingInput,
    ProcessingOutcome,
    ProcessingParameterError,
)
from labelarts.ml.processing.params import (
    BAD_VALUE,
    CommonParams,
    common_fields,
    parse_choice,
    parse_float,
    parse_int,
)

__all__ = ["AUGMENTATION_OPERATORS", "Augmentation"]

PointMap = Callable[[NDArray[np.float64]], NDArray[np.float64]]
"""Input (x, y) rows -> output (x, y) rows, continuous pixel coordinates."""
_REFERENCE_SIDE = 224.0
MAX_SIDE = 16_384


@dataclass(frozen=True, kw_only=True)
class AugmentParams(CommonParams):
    """Parameters of an operator with nothing of its own besides the common ones."""


@dataclass
class Applied:
    """The transformed image, what was done, and how points moved (geometric operators)."""

    image: Image.Image
    text: str
    points: PointMap | None = None
    drop_when_box_leaves: bool = False


@dataclass
class Skipped:
    """No copy made, and why."""

    reason: str


class Augmentation:
    """Base of the augmentation operators: decoding, boxes, encoding and naming."""

    name = ""
    kind: Literal["sample"] = "sample"

    def parse_params(self, raw: Mapping[str, object]) -> object:
        return AugmentParams(**common_fields(raw))

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied | Skipped:
        raise NotImplementedError

    def process(self, item: ProcessingInput, params: object, rng: np.random.Generator) -> ProcessingOutcome:
        try:
            decoded = images.decode(item.data)
        except images.ImageDecodeError as exc:
            return ProcessingOutcome(item.sample_id, DELETED, (f"{self.name}: deleted: {exc}",))
        image = images.to_rgb(images.oriented(decoded))
        result = self.apply(image, params, rng)
        if isinstance(result, Skipped):
            return ProcessingOutcome(item.sample_id, UNMODIFIED, (f"{self.name}: no copy: {result.reason}",))
        lines = [f"{self.name}: {result.text}"]
        boxes = item.boxes
        if result.points is not None and boxes:
            moved = tuple(_move_box(box, result.points) for box in boxes)
            width, height = result.image.size
            if result.drop_when_box_leaves:
                leaving = [b for b in moved if b.xmin < 0 or b.ymin < 0 or b.xmax > width or b.ymax > height]
                if leaving:
                    return ProcessingOutcome(
                        item.sample_id,
                        UNMODIFIED,
                        (f"{self.name}: no copy: box {images.box_text(leaving[0])} would leave the image",),
                    )
            boxes, box_lines = images.apply_box_rules(moved, width, height)
            lines.extend(f"{self.name}: {line}" for line in box_lines)
            if not boxes:
                lines.append(f"{self.name}: no boxes left; kept unlabeled")
        fmt = images.output_format(decoded.format)
        ext = (
            images.extension_for(fmt) if not images.extension_matches(item.name, fmt) else _suffix(item.name)
        )
        new_name = images.suffixed_name(item.name, f"_{self.name.lower()}", ext)
        return ProcessingOutcome(
            images.added_sample_id(item.sample_id, new_name),
            ADDED,
            tuple(lines),
            name=new_name,
            data=images.encode(result.image, fmt),
            labels=item.labels,
            boxes=boxes,
        )


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot > name.rfind("/") and dot != -1 else ""


def _move_box(box: Box, points: PointMap) -> Box:
    corners = np.array(
        [[box.xmin, box.ymin], [box.xmax, box.ymin], [box.xmin, box.ymax], [box.xmax, box.ymax]],
        dtype=np.float64,
    )
    moved = points(corners)
    # Round away float noise (1e-12) so exact transforms give exact boxes.
    low = np.round(moved.min(axis=0), 6)
    high = np.round(moved.max(axis=0), 6)
    return replace(box, xmin=float(low[0]), ymin=float(low[1]), xmax=float(high[0]), ymax=float(high[1]))


def _from_array(array: NDArray[Any]) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))


def _scaled(value: float, image: Image.Image) -> float:
    return value * max(image.size) / _REFERENCE_SIDE


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _range(
    raw: Mapping[str, object],
    low_key: str,
    high_key: str,
    defaults: tuple[float, float],
    *,
    low: float,
    high: float,
) -> tuple[float, float]:
    first = parse_float(raw, low_key, defaults[0], low=low, high=high)
    second = parse_float(raw, high_key, defaults[1], low=low, high=high)
    if first > second:
        raise ProcessingParameterError(
            BAD_VALUE,
            f"Invalid parameters {low_key} {first:g} and {high_key} {second:g}: "
            "the minimum exceeds the maximum.",
        )
    return first, second


# --------------------------------------------------------------------------- photometric


@dataclass(frozen=True, kw_only=True)
class AddNoiseParams(CommonParams):
    noise_type: str = "Gauss"
    loc: float = 0.0
    scale: float = 1.0
    lam: float = 2.0
    p: float = 0.01


class AddNoise(Augmentation):
    name = "AddNoise"

    def parse_params(self, raw: Mapping[str, object]) -> AddNoiseParams:
        return AddNoiseParams(
            **common_fields(raw),
            noise_type=parse_choice(
                raw, "noise_type", "Gauss", ("Gauss", "Laplace", "Poisson", "Impulse", "SaltAndPepper")
            ),
            loc=parse_float(raw, "loc", 0.0, low=-255.0, high=255.0),
            scale=parse_float(raw, "scale", 1.0, low=0.0, high=255.0),
            lam=parse_float(raw, "lam", 2.0, low=0.0, high=1000.0),
            p=parse_float(raw, "p", 0.01, low=0.0, high=1.0),
        )

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, AddNoiseParams)
        array: NDArray[np.float64] = np.asarray(image, dtype=np.float64)
        kind = params.noise_type
        if kind == "Gauss":
            array = array + rng.normal(params.loc, params.scale, array.shape)
            text = f"Gauss noise, loc {_fmt(params.loc)}, scale {_fmt(params.scale)}"
        elif kind == "Laplace":
            array = array + rng.laplace(params.loc, params.scale, array.shape)
            text = f"Laplace noise, loc {_fmt(params.loc)}, scale {_fmt(params.scale)}"
        elif kind == "Poisson":
            array = array + (rng.poisson(params.lam, array.shape) - params.lam)
            text = f"Poisson noise, lam {_fmt(params.lam)}"
        else:
            hit = rng.random(array.shape[:2]) < params.p
            count = int(hit.sum())
            if kind == "Impulse":
                array[hit] = rng.integers(0, 256, (count, 3))
            else:
                array[hit] = np.where(rng.random(count) < 0.5, 0.0, 255.0)[:, None]
            text = f"{kind} noise, p {_fmt(params.p)} ({count} pixels)"
        return Applied(_from_array(array), text)


@dataclass(frozen=True, kw_only=True)
class BlurParams(CommonParams):
    blur_type: str = "Gauss"
    radius: float | None = None


class Blur(Augmentation):
    name = "Blur"

    def parse_params(self, raw: Mapping[str, object]) -> BlurParams:
        radius = parse_float(raw, "radius", -1.0, low=0.0, high=1000.0, low_open=True)
        return BlurParams(
            **common_fields(raw),
            blur_type=parse_choice(raw, "blur_type", "Gauss", ("Gauss", "Average")),
            radius=None if radius < 0 else radius,
        )

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, BlurParams)
        radius = params.radius if params.radius is not None else _scaled(augment.BLUR_RADIUS, image)
        if params.blur_type == "Gauss":
            out = image.filter(ImageFilter.GaussianBlur(radius))
        else:
            out = image.filter(ImageFilter.BoxBlur(radius))
        return Applied(out, f"{params.blur_type} blur, radius {_fmt(radius)} px")


class Grayscale(Augmentation):
    name = "Grayscale"

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        return Applied(image.convert("L").convert("RGB"), "converted to grey (three equal channels)")


class HistogramEqual(Augmentation):
    name = "HistogramEqual"

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        y, cb, cr = image.convert("YCbCr").split()
        out = Image.merge("YCbCr", (ImageOps.equalize(y), cb, cr)).convert("RGB")
        return Applied(out, "equalized the luma histogram")


@dataclass(frozen=True, kw_only=True)
class LightArithmeticParams(CommonParams):
    brightness_delta: float = 40.0


class LightArithmetic(Augmentation):
    name = "LightArithmetic"

    def parse_params(self, raw: Mapping[str, object]) -> LightArithmeticParams:
        return LightArithmeticParams(
            **common_fields(raw),
            brightness_delta=parse_float(raw, "brightness_delta", 40.0, low=0.0, high=255.0),
        )

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, LightArithmeticParams)
        delta = float(rng.uniform(-params.brightness_delta, params.brightness_delta))
        return Applied(
            _from_array(np.asarray(image, dtype=np.float32) + delta), f"added {delta:+.1f} to every channel"
        )


@dataclass(frozen=True, kw_only=True)
class LightContrastParams(CommonParams):
    func: str = "gamma"
    gamma: float | None = None
    gain: float | None = None
    cutoff: float = 0.5
    alpha: float | None = None


def _optional(raw: Mapping[str, object], key: str, low: float, high: float) -> float | None:
    value = parse_float(raw, key, math.nan, low=low, high=high)
    return None if math.isnan(value) else value


class LightContrast(Augmentation):
    name = "LightContrast"

    def parse_params(self, raw: Mapping[str, object]) -> LightContrastParams:
        return LightContrastParams(
            **common_fields(raw),
            func=parse_choice(raw, "func", "gamma", ("gamma", "sigmoid", "log", "linear")),
            gamma=_optional(raw, "gamma", 0.01, 100.0),
            gain=_optional(raw, "gain", 0.01, 100.0),
            cutoff=parse_float(raw, "cutoff", 0.5, low=0.0, high=1.0),
            alpha=_optional(raw, "alpha", 0.0, 10.0),
        )

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, LightContrastParams)
        v = np.arange(256, dtype=np.float64)
        if params.func == "gamma":
            gamma = params.gamma if params.gamma is not None else float(rng.uniform(0.5, 2.0))
            lut = 255.0 * (v / 255.0) ** gamma
            text = f"gamma {gamma:.2f}"
        elif params.func == "sigmoid":
            gain = params.gain if params.gain is not None else 10.0
            lut = 255.0 / (1.0 + np.exp(gain * (params.cutoff - v / 255.0)))
            text = f"sigmoid, gain {_fmt(gain)}, cutoff {_fmt(params.cutoff)}"
        elif params.func == "log":
            gain = params.gain if params.gain is not None else float(rng.uniform(0.6, 1.4))
            lut = 255.0 * gain * np.log2(1.0 + v / 255.0)
            text = f"log, gain {gain:.2f}"
        else:
            alpha = params.alpha if params.alpha is not None else float(rng.uniform(0.6, 1.4))
            lut = 127.0 + alpha * (v - 127.0)
            text = f"linear, alpha {alpha:.2f}"
        table = np.clip(np.rint(lut), 0, 255).astype(np.uint8).tolist()
        return Applied(image.point(table * 3), text)


@dataclass(frozen=True, kw_only=True)
class MotionBlurParams(CommonParams):
    kernel_size: int | None = None


def line_kernel(size: int, angle: float) -> NDArray[np.float64]:
    """A normalised ``size`` x ``size`` kernel: a 1-px line through the centre at ``angle`` degrees."""
    kernel = np.zeros((size, size), dtype=np.float64)
    centre = (size - 1) / 2.0
    t = np.linspace(-centre, centre, 4 * size)
    xs = np.rint(centre + t * math.cos(math.radians(angle))).astype(int)
    ys = np.rint(centre - t * math.sin(math.radians(angle))).astype(int)
    kernel[ys, xs] = 1.0
    normalised: NDArray[np.float64] = kernel / kernel.sum()
    return normalised


class MotionBlur(Augmentation):
    name = "MotionBlur"

    def parse_params(self, raw: Mapping[str, object]) -> MotionBlurParams:
        size = parse_int(raw, "kernel_size", 0, low=3, high=101)
        return MotionBlurParams(**common_fields(raw), kernel_size=size or None)

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, MotionBlurParams)
        size = params.kernel_size if params.kernel_size is not None else int(rng.integers(7, 16))
        angle = float(rng.uniform(0.0, 180.0))
        kernel = line_kernel(size, angle)
        half = size // 2
        array = np.asarray(image, dtype=np.float32)
        padded = np.pad(array, ((half, size - 1 - half), (half, size - 1 - half), (0, 0)), mode="reflect")
        out = np.stack([signal.oaconvolve(padded[..., c], kernel, mode="valid") for c in range(3)], axis=2)
        return Applied(_from_array(out), f"{size} px line at {angle:.0f} degrees")


class Saturation(Augmentation):
    name = "Saturation"

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        factor = float(rng.uniform(0.5, 1.5))
        shift = float(rng.uniform(-10.0, 10.0))
        hsv = np.asarray(image.convert("HSV"), dtype=np.float32)
        hue = np.mod(hsv[..., 0] + shift * 256.0 / 360.0, 256.0)
        sat = np.clip(hsv[..., 1] * factor, 0, 255)
        out_hsv = np.stack([hue, sat, hsv[..., 2]], axis=2)
        channels = np.clip(np.rint(out_hsv), 0, 255).astype(np.uint8)
        out = Image.merge("HSV", [Image.fromarray(channels[..., c]) for c in range(3)]).convert("RGB")
        return Applied(out, f"saturation x{factor:.2f}, hue {shift:+.1f} degrees")


class Sharpen(Augmentation):
    name = "Sharpen"

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        radius = _scaled(augment.SHARPEN_RADIUS, image)
        return Applied(
            augment.sharpen(image),
            f"unsharp mask, radius {_fmt(radius)} px, {augment.SHARPEN_PERCENT}%, "
            f"threshold {augment.SHARPEN_THRESHOLD}",
        )


@dataclass(frozen=True, kw_only=True)
class CutOutParams(CommonParams):
    cutout_percent: float | None = None


class CutOut(Augmentation):
    name = "CutOut"

    def parse_params(self, raw: Mapping[str, object]) -> CutOutParams:
        return CutOutParams(
            **common_fields(raw),
            cutout_percent=_optional(raw, "cutout_percent", 0.0, 1.0),
        )

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, CutOutParams)
        width, height = image.size
        fw = params.cutout_percent if params.cutout_percent is not None else float(rng.uniform(0.1, 0.3))
        fh = params.cutout_percent if params.cutout_percent is not None else float(rng.uniform(0.1, 0.3))
        cw, ch = max(1, round(fw * width)), max(1, round(fh * height))
        x0 = int(rng.integers(0, width - cw + 1))
        y0 = int(rng.integers(0, height - ch + 1))
        out = image.copy()
        out.paste((0, 0, 0), (x0, y0, x0 + cw, y0 + ch))
        return Applied(out, f"black box [{x0}, {y0}, {x0 + cw}, {y0 + ch}]")


@dataclass(frozen=True, kw_only=True)
class WeatherParams(CommonParams):
    weather_mode: str = "Rain"


def _low_frequency(rng: np.random.Generator, size: tuple[int, int], cells: int) -> NDArray[np.float32]:
    """Smooth noise in [0, 1]: a ``cells`` x ``cells`` random grid upsampled bicubically."""
    grid = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    return np.asarray(grid.resize(size, Image.Resampling.BICUBIC), dtype=np.float32) / 255.0


class Weather(Augmentation):
    name = "Weather"

    def parse_params(self, raw: Mapping[str, object]) -> WeatherParams:
        return WeatherParams(
            **common_fields(raw),
            weather_mode=parse_choice(raw, "weather_mode", "Rain", ("Rain", "Fog", "Snow", "Clouds")),
        )

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, WeatherParams)
        width, height = image.size
        unit = max(width, height) / _REFERENCE_SIDE
        array = np.asarray(image, dtype=np.float32)
        mode = params.weather_mode
        if mode in ("Rain", "Snow"):
            layer = Image.new("L", image.size, 0)
            draw = ImageDraw.Draw(layer)
            area = width * height / max(unit, 1e-6) ** 2
            if mode == "Rain":
                count = max(1, int(area / 150))
                slant = math.radians(float(rng.uniform(-20, 20)))
                length = 10.0 * unit
                xs, ys = rng.uniform(0, width, count), rng.uniform(0, height, count)
                dx, dy = length * math.sin(slant), length * math.cos(slant)
                for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
                    draw.line((x, y, x + dx, y + dy), fill=200, width=max(1, round(unit)))
                streaks = np.asarray(layer.filter(ImageFilter.GaussianBlur(0.5 * unit)), dtype=np.float32)
                out = array * 0.85 + streaks[..., None] * 0.5
                text = f"rain, {count} streaks"
            else:
                count = max(1, int(area / 120))
                xs, ys = rng.uniform(0, width, count), rng.uniform(0, height, count)
                radii = rng.uniform(0.5, 2.0, count) * unit
                for x, y, r in zip(xs.tolist(), ys.tolist(), radii.tolist(), strict=True):
                    draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
                flakes = np.asarray(layer.filter(ImageFilter.GaussianBlur(0.4 * unit)), dtype=np.float32)
                out = np.maximum(array * 0.9 + 20.0, flakes[..., None])
                text = f"snow, {count} flakes"
        elif mode == "Fog":
            density = 0.35 + 0.3 * _low_frequency(rng, image.size, 4)
            out = array * (1.0 - density[..., None]) + 225.0 * density[..., None]
            text = "fog"
        else:
            noise = 0.6 * _low_frequency(rng, image.size, 3) + 0.4 * _low_frequency(rng, image.size, 8)
            cover = np.clip((noise - 0.45) * 2.5, 0.0, 1.0) * 0.8
            out = array * (1.0 - cover[..., None]) + 240.0 * cover[..., None]
            text = "clouds"
        return Applied(_from_array(out), text)


# --------------------------------------------------------------------------- geometric


def _affine(matrix: NDArray[np.float64]) -> PointMap:
    """Points through a 2x3 forward matrix (input -> output)."""

    def move(points: NDArray[np.float64]) -> NDArray[np.float64]:
        return points @ matrix[:, :2].T + matrix[:, 2]

    return move


@dataclass(frozen=True, kw_only=True)
class CropParams(CommonParams):
    crop_percent_min: float = 0.0
    crop_percent_max: float = 0.2


class Crop(Augmentation):
    name = "Crop"

    def parse_params(self, raw: Mapping[str, object]) -> CropParams:
        low, high = _range(raw, "crop_percent_min", "crop_percent_max", (0.0, 0.2), low=0.0, high=0.49)
        return CropParams(**common_fields(raw), crop_percent_min=low, crop_percent_max=high)

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, CropParams)
        width, height = image.size
        cuts = rng.uniform(params.crop_percent_min, params.crop_percent_max, 4)
        left, right = (math.floor(cuts[0] * width), math.floor(cuts[2] * width))
        top, bottom = (math.floor(cuts[1] * height), math.floor(cuts[3] * height))
        right = min(right, width - left - 1)
        bottom = min(bottom, height - top - 1)
        out = image.crop((left, top, width - right, height - bottom))
        matrix = np.array([[1.0, 0.0, -left], [0.0, 1.0, -top]])
        return Applied(
            out, f"cut {left}, {top}, {right}, {bottom} px from left, top, right, bottom", _affine(matrix)
        )


@dataclass(frozen=True, kw_only=True)
class FlipParams(CommonParams):
    lr_ud: str = "lr"
    flip_p: float = 1.0


class Flip(Augmentation):
    name = "Flip"

    def parse_params(self, raw: Mapping[str, object]) -> FlipParams:
        return FlipParams(
            **common_fields(raw),
            lr_ud=parse_choice(raw, "lr_ud", "lr", ("lr", "ud")),
            flip_p=parse_float(raw, "flip_p", 1.0, low=0.0, high=1.0),
        )

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied | Skipped:
        assert isinstance(params, FlipParams)
        if not rng.random() < params.flip_p:
            return Skipped(f"not flipped (flip_p {_fmt(params.flip_p)})")
        width, height = image.size
        if params.lr_ud == "lr":
            return Applied(
                ImageOps.mirror(image),
                "mirrored left-right",
                _affine(np.array([[-1.0, 0, width], [0, 1.0, 0]])),
            )
        return Applied(
            ImageOps.flip(image), "flipped upside down", _affine(np.array([[1.0, 0, 0], [0, -1.0, height]]))
        )


@dataclass(frozen=True, kw_only=True)
class PaddingParams(CommonParams):
    px_top: int = 1
    px_right: int = 1
    px_bottom: int = 1
    px_left: int = 1


class Padding(Augmentation):
    name = "Padding"

    def parse_params(self, raw: Mapping[str, object]) -> PaddingParams:
        sides = {
            key: parse_int(raw, key, 1, low=0, high=4096)
            for key in ("px_top", "px_right", "px_bottom", "px_left")
        }
        return PaddingParams(**common_fields(raw), **sides)

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, PaddingParams)
        out = ImageOps.expand(
            image, (params.px_left, params.px_top, params.px_right, params.px_bottom), fill=(0, 0, 0)
        )
        matrix = np.array([[1.0, 0.0, params.px_left], [0.0, 1.0, params.px_top]])
        text = (
            f"black border {params.px_top}, {params.px_right}, {params.px_bottom}, {params.px_left} px "
            "(top, right, bottom, left)"
        )
        return Applied(out, text, _affine(matrix))


@dataclass(frozen=True, kw_only=True)
class ResizeParams(CommonParams):
    height: int = 224
    width: int = 224


class Resize(Augmentation):
    name = "Resize"

    def parse_params(self, raw: Mapping[str, object]) -> ResizeParams:
        return ResizeParams(
            **common_fields(raw),
            height=parse_int(raw, "height", 224, low=1, high=MAX_SIDE),
            width=parse_int(raw, "width", 224, low=1, high=MAX_SIDE),
        )

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, ResizeParams)
        width, height = image.size
        out = image.resize((params.width, params.height), Image.Resampling.BILINEAR, reducing_gap=3.0)
        matrix = np.array([[params.width / width, 0.0, 0.0], [0.0, params.height / height, 0.0]])
        return Applied(out, f"resized {width}x{height} -> {params.width}x{params.height}", _affine(matrix))


@dataclass(frozen=True, kw_only=True)
class RotateParams(CommonParams):
    angle_min: float = -90.0
    angle_max: float = 90.0


class Rotate(Augmentation):
    name = "Rotate"

    def parse_params(self, raw: Mapping[str, object]) -> RotateParams:
        first = parse_float(raw, "angle_min", 90.0, low=-360.0, high=360.0)
        second = parse_float(raw, "angle_max", -90.0, low=-360.0, high=360.0)
        # The guide's defaults are inverted (min 90, max -90): the bounds are sorted.
        return RotateParams(**common_fields(raw), angle_min=min(first, second), angle_max=max(first, second))

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, RotateParams)
        angle = float(rng.uniform(params.angle_min, params.angle_max))
        width, height = image.size
        out = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
        # Pillow turns counter-clockwise about (w/2, h/2); y points down.
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        cx, cy = width / 2.0, height / 2.0
        matrix = np.array([[c, s, cx - c * cx - s * cy], [-s, c, cy + s * cx - c * cy]])
        return Applied(
            out, f"rotated {angle:.1f} degrees counter-clockwise", _affine(matrix), drop_when_box_leaves=True
        )


@dataclass(frozen=True, kw_only=True)
class ScaleParams(CommonParams):
    scaleXY: str = "X"
    scale_min: float = 0.5
    scale_max: float = 1.5


class Scale(Augmentation):
    name = "Scale"

    def parse_params(self, raw: Mapping[str, object]) -> ScaleParams:
        low, high = _range(raw, "scale_min", "scale_max", (0.5, 1.5), low=0.01, high=10.0)
        return ScaleParams(
            **common_fields(raw),
            scaleXY=parse_choice(raw, "scaleXY", "X", ("X", "Y")),
            scale_min=low,
            scale_max=high,
        )

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, ScaleParams)
        factor = float(rng.uniform(params.scale_min, params.scale_max))
        width, height = image.size
        if params.scaleXY == "X":
            size = (min(MAX_SIDE, max(1, round(width * factor))), height)
        else:
            size = (width, min(MAX_SIDE, max(1, round(height * factor))))
        out = image.resize(size, Image.Resampling.BILINEAR)
        matrix = np.array([[size[0] / width, 0.0, 0.0], [0.0, size[1] / height, 0.0]])
        return Applied(
            out,
            f"{'width' if params.scaleXY == 'X' else 'height'} x{factor:.2f}: "
            f"{width}x{height} -> {size[0]}x{size[1]}",
            _affine(matrix),
        )


@dataclass(frozen=True, kw_only=True)
class ShearParams(CommonParams):
    shearXY: str = "X"
    shear_min: float = -30.0
    shear_max: float = 30.0


class Shear(Augmentation):
    name = "Shear"

    def parse_params(self, raw: Mapping[str, object]) -> ShearParams:
        low, high = _range(raw, "shear_min", "shear_max", (-30.0, 30.0), low=-75.0, high=75.0)
        return ShearParams(
            **common_fields(raw),
            shearXY=parse_choice(raw, "shearXY", "X", ("X", "Y")),
            shear_min=low,
            shear_max=high,
        )

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, ShearParams)
        angle = float(rng.uniform(params.shear_min, params.shear_max))
        k = math.tan(math.radians(angle))
        width, height = image.size
        if params.shearXY == "X":
            # x_out = x + k (y - h/2); Pillow wants output -> input.
            forward = np.array([[1.0, k, -k * height / 2.0], [0.0, 1.0, 0.0]])
            inverse = (1.0, -k, k * height / 2.0, 0.0, 1.0, 0.0)
        else:
            forward = np.array([[1.0, 0.0, 0.0], [k, 1.0, -k * width / 2.0]])
            inverse = (1.0, 0.0, 0.0, -k, 1.0, k * width / 2.0)
        out = image.transform(
            image.size, Image.Transform.AFFINE, inverse, Image.Resampling.BILINEAR, fillcolor=(0, 0, 0)
        )
        return Applied(out, f"sheared {angle:.1f} degrees along {params.shearXY}", _affine(forward))


@dataclass(frozen=True, kw_only=True)
class TranslateParams(CommonParams):
    translateXY: str = "X"
    translate_percent: float = 0.2


class Translate(Augmentation):
    name = "Translate"

    def parse_params(self, raw: Mapping[str, object]) -> TranslateParams:
        return TranslateParams(
            **common_fields(raw),
            translateXY=parse_choice(raw, "translateXY", "X", ("X", "Y")),
            translate_percent=parse_float(raw, "translate_percent", 0.2, low=0.0, high=1.0),
        )

    def apply(self, image: Image.Image, params: object, rng: np.random.Generator) -> Applied:
        assert isinstance(params, TranslateParams)
        width, height = image.size
        fraction = float(rng.uniform(-params.translate_percent, params.translate_percent))
        dx = round(fraction * width) if params.translateXY == "X" else 0
        dy = round(fraction * height) if params.translateXY == "Y" else 0
        out = Image.new("RGB", image.size, (0, 0, 0))
        out.paste(image, (dx, dy))
        matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
        shift = dx if params.translateXY == "X" else dy
        direction = (
            ("right" if shift >= 0 else "left")
            if params.translateXY == "X"
            else ("down" if shift >= 0 else "up")
        )
        return Applied(out, f"shifted {abs(shift)} px {direction}", _affine(matrix))


AUGMENTATION_OPERATORS: tuple[Augmentation, ...] = (
    AddNoise(),
    Blur(),
    Crop(),
    CutOut(),
    Flip(),
    Grayscale(),
    HistogramEqual(),
    LightArithmetic(),
    LightContrast(),
    MotionBlur(),
    Padding(),
    Resize(),
    Rotate(),
    Saturation(),
    Scale(),
    Sharpen(),
    Shear(),
    Translate(),
    Weather(),
)
"""One instance of each of the guide's 19 augmentation operators, in the guide's order."""
