"""LabelArts: a self-hosted data labeling service that speaks the ModelArts data-management API."""

__version__ = "0.1.0"
__all__ = ["__version__"]
