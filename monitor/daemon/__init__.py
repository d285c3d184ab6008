"""The daemon's engine: schedules probe jobs, guards the key's session budget, exports metrics."""
