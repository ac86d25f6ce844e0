"""Running cells: planning, isolation, scheduling, and the worker that runs inside each cell's process."""
