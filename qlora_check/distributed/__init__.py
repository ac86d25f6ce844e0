"""Multi-process cells: rank launch, rendezvous (file://), wrapping (DDP, FSDP, FSDP2) and rank checks.

A cell with ``world_size`` > 1 runs as ``world_size`` rank processes forked from the cell's worker (warm:
the heavy imports were paid by the fork server) that rendezvous through a file in the cell's work dir.
The worker watches every rank, then trains a single-process reference over the same per-rank split.
Nothing here is imported at CLI time: torch is imported inside the functions that need it.
"""
