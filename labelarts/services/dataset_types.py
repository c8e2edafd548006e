"""Dataset status and type constants shared by the dataset and import services."""

from __future__ import annotations

# Dataset status values (ModelArts "status"). 8 (importing) is never stored: a dataset shows it
# while one of its import tasks is active (services.datasets).
STATUS_CREATING, STATUS_NORMAL, STATUS_DELETING, STATUS_ABNORMAL, STATUS_IMPORTING = 0, 1, 2, 4, 8
DATASET_TAGS = {
    0: ["Image", "Image classification"],
    1: ["Image", "Object detection"],
    3: ["Image", "Image segmentation"],
    100: ["Text", "Text classification"],
    101: ["Text", "Named entity recognition"],
    102: ["Text", "Text triplet"],
    200: ["Audio", "Sound classification"],
    201: ["Audio", "Speech content"],
    202: ["Audio", "Speech paragraph labeling"],
    400: ["Table"],
    600: ["Video"],
    900: ["Custom format"],
}
