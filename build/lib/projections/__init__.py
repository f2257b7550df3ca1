"""Read models built from the event store, each with its own tracked position."""
