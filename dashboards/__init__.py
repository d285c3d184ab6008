"""Grafana dashboards as code: one module per dashboard, `panels` for what they share, `generate` to render.

The rendered JSON (`dashboards/*.json`) is committed and provisioned by `config/grafana/`;
`docs/dashboards.md` is rendered from the same code. Regenerate both with `python dashboards/generate.py`.
"""
