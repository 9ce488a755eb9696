"""The diagnostics gate run after every fit.

Checks (ArviZ 1.x, :mod:`arviz_stats`):

* rank-normalised split R-hat <= 1.01 for every parameter (Vehtari, Gelman, Simpson,
  Carpenter & Bürkner 2021, *Bayesian Analysis* 16:667);
* bulk- and tail-ESS >= 100 per chain (same paper, section 4);
* no divergent transitions (Betancourt 2017, arXiv:1701.02434);
* no transitions that hit the maximum tree depth (an efficiency, not validity, warning);
* E-BFMI >= 0.3 in every chain (Betancourt 2016, arXiv:1604.00695);
* every scalar's posterior SD reliable: relative MCSE of the SD and agreement of the
  chains' SDs (:mod:`vfsynth.fits.sd_check`).

Problems produce exactly ONE :class:`FitWarning` per fit, listing per-chain divergence
and tree-depth counts (the way CmdStanPy's ``diagnose`` reports them).
:func:`sample_gated` re-runs a fit with divergences at a higher ``target_accept``
(0.9 -> 0.95 -> 0.99: at most two re-runs), logging each attempt; the verdict (a
JSON-friendly dict) is stored with the fit.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfsynth.fits.sd_check import sd_problems, sd_reliability

log = logging.getLogger(__name__)

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
EBFMI_MIN = 0.3
TARGET_ACCEPT_LADDER = (0.9, 0.95, 0.99)

# Variables that are not parameters of interest: constant data or exact functions of others
# whose diagnostics are implied (and e.g. R-hat of a constant is NaN).
_SKIP = ()


class FitWarning(UserWarning):
    """Convergence / sampling-efficiency problems in a fit (one per fit)."""


def _stat(ss, *names):
    for n in names:
        if n in ss.data_vars:
            return ss[n]
    return None


def _param_names(post) -> list[str]:
    out = []
    for name, da in post.data_vars.items():
        vals = np.asarray(da.values, dtype=float)
        if not np.all(np.isfinite(vals)):
            out.append(name)  # keep: non-finite draws must fail the gate
            continue
        # a variable constant across draws (e.g. a fixed nu) has no R-hat / ESS
        if np.ptp(vals.reshape(vals.shape[0] * vals.shape[1], -1), axis=0).max(initial=0.0) == 0.0:
            continue
        out.append(name)
    return out


def diagnose(dt, *, max_treedepth: int = 10, var_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Compute the gate verdict for a fitted DataTree.

    Returns
    -------
    dict
        ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail`` (over all scalar components of the
        checked variables), ``divergences`` (total) and ``divergences_per_chain``,
        ``treedepth_hits`` and ``treedepth_per_chain``, ``ebfmi`` (per chain) and
        ``ebfmi_min``, ``n_draws``, ``chains``, ``worst`` (variable with max R-hat),
        ``problems`` (list of human-readable strings) and ``passed`` (bool).
    """
    import arviz_stats as azs

    post = dt["posterior"].to_dataset()
    chains = int(post.sizes["chain"])
    draws = int(post.sizes["draw"])
    names = list(var_names) if var_names is not None else _param_names(post)
    names = [n for n in names if n not in _SKIP and n in post.data_vars]
    sub = post[names]

    # Components constant across every draw (e.g. the fixed zeros and leading one of an LKJ
    # Cholesky factor) have no R-hat / ESS (arviz returns NaN); they are not evidence of
    # non-convergence, so they are left out. Non-finite draws were kept above and still fail.
    def _varying(n):
        vals = np.asarray(sub[n].values, dtype=float)
        flat = vals.reshape(vals.shape[0] * vals.shape[1], -1)
        keep = ~(np.all(np.isfinite(flat), axis=0) & (np.ptp(flat, axis=0) == 0.0))
        return keep.reshape(vals.shape[2:]) if vals.ndim > 2 else keep.reshape(())

    def _extreme(ds, fn):
        vals = {}
        for n in ds.data_vars:
            arr = np.asarray(ds[n].values, dtype=float)
            keep = _varying(n)
            vals[n] = float(fn(arr[keep] if arr.ndim else arr))
        return vals

    rhat = azs.rhat(dt, var_names=names)
    ess_b = azs.ess(dt, var_names=names, method="bulk")
    ess_t = azs.ess(dt, var_names=names, method="tail")
    rhat_ds = rhat.to_dataset() if hasattr(rhat, "to_dataset") else rhat
    essb_ds = ess_b.to_dataset() if hasattr(ess_b, "to_dataset") else ess_b
    esst_ds = ess_t.to_dataset() if hasattr(ess_t, "to_dataset") else ess_t
    # NaN (e.g. from non-finite draws) must count as failure: nanmax would hide it.
    r_by = _extreme(rhat_ds, lambda a: np.inf if np.isnan(a).any() else a.max())
    eb_by = _extreme(essb_ds, lambda a: 0.0 if np.isnan(a).any() else a.min())
    et_by = _extreme(esst_ds, lambda a: 0.0 if np.isnan(a).any() else a.min())
    max_rhat = max(r_by.values()) if r_by else float("nan")
    worst = max(r_by, key=r_by.get) if r_by else None
    min_ess_bulk = min(eb_by.values()) if eb_by else float("nan")
    min_ess_tail = min(et_by.values()) if et_by else float("nan")

    ss = dt["sample_stats"].to_dataset()
    div = _stat(ss, "diverging", "divergent")
    div_chain = [int(x) for x in np.asarray(div.sum("draw").values)] if div is not None else [0] * chains
    hit = _stat(ss, "reached_max_treedepth", "maxdepth_reached")
    if hit is not None:
        td_chain = [int(x) for x in np.asarray(hit.sum("draw").values)]
    else:
        depth = _stat(ss, "tree_depth", "depth", "num_doublings")
        if depth is not None:
            td_chain = [int(x) for x in np.asarray((depth >= max_treedepth).sum("draw").values)]
        else:
            n_steps = _stat(ss, "n_steps", "num_integration_steps")
            if n_steps is not None:
                td_chain = [int(x) for x in np.asarray((n_steps >= 2**max_treedepth - 1).sum("draw").values)]
            else:
                td_chain = [0] * chains
    ebfmi: list[float] = []
    if "energy" in ss.data_vars:
        b = azs.bfmi(dt)
        b = b["energy"] if hasattr(b, "data_vars") or hasattr(b, "children") else b
        ebfmi = [float(x) for x in np.ravel(np.asarray(getattr(b, "values", b)))]
    ebfmi_min = min(ebfmi) if ebfmi else float("nan")

    ess_min = ESS_PER_CHAIN_MIN * chains
    problems: list[str] = []
    if not max_rhat <= RHAT_MAX:
        problems.append(f"R-hat {max_rhat:.3f} > {RHAT_MAX} (worst: {worst})")
    if not min_ess_bulk >= ess_min:
        problems.append(f"bulk ESS {min_ess_bulk:.0f} < {ess_min} ({ESS_PER_CHAIN_MIN} per chain)")
    if not min_ess_tail >= ess_min:
        problems.append(f"tail ESS {min_ess_tail:.0f} < {ess_min} ({ESS_PER_CHAIN_MIN} per chain)")
    if sum(div_chain):
        problems.append(f"{sum(div_chain)} divergent transitions")
    if sum(td_chain):
        problems.append(f"{sum(td_chain)} transitions hit max tree depth {max_treedepth}")
    if ebfmi and ebfmi_min < EBFMI_MIN:
        problems.append(f"E-BFMI {ebfmi_min:.2f} < {EBFMI_MIN}")
    sd_info = sd_reliability(dt, names)
    problems.extend(sd_problems(sd_info))
    return {
        "max_rhat": float(max_rhat),
        "worst": worst,
        "min_ess_bulk": float(min_ess_bulk),
        "min_ess_tail": float(min_ess_tail),
        "divergences": int(sum(div_chain)),
        "divergences_per_chain": div_chain,
        "treedepth_hits": int(sum(td_chain)),
        "treedepth_per_chain": td_chain,
        "max_treedepth": int(max_treedepth),
        "ebfmi": ebfmi,
        "ebfmi_min": float(ebfmi_min),
        "chains": chains,
        "n_draws": draws,
        "sd_reliability": sd_info,
        "problems": problems,
        "passed": not problems,
    }


