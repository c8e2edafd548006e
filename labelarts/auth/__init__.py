"""Authentication: AK/SK request signatures, IAM-style tokens, passwords and project scoping."""
