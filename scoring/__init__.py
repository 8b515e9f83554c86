"""KOL scoring: an explainable, published-method ranking of authors per watch, with authenticity checks.

Public entry points (import them from their modules; nothing is re-exported here):
- `scoring.kol.rank_kols(windows, now=..., settings=..., edges=..., reference_weights=...) -> Ranking`
- `scoring.report`: `top_kols`, the period-change rules (`score_changes`, `is_turned_negative`,
  `baseline_bounds`; applied by `storage.kol_queries.kol_changes`), `explain`, `to_json_dict`
- `scoring.indices`: 清博-compatible BCI / WCI V14.2 / DCI
- `scoring.settings.ScoringSettings`: the `[scoring]` settings section
- input and output values: `scoring.types`
This package imports nothing of ours but `collectors.base`.
"""
