"""Indicator weights: the entropy weight method (熵权法, note §3) blended with prior weights.

Steps per indicator column j over the authors where it is known (m_j of them):
x' = min-max(x) (callers pass log1p'd counts), p_ij = x'_ij / Σ_i x'_ij,
e_j = −(1/ln m_j)·Σ_i p_ij·ln p_ij with 0·ln 0 = 0, d_j = 1 − e_j, w_j = d_j / Σ d_j.
A constant column carries no information: e_j = 1, d_j = 0.
Blend: w = α·w_entropy + (1 − α)·w_prior. Columns with fewer than `min_pool` known values keep their
prior weight (entropy is unstable on small samples, §3 caveats).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from scoring.normalise import FloatArray, minmax


@dataclass(frozen=True, slots=True)
class WeightReport:
    """The blended weights and how they came about (shown with every ranking)."""

    weights: dict[str, float]
    entropy: dict[str, float | None]  # None: too few values for entropy, prior kept
    prior: dict[str, float]
    alpha: float
    note: str


def entropy_of(column: FloatArray) -> float | None:
    """e_j of one min-max normalised column (NaN = unknown); None with fewer than 2 known values."""

    values = column[~np.isnan(column)]
    m = len(values)
    if m < 2:
        return None
    total = float(values.sum())
    if total == 0.0:
        return 1.0
    p = values / total
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / np.log(m))


def entropy_weights(columns: Mapping[str, FloatArray]) -> dict[str, float]:
    """Plain entropy weights (summing to 1) of already-normalised columns; equal when all are flat."""

    divergence = {}
    for name, column in columns.items():
        e = entropy_of(column)
        divergence[name] = 0.0 if e is None else max(0.0, 1.0 - e)
    total = sum(divergence.values())
    if total == 0.0:
        return {name: 1.0 / len(columns) for name in columns} if columns else {}
    return {name: d / total for name, d in divergence.items()}


def blended_weights(
    raw_columns: Mapping[str, FloatArray],
    prior: Mapping[str, float],
    *,
    alpha: float,
    min_pool: int,
) -> WeightReport:
    """Blend entropy weights of `raw_columns` (min-max normalised here) with `prior` (sums to 1).

    Only columns named in `prior` are weighed.
    """

    if not prior:
        raise ValueError("no prior weights: nothing to weigh")
    names = list(prior)
    usable = [n for n in names if n in raw_columns and int((~np.isnan(raw_columns[n])).sum()) >= min_pool]
    held = [n for n in names if n not in usable]
    usable_mass = sum(prior[n] for n in usable)
    normalised = {n: minmax(raw_columns[n]) for n in usable}
    ent_raw = entropy_weights(normalised)
    flat = bool(usable) and all((e := entropy_of(c)) is None or e >= 1.0 for c in normalised.values())
    weights: dict[str, float] = {}
    entropy: dict[str, float | None] = {}
    for n in names:
        if n in usable and not flat:
            entropy[n] = ent_raw[n]
            weights[n] = alpha * ent_raw[n] * usable_mass + (1.0 - alpha) * prior[n]
        else:
            entropy[n] = None
            weights[n] = prior[n]
    total = sum(weights.values())
    weights = {n: w / total for n, w in weights.items()}
    if not usable or flat:
        note = "prior weights only (pool too small or indicators constant for entropy weights)"
    elif held:
        note = f"entropy α={alpha:g} blended with priors; prior only for {', '.join(held)} (too few values)"
    else:
        note = f"entropy α={alpha:g} blended with priors"
    return WeightReport(weights, entropy, dict(prior), alpha, note)
