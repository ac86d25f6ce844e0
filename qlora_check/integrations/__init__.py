"""Shims that make a user's own training code speak qlora-check's native metrics protocol in one line."""
