"""File formats LabelArts writes (building blocks: records in, lines or bytes out, no I/O)."""
