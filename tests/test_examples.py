"""The bundled Karner 2014 example (data/examples/karner2014/), checked against the shared wide source."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

_REL = ("reference", "examples", "karner2014_tiotropium_copd.csv")
# shared/ sits beside the checkout; a git worktree is one level deeper
SOURCE = next((p.joinpath(*_REL) for p in (SHARED, SHARED.parent.parent / "shared") if p.joinpath(*_REL).exists()),
              SHARED.joinpath(*_REL))


@pytest.fixture(scope="module")
def karner():
    import vfsynth as vf

    return vf.load_review("karner2014")


def test_loaded_by_name_with_every_source_number(karner):
    if not SOURCE.exists():
        pytest.skip(f"shared source {SOURCE} not present")
    src = pd.read_csv(SOURCE).set_index("study")
    assert karner.name == "karner2014" and len(karner.studies()) == 22
    fev = karner.effects("fev1", "post")
    assert fev.measure == "MD" and len(fev.study) == 22
    for s, est, se in zip(fev.study, fev.estimate, fev.se, strict=True):
        assert est == src.loc[s, "fev1.md"] and se == src.loc[s, "fev1.se"]
    exa = karner.effects("exacerbation", "post")
    assert len(exa.study) == 22
    for i, s in enumerate(exa.study):
        et, nt, ec, nc = (src.loc[s, c] for c in ("tiotropium.exa", "tiotropium.total", "placebo.exa", "placebo.total"))
        if min(et, ec, nt - et, nc - ec) == 0:
            continue  # zero cells: continuity-corrected estimate, the counts are used by the exact likelihoods
        # lower is better: the benefit-oriented log OR is that of NOT having an exacerbation
        assert exa.estimate[i] == pytest.approx(np.log(((nt - et) / et) / ((nc - ec) / ec)), rel=1e-12)
    assert len(karner.effects("sgrq", "post").study) == int(src["sgrq.md"].notna().sum())


def test_joint_assembly_and_identification(karner):
    from vfsynth.data.bundled_examples import joint_defaults
    from vfsynth.fits import mediation_labels as ML
    from vfsynth.models import joint as J

    kw = joint_defaults(karner)
    jd = J.assemble_review(karner, kw["mediators"], kw["outcomes"], md_units=kw["md_units"])
    assert jd.constructs == ("fev1", "exacerbation") and jd.n_rows == 22 and jd.n_count_rows == 22
    fev = karner.effects("fev1", "post")
    np.testing.assert_allclose(np.sort(jd.y), np.sort(fev.estimate / 100.0))
    assert ML.identification(jd)["mediation.b"]["informing_studies"] == 22
    with pytest.raises(J.JointSpecError, match="MD scale"):
        J.assemble_review(karner, kw["mediators"], kw["outcomes"])


def test_md_unit_parsing():
    from vfsynth.models import joint as J
    from vfsynth.reports.commands.joint_cli import parse_md_units

    assert parse_md_units(["fev1=100", "sgrq=4"]) == {"fev1": 100.0, "sgrq": 4.0}
    assert parse_md_units(None) == {}
    with pytest.raises(J.JointSpecError, match="OUTCOME=UNIT"):
        parse_md_units(["fev1"])
