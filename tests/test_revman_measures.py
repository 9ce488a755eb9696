"""The RevMan importer keeps each analysis's own measure (issue 14)."""

from __future__ import annotations

import pytest

from vfsynth.data import revman
from vfsynth.data.revman_common import RevManAnalysis


def _analysis(data_type, measure, log_data=False):
    return RevManAnalysis(1, "c", 1, "o", data_type, measure, "IV", True, log_data=log_data)


@pytest.mark.parametrize("data_type,measure,log_data,want", [
    ("DICH", "RR", False, "logRR"),
    ("DICH", "OR", False, "logOR"),
    ("DICH", "RD", False, "RD"),
    ("DICH", "PETO_OR", False, "logOR"),
    ("CONT", "MD", False, "MD"),
    ("CONT", "SMD", False, "SMD"),
    ("CONT", "RoM", False, "ROM"),
    ("IV", "MD", False, "MD"),
    ("IV", "SMD", False, "SMD"),
    ("IV", "RD", False, "RD"),
    ("IV", "GIV", False, "GIV"),
    ("IV", "OR", True, "logOR"),
    ("IV", "RR", True, "logRR"),
    ("IV", "HR", True, "GIV"),
    ("IV", "GIV-ratio", True, "GIV"),
])
def test_revman_measure_maps_to_its_own_schema_measure(data_type, measure, log_data, want):
    got, how = revman._schema_measure(_analysis(data_type, measure, log_data))
    assert got == want, how
    if measure == "PETO_OR":
        assert "Peto" in how


def test_o_minus_e_is_listed_with_how_to_enter_it():
    got, how = revman._schema_measure(_analysis("IPD", "PETO_OR"))
    assert got is None and "(O - E)/V" in how

