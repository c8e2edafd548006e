"""``python -m labelarts``: the ``labelarts`` command (how ``serve`` starts its workers)."""

from labelarts.cli.main import app

app(prog_name="labelarts")
