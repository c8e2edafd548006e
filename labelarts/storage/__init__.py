"""Persistence: the relational database (``db``) and the object store (``objects``)."""
