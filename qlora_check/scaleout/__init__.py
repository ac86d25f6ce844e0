"""Scale-out: one matrix over a Ray pool (resources from each node's doctor) and GitHub Actions shards.

Nothing here imports ray at module level: `--help` and `plan` stay fast, and ray is an extra.
"""
