"""Resource ids (``clock.new_resource_id``): ModelArts' shape, drawn uniformly from A-Z a-z 0-9."""

from __future__ import annotations

import string
from collections import Counter

from labelarts.clock import new_resource_id, new_sample_id

ALPHANUM = string.ascii_letters + string.digits


def test_ids_have_the_modelarts_shape() -> None:
    ids = [new_resource_id() for _ in range(2000)] + [new_resource_id(40) for _ in range(100)]
    assert all(len(i) == 19 for i in ids[:2000]) and all(len(i) == 40 for i in ids[2000:])
    assert all(set(i) <= set(ALPHANUM) for i in ids)
    assert len(set(ids)) == len(ids)


def test_every_character_is_drawn_about_equally_often() -> None:
    # 62 characters over 190,000 draws: about 3,065 each (sd ~55). A biased mapping (``% 62``
    # without rejecting bytes 248-255) makes the first 8 characters ~25% more frequent.
    counts = Counter("".join(new_resource_id() for _ in range(10_000)))
    assert set(counts) == set(ALPHANUM)
    expected = 190_000 / 62
    assert all(abs(n - expected) < 0.1 * expected for n in counts.values()), counts.most_common(3)


def test_sample_ids_have_the_shape_of_resource_ids_and_a_random_part() -> None:
    ids = [new_sample_id() for _ in range(20_000)]  # most share their millisecond with others
    assert all(len(i) == 20 and set(i) <= set(ALPHANUM) for i in ids)
    assert len(set(ids)) == len(ids)
    # The last 11 characters are drawn like a resource id's: all 62 about equally often.
    counts = Counter("".join(i[9:] for i in ids))
    expected = 220_000 / 62
    assert all(abs(n - expected) < 0.1 * expected for n in counts.values()), counts.most_common(3)
