"""The report in a real browser (headless Chromium via Selenium): images load, no console errors.

Built from exact (grid) posteriors so it takes seconds. Skipped only when Chromium or its
driver is absent; CI installs Debian's chromium + chromium-driver.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_report import fake_fitter

from vfsynth.data import load_csv, load_review
from vfsynth.reports.build import build_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FIX = Path(__file__).parent / "fixtures"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
    reason=f"headless Chromium not installed ({CHROMIUM}, {DRIVER}); apt-get install chromium chromium-driver",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
              "--window-size=1366,900", f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _check_page(drv, html_path: Path, shot: Path) -> dict:
    drv.get(html_path.resolve().as_uri())
    drv.execute_script("return document.readyState")
    imgs = drv.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);"
    )
    logs = drv.get_log("browser")
    severe = [e for e in logs if e.get("level") == "SEVERE"]
    # the key-findings box must be on the first screen (top within the viewport height)
    box = drv.execute_script(
        "const r = document.getElementById('key-findings').getBoundingClientRect();"
        "return [r.top, r.bottom, window.innerHeight];"
    )
    widths = drv.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")
    drv.save_screenshot(str(shot))
    return {"imgs": imgs, "severe": severe, "box": box, "widths": widths}


def test_report_renders_in_chromium(browser, tmp_path):
    review = load_csv(FIX / "bcg.csv", moderators=FIX / "bcg_moderators.csv")
    res = build_report(review, tmp_path / "r", seed=4, progress=False, fitter=fake_fitter, extras=False)
    out = _check_page(browser, res.html, tmp_path / "bcg.png")
    assert len(out["imgs"]) >= 6
    broken = [alt for complete, width, alt in out["imgs"] if not (complete and width > 0)]
    assert not broken, f"images that did not load: {broken}"
    assert not out["severe"], out["severe"]
    top, bottom, height = out["box"]
    assert top < 200 and top < height, out["box"]
    assert (tmp_path / "bcg.png").stat().st_size > 10_000
    # nothing forces the reader to scroll sideways
    assert out["widths"][0] <= out["widths"][1], out["widths"]


def test_bundled_style_report_first_screen(browser, tmp_path):
    res = build_report(load_review(), tmp_path / "b", seed=4, progress=False, fitter=fake_fitter, extras=False)
    out = _check_page(browser, res.html, tmp_path / "bundled.png")
    assert all(c and w > 0 for c, w, _ in out["imgs"])
    assert not out["severe"], out["severe"]
    top, bottom, height = out["box"]
    # the whole key-findings box (effect, P(benefit), certainty inputs) fits in the first screen
    assert bottom <= height, out["box"]
    assert out["widths"][0] <= out["widths"][1], out["widths"]
    text = browser.find_element("id", "key-findings").text
    assert "P(benefit)" in text and "sensitivity" in text and "NOT the review's own data" in text
