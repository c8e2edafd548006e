"""The ``labelarts`` command line: ``serve``, ``user``, ``dataset``, ``label``."""
