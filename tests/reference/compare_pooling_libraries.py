"""Measure how closely Python meta-analysis libraries reproduce the pinned metafor values.

Run from the repository root:  .venv/bin/python tests/reference/compare_pooling_libraries.py
Prints, per dataset and method, the maximum absolute difference over estimate, se, ci_low,
ci_high, tau2 (and, for vfsynth.data.pooling, i2, q, pi_low, pi_high) against
tests/reference/metafor_rma.json. The numbers are quoted in data/README.md.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
REF = json.loads((Path(__file__).resolve().parent / "metafor_rma.json").read_text())["cases"]
CORE = ("estimate", "se", "ci_low", "ci_high", "tau2")
ALL = CORE + ("i2", "q", "pi_low", "pi_high")


def worst(got: dict, want: dict, keys) -> float:
    return max(abs(float(got[k]) - float(want[k])) for k in keys)


def ours(y, v, m):
    from vfsynth.data.pooling import pool

    return pool(y, v, m).to_dict()


def statsmodels_fit(y, v, m):
    from statsmodels.stats.meta_analysis import combine_effects

    if m == "REML":
        return None  # not offered (method_re is "chi2" = DL or "iterated" = Paule-Mandel)
    r = combine_effects(y, v, method_re="chi2", use_t=False)
    row = r.summary_frame().loc["fixed effect" if m == "FE" else "random effect"]
    return dict(estimate=row["eff"], se=row["sd_eff"], ci_low=row["ci_low"], ci_high=row["ci_upp"],
                tau2=0.0 if m == "FE" else r.tau2)  # fmt: skip


def pymare_fit(y, v, m):
    import pymare

    est = {
        "FE": pymare.estimators.WeightedLeastSquares(tau2=0),
        "DL": pymare.estimators.DerSimonianLaird(),
        "REML": pymare.estimators.VarianceBasedLikelihoodEstimator(method="REML"),
    }[m]
    est.fit_dataset(pymare.Dataset(y=y, v=v))
    s = est.summary()
    fe = s.get_fe_stats()
    return dict(estimate=fe["est"].ravel()[0], se=fe["se"].ravel()[0], ci_low=fe["ci_l"].ravel()[0],
                ci_high=fe["ci_u"].ravel()[0], tau2=float(np.ravel(s.tau2)[0]))  # fmt: skip


def main() -> None:
    print(f"{'dataset':32s} {'method':6s} {'vfsynth(pimeta)':>16s} {'statsmodels':>12s} {'PyMARE':>10s}")
    for name, c in REF.items():
        if "FE" not in c or c["k"] < 2:
            continue
        y, v = np.asarray(c["yi"], float), np.asarray(c["vi"], float)
        for m in ("FE", "DL", "REML"):
            cells = [f"{worst(ours(y, v, m), c[m], ALL):16.1e}"]
            for fit in (statsmodels_fit, pymare_fit):
                try:
                    got = fit(y, v, m)
                    cells.append("n/a" if got is None else f"{worst(got, c['REML_tight' if (m == 'REML' and fit is pymare_fit) else m], CORE):.1e}")
                except Exception as exc:  # noqa: BLE001 - report, do not stop
                    cells.append(type(exc).__name__)
            print(f"{name:32s} {m:6s} {cells[0]} {cells[1]:>12s} {cells[2]:>10s}")


if __name__ == "__main__":
    main()
