"""Team labeling tasks (ModelArts workforce tasks): dealing, review, acceptance."""
