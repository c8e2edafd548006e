"""Data-source sync and dataset monitoring over a real server on loopback."""
