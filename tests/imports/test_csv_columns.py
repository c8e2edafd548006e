"""Text datasets' ``.csv`` files read as columns (``with_column_header`` given): with and
without a header, named columns, quoted cells, and the refusals."""

from __future__ import annotations

from tests.api import World, unique_name
from tests.imports import create, run_import, samples_of, world_fixture, write

world = world_fixture("csv-columns")


def texts(world: World, dataset_id: str) -> dict[str, list[str]]:
    return {text: row.names for text, row in samples_of(world, dataset_id, key="text").items()}


def test_csv_with_a_header(world: World) -> None:
    root = write(
        world.imports / unique_name("csv"),
        {
            "a.csv": 'text,label\n"hello, world",positive\nbad day,"negative,sad"\nno label here,\n\n',
            "b.txt": "a line\tneutral\n",  # .txt files stay lines
        },
    )
    dataset_id = create(world, 100)
    task = run_import(world, dataset_id, root, with_column_header=True)
    assert texts(world, dataset_id) == {
        "hello, world": ["positive"],
        "bad day": ["negative", "sad"],
        "no label here": [],
        "a line": ["neutral"],
    }
    assert task["imported_sample_count"] == 4 and task["failed_file_count"] == 0
    line = samples_of(world, dataset_id, key="text")["bad day"].sample
    assert line.metadata_["@labelarts:source_line"] == 3  # the header is line 1


def test_csv_without_a_header_and_named_columns(world: World) -> None:
    plain = write(world.imports / unique_name("csv"), {"p.csv": "first text,pos\nsecond text,neg\n"})
    dataset_id = create(world, 100)
    run_import(world, dataset_id, plain, with_column_header=False)
    assert texts(world, dataset_id) == {"first text": ["pos"], "second text": ["neg"]}

    named = write(
        world.imports / unique_name("csv"), {"n.csv": "id,Content,tag\n1,some words,x\n2,more words,y\n"}
    )
    other = create(world, 100)
    run_import(world, other, named, with_column_header=True, text_column="content", label_column="TAG")
    assert texts(world, other) == {"some words": ["x"], "more words": ["y"]}

    by_index = create(world, 100)
    run_import(world, by_index, named, with_column_header=True, text_column=1, label_column=0)
    assert texts(world, by_index) == {"some words": ["1"], "more words": ["2"]}


def test_csv_refusals(world: World) -> None:
    root = write(world.imports / unique_name("csv"), {"m.csv": "id,body\n1,words\n"})
    dataset_id = create(world, 100)
    task = run_import(world, dataset_id, root, with_column_header=True, text_column="text_missing")
    assert task["failed_file_count"] == 1 and task["imported_sample_count"] == 0
    assert "no column" in task["failed_files"][0]["reason"]
    bad = world.alice.aksk.post(
        world.alice.v2(f"/datasets/{dataset_id}/import-tasks"),
        json={"import_path": str(root), "with_column_header": True, "label_column": -1},
    )
    assert bad.status_code == 400 and bad.json()["error_code"] == "ModelArts.0104"
