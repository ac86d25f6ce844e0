"""Launchers: how a job becomes a process (spawn, fork server); one base, one classifier."""
