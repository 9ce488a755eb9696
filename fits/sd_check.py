"""Is a sampled posterior SD trustworthy? The check the diagnostics gate runs on every scalar.

R-hat and bulk/tail ESS judge location and quantiles; the posterior *SD* can still be off
when the draws' fourth moment is poorly explored (a heavy-tailed posterior such as mu's with
few studies and an uncertain tau), and then its own MCSE is under-estimated too (on a
4-trial review the SD of mu was 17% low while its reported MCSE was smaller than the spread
between seeds). Two checks, per scalar parameter:

* relative MCSE of the SD, ``mcse_sd / sd`` <= :data:`SD_REL_MCSE_MAX`, with ArviZ's
  ``mcse(method="sd")``: the delta method on the ESS of the squared centred draws, which
  accounts for the kurtosis (Vehtari et al. 2021, *Bayesian Analysis* 16:667, sec. 4);
* agreement between chains: each chain's SD has error about ``mcse_sd * sqrt(C)`` (the
  pooled MCSE of C chains is a per-chain one over ``sqrt(C)``), so the spread (sample SD)
  of the C per-chain SDs divided by ``mcse_sd * sqrt(C)`` is about 1 when the MCSE is
  right. Its square is roughly :math:`\\chi^2_{C-1}/(C-1)`; a ratio above
  :data:`SD_SPREAD_MAX` (2.5: probability 3e-4 with four chains) says the chains disagree
  on the SD by more than its MCSE admits, i.e. the MCSE is not to be believed either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

SD_REL_MCSE_MAX = 0.05
SD_SPREAD_MAX = 2.5


def sd_reliability(dt, var_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per scalar parameter: ``sd``, ``mcse_sd``, ``rel_mcse``, ``chain_sd``, ``spread_ratio``, ``reliable``.

    Non-scalar variables and constants are skipped (their components are checked by the
    other gates).
    """
    import arviz_stats as azs

    post = dt["posterior"].to_dataset()
    out: dict[str, dict[str, Any]] = {}
    for name in var_names:
        if name not in post.data_vars or post[name].ndim != 2:
            continue
        x = np.asarray(post[name].values, dtype=float)
        if not np.all(np.isfinite(x)) or np.ptp(x) == 0.0:
            continue
        m = azs.mcse(dt, var_names=[name], method="sd")
        m = m.to_dataset() if hasattr(m, "to_dataset") else m
        mcse = float(np.asarray(m[name].values))
        sd = float(x.std(ddof=1))
        chains = x.shape[0]
        chain_sd = x.std(axis=1, ddof=1)
        rel = mcse / sd if sd > 0 else np.inf
        spread = float(chain_sd.std(ddof=1) / (mcse * np.sqrt(chains))) if chains > 1 and mcse > 0 else float("nan")
        reliable = bool(rel <= SD_REL_MCSE_MAX and not (spread > SD_SPREAD_MAX))
        out[name] = {"sd": sd, "mcse_sd": mcse, "rel_mcse": float(rel), "chain_sd": chain_sd.tolist(),
                     "spread_ratio": spread, "reliable": reliable}
    return out


def sd_problems(info: dict[str, dict[str, Any]]) -> list[str]:
    """One gate message per parameter whose SD is unreliable."""
    msgs = []
    for name, r in info.items():
        if r["reliable"]:
            continue
        why = []
        if r["rel_mcse"] > SD_REL_MCSE_MAX:
            why.append(f"MCSE {100 * r['rel_mcse']:.1f}% of the SD > {100 * SD_REL_MCSE_MAX:.0f}%")
        if r["spread_ratio"] > SD_SPREAD_MAX:
            lo, hi = min(r["chain_sd"]), max(r["chain_sd"])
            why.append(f"chains' SDs {lo:.3g}-{hi:.3g} disagree by {r['spread_ratio']:.1f}x its MCSE")
        msgs.append(f"posterior SD of {name} unreliable ({'; '.join(why)}): run longer or use the exact engine")
    return msgs