def format_warning(verdict: dict[str, Any], label: str = "fit") -> str:
    """The one warning text for a fit, CmdStanPy style: per-chain counts and what to do."""
    n = verdict["n_draws"]
    lines = [f"{label}: sampling problems: " + "; ".join(verdict["problems"]) + "."]
    for c, (d, t) in enumerate(zip(verdict["divergences_per_chain"], verdict["treedepth_per_chain"], strict=True)):
        eb = verdict["ebfmi"][c] if c < len(verdict["ebfmi"]) else float("nan")
        lines.append(
            f"  chain {c + 1}: {d} of {n} ({100 * d / n:.1f}%) divergent; "
            f"{t} of {n} ({100 * t / n:.1f}%) hit max tree depth; E-BFMI {eb:.2f}"
        )
    attempts = verdict.get("attempts") or []
    if len(attempts) > 1:
        tried = ", ".join(f"{a['target_accept']}: {a['divergences']} div" for a in attempts)
        lines.append(f"  re-runs with higher target_accept ({tried})")
    if verdict["divergences"]:
        lines.append("  Divergences mean the posterior may be biased; do not trust this fit without checking.")
    if verdict["max_rhat"] > RHAT_MAX or verdict["min_ess_bulk"] < ESS_PER_CHAIN_MIN * verdict["chains"]:
        lines.append("  Run longer (more --draws / --tune) or more chains.")
    return "\n".join(lines)


