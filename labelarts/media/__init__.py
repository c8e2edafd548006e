"""Image handling for sample previews: OBS-style ``process_parameter`` resizing."""

from labelarts.media.resize import (
    Geometry,
    ImageDecodeError,
    ProcessParameterError,
    ResizeSpec,
    decode_for_target,
    image_size,
    open_image,
    parse_process_parameter,
    resize_image,
    target_geometry,
)

__all__ = [
    "Geometry",
    "ImageDecodeError",
    "ProcessParameterError",
    "ResizeSpec",
    "decode_for_target",
    "image_size",
    "open_image",
    "parse_process_parameter",
    "resize_image",
    "target_geometry",
]
