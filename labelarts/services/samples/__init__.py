"""Samples: records and their wire form, listing and search, edits, and pre-signed sources."""
