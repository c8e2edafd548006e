"""Request and response models with ModelArts field names."""
