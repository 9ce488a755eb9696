"""Real published reviews shipped with vfsynth as examples, loadable by name.

``load_example("karner2014")`` (or ``vfsynth.load_review("karner2014")``, ``--data karner2014`` on
the command line) returns the example as a validated :class:`~vfsynth.data.review.Review`.
Each example says which of its outcomes the joint mediation model links
(:func:`joint_defaults`), so ``vfsynth fit --model joint --data karner2014`` and the report's
mediation section need no further options.

Examples
--------
``karner2014``
    Karner, Chong & Poole (2014), *Tiotropium versus placebo for chronic obstructive pulmonary
    disease*, Cochrane Database Syst Rev 7:CD009285, as compiled in the R package metadat
    (``dat.karner2014``, GPL >= 2): 22 trials, each reporting the proximal outcome (trough FEV1
    mean difference, mL) and the distal one (patients with at least one exacerbation, arm counts).
    Source, licence and conversion: ``data/examples/karner2014/README.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"

EXAMPLES: dict[str, dict[str, Any]] = {
    "karner2014": {
        "csv": "karner2014/study_outcomes.csv",
        "title": "Karner 2014 (CD009285): tiotropium vs placebo for COPD — FEV1 -> exacerbations",
        # FEV1 is an MD in mL: in units of 100 mL it sits on the unit scale of the default priors
        "joint": {"mediators": ("fev1",), "outcomes": ("exacerbation",), "md_units": {"fev1": 100.0}},
    },
}


def example_names() -> list[str]:
    return sorted(EXAMPLES)


def is_example(name: Any) -> bool:
    """True for a bundled example's name that is not also an existing file path."""
    return isinstance(name, str) and name in EXAMPLES and not Path(name).exists()


def load_example(name: str):
    """The bundled example ``name`` as a validated Review named ``name``."""
    from vfsynth.data.errors import VfsynthError
    from vfsynth.data.loaders import load_csv

    if name not in EXAMPLES:
        raise VfsynthError(f"no bundled example {name!r}; examples: {', '.join(example_names())}")
    return load_csv(EXAMPLES_DIR / EXAMPLES[name]["csv"], name=name)


def joint_defaults(review: Any) -> dict[str, Any]:
    """``fit_joint`` keyword arguments (mediators, outcomes, md_units) for a bundled example; {} otherwise."""
    spec = EXAMPLES.get(getattr(review, "name", None) or "")
    if not spec:
        return {}
    j = spec["joint"]
    return {"mediators": tuple(j["mediators"]), "outcomes": tuple(j["outcomes"]), "md_units": dict(j["md_units"])}
