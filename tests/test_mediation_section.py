"""The report's mediation section names the review's own path (a bundled example such as Karner 2014
links fev1 → exacerbation, not CD012348's sensitivity → attachment), and the scale sentence says
when a mean-difference mediator stays in its own units."""

from __future__ import annotations

from types import SimpleNamespace

from vfsynth.fits.joint_runner import joint_scale_text
from vfsynth.reports.html_report import Doc, Section, render_markdown
from vfsynth.reports.sections.results import results_section


def _heading(mediation) -> str:
    md = render_markdown("t", "s", Doc(), [Section("r", "R", results_section([], mediation))], "f")
    return next(line for line in md.splitlines() if line.startswith("### Mediation"))


def test_heading_names_the_reviews_mediator_and_final_outcome():
    paths = {"a": (1.1, 1.0, 1.2), "b": (0.06, -0.3, 0.5), "c_prime": None, "indirect": None}
    karner = {"paths": paths, "prior_only": set(), "rows": [], "mediators": ["fev1"], "final": "exacerbation"}
    assert _heading(karner) == "### Mediation: Intervention → fev1 → exacerbation"
    bundled = dict(karner, mediators=["sensitivity", "reflective_functioning"], final="attachment")
    assert "sensitivity" in _heading(bundled).lower() and "Attachment" in _heading(bundled)
    assert "fev1" not in _heading(bundled)


def test_scale_sentence_keeps_md_mediators_in_their_units():
    assert "fev1: MD per 100 units" in joint_scale_text(SimpleNamespace(meta={"md_units": {"fev1": 100.0}}))
    assert "except" not in joint_scale_text(SimpleNamespace(meta={}))
