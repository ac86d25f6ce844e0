"""`qlora-check doctor`: what this host can run, detected cheaply and proven by subprocess probes.

Nothing here imports torch or mlx in the calling process: device details and probes run in
`qlora_check.doctor.probe_worker` subprocesses, and their verdicts are cached per environment.
"""
