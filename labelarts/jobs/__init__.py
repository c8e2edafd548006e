"""Background work: one task state machine and the executors that run tasks."""
