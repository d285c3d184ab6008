"""The daemon's web app: /metrics, /healthz, /api/results and the status page."""
