"""Write, validate and read ``vfsynth-priors/1`` prior files.

Holds the file side of the portable priors that :mod:`vfsynth.fits.prior_export` builds:

* :data:`FORMAT` and :data:`FORMAT_DOC` -- the format's name and its documentation;
* :func:`write_priors`, :func:`validate_priors` and :func:`read_priors` -- writing, checking
  (:class:`PriorFileError` names the offending key path) and reading a file;
* :class:`PriorSet` -- a file's priors as :class:`~vfsynth.models.priors.Prior` objects, with
  the robust mixture and power-prior discount applied on use (:func:`_location_prior`,
  :func:`_scale_prior`, :func:`gamma_tau_prior`);
* :func:`elir_ess` -- the expected local-information-ratio effective sample size of a prior
  (Neuenschwander, Weber, Schmidli & O'Hagan 2020, *Biometrics* 76:1149–1158).

The methods (what is fitted, the robust mixture, the discount, the ESS) are described in
:mod:`vfsynth.fits.prior_export`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from vfsynth.data.errors import VfsynthError
from vfsynth.models import priors as P

FORMAT = "vfsynth-priors/1"

FORMAT_DOC = """\
vfsynth-priors/1 (JSON object)
  format        "vfsynth-priors/1"                                   (required)
  created       ISO-8601 time stamp                                  (optional)
  source        {fit_id, kind, model, review, outcome(s), timepoint, measure, k, n_draws,
                 data_hash, priors (the fit's own priors, to_dict form)}   (required object)
  parameters    list (required, non-empty) of objects:
    parameter     "mu" | "tau" | "mediation" | "correlation"         (required)
    name          variable name in the fit (mu, tau, b, corr_pairs...) (required)
    label         outcome / construct / pair label ("" for scalars)     (required)
    measure       "SMD" | "logOR" | "MD" | "" (correlations, mediation on SMD scale)
    family        mu / mediation: "normal" | "normal-mixture";
                  tau: "lognormal" | "gamma" | "inverse-gamma" | "half-normal";
                  correlation: "beta"                                    (required)
    params        family parameters: normal {loc, scale}; normal-mixture {weights[], locs[],
                  scales[]}; lognormal {m, s}; gamma {shape, rate}; inverse-gamma {shape,
                  scale}; half-normal {scale}; beta {a, b} on (r+1)/2      (required)
    posterior     {mean, sd, quantiles {"0.025": ..}, p_positive}     (required)
    fit           {quantile_error {"0.025": ..}, max_abs_quantile_error,
                   max_abs_quantile_error_sd, kl_estimate, candidates {family: max error sd}}
    unit_sd       unit-information SD used for the ESS (or null)
    ess           {value, method} or null
  joint         list (optional) of {label, method, tau[], weights[], mu_mean[], mu_sd[]}: the
                mu|tau dependence as equal-probability tau bins (exact-engine updates)
  robust        {weight w in [0, 1), scale (vague SD; default unit_sd)} or null (default for
                use; the CLI may override)
  power_alpha   number in (0, 1] (default 1: no discount)
"""


def gamma_tau_prior(shape: float, rate: float, description: str = "") -> P.Prior:
    """Gamma(shape, rate) prior on tau from an exported fit: the registry family
    (:func:`vfsynth.models.priors.gamma_tau`), named ``exported``."""
    return P.gamma_tau(shape, rate, name="exported", citation="vfsynth prior export", description=description)


# --------------------------------------------------------------------------------------------
# Effective sample size
# --------------------------------------------------------------------------------------------


def elir_ess(prior, unit_sd: float) -> float:
    """Expected local-information-ratio ESS of a prior on a location parameter.

    ``ESS = sigma_u^2 * E_p[-d^2/dx^2 log p(x)]`` (Neuenschwander et al. 2020). For a normal
    prior it equals ``(sigma_u / sd)^2`` exactly (Morita et al. 2008). Computed by quadrature
    on a fine grid over the prior's mass.
    """
    if isinstance(prior, P.Prior) and prior.family == "normal":
        return (unit_sd / prior.params["scale"]) ** 2
    lo, hi = (float(v) for v in prior.ppf([1e-7, 1 - 1e-7]))
    x = np.linspace(lo, hi, 20001)
    h = x[1] - x[0]
    lp = np.asarray(prior.logpdf(x), dtype=float)
    d2 = np.gradient(np.gradient(lp, h), h)
    dens = np.exp(lp)
    info = float(np.trapezoid(dens * -d2, x) / np.trapezoid(dens, x))
    return unit_sd**2 * info


def write_priors(obj: dict[str, Any], path: str | Path) -> Path:
    validate_priors(obj)
    path = Path(path)
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# Reading and validation
# --------------------------------------------------------------------------------------------


class PriorFileError(VfsynthError, ValueError):
    """A ``vfsynth-priors`` file that is malformed; the message names the key path."""


_FAMILY_PARAMS = {
    "normal": ("loc", "scale"),
    "normal-mixture": ("weights", "locs", "scales"),
    "lognormal": ("m", "s"),
    "gamma": ("shape", "rate"),
    "inverse-gamma": ("shape", "scale"),
    "half-normal": ("scale",),
    "beta": ("a", "b"),
}
_PARAM_FAMILIES = {"mu": ("normal", "normal-mixture"), "mediation": ("normal", "normal-mixture"),
                   "tau": ("lognormal", "gamma", "inverse-gamma", "half-normal"), "correlation": ("beta",)}


def _num(v, where: str, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise PriorFileError(f"{where}: expected a finite number, got {v!r}")
    if positive and v <= 0:
        raise PriorFileError(f"{where}: must be > 0, got {v!r}")
    return float(v)


def validate_priors(obj: Any) -> dict[str, Any]:
    """Check a ``vfsynth-priors/1`` object; raise :class:`PriorFileError` naming the bad key."""
    if not isinstance(obj, dict):
        raise PriorFileError("top level: expected a JSON object")
    fmt = obj.get("format")
    if fmt is None:
        raise PriorFileError("format: missing (expected 'vfsynth-priors/1')")
    if fmt != FORMAT:
        raise PriorFileError(f"format: unsupported {fmt!r} (this vfsynth reads {FORMAT!r})")
    if not isinstance(obj.get("source"), dict):
        raise PriorFileError("source: missing or not an object")
    ps = obj.get("parameters")
    if not isinstance(ps, list) or not ps:
        raise PriorFileError("parameters: missing or empty list")
    for i, p in enumerate(ps):
        where = f"parameters[{i}]"
        if not isinstance(p, dict):
            raise PriorFileError(f"{where}: expected an object")
        for key in ("parameter", "name", "label", "family", "params", "posterior"):
            if key not in p:
                raise PriorFileError(f"{where}.{key}: missing")
        kind = p["parameter"]
        if not isinstance(kind, str) or kind not in _PARAM_FAMILIES:  # a list/dict is not hashable
            raise PriorFileError(f"{where}.parameter: unknown {kind!r} (one of {', '.join(_PARAM_FAMILIES)})")
        fam = p["family"]
        if fam not in _PARAM_FAMILIES[kind]:
            raise PriorFileError(f"{where}.family: {fam!r} is not a {kind} family (one of {', '.join(_PARAM_FAMILIES[kind])})")
        prm = p["params"]
        if not isinstance(prm, dict):
            raise PriorFileError(f"{where}.params: expected an object")
        need = _FAMILY_PARAMS[fam]
        missing = [k for k in need if k not in prm]
        if missing:
            raise PriorFileError(f"{where}.params.{missing[0]}: missing for family {fam!r}")
        extra = [k for k in prm if k not in need]
        if extra:
            raise PriorFileError(f"{where}.params.{extra[0]}: unexpected for family {fam!r}")
        if fam == "normal-mixture":
            lens = {k: len(prm[k]) if isinstance(prm[k], list) else -1 for k in need}
            if len(set(lens.values())) != 1 or -1 in lens.values() or lens["weights"] == 0:
                raise PriorFileError(f"{where}.params: weights, locs and scales must be lists of one length")
            for k in need:
                for j, v in enumerate(prm[k]):
                    _num(v, f"{where}.params.{k}[{j}]", positive=(k == "scales"))
            if any(v < 0 for v in prm["weights"]) or not math.isclose(sum(prm["weights"]), 1.0, abs_tol=1e-6):
                raise PriorFileError(f"{where}.params.weights: must be >= 0 and sum to 1")
        else:
            for k in need:
                _num(prm[k], f"{where}.params.{k}", positive=k in ("scale", "s", "shape", "rate", "a", "b"))
        post = p["posterior"]
        if not isinstance(post, dict):
            raise PriorFileError(f"{where}.posterior: expected an object")
        for k in ("mean", "sd"):
            if k not in post:
                raise PriorFileError(f"{where}.posterior.{k}: missing")
            _num(post[k], f"{where}.posterior.{k}")
    joint = obj.get("joint", [])
    if not isinstance(joint, list):
        raise PriorFileError("joint: expected a list")
    for i, j in enumerate(joint):
        where = f"joint[{i}]"
        if not isinstance(j, dict):
            raise PriorFileError(f"{where}: expected an object")
        for key in ("label", "tau", "weights", "mu_mean", "mu_sd"):
            if key not in j:
                raise PriorFileError(f"{where}.{key}: missing")
        n = {k: len(j[k]) if isinstance(j[k], list) else -1 for k in ("tau", "weights", "mu_mean", "mu_sd")}
        if len(set(n.values())) != 1 or -1 in n.values() or n["tau"] == 0:
            raise PriorFileError(f"{where}: tau, weights, mu_mean and mu_sd must be lists of one length")
        for k in ("tau", "weights", "mu_mean", "mu_sd"):
            for b, v in enumerate(j[k]):
                _num(v, f"{where}.{k}[{b}]", positive=k in ("tau", "mu_sd"))
        if any(v < 0 for v in j["weights"]) or not math.isclose(sum(j["weights"]), 1.0, abs_tol=1e-6):
            raise PriorFileError(f"{where}.weights: must be >= 0 and sum to 1")
    rob = obj.get("robust")
    if rob is not None:
        if not isinstance(rob, dict) or "weight" not in rob:
            raise PriorFileError("robust: expected null or an object with 'weight'")
        w = _num(rob["weight"], "robust.weight")
        if not 0 <= w < 1:
            raise PriorFileError(f"robust.weight: must be in [0, 1), got {w}")
        if rob.get("scale") is not None:
            _num(rob["scale"], "robust.scale", positive=True)
    alpha = obj.get("power_alpha", 1.0)
    a = _num(alpha, "power_alpha")
    if not 0 < a <= 1:
        raise PriorFileError(f"power_alpha: must be in (0, 1], got {a}")
    return obj


def read_priors(path: str | Path) -> PriorSet:
    """Read and validate a ``vfsynth-priors/1`` file."""
    from vfsynth.data.errors import DataValidationError
    from vfsynth.data.inputfile import read_input_text

    path = Path(path)
    try:
        # checked read: a directory, FIFO or device, a huge or non-UTF-8 file is one message
        obj = json.loads(read_input_text(path))
    except DataValidationError as exc:
        msg = str(exc).removeprefix(f"{path}: ")
        raise PriorFileError(f"{path}: {msg}") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PriorFileError(f"{path}: not JSON ({exc})") from None
    try:
        validate_priors(obj)
    except PriorFileError as exc:
        raise PriorFileError(f"{path}: {exc}") from None
    return PriorSet(obj)


def _location_prior(entry: dict, robust: dict | None, alpha: float):
    """Normal / mixture prior for a mu entry with robustification and power discount."""
    prm = entry["params"]
    if entry["family"] == "normal":
        w, m, s = [1.0], [prm["loc"]], [prm["scale"]]
    else:
        w, m, s = list(prm["weights"]), list(prm["locs"]), list(prm["scales"])
    s = [si / math.sqrt(alpha) for si in s]
    desc = f"exported posterior of {entry['name']}[{entry['label']}]"
    if alpha != 1:
        desc += f", power-prior discount alpha={alpha:g} (variances x 1/alpha)"
    if robust and robust.get("weight", 0) > 0:
        rw = float(robust["weight"])
        scale = robust.get("scale") or entry.get("unit_sd")
        if scale is None:
            raise PriorFileError(f"robust: no scale given and no unit-information SD recorded for {entry['label']!r}")
        w = [wi * (1 - rw) for wi in w] + [rw]
        m = m + [float(entry["posterior"]["mean"])]
        s = s + [float(scale)]
        desc += f", robust mixture weight {rw:g} on N(posterior mean, {scale:.4g}^2) (Schmidli et al. 2014)"
    if len(w) == 1:
        return P.Prior(name="exported", family="normal", params={"loc": m[0], "scale": s[0]}, target="mu",
                       citation="vfsynth prior export", description=desc)
    return P.normal_mixture_mu(w, m, s, citation="vfsynth prior export; Schmidli et al. (2014)", description=desc)


def _scale_prior(entry: dict, alpha: float) -> P.Prior:
    prm = entry["params"]
    fam = entry["family"]
    desc = f"exported posterior of tau[{entry['label']}]"
    if fam == "lognormal":
        params = {"m": prm["m"], "s": prm["s"] / math.sqrt(alpha)}
        if alpha != 1:
            desc += f", power-prior discount alpha={alpha:g} (log-scale variance x 1/alpha)"
    else:
        params = dict(prm)
        if alpha != 1:
            desc += f" (alpha={alpha:g} not applied: only log-normal tau priors are discounted)"
        if fam == "gamma":
            return gamma_tau_prior(params["shape"], params["rate"], desc)
    return P.Prior(name="exported", family=fam, params=params, target="tau", citation="vfsynth prior export",
                   description=desc)


class PriorSet:
    """The priors of one ``vfsynth-priors/1`` file, as :class:`~vfsynth.models.priors.Prior` objects."""

    def __init__(self, obj: dict[str, Any]):
        self.obj = validate_priors(obj)

    @property
    def source(self) -> dict[str, Any]:
        return self.obj["source"]

    def labels(self, parameter: str = "mu") -> list[str]:
        return [p["label"] for p in self.obj["parameters"] if p["parameter"] == parameter]

    def entry(self, parameter: str, label: str | None = None) -> dict[str, Any]:
        cands = [p for p in self.obj["parameters"] if p["parameter"] == parameter]
        if label is not None:
            cands = [p for p in cands if p["label"] == label]
        if not cands:
            raise PriorFileError(f"no {parameter} prior{'' if label is None else f' for {label!r}'} in the file "
                                 f"(available: {', '.join(self.labels(parameter)) or 'none'})")
        if len(cands) > 1:
            raise PriorFileError(f"several {parameter} priors in the file; choose one of {', '.join(self.labels(parameter))}")
        return cands[0]

    def mu_prior(self, label: str | None = None, *, robust: float | None = None, power_alpha: float | None = None):
        """The mu prior: a normal, or a ``normal-mixture`` :class:`~vfsynth.models.priors.Prior`
        when the export is a mixture or a robust component is added."""
        rob = self.obj.get("robust") if robust is None else ({"weight": robust, "scale": None} if robust > 0 else None)
        alpha = self.obj.get("power_alpha", 1.0) if power_alpha is None else power_alpha
        if not 0 < alpha <= 1:
            raise PriorFileError(f"power_alpha: must be in (0, 1], got {alpha}")
        return _location_prior(self.entry("mu", label), rob, alpha)

    def tau_prior(self, label: str | None = None, *, power_alpha: float | None = None) -> P.Prior:
        alpha = self.obj.get("power_alpha", 1.0) if power_alpha is None else power_alpha
        return _scale_prior(self.entry("tau", label), alpha)

    def joint(self, label: str | None = None) -> dict[str, Any] | None:
        """The mu|tau block for ``label`` (None when the file has none)."""
        blocks = self.obj.get("joint", [])
        if label is not None:
            blocks = [b for b in blocks if b["label"] == label]
        return blocks[0] if len(blocks) == 1 else None

    def ess(self, label: str | None = None, **kw) -> float | None:
        """ELIR ESS of the mu prior as it will be used (robust / discount applied)."""
        e = self.entry("mu", label)
        if e.get("unit_sd") is None:
            return None
        return elir_ess(self.mu_prior(label, **kw), e["unit_sd"])
