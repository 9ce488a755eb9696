"""Informing-study counts and identification labels of the joint model (fits/mediation_labels.py).

The counts are checked against hand counts of small designs; the label rule against its
documented thresholds. Fits of the three designs (no pairs, follow-up-only attachment, complete)
are in tests/test_joint_identification.py (slow tier).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_joint import _table

from vfsynth.fits import mediation_labels as ML
from vfsynth.models import joint as J


def _design(kind: str):
    s = [f"S{i}" for i in range(8)]
    a = [f"A{i}" for i in range(8)]
    est, se = np.full(8, 0.3), np.full(8, 0.2)
    if kind == "no_pairs":  # 8 sensitivity-only + 8 attachment-only studies
        tabs = [_table("sensitivity", s, est, se), _table("attachment_aqs", a, est, se)]
    elif kind == "followup_only":  # the same 8 studies: sensitivity at post, attachment only at follow-up
        tabs = [_table("sensitivity", s, est, se), _table("attachment_aqs", s, est, se, tp="followup")]
    else:  # complete: every study reports both at post
        tabs = [_table("sensitivity", s, est, se), _table("attachment_aqs", s, est, se)]
    return J.assemble(tabs, ["sensitivity"], ["attachment_aqs"])


def test_counts_no_pairs_design():
    ident = ML.identification(_design("no_pairs"))
    assert ident["mediation.a"]["informing_studies"] == 8
    assert ident["mediation.total"]["informing_studies"] == 8
    for k in ("b", "c_prime", "indirect", "proportion_mediated", "rho_m1_final", "tau_final_given_m1"):
        assert ident[f"mediation.{k}"]["informing_studies"] == 0, k
        assert ident[f"mediation.{k}"]["other_times"] == 0, k
    assert ident["correlations.sensitivity~attachment_aqs"]["informing_studies"] == 0


def test_counts_followup_only_design():
    ident = ML.identification(_design("followup_only"))
    assert ident["mediation.a"]["informing_studies"] == 8
    # no attachment row at post: the post total and the post slope have no informing study,
    # but the follow-up rows reach them through the follow-up deviation model
    assert ident["mediation.total"]["informing_studies"] == 0
    assert ident["mediation.total"]["other_times"] == 8
    assert ident["mediation.b"]["informing_studies"] == 0 and ident["mediation.b"]["other_times"] == 8
    assert ident["pooled.attachment_aqs.followup"]["informing_studies"] == 8
    assert ident["pooled.attachment_aqs.post"]["informing_studies"] == 0


def test_counts_complete_design():
    ident = ML.identification(_design("complete"))
    for k in ("a", "b", "total", "proportion_mediated", "rho_m1_final"):
        assert ident[f"mediation.{k}"]["informing_studies"] == 8, k


def test_counts_mixed_design_by_hand():
    # A: S post, aqs post, S followup; B: S post, security post (counts); C: S post + followup;
    # D: S post; E: aqs; F: security (see test_joint._mixed_tables)
    from test_joint import _mixed_tables

    jd = J.assemble(_mixed_tables(), ["sensitivity"], ["attachment_aqs", "attachment_security"])
    ident = ML.identification(jd)
    assert ident["mediation.a"]["informing_studies"] == 4
    assert ident["mediation.total"]["informing_studies"] == 4  # A, B, E, F
    assert ident["mediation.b"]["informing_studies"] == 2  # A, B
    assert ident["pooled.sensitivity.followup"]["informing_studies"] == 2  # A, C


@pytest.mark.parametrize(
    "count, other, ratio, label",
    [
        (5, 5, 0.5, ML.POSTERIOR),
        (5, 5, 0.79, ML.POSTERIOR),
        (5, 5, 0.8, ML.WEAK),  # the threshold itself is not "moved"
        (5, 5, 1.02, ML.WEAK),
        (5, 5, None, ML.WEAK),
        (0, 8, 0.3, ML.WEAK),  # moved, but only through other time points
        (0, 0, 0.3, ML.PRIOR_ONLY),  # moved by learning other parameters, not evidence on it
        (0, 0, 1.0, ML.PRIOR_ONLY),
    ],
)
def test_label_rule(count, other, ratio, label):
    assert ML.classify(count, other, ratio)[0] == label


def test_ratio_summaries_drop_moments():
    q = {"mean": 1.0, "sd": 3.9, "mcse_mean": 0.1, "learned_ratio": 1.0, "median": 0.2, "q2.5": -150.0,
         "q97.5": 153.0, "prior": {"mean": 0.0, "sd": 5.0, "median": 0.0}}
    ML.quantiles_only(q)
    assert not {"mean", "sd", "mcse_mean", "learned_ratio"} & set(q)
    assert set(q["prior"]) == {"median"}
    assert "quantiles" in q["summarised_by"]
    s = {"identification_paths": ["mediation.b"], "mediation": {"b": q | {"identification": ML.WEAK,
                                                                        "informing_studies": 3,
                                                                        "learned_ratio_iqr": 0.9}}}
    rows = ML.table_rows(s)
    assert rows == [{"quantity": "mediation.b", "label": ML.WEAK, "informing_studies": 3, "iqr_ratio": 0.9,
                     "median": 0.2, "q2.5": -150.0, "q97.5": 153.0}]
    assert "mediation.b" in "\n".join(ML.format_rows(rows))
