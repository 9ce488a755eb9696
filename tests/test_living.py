"""Living-review (cumulative) table and its plot."""

from __future__ import annotations

import numpy as np
import pytest

from vfsynth.data import load_csv, load_review
from vfsynth.data.pooling import pool
from vfsynth.fits import living
from vfsynth.fits.exact import nnhm_exact
from vfsynth.models import priors as P


@pytest.fixture(scope="module")
def bcg():
    return load_csv("tests/fixtures/bcg.csv").effects("tb_cases", "post")


@pytest.fixture(scope="module")
def table(bcg):
    return living.cumulative(bcg, tau_prior=P.half_normal(0.5), mu_prior=P.normal_mu(0, 1.8138))


def test_rows_follow_publication_order_and_grow_by_one(table, bcg):
    assert list(table.columns) == list(living.COLUMNS)
    assert list(table.k) == list(range(1, bcg.k + 1))
    assert np.all(np.diff(table.year) >= 0)
    # ties within a year are ordered by label
    same = table[table.year == 1973]
    assert list(same.study) == sorted(same.study)
    assert table.attrs["measure"] == "logOR" and table.attrs["outcome"] == "tb_cases"


def test_every_step_is_the_exact_posterior_of_that_prefix_and_the_last_of_all_studies(table, bcg):
    order = living.arrival_order(bcg)
    for step in (1, 5, bcg.k):
        idx = order[:step]
        ep = nnhm_exact(bcg.estimate[idx], bcg.se[idx], tau_prior=P.half_normal(0.5), mu_prior=P.normal_mu(0, 1.8138))
        row = table.iloc[step - 1]
        assert row.mu_mean == pytest.approx(ep.mu_mean, abs=1e-12)
        assert row.p_benefit == pytest.approx(ep.prob_mu_greater(0), abs=1e-12)
    # order invariance: the last row is the posterior of the whole (unordered) table
    full = nnhm_exact(bcg, tau_prior=P.half_normal(0.5), mu_prior=P.normal_mu(0, 1.8138))
    assert table.iloc[-1].mu_mean == pytest.approx(full.mu_mean, abs=1e-9)
    assert table.iloc[-1].mu_high == pytest.approx(full.mu_quantiles([0.975])[0], abs=1e-9)
    # frequentist cumulative MA (DerSimonian-Laird) alongside
    dl = pool(bcg.estimate, bcg.se**2, method="DL")
    assert table.iloc[-1].dl_estimate == pytest.approx(dl.estimate, abs=1e-12)
    assert table.iloc[0].dl_tau2 == 0.0  # one study: common effect


def test_threshold_crossings_and_by_year(table):
    # P(benefit) first exceeds 0.95 when the second trial arrives
    assert table.iloc[1].crossed == "0.95" and table.iloc[0].p_benefit < 0.95 < table.iloc[1].p_benefit
    yearly = living.by_year(table)
    assert list(yearly.year) == sorted(set(table.year))
    assert yearly[yearly.year == 1973].k.item() == 9  # two trials published in 1973


def test_bundled_review_and_missing_years():
    s = load_review().effects("sensitivity", "post")
    df = living.cumulative(s)  # default priors for SMD
    assert len(df) == s.k and df.attrs["tau_prior"] == P.default_tau_prior("SMD", "sensitivity").spec
    no_year = load_csv("tests/fixtures/normand1999.csv").effects("length_of_stay", "post")
    with pytest.raises(ValueError, match="no publication year"):
        living.cumulative(no_year)
    last = living.cumulative(no_year, tau_prior=P.half_normal(0.5), mu_prior=P.normal_mu(0, 1), missing_year="last")
    assert len(last) == no_year.k


def test_plot_living_draws_both_panels(table):
    import matplotlib.pyplot as plt

    from vfsynth.reports.figures import plot_living

    fig = plot_living(table)
    ax_mu, ax_p = fig.axes[:2]
    assert ax_mu.get_yscale() == "log"  # odds ratios
    assert len(ax_p.get_xticklabels()) == len(table)
    y = ax_p.lines[0].get_ydata()
    assert np.allclose(y, table.p_benefit)
    plt.close(fig)
    fig2, ax = plt.subplots()
    assert plot_living(table, ax=ax) is fig2
    plt.close(fig2)
