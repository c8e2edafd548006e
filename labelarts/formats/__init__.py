"""File formats LabelArts writes (building blocks: records in, lines, bytes or files in a
folder the caller gives out; no database, no services, no grants)."""
