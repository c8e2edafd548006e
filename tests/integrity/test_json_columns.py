"""JSON columns read back exactly what was written, on both databases and whichever form the
driver hands over (SQLite: text; psycopg: bytes), although most reads go through orjson."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from labelarts.services.samples.records import insert_sample_rows
from labelarts.storage.db import Database
from labelarts.storage.db.dialect import loads_json
from labelarts.storage.db.models import Sample
from tests.jobs import make_dataset, one_sample_rows

# Integers past 64 bits (which orjson would read as floats), every float a database keeps,
# text beyond the BMP: what a manifest's properties or a sample's metadata may hold.
STORABLE_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
)


def json_values(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )


# What only json.loads reads: NaN and infinities (Python's json writes them) and lone
# surrogate escapes, which orjson refuses.
ANY_SCALARS = STORABLE_SCALARS | st.floats() | st.text(st.characters(), max_size=8)


@given(value=json_values(ANY_SCALARS))
@settings(max_examples=300)
def test_loads_json_reads_text_and_bytes_as_json_loads_does(value: Any) -> None:
    text = json.dumps(value)
    expected = repr(json.loads(text))  # repr: NaN equals itself, 1 and 1.0 and True differ
    assert repr(loads_json(text)) == expected
    assert repr(loads_json(text.encode("utf-8"))) == expected


def test_json_columns_read_back_what_was_written(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    dataset_id = make_dataset(db, "p" * 32)
    sample, _ = one_sample_rows(dataset_id)
    with db.session(write=True) as session:
        insert_sample_rows(session, [sample], [])

    @given(value=json_values(STORABLE_SCALARS))
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def round_trip(value: Any) -> None:
        metadata = {"value": value}
        with db.session(write=True) as session:
            session.execute(update(Sample).where(Sample.id == sample["id"]).values(metadata_=metadata))
        with db.reading() as connection:
            read = connection.execute(select(Sample.metadata_).where(Sample.id == sample["id"])).scalar_one()
        assert repr(read) == repr(json.loads(json.dumps(metadata)))

    round_trip()
    db.dispose()
