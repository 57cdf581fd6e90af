"""The app whose receiver (ours) and task (``delay_on_commit``) are compared."""
