"""Regression tests for failures the fuzz run found (``tests/fuzz_inputs.py``; issue 13, item 16).

Each hostile input is kept here as a fixture string, with the fuzz file index and seed that
made it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

# Fuzz seed 13, file 71: the eight-schools fixture with School C moved to another time point
# (7 studies). `vfsynth sensitivity` died with "RuntimeError: exact meta-regression: tau grid
# too narrow" in PET: with 7 studies the tau posterior's tail reached the grid's upper end.
SEVEN_SCHOOLS = """\
study,year,outcome,timepoint,measure,n_t,mean_t,sd_t,events_t,n_c,mean_c,sd_c,events_c,estimate,se
School A,,sat_coaching,post,MD,,,,,,,,,28,15
School B,,sat_coaching,post,MD,,,,,,,,,8,10
School C,,sat_coaching,Smith 2001,MD,,,,,,,,,-3,16
School D,,sat_coaching,post,MD,,,,,,,,,7,11
School E,,sat_coaching,post,MD,,,,,,,,,-1,9
School F,,sat_coaching,post,MD,,,,,,,,,1,11
School G,,sat_coaching,post,MD,,,,,,,,,18,10
School H,,sat_coaching,post,MD,,,,,,,,,12,18
"""


def _pet_intercept_mean_by_quadrature(y, s, tau_prior, slope_sd):
    """E[intercept | y] of PET with a flat intercept prior, by adaptive quadrature over tau.

    Data-space form, independent of the code's grid and of its parameter-space algebra: the
    slope b1 ~ N(0, slope_sd^2) integrated out gives y | a, tau ~ N(a 1, V),
    V = diag(s^2 + tau^2) + slope_sd^2 s s'; the flat intercept a integrated out gives
    p(y | tau) proportional to |V|^-1/2 (1'V^-1 1)^-1/2 exp(-(y'V^-1 y - (1'V^-1 y)^2 / 1'V^-1 1) / 2)
    and E[a | y, tau] = 1'V^-1 y / 1'V^-1 1 (generalised least squares).
    """
    one = np.ones_like(s)

    def parts(tau):
        V = np.diag(s**2 + tau**2) + slope_sd**2 * np.outer(s, s)
        vi1, viy = np.linalg.solve(V, one), np.linalg.solve(V, y)
        a, b = one @ vi1, one @ viy
        _, logdet = np.linalg.slogdet(V)
        logml = -0.5 * (logdet + np.log(a) + y @ viy - b**2 / a)
        return float(tau_prior.logpdf(np.array([tau]))[0]) + logml, b / a

    ref = parts(np.std(y))[0]  # keeps exp() in range

    def dens(tau):
        return np.exp(parts(tau)[0] - ref)

    z = integrate.quad(dens, 0, np.inf, limit=500, epsabs=0, epsrel=1e-10)[0]
    m = integrate.quad(lambda t: dens(t) * parts(t)[1], 0, np.inf, limit=500, epsabs=0, epsrel=1e-10)[0]
    return m / z


def test_pet_with_a_heavy_tau_tail_widens_its_grid(tmp_path):
    from vfsynth.data import load_data
    from vfsynth.fits.compare import _default_priors, resolve_table
    from vfsynth.fits.moderators import small_study_effects
    from vfsynth.models import regression as R

    f = tmp_path / "seven_schools.csv"
    f.write_text(SEVEN_SCHOOLS)
    review = load_data(str(f))
    out = small_study_effects(review, "sat_coaching", "post", selection=False)
    pet = out.set_index("model").loc["PET"]
    table = resolve_table(review, "sat_coaching", "post")
    tau_prior, mu_prior = _default_priors(table, None, None)
    assert mu_prior.family == "flat"  # the reference below is written for a flat intercept prior
    want = _pet_intercept_mean_by_quadrature(table.estimate, table.se, tau_prior, R.PET_SLOPE_SD)
    # trapezoid rule on the log-tau grid: error far below 1e-4 of the posterior sd scale
    assert pet["mean"] == pytest.approx(want, abs=1e-4 * (pet["high"] - pet["low"]))
