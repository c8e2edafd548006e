"""Import task request model (ImportTask, "Creating an Import Task")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from labelarts.schemas.common import LabelIn, StrictModel, no_nul, normalize_label_name
from labelarts.schemas.datasets import DataSourceIn, LabelFormatIn

ImportPath = Annotated[str, StringConstraints(min_length=1, max_length=4096), AfterValidator(no_nul)]
# The reference types these as Label objects; its own example sends bare names. Both are taken.
LabelRef = Annotated[str, StringConstraints(min_length=1, max_length=1024)] | LabelIn
ColumnRef = (
    Annotated[int, Field(ge=0, le=10_000)] | Annotated[str, StringConstraints(min_length=1, max_length=256)]
)
LabelRefs = Annotated[list[LabelRef], Field(max_length=10_000)]


class CreateImportTaskRequest(BaseModel):
    """``import_path`` is required (checked by the service after the dataset, so that another
    project's dataset is a 404 whatever the body); ``import_type`` "dir" (default: the ModelArts
    layouts, or an annotation format the folder's layout names unambiguously), "manifest", or
    an annotation format read with Datumaro: "coco", "voc", "yolo", "imagenet", "cvat",
    "labelme", "datumaro" (docs/import-formats.md).

    ``with_column_header`` (given, true or false) reads a text dataset's ``.csv`` files as
    columns, the first row a header when true; LabelArts' ``text_column`` and ``label_column``
    name the columns (0-based index, or a header name). Accepted without effect:
    ``import_folder``, ``import_origin``, ``import_samples``.
    """

    model_config = StrictModel
    import_path: ImportPath | None = None
    import_type: Literal[
        "dir", "manifest", "coco", "voc", "yolo", "imagenet", "cvat", "labelme", "datumaro"
    ] = "dir"
    import_annotations: bool = True
    label_format: LabelFormatIn | None = None
    data_source: DataSourceIn | None = None
    final_annotation: bool = True
    difficult_only: bool = False
    included_labels: LabelRefs | None = None
    excluded_labels: LabelRefs | None = None
    import_folder: Annotated[str, StringConstraints(max_length=1024)] | None = None
    import_origin: Annotated[str, StringConstraints(max_length=64)] | None = None
    import_samples: bool = True
    with_column_header: bool | None = None
    text_column: ColumnRef | None = None
    label_column: ColumnRef | None = None

    def label_names(self, which: Literal["included", "excluded"]) -> frozenset[str]:
        refs = self.included_labels if which == "included" else self.excluded_labels
        names = (ref if isinstance(ref, str) else ref.name for ref in refs or [])
        return frozenset(normalize_label_name(name.strip()) for name in names if name and name.strip())
