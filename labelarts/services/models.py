"""The model registry: users' ONNX models for pre-labeling (docs/model-registry.md).

A model is checked before anything is stored (:func:`labelarts.ml.onnx_models.inspect_model`:
loads, has the declared input, gives one score per label or detector rows), its file goes to
the object store under ``models/<project>/<model id>.onnx`` and its row to ``models``. Models
belong to one project: any other project gets 404 for them, as for datasets.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from labelarts.clock import now_ms
from labelarts.errors import (
    InvalidModelError,
    InvalidModelLabelsError,
    ModelExistsError,
    ModelNotFoundError,
)
from labelarts.schemas.models import ImportModelRequest
from labelarts.storage.db import Database
from labelarts.storage.db.models import RegisteredModel
from labelarts.storage.objects import ObjectStore

if TYPE_CHECKING:  # the ML module loads onnxruntime: only when used
    from labelarts.ml.onnx_models import ModelSpec


@dataclass(frozen=True)
class LoadedModel:
    """What a pre-labeling task needs: the declared spec and the file."""

    model_id: str
    name: str
    version: str
    spec: ModelSpec
    data: bytes


def _spec_of(spec: dict[str, Any], kind: str) -> ModelSpec:
    from labelarts.ml.onnx_models import ModelSpec

    return ModelSpec(
        kind=kind,  # type: ignore[arg-type]
        labels=tuple(spec["labels"]),
        input_size=(int(spec["input_size"][0]), int(spec["input_size"][1])),
        layout=spec["layout"],
        mean=tuple(float(v) for v in spec["mean"]),  # type: ignore[arg-type]
        std=tuple(float(v) for v in spec["std"]),  # type: ignore[arg-type]
        scale=float(spec["scale"]),
    )


def model_to_wire(model: RegisteredModel) -> dict[str, Any]:
    spec = model.spec
    return {
        "model_id": model.id,
        "model_name": model.name,
        "model_version": model.version,
        "description": model.description,
        "kind": model.kind,
        "labels": list(spec["labels"]),
        "input_size": list(spec["input_size"]),
        "layout": spec["layout"],
        "mean": list(spec["mean"]),
        "std": list(spec["std"]),
        "scale": spec["scale"],
        "input_name": spec.get("input_name", ""),
        "output_name": spec.get("output_name", ""),
        "model_size": model.size,
        "sha256": model.sha256,
        "create_at": model.create_time,
    }


class ModelService:
    def __init__(self, db: Database, objects: ObjectStore) -> None:
        self._db = db
        self._objects = objects

    def create(self, project_id: str, request: ImportModelRequest) -> dict[str, Any]:
        from labelarts.ml.onnx_models import InvalidModel, inspect_model

        data = request.file_bytes()
        spec: dict[str, Any] = {
            "labels": list(request.labels),
            "input_size": list(request.input_size),
            "layout": request.layout,
            "mean": list(request.mean),
            "std": list(request.std),
            "scale": request.scale,
        }
        try:
            signature = inspect_model(data, _spec_of(spec, request.kind))
        except InvalidModel as error:
            if error.labels:
                raise InvalidModelLabelsError(f"Invalid labels of model: {error}.") from None
            raise InvalidModelError(f"The model file is refused: {error}.") from None
        spec["input_name"] = signature.input_name
        spec["output_name"] = signature.output_name
        with self._db.session() as session:
            taken = session.execute(
                select(RegisteredModel.id).where(
                    RegisteredModel.project_id == project_id,
                    RegisteredModel.name == request.model_name,
                    RegisteredModel.version == request.model_version,
                )
            ).first()
        if taken is not None:
            raise _exists(request)
        model_id = str(uuid.uuid4())
        key = f"models/{project_id}/{model_id}.onnx"
        self._objects.put(key, data)
        model = RegisteredModel(
            id=model_id,
            project_id=project_id,
            name=request.model_name,
            version=request.model_version,
            kind=request.kind,
            description=request.description,
            spec=spec,
            object_key=key,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            create_time=now_ms(),
        )
        try:
            with self._db.session() as session:
                session.add(model)
                session.flush()
                return model_to_wire(model)
        except IntegrityError:  # a concurrent import of the same name and version won
            self._objects.delete(key)
            raise _exists(request) from None

    def list(
        self, project_id: str, *, offset: int, limit: int, model_name: str | None
    ) -> tuple[list[dict[str, Any]], int]:
        where = [RegisteredModel.project_id == project_id]
        if model_name:
            where.append(RegisteredModel.name == model_name)
        with self._db.session() as session:
            total = session.execute(
                select(func.count()).select_from(RegisteredModel).where(*where)
            ).scalar_one()
            rows = session.execute(
                select(RegisteredModel)
                .where(*where)
                .order_by(RegisteredModel.create_time.desc(), RegisteredModel.id)
                .offset(offset * limit)
                .limit(limit)
            ).scalars()
            return [model_to_wire(m) for m in rows], int(total)

    def get(self, project_id: str, model_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            return model_to_wire(self._owned(session, project_id, model_id))

    def delete(self, project_id: str, model_id: str) -> None:
        with self._db.session() as session:
            model = self._owned(session, project_id, model_id)
            key = model.object_key
            session.delete(model)
        self._objects.delete(key)

    def load(self, project_id: str, model_id: str) -> LoadedModel:
        """The spec and file of a project's model (ModelNotFoundError otherwise)."""
        with self._db.session() as session:
            model = self._owned(session, project_id, model_id)
            kind, spec, key = model.kind, dict(model.spec), model.object_key
            name, version = model.name, model.version
        try:
            data = self._objects.get(key)
        except (FileNotFoundError, KeyError):
            raise ModelNotFoundError("The model's file is gone.") from None
        return LoadedModel(model_id, name, version, _spec_of(spec, kind), data)

    def kind_of(self, project_id: str, model_id: str) -> str:
        with self._db.session() as session:
            return self._owned(session, project_id, model_id).kind

    @staticmethod
    def _owned(session: Any, project_id: str, model_id: str) -> RegisteredModel:
        if "\x00" in model_id or len(model_id) > 64:
            raise ModelNotFoundError()
        model = session.execute(
            select(RegisteredModel).where(
                RegisteredModel.id == model_id, RegisteredModel.project_id == project_id
            )
        ).scalar_one_or_none()
        if model is None:
            raise ModelNotFoundError()
        assert isinstance(model, RegisteredModel)
        return model


def _exists(request: ImportModelRequest) -> ModelExistsError:
    return ModelExistsError(
        f"The project already has model {request.model_name} version {request.model_version}."
    )
