"""The report cache (reports/report_cache.py): a rebuild with nothing changed re-uses the whole
build and says so; any change of data or settings rebuilds; nothing is stored for a fitter that
cannot be keyed. The fitter counts its calls, so "nothing was recomputed" is observed, not assumed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_report import fake_fitter

from vfsynth.data import load_csv
from vfsynth.reports import build, report_cache

FIX = Path(__file__).parent / "fixtures"


@pytest.fixture
def counting(tmp_path, monkeypatch):
    monkeypatch.setenv("VFSYNTH_STEP_CACHE_DIR", str(tmp_path / "steps"))
    calls = []

    def fitter(review, table, model, seed, say):
        calls.append(table.outcome)
        return fake_fitter(review, table, model, seed, say)

    fitter.cache_token = "test-fake-fitter/1"
    return fitter, calls


def test_unchanged_rebuild_is_reused_and_labelled(tmp_path, counting):
    fitter, calls = counting
    review = load_csv(FIX / "eight_schools.csv")
    out = tmp_path / "rep"
    first = build.build_report(review, out, seed=3, progress=False, fitter=fitter, extras=False)
    html1, js1 = first.html.read_text(), json.loads(first.summary_json.read_text())
    assert calls == ["sat_coaching"] and "Re-used from the report cache" not in html1
    assert list((tmp_path / "steps" / "report").glob("*.pkl"))

    (out / "report.html").unlink()
    second = build.build_report(review, out, seed=3, progress=False, fitter=fitter, extras=False)
    html2 = second.html.read_text()
    assert calls == ["sat_coaching"]  # the fitter was not called again
    assert "Re-used from the report cache" in html2 and "nothing was fitted" in html2
    # the same report plus the one note: every section's text is unchanged
    for anchor in ("data", "models", "results", "sof", "reproduce"):
        start = f'<section id="{anchor}">'
        assert html1[html1.index(start):].split("</section>")[0] == html2[html2.index(start):].split("</section>")[0]
    js2 = json.loads(second.summary_json.read_text())  # the same path: first's file was rewritten
    assert js2["run"]["cache"]["reused"] is True and "cache" not in js1["run"]
    assert js2["analyses"] == js1["analyses"] and second.key_findings == first.key_findings


def test_key_changes_with_data_settings_and_code(monkeypatch):
    review = load_csv(FIX / "bcg.csv", moderators=FIX / "bcg_moderators.csv")
    settings = {"seed": 3, "fitter": "f", "extras": True}
    key = report_cache.build_key(review, settings)
    assert report_cache.build_key(review, dict(settings)) == key
    assert report_cache.build_key(review, {**settings, "seed": 4}) != key
    rows = review.rows[review.rows["study"] != review.rows["study"].iloc[0]].drop(columns=["line"])
    assert report_cache.build_key(type(review)(review.name, rows), settings) != key
    no_mods = type(review)(review.name, review.rows.drop(columns=["line"]))
    assert report_cache.build_key(no_mods, settings) != key
    monkeypatch.setattr(report_cache, "package_digest", lambda: "other code")
    assert report_cache.build_key(review, settings) != key


@pytest.mark.slow
def test_unkeyed_fitter_is_never_cached(tmp_path, counting):
    review = load_csv(FIX / "eight_schools.csv")
    build.build_report(review, tmp_path / "rep", seed=1, progress=False, fitter=fake_fitter, extras=False)
    assert not (tmp_path / "steps").exists()


def test_cache_lives_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("VFSYNTH_STEP_CACHE_DIR", raising=False)
    monkeypatch.setenv("VFSYNTH_CACHE_DIR", str(tmp_path / "c"))
    assert report_cache.step_cache_dir() == tmp_path / "c" / "steps"
    monkeypatch.delenv("VFSYNTH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert report_cache.step_cache_dir().is_relative_to(tmp_path / "xdg")
    repo = Path(__file__).resolve().parents[1]
    assert not report_cache.step_cache_dir().resolve().is_relative_to(repo)
