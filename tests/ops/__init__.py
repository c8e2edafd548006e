"""Operating LabelArts: migrations, logging, metrics, the public URL."""
