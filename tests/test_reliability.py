"""Issue 13, defects 1-12: nothing lost, nothing silently altered, no traceback.

Each test reproduces one reported failure (it failed on the code before the fix) and checks
the behaviour against the plain facts of the input (the bytes of a user's file, the names in
a CSV, the value a cell holds), never against the code's own output. Fast tier: no sampling;
the only fits are exact-engine fits of a 9-study fixture (milliseconds after import).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from vfsynth.data import load_csv, load_data
from vfsynth.data.errors import DataValidationError, VfsynthError
from vfsynth.reports.cli import main

FIX = Path(__file__).resolve().parent / "fixtures"
NORMAND = FIX / "normand1999.csv"
RM5 = FIX / "revman" / "cont_giv.rm5"
HEADER = "study,year,outcome,timepoint,measure,n_t,mean_t,sd_t,n_c,mean_c,sd_c,estimate,se\n"


def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(rc, err, *needles):
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("[")]  # progress lines
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _csv(tmp_path, body: str, name="d.csv") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + body, encoding="utf-8")
    return p


ROW = "A 2001,2001,x,post,SMD,20,1.0,1.0,20,0.5,1.0,,\nB 2002,2002,x,post,SMD,30,1.2,1.1,30,0.4,0.9,,\n"


# --- 1. report --out never loses a user's file --------------------------------------------------
def test_report_refuses_a_users_folder_before_any_fitting(tmp_path):
    from vfsynth.reports.build import build_report

    out = tmp_path / "mine"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "holiday.png").write_bytes(b"my photo")
    (out / "report.md").write_text("my notes")

    def fitter(*a, **k):
        raise AssertionError("fitting started although the folder was refused")

    with pytest.raises(VfsynthError, match="not empty and was not made by vfsynth report"):
        build_report(load_csv(NORMAND), out, fitter=fitter, progress=False)
    assert (out / "figures" / "holiday.png").read_bytes() == b"my photo"
    assert (out / "report.md").read_text() == "my notes"


def test_report_folder_replaces_only_its_own_files(tmp_path):
    from vfsynth.reports import report_dir as R

    out = tmp_path / "rep"
    f = R.prepare(out)  # fresh folder: accepted
    (out / "figures").mkdir()
    for name in ("a.png", "b.png", "c.png"):
        (out / "figures" / name).write_bytes(name.encode())
    (out / "report.md").write_text("v1")
    assert f.finish() == []
    # a second build made only a.png; the user edited c.png and added their own file
    (out / "figures" / "b.png").unlink()
    (out / "figures" / "b.png").write_bytes(b"b.png")  # unchanged content: ours, removable
    (out / "figures" / "c.png").write_bytes(b"edited by the user")
    f2 = R.prepare(out)
    (out / "figures" / "a.png").write_bytes(b"new a")
    (out / "report.md").write_text("v2")
    kept = f2.finish()
    assert not (out / "figures" / "b.png").exists()
    assert kept == ["figures/c.png"] and (out / "figures" / "c.png").read_bytes() == b"edited by the user"
    # the kept file is the user's now: it blocks the next build until moved
    with pytest.raises(R.ReportFolderError, match="figures/c.png was not written by vfsynth"):
        R.prepare(out)
    (out / "figures" / "c.png").rename(tmp_path / "c.png")
    # a file the report never wrote, in the report's own places, blocks the next build
    (out / "living").mkdir()
    (out / "living" / "mine.csv").write_text("x")
    with pytest.raises(R.ReportFolderError, match="living/mine.csv was not written by vfsynth"):
        R.prepare(out)
    # anything outside the report's places is never touched and does not block
    (out / "living" / "mine.csv").unlink()
    (out / "notes.txt").write_text("keep")
    R.prepare(out).finish()
    assert (out / "notes.txt").read_text() == "keep"


def test_report_out_an_existing_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("precious")
    rc, _, err = _run(["report", "--data", NORMAND, "--out", target, "--quiet"], capsys)
    _one_line_error(rc, err, "existing file")
    assert target.read_text() == "precious"


# --- 2. import -o never overwrites its input or an existing file --------------------------------
def test_import_refuses_its_own_input_and_existing_files(tmp_path, capsys):
    rm5 = tmp_path / "x.rm5"
    rm5.write_bytes(RM5.read_bytes())
    rc, _, err = _run(["import", rm5, "-o", rm5], capsys)
    _one_line_error(rc, err, "input file")
    assert rm5.read_bytes() == RM5.read_bytes()
    (tmp_path / "x.csv").write_text("old")
    rc, _, err = _run(["import", rm5, "-o", tmp_path / "x.csv"], capsys)
    _one_line_error(rc, err, "file exists", "--force")
    assert (tmp_path / "x.csv").read_text() == "old"
    rc, _, err = _run(["import", rm5, "-o", tmp_path / "x.csv", "--force"], capsys)
    assert rc == 0, err
    assert (tmp_path / "x.csv").read_text() != "old"
    rc, _, err = _run(["import", rm5, "-o", tmp_path / "missing_dir" / "x.csv"], capsys)
    _one_line_error(rc, err, "does not exist")


# --- 3. unique, bounded slugs ---------------------------------------------------------------------
def test_slugs_are_unique_and_bounded():
    from vfsynth.reports.analyses import analysis_slug

    pairs = [("anx/dep", "post"), ("anx_dep", "post"), ("anx", "dep_post"), ("Anx_dep", "post"),
             ("anx dep", "post"), ("sensitivity", "post"), ("sensitivity", "followup"), ("x" * 240, "post"),
             ("x" * 240, "followup"), ("x" * 239 + "y", "post")]
    slugs = [analysis_slug(o, t) for o, t in pairs]
    assert len(set(slugs)) == len(pairs)
    assert all(len(s) <= 80 and all(c.isalnum() or c in "_-" for c in s) for s in slugs)
    # the bundled names stay as they were (committed report's files)
    assert analysis_slug("sensitivity", "post") == "sensitivity_post"


# --- 4. saved-fit digest covers every group -------------------------------------------------------
def _tiny_tree():
    import xarray as xr

    rng = np.random.default_rng(5)
    c, d, k = 2, 50, 3
    post = xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=(c, d))),
                       "tau": (("chain", "draw"), rng.gamma(2.0, size=(c, d)))})
    ll = xr.Dataset({"y": (("chain", "draw", "study"), rng.normal(size=(c, d, k)))},
                    coords={"study": ["a", "b", "c"]})
    ss = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((c, d), bool))})
    prior = xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=(c, d)))})
    obs = xr.Dataset({"y": (("study",), rng.normal(size=k))}, coords={"study": ["a", "b", "c"]})
    return xr.DataTree.from_dict({"posterior": post, "log_likelihood": ll, "sample_stats": ss,
                                  "prior": prior, "observed_data": obs})


def _values(dt) -> dict:
    out = {}
    for node in dt.subtree:
        ds = node.to_dataset(inherit=False)
        for name in [*ds.data_vars, *ds.coords]:
            out[f"{node.path}/{name}"] = np.asarray(ds[name].values).tolist()
    return out


def _flip_check(tmp_path, n_flips: int) -> None:
    from vfsynth.fits import store

    dt = _tiny_tree()
    cfg = store.fit_config(model="m", priors={}, data_hash="h", seed=1, sampler={"name": "t"}, versions={})
    verdict = {"passed": True, "divergences": 0}
    path = store.save_fit(dt, cfg, verdict, directory=tmp_path)
    original = path.read_bytes()
    ref_values = _values(dt)
    rng = np.random.default_rng(20190101)
    loaded_altered = []
    for i in range(n_flips):
        raw = bytearray(original)
        pos = int(rng.integers(len(raw)))
        raw[pos] ^= 1 << int(rng.integers(8))
        p = tmp_path / f"flip{i}" / path.name
        p.parent.mkdir()
        p.write_bytes(bytes(raw))
        try:
            got, _, got_verdict = store.load_fit(p)
        except (store.FitStoreError, FileNotFoundError):
            continue
        if _values(got) != ref_values or got_verdict != verdict:
            loaded_altered.append(pos)
    assert loaded_altered == []


def test_random_byte_flips_never_load_altered_data(tmp_path):
    _flip_check(tmp_path, 3)


@pytest.mark.slow
def test_300_random_byte_flips_never_load_altered_data(tmp_path):
    _flip_check(tmp_path, 300)  # the experiment: 162 of 300 loaded altered data before


def test_forged_divergences_and_loglik_are_refused(tmp_path):
    import xarray as xr

    from vfsynth.fits import store

    dt = _tiny_tree()
    cfg = store.fit_config(model="m", priors={}, data_hash="h", seed=1, sampler={"name": "t"}, versions={})
    path = store.save_fit(dt, cfg, {"passed": True}, directory=tmp_path)
    forged = xr.open_datatree(path, engine="h5netcdf").load()
    forged["log_likelihood"]["y"][0, 0, 0] = 8e307
    forged.to_netcdf(tmp_path / "f.nc", engine="h5netcdf")
    os.replace(tmp_path / "f.nc", path)
    with pytest.raises(store.CorruptFitError, match="checksum"):
        store.load_fit(path)


# --- 5. strict decimals ---------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["0_1", "１２", "1\u00a0", "1,5", "0x10", "1e", "--1"])
def test_non_decimal_numbers_are_refused_with_line_study_column(tmp_path, cell):
    p = _csv(tmp_path, f'A 2001,2001,x,post,SMD,20,"{cell}",1.0,20,0.5,1.0,,\n')
    with pytest.raises(DataValidationError) as info:
        load_csv(p)
    (prob,) = info.value.problems
    assert (prob.row, prob.study, prob.column) == (2, "A 2001", "mean_t")


def test_plain_decimals_still_read_exactly(tmp_path):
    p = _csv(tmp_path, "A 2001,2001,x,post,SMD,20,+1.5e0,.5,20,-2.,1E-1,,\nB 2002,2002,x,post,SMD,30,1,1,30,0,1,,\n")
    r = load_csv(p).rows.iloc[0]
    assert (r.mean_t, r.sd_t, r.mean_c, r.sd_c) == (1.5, 0.5, -2.0, 0.1)


# --- 6. moderators rows ---------------------------------------------------------------------------
def test_moderator_row_with_extra_cells_is_refused(tmp_path):
    data = _csv(tmp_path, ROW)
    mods = tmp_path / "m.csv"
    mods.write_text("study,dose\nA 2001,1\nB 2002,2,surplus\n")
    with pytest.raises(DataValidationError) as info:
        load_csv(data, moderators=mods)
    (prob,) = info.value.problems
    assert (prob.row, prob.study) == (3, "B 2002") and "3 cells" in prob.message


def test_moderators_with_duplicate_columns_is_one_line(tmp_path, capsys):
    data = _csv(tmp_path, ROW)
    mods = tmp_path / "m.csv"
    mods.write_text("study,dose,dose\nA 2001,1,2\nB 2002,2,3\n")
    rc, _, err = _run(["data", "--data", data, "--moderators", mods], capsys)
    assert rc == 2 and "Traceback" not in err and "'dose'" in err and "more than once" in err


# --- 7. file paths that used to give tracebacks or hangs ---------------------------------------------
def test_unusable_data_paths_are_one_line(tmp_path, capsys):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "adir").mkdir()
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    cases = [(tmp_path / "missing.rm5", "file not found"), (tmp_path / "adir", "directory"),
             (tmp_path / "loop", "symbolic link loop"), (fifo, "not a regular file"),
             ("/dev/zero", "not a regular file")]
    for path, needle in cases:
        for cmd in (["data", "--data", path], ["import", path]):
            t0 = time.monotonic()
            rc, _, err = _run(cmd, capsys)
            _one_line_error(rc, err, needle)
            assert time.monotonic() - t0 < 5  # a FIFO or /dev/zero used to block forever


def test_fit_dir_that_is_a_file_fails_before_fitting(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "fits"
    bad.write_text("not a folder")
    monkeypatch.setenv("VFSYNTH_FIT_DIR", str(bad))
    def no_engine(*a, **k):
        raise AssertionError("the engine ran before the fit directory was checked")

    import vfsynth.fits.engines as engines

    monkeypatch.setattr(engines, "run_engine", no_engine)
    rc, _, err = _run(["fit", "--data", NORMAND, "--outcome", "length_of_stay", "--engine", "exact",
                       "--refit"], capsys)
    assert rc == 2 and "is a file" in err and "Traceback" not in err


def test_joint_fit_without_the_default_outcomes_is_refused_before_sampling(capsys, monkeypatch):
    import vfsynth.reports.commands.joint_cli as jc

    monkeypatch.setattr(jc, "fit_joint", lambda *a, **k: pytest.fail("sampling started"))
    rc, _, err = _run(["fit", "--model", "joint", "--data", NORMAND], capsys)
    _one_line_error(rc, err, "--mediator", "length_of_stay")


def test_text_output_of_a_one_chain_fit():
    from vfsynth.reports.commands.fit_cmd import _text

    iv = {"mean": 0.1, "q2.5": -0.1, "q97.5": 0.3}
    s = {"analysis": {"outcome": "x", "timepoint": "post", "measure": "SMD"}, "model": "random-effects",
         "data": {"k": 3}, "mu": iv, "tau": iv, "p_benefit": 0.8, "prediction": None, "engine": "nuts",
         "diagnostics": {"max_rhat": None, "min_ess_bulk": None, "divergences": 0, "passed": False},
         "fit": {"cached": False, "id": "i", "path": "p"}, "priors": {}}
    assert "n/a (one chain)" in _text(s)


# --- 8. gzip bomb -------------------------------------------------------------------------------
def test_gzipped_rm5_is_capped(tmp_path, monkeypatch, capsys):
    from vfsynth.data import inputfile

    monkeypatch.setattr(inputfile, "MAX_DECOMPRESSED_BYTES", 1_000_000)
    bomb = tmp_path / "bomb.rm5"
    bomb.write_bytes(gzip.compress(b"<COCHRANE_REVIEW>" + b" " * 5_000_000, compresslevel=9))
    rc, _, err = _run(["data", "--data", bomb], capsys)
    _one_line_error(rc, err, "expands to more than 1000000 bytes")
    small = tmp_path / "ok.rm5"
    small.write_bytes(gzip.compress(RM5.read_bytes()))
    assert load_data(small).studies() == load_data(RM5).studies()


# --- 9. messages ----------------------------------------------------------------------------------
def test_empty_tau_prior_names_tau_prior(capsys):
    rc, _, err = _run(["fit", "--data", NORMAND, "--outcome", "length_of_stay", "--tau-prior", ""], capsys)
    _one_line_error(rc, err, "--tau-prior")
    assert "--mu-prior" not in err


def test_md_mixed_with_smd_names_line_study_column(tmp_path):
    p = _csv(tmp_path, "A 2001,2001,x,post,SMD,20,1.0,1.0,20,0.5,1.0,,\n"
                       "B 2002,2002,x,post,SMD,30,1.2,1.1,30,0.4,0.9,,\n"
                       "C 2003,2003,x,post,MD,,,,,,,1.5,0.4\n")
    with pytest.raises(DataValidationError) as info:
        load_csv(p).effects("x")
    (prob,) = info.value.problems
    assert (prob.row, prob.study, prob.column) == (4, "C 2003", "measure")


def test_bad_rm5_number_attribute_is_named(tmp_path):
    p = tmp_path / "bad.rm5"
    p.write_bytes(RM5.read_bytes().replace(b'<COMPARISON ID="CMP-001" NO="1">', b'<COMPARISON ID="CMP-001" NO="one">'))
    with pytest.raises(DataValidationError, match="NO='one' is not a whole number"):
        load_data(p)


def test_latin1_input_reports_a_line(tmp_path):
    p = tmp_path / "l1.csv"
    p.write_bytes((HEADER + ROW + "Mu\xf1oz 2003,2003,x,post,SMD,20,1,1,20,0,1,,\n").encode("latin-1"))
    with pytest.raises(DataValidationError) as info:
        load_csv(p)
    (prob,) = info.value.problems
    assert prob.row == 4 and "0xf1" in prob.message


# --- 10. outputs: spreadsheets, terminals, Markdown -------------------------------------------------
def test_imported_csv_guards_formulas_and_reads_back_losslessly(tmp_path, capsys):
    rm5 = tmp_path / "f.rm5"
    rm5.write_bytes(RM5.read_bytes().replace(b'NAME="Edinburgh"', b'NAME="=HYPERLINK(1)"')
                    .replace(b'NAME="Umea"', b'NAME="@SUM(1)"'))
    out = tmp_path / "f.csv"
    rc, _, err = _run(["import", rm5, "-o", out], capsys)
    assert rc == 0, err
    studies = {r["study"] for r in csv.DictReader(io.StringIO(out.read_text()))}
    assert not any(s[0] in "=+-@" for s in studies)
    assert {"'=HYPERLINK(1)", "'@SUM(1)"} <= studies
    assert set(load_data(out).studies()) == set(load_data(rm5).studies())
    assert "=HYPERLINK(1)" in set(load_data(out).studies())


def test_csv_guard_is_one_to_one():
    from vfsynth.data.text_safety import csv_cell, unescape_csv_cell

    cells = ["=1", "'=1", "''=1", "+x", "-y", "@z", "'", "'a", "plain", "", "\tq", "-"]
    written = [csv_cell(c) for c in cells]
    assert len(set(written)) == len(cells)
    assert [unescape_csv_cell(w) for w in written] == cells
    assert all(not w or w[0] not in "=+-@\t" for w in written)


def test_terminal_escapes_in_names_do_not_reach_the_terminal(tmp_path, capsys):
    p = _csv(tmp_path, "\x1b]0;pwned\x07A 2001,2001,x,post,SMD,20,1.0,1.0,20,0.5,1.0,,\n"
                       "B 2002,2002,x,post,SMD,30,1.2,1.1,30,0.4,0.9,,\n")
    rc, out, err = _run(["data", "--data", p], capsys)
    assert rc == 0, err
    assert "\x1b" not in out and "\x07" not in out


def test_markdown_side_escapes_html():
    from vfsynth.reports.html_report import Doc

    d = Doc().heading("<script>alert(1)</script>").para("<img src=x onerror=alert(1)>")
    d.table(["study"], [["<b>x</b>"]]).bullets(["<i>y</i>"]).callout("warn", "<t>", text="<u>")
    md = "".join(d.md)
    assert "<" not in md and "&lt;script&gt;" in md


# --- 11. exit status and target_accept --------------------------------------------------------------
def test_failed_diagnostics_gate_exits_3(capsys, monkeypatch, fit_dir):
    import vfsynth.fits.summary as summary_mod

    real = summary_mod.summarize

    def failing(fit):
        s = real(fit)
        s["engine"] = "nuts"
        s["diagnostics"]["passed"] = False
        return s

    monkeypatch.setattr(summary_mod, "summarize", failing)
    rc, _, err = _run(["fit", "--data", NORMAND, "--outcome", "length_of_stay", "--engine", "exact",
                       "--json"], capsys)
    assert rc == 3, err


def test_json_shows_the_target_accept_actually_used(fit_dir):
    import dataclasses

    import vfsynth as vf
    from vfsynth.fits.summary import summarize

    fit = vf.fit(load_csv(NORMAND), outcome="length_of_stay", engine="exact")
    cfg = dict(fit.config, sampler=dict(fit.config["sampler"], target_accept=0.9))
    rerun = dataclasses.replace(fit, config=cfg, verdict=dict(fit.verdict, target_accept=0.99))
    sampler = summarize(rerun)["fit"]["sampler"]
    assert sampler["target_accept"] == 0.99 and sampler["target_accept_requested"] == 0.9


# --- 12. orphan temporary files; implausible values ---------------------------------------------------
def test_orphan_tmp_files_are_cleaned_but_a_live_writers_kept(tmp_path):
    from vfsynth.fits import store

    old = tmp_path / ".abc.123.nc.tmp"
    fresh = tmp_path / ".def.456.nc.tmp"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    t = time.time() - 2 * store.ORPHAN_TMP_AGE_S
    os.utime(old, (t, t))
    cfg = store.fit_config(model="m", priors={}, data_hash="h", seed=1, sampler={"name": "t"}, versions={})
    store.save_fit(_tiny_tree(), cfg, {}, directory=tmp_path)
    assert not old.exists() and fresh.exists()


@pytest.mark.parametrize(("row", "column"), [
    ("A 2001,-5,x,post,SMD,20,1.0,1.0,20,0.5,1.0,,\n", "year"),
    ("A 2001,99999,x,post,SMD,20,1.0,1.0,20,0.5,1.0,,\n", "year"),
    ("A 2001,2001,x,post,SMD,20,1.0,1e-12,20,0.5,1.0,,\n", "sd_t"),
])
def test_implausible_values_are_flagged(tmp_path, row, column):
    p = _csv(tmp_path, row + "B 2002,2002,x,post,SMD,30,1.2,1.1,30,0.4,0.9,,\n")
    with pytest.raises(DataValidationError) as info:
        load_csv(p)
    (prob,) = info.value.problems
    assert (prob.row, prob.study, prob.column) == (2, "A 2001", column)


def test_tiny_sd_check_with_both_means_missing(tmp_path):
    # found by the fuzz run: the implausible-SD check crashed when no arm mean was given
    p = _csv(tmp_path, "A 2001,2001,x,post,SMD,20,,1.0,20,,1.0,,\n")
    with pytest.raises(DataValidationError) as info:
        load_csv(p)
    assert {(q.row, q.column) for q in info.value.problems} == {(2, "mean_t"), (2, "mean_c")}


def test_study_names_differing_only_by_case_or_spacing_are_flagged(tmp_path):
    body = "".join(f"{name},2001,{out},post,SMD,20,1.0,1.0,20,0.5,1.0,,\n" for name, out in
                   [("Smith 2001", "a"), ("smith 2001", "b"), ("Smith  2001", "c"), ("Smith\u00a02001", "d")])
    with pytest.raises(DataValidationError) as info:
        load_csv(_csv(tmp_path, body))
    assert [(p.row, p.column) for p in info.value.problems] == [(3, "study"), (4, "study"), (5, "study")]


def test_unreadable_file_is_refused(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    p = _csv(tmp_path, ROW)
    p.chmod(stat.S_IWUSR)
    rc, _, err = _run(["data", "--data", p], capsys)
    _one_line_error(rc, err, "permission denied")
