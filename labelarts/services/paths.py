"""Confines local data sources to the configured import roots."""

from __future__ import annotations

from pathlib import Path

from labelarts.errors import InvalidPathError, PathNotFoundError


class ImportRoots:
    """Local folders a dataset may import from. The server's data dir never qualifies."""

    def __init__(self, roots: list[Path], data_dir: Path) -> None:
        self._roots = [r.resolve() for r in roots]
        self._data_dir = data_dir.resolve()

    @property
    def roots(self) -> list[Path]:
        return list(self._roots)

    def resolve(self, raw: str) -> Path:
        """Return the real folder for ``raw`` or raise a 400 saying why it is refused."""
        if "\x00" in raw or not raw.startswith("/"):
            raise InvalidPathError("data_path must be an absolute local folder path.")
        path = Path(raw).resolve()  # follows symlinks, so a link cannot leave a root
        if path == self._data_dir or self._data_dir in path.parents or path in self._data_dir.parents:
            raise InvalidPathError("The LabelArts data directory cannot be imported.")
        if not any(path == root or root in path.parents for root in self._roots):
            raise InvalidPathError("data_path is outside the configured import roots (see --import-root).")
        if not path.is_dir():
            raise PathNotFoundError("data_path does not exist or is not a folder.")
        return path
