"""Vectorised normalisations shared by the weights, the score and the fraud checks.

Missing values are NaN throughout and stay NaN: a missing indicator is never turned into a 0.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def minmax(column: FloatArray) -> FloatArray:
    """Benefit-oriented min-max to [0, 1] over the known values; a constant column maps to 0."""

    out = np.full(column.shape, np.nan)
    known = ~np.isnan(column)
    if not known.any():
        return out
    values = column[known]
    low, high = float(values.min()), float(values.max())
    out[known] = 0.0 if high == low else (values - low) / (high - low)
    return out


def percentile(column: FloatArray) -> FloatArray:
    """Mid-rank percentile in (0, 1): (#below + ½·#equal) / n over the known values.

    Ties share a value and a single author gets 0.5, so a lone or tied author is placed in the
    middle rather than at the bottom.
    """

    out = np.full(column.shape, np.nan)
    known = ~np.isnan(column)
    n = int(known.sum())
    if n == 0:
        return out
    values = column[known]
    ordered = np.sort(values)
    below = np.searchsorted(ordered, values, side="left")
    upto = np.searchsorted(ordered, values, side="right")
    out[known] = (below + 0.5 * (upto - below)) / n
    return out


def group_index(labels: Sequence[Hashable]) -> dict[Hashable, NDArray[np.int64]]:
    """Row indices per distinct label, in first-seen order."""

    rows: dict[Hashable, list[int]] = {}
    for i, label in enumerate(labels):
        rows.setdefault(label, []).append(i)
    return {label: np.asarray(idx, dtype=np.int64) for label, idx in rows.items()}


def robust_z(column: FloatArray) -> FloatArray:
    """(x − median) / (1.4826·MAD) over the known values (note §4.2), NaN where unknown.

    Robust because planted fraud inflates a plain standard deviation and hides itself. When more
    than half the values are equal (MAD = 0) the mean absolute deviation stands in; a constant
    column gives z = 0.
    """

    out = np.full(column.shape, np.nan)
    known = ~np.isnan(column)
    if not known.any():
        return out
    values = column[known]
    centre = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - centre)))
    if spread == 0.0:
        spread = 1.2533 * float(np.mean(np.abs(values - centre)))  # √(π/2): MeanAD → σ for normal data
    out[known] = 0.0 if spread == 0.0 else (values - centre) / spread
    return out
