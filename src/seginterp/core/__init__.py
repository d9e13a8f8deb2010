"""Shared plumbing of every stage: params, determinism, I/O, run logs, torchrun, registries."""
