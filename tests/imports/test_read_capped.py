"""The importer's capped read: sized by the listing's size for speed, but always read to the end
of the file, so a file that changed size after it was listed is neither cut nor let past the cap."""

from __future__ import annotations

import io

import pytest

from labelarts.services.importing.checking import read_capped
from labelarts.services.importing.sniff import Rejected


class Trickle(io.RawIOBase):
    """A stream that hands out at most ``step`` bytes per read (like a socket or an object body)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._at = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self._at : self._at + n]
        self._at += len(chunk)
        return chunk


DATA = bytes(range(256)) * 40  # 10,240 bytes


@pytest.mark.parametrize("expected", [None, -1, 0, 100, len(DATA) - 1, len(DATA), len(DATA) + 5, 10**9])
@pytest.mark.parametrize("step", [7, 4096, 10**9])
def test_reads_the_whole_file_whatever_size_was_expected(expected: int | None, step: int) -> None:
    assert read_capped(Trickle(DATA, step), len(DATA), "file", expected=expected) == DATA
    assert read_capped(io.BytesIO(DATA), 10**6, "file", expected=expected) == DATA


@pytest.mark.parametrize("expected", [None, 0, 100, len(DATA) - 2, len(DATA)])
@pytest.mark.parametrize("step", [7, 10**9])
def test_refuses_past_the_cap_even_when_listed_small(expected: int | None, step: int) -> None:
    # The listing said the file was small; it grew past the cap before it was read.
    with pytest.raises(Rejected, match="file is larger than the limit of 10239 bytes"):
        read_capped(Trickle(DATA, step), len(DATA) - 1, "file", expected=expected)


def test_empty_rest() -> None:
    assert read_capped(io.BytesIO(b""), 10, "file", expected=0) == b""
