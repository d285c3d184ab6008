"""Bounded chaos soaks that CI runs: the daemon against a misbehaving emulator and a failing disk."""
