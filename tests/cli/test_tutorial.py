"""docs/tutorial.md, run: its commands in order, in one shell, against a loopback server."""

from __future__ import annotations

import pytest

from tests.cli.tutorial import DOC, masked, place, run, shared_data, steps, tutorial_server


def test_the_page_lists_its_steps() -> None:
    found = [step.command for step in steps(DOC.read_text())]
    assert found[:2] == [
        ". .venv/bin/activate",
        "labelarts configure --credentials-file labelarts-data/initial-credentials.json --no-input",
    ]
    assert any(c.startswith("labelarts sample confirm") for c in found)
    assert any(c.startswith("labelarts export") for c in found)


def test_tutorial_steps_run_in_order_and_print_what_the_page_shows() -> None:
    shared = shared_data()
    if shared is None:
        pytest.skip("no ../shared/data/cifar10-train-200 beside the checkout (LABELARTS_SHARED_DATA)")
    all_steps = steps(DOC.read_text())

    with place(shared) as where, tutorial_server(where) as endpoint:
        results = run(all_steps, where, endpoint)
        exported = sorted(p.name for p in (where.exports / "cifar-demo").iterdir())

    assert len(results) == len(all_steps)
    for step, (status, output) in zip(all_steps, results, strict=True):
        assert status == 0, f"$ {step.command}\n{output}"
        assert masked(output) == masked(step.shown), f"$ {step.command}\npage:\n{step.shown}\nrun:\n{output}"
    # Confirmed labels came out as class folders.
    assert {"cat", "ship"} <= set(exported)