def sample_gated(
    model,
    *,
    target_accept: float = TARGET_ACCEPT_LADDER[0],
    max_reruns: int = 2,
    label: str = "fit",
    warn: bool = True,
    **sample_kwargs,
) -> tuple[Any, dict[str, Any]]:
    """Sample, run the gate, and re-run (bounded) at higher ``target_accept`` on divergences.

    The ladder is ``target_accept`` followed by the higher rungs of
    :data:`TARGET_ACCEPT_LADDER` (0.9 -> 0.95 -> 0.99), at most ``max_reruns`` re-runs. The
    same seed is used on every rung so the result is still a function of the one seed.
    Returns the last DataTree and its verdict, with ``attempts`` (target_accept and
    divergences of each run) and ``target_accept`` added. Emits at most one
    :class:`FitWarning`.
    """
    from vfsynth.fits.sampling import sample_model

    ladder = [target_accept] + [t for t in TARGET_ACCEPT_LADDER if t > target_accept]
    ladder = ladder[: max_reruns + 1]
    attempts = []
    max_td = int(sample_kwargs.get("max_treedepth", 10))
    for i, ta in enumerate(ladder):
        dt = sample_model(model, target_accept=ta, **sample_kwargs)
        verdict = diagnose(dt, max_treedepth=max_td)
        attempts.append({"target_accept": ta, "divergences": verdict["divergences"]})
        if verdict["divergences"] == 0 or i == len(ladder) - 1:
            break
        log.warning(
            "%s: %d divergent transitions at target_accept=%s; re-running at %s",
            label, verdict["divergences"], ta, ladder[i + 1],
        )
    verdict["attempts"] = attempts
    verdict["target_accept"] = attempts[-1]["target_accept"]
    if warn and not verdict["passed"]:
        warnings.warn(format_warning(verdict, label), FitWarning, stacklevel=2)
    dt.attrs["vfsynth_verdict_passed"] = int(verdict["passed"])
    return dt, verdict
