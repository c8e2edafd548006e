"""Domain services: the logic behind the API. Nothing here imports FastAPI."""
