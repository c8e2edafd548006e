"""The confined-open module itself (labelarts/storage/localfs.py), in both of its modes."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelarts.errors import InvalidPathError, PathNotFoundError
from labelarts.storage.localfs import OPENAT2, WALK, LocalRoot, openat2_available, path_error
from labelarts.storage.objects import LocalObjectStore
from tests.security import CANARY, Flipper, race, seen

MODES = [WALK, pytest.param(OPENAT2, marks=pytest.mark.skipif(not openat2_available(), reason="no openat2"))]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """``root`` with ``root/sub/file.txt``, and ``outside`` with the canary under the same names."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file.txt").write_bytes(b"inside")
    outside.mkdir()
    (outside / "file.txt").write_bytes(CANARY)
    yield root, outside


def errno_of(call: object) -> int:
    assert callable(call)
    with pytest.raises(OSError) as info:
        call()
    assert info.value.errno is not None
    return info.value.errno


def test_reads_lists_and_stats_below_the_root(tree: tuple[Path, Path], mode: str) -> None:
    root, _ = tree
    local = LocalRoot(root, mode=mode)
    assert local.read_bytes("sub/file.txt") == b"inside"
    assert local.read_bytes("./sub//file.txt") == b"inside"
    assert local.stat_file("sub/file.txt").st_size == 6
    with local.scandir("sub") as entries:
        assert [e.name for e in entries] == ["file.txt"]
    with local.scandir("") as entries:
        assert [e.name for e in entries] == ["sub"]
    assert local.is_dir("sub") and not local.is_dir("sub/file.txt")
    assert local.is_file("sub/file.txt") and not local.is_file("sub")


def test_links_dotdot_and_odd_files_are_refused(tree: tuple[Path, Path], mode: str) -> None:
    root, outside = tree
    local = LocalRoot(root, mode=mode)
    (root / "link.txt").symlink_to(outside / "file.txt")
    (root / "inner.txt").symlink_to(root / "sub" / "file.txt")  # even a link that stays inside
    (root / "dirlink").symlink_to(outside)
    os.mkfifo(root / "pipe")
    assert errno_of(lambda: local.read_bytes("link.txt")) == errno.ELOOP
    assert errno_of(lambda: local.read_bytes("inner.txt")) == errno.ELOOP
    assert errno_of(lambda: local.read_bytes("dirlink/file.txt")) == errno.ELOOP
    assert errno_of(lambda: local.read_bytes("../outside/file.txt")) == errno.EINVAL
    assert errno_of(lambda: local.read_bytes("/etc/passwd")) == errno.EINVAL
    assert errno_of(lambda: local.read_bytes("pipe")) == errno.EINVAL  # no hang on a FIFO
    assert errno_of(lambda: local.read_bytes("sub")) == errno.EISDIR
    assert errno_of(lambda: local.read_bytes("sub/file.txt/x")) == errno.ENOTDIR
    assert errno_of(lambda: local.read_bytes("nope")) == errno.ENOENT
    assert errno_of(lambda: local.read_bytes("x" * 300)) == errno.ENAMETOOLONG
    assert errno_of(lambda: local.read_bytes("sub/file.txt", limit=3)) == errno.EFBIG
    with pytest.raises(OSError), local.scandir("dirlink"):
        pass


def test_unlink_removes_only_regular_files_below_the_root(tree: tuple[Path, Path], mode: str) -> None:
    root, outside = tree
    local = LocalRoot(root, mode=mode)
    (root / "dirlink").symlink_to(outside)
    (root / "link.txt").symlink_to(outside / "file.txt")
    with pytest.raises(OSError):
        local.unlink("dirlink/file.txt")
    assert not local.unlink("link.txt")  # not a regular file: left alone, target untouched
    assert not local.unlink("sub")
    assert not local.unlink("missing.txt")
    assert (outside / "file.txt").read_bytes() == CANARY
    assert local.unlink("sub/file.txt")
    assert not (root / "sub" / "file.txt").exists()


@pytest.mark.parametrize(
    ("code", "error", "reason"),
    [
        (errno.ENOENT, PathNotFoundError, "does not exist"),
        (errno.ENOTDIR, PathNotFoundError, "a file where a folder is expected"),
        (errno.ENAMETOOLONG, InvalidPathError, "longer than the file system allows"),
        (errno.ELOOP, InvalidPathError, "symbolic link"),
        (errno.EACCES, InvalidPathError, "permission denied"),
        (errno.EIO, InvalidPathError, "Input/output error"),
    ],
)
def test_path_errors_are_400s(code: int, error: type[Exception], reason: str) -> None:
    found = path_error(OSError(code, os.strerror(code), "/secret/host/path"), "data_path")
    assert isinstance(found, error) and found.status_code == 400
    assert reason in found.message and "/secret" not in found.message


def test_a_parent_flipped_to_a_link_never_lets_a_byte_out(tree: tuple[Path, Path], mode: str) -> None:
    root, outside = tree
    local = LocalRoot(root, mode=mode)

    def attempt() -> str:
        try:
            data = local.read_bytes("sub/file.txt")
        except OSError:
            return "refused"
        assert data == b"inside", data
        return "inside"

    tally = race(
        attempt,
        flipper=Flipper(root / "sub", outside),
        max_attempts=20_000,
        enough=seen(inside=20, refused=20),
    )
    assert tally.outcomes.get("refused", 0) > 0, tally  # the race really took place


def test_a_delete_through_a_flipping_parent_never_deletes_outside(tree: tuple[Path, Path], mode: str) -> None:
    root, outside = tree
    local = LocalRoot(root, mode=mode)
    victim = outside / "file.txt"
    real_sub = os.open(root / "sub", os.O_RDONLY | os.O_DIRECTORY)  # follows the folder's renames

    def attempt() -> str:
        os.close(os.open("file.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=real_sub))
        try:
            deleted = local.unlink("sub/file.txt")
        except OSError:
            return "refused"
        assert victim.exists()
        return "deleted" if deleted else "missing"

    tally = race(
        attempt,
        flipper=Flipper(root / "sub", outside),
        max_attempts=5_000,
        enough=seen(deleted=20, refused=20),
    )
    os.close(real_sub)
    assert victim.read_bytes() == CANARY
    assert tally.outcomes.get("refused", 0) > 0, tally


def test_the_local_object_store_never_follows_a_link(tree: tuple[Path, Path], mode: str) -> None:
    """Operators may let programs drop files into the store for obs:// imports."""
    root, outside = tree
    store = LocalObjectStore(root / "objects", mode=mode)
    store.put("incoming/a/ok.bin", b"ok")
    assert store.get("incoming/a/ok.bin") == b"ok"
    assert store.info("incoming/a/ok.bin")[0] == 2
    (root / "objects" / "incoming" / "a" / "leak.bin").symlink_to(outside / "file.txt")
    (root / "objects" / "incoming" / "dir").symlink_to(outside)
    assert list(store.list("incoming")) == ["incoming/a/ok.bin"]
    assert list(store.list("incoming/dir")) == []
    for key in ("incoming/a/leak.bin", "incoming/dir/file.txt"):
        with pytest.raises(FileNotFoundError):
            store.get(key)
        assert not store.exists(key)
    with pytest.raises(OSError):
        store.put("incoming/dir/new.bin", b"x")  # a write through a linked folder is refused
    store.delete("incoming/dir")  # removes the link, not what it points at
    store.delete("incoming")
    assert (outside / "file.txt").read_bytes() == CANARY
    assert list(store.list("incoming")) == []
