"""Reports (imrestore/report.py): JSON and CSV, means, the summary, and what a run without reference says."""
from __future__ import annotations

import json

from imrestore.report import ItemResult, Report


def _report(reference: str = "input") -> Report:
    r = Report(chain=["restorer:tv"], metrics=["noise", "residual"], seed=0, input="in", output="out", reference=reference)
    r.items = [ItemResult("a.png", "written", metrics={"corrupted": {"noise": 10.0, "residual": 0.0}, "restored": {"noise": 1.0, "residual": 0.1}},
                          estimated={"noise": {"model": "gaussian", "sigma": 0.04, "reason": "estimated"}}),
               ItemResult("b.png", "failed", error="cannot read b.png")]
    return r


def test_a_run_without_reference_says_so_in_every_form(tmp_path):
    report = _report("none")
    jpath, cpath = report.write(tmp_path)
    doc = json.loads(jpath.read_text())
    assert doc["reference"] == "none" and "no clean image" in doc["note"]
    assert doc["items"][0]["estimated"]["noise"]["sigma"] == 0.04
    header, first = cpath.read_text().splitlines()[:2]
    assert header.endswith("estimated_noise,error") and "gaussian sigma=0.04" in first
    text = report.summary()
    assert text.splitlines()[1].startswith("no reference") and "input" in text and "FAILED b.png" in text
    assert Report.from_dict(doc).reference == "none"


def test_a_benchmark_report_keeps_its_form():
    report = _report()
    report.items[0].estimated = {}
    assert "note" not in report.to_dict() and "estimated_noise" not in report.to_csv()
    assert "corrupted" in report.summary() and report.mean()["restored"]["noise"] == 1.0
