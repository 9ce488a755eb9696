"""Report figures: each renders to a valid PNG, and what it draws matches the summaries."""

from __future__ import annotations

import base64
import math

import matplotlib
import numpy as np
import pytest
from test_summaries import exact_nnhm_posterior, make_table, normal_posterior

from vfsynth.reports import figures as P
from vfsynth.reports import summaries as S

matplotlib.use("Agg")
PNG = b"\x89PNG\r\n\x1a\n"


def _png(uri: str) -> bytes:
    assert uri.startswith("data:image/png;base64,")
    raw = base64.b64decode(uri.split(",", 1)[1])
    assert raw[:8] == PNG
    return raw


@pytest.fixture(scope="module")
def fitted():
    t = make_table([0.1, 0.3, 0.35, 0.65, 0.45], [0.1, 0.12, 0.2, 0.15, 0.25], n=[100, 80, 40, 60, 30])
    dt = exact_nnhm_posterior(t, draws=500)
    return t, dt, S.summarize_analysis(dt, t)


def test_forest_plot_draws_every_study_and_the_pooled_diamond(fitted):
    t, dt, a = fitted
    fig = P.forest_plot(a)
    ax = fig.axes[0]
    labels = [tl.get_text() for tl in ax.get_yticklabels()]
    assert all(any(lbl.startswith(s) for lbl in labels) for s in t.study)
    assert labels[-2].startswith("Pooled") and labels[-1].startswith("Prediction")
    diamond = [p for p in ax.patches if isinstance(p, matplotlib.patches.Polygon)][0]
    xs = diamond.get_xy()[:, 0]
    assert xs.min() == pytest.approx(a.effect.ci_low) and xs.max() == pytest.approx(a.effect.ci_high)
    assert len(_png(P.to_data_uri(fig))) > 1000


def test_forest_plot_log_axis_for_odds_ratios():
    t = make_table([0.8, 1.2, 0.4], [0.4, 0.5, 0.3], measure="logOR", outcome="attachment_security")
    dt = exact_nnhm_posterior(t, draws=300)
    a = S.summarize_analysis(dt, t)
    fig = P.forest_plot(a)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    diamond = [p for p in ax.patches if isinstance(p, matplotlib.patches.Polygon)][0]
    assert diamond.get_xy()[:, 0].max() == pytest.approx(math.exp(a.effect.ci_high))
    P.to_data_uri(fig)


def test_density_plot_shades_p_benefit():
    dt = normal_posterior(0.2, 0.2, seed=1)
    fig = P.density_plot(dt.posterior["mu"], "SMD")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    p = float((dt.posterior["mu"] > 0).mean())
    assert legend[0] == f"P(benefit) = {p:.3f}"
    _png(P.to_data_uri(fig))


def test_benefit_curve_matches_exceedance_probabilities():
    dt = normal_posterior(0.3, 0.1, seed=2)
    fig = P.benefit_curve(dt.posterior["mu"], "SMD", mcid=(0.2, 0.5))
    line = fig.axes[0].get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    from scipy import stats

    # the curve is the empirical survival function: compare to the normal one
    assert np.max(np.abs(y - stats.norm.sf(x, 0.3, 0.1))) < 0.02
    assert np.all(np.diff(y) <= 0)
    notes = [t.get_text() for t in fig.axes[0].texts]
    assert any(n.startswith("P(>0.2)") for n in notes)
    P.to_data_uri(fig)


def test_mediation_diagram_marks_prior_only_paths():
    fig = P.mediation_diagram({"a": (0.34, 0.2, 0.49), "b": None, "c_prime": None, "indirect": None})
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "a = 0.34" in texts
    assert texts.count("prior only") == 3
    P.to_data_uri(fig)


def test_diagnostic_plots_render(fitted):
    _, dt, _ = fitted
    for fig in (P.ppc_plot(dt), P.rank_plot(dt), P.trace_plot(dt), P.prior_posterior_plot(dt)):
        assert len(_png(P.to_data_uri(fig))) > 1000
