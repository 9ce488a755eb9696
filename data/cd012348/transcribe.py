"""Transcribe ../shared/reference/cd012348 into the bundled review files (developer tool).

Run from the repository root::

    .venv/bin/python data/cd012348/transcribe.py

It writes ``study_outcomes.csv`` (input schema), ``moderators.csv``, ``published_pooled.csv``,
``not_found.csv`` and ``excluded_rows.csv`` next to itself. The package never runs this file:
the CSVs are the bundled data. Every number below is copied from the shared reconstruction;
the only derived numbers are standard errors, each with a note saying how (see
``data/cd012348/README.md``). Sources are looked up from the shared files by
(study, outcome, time point, arm) so they are copied verbatim.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "reference" / "cd012348"

COLUMNS = [
    "study", "year", "outcome", "timepoint", "measure", "n_t", "mean_t", "sd_t", "events_t",
    "n_c", "mean_c", "sd_c", "events_c", "estimate", "se", "ci_low", "ci_high",
    "higher_is_better", "source", "n_total", "note",
]  # fmt: skip

TP = {"post": "post", "followup_short": "followup", "followup_long": "followup_long"}


def read(name):
    with open(SHARED / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


OUTCOMES = read("study_outcomes.csv")
STUDIES = read("studies.csv")


def shared_row(study, outcome, timepoint, arm="contrast"):
    hits = [
        r
        for r in OUTCOMES
        if r["study_id"] == study and r["outcome"] == outcome and r["timepoint"] == timepoint and r["arm"] == arm
    ]
    assert len(hits) == 1, (study, outcome, timepoint, arm, len(hits))
    return hits[0]


def source_of(r):
    return f"{r['source_ref']} <{r['source_url']}>"


def fmt(x, digits=10):
    if x is None or x == "":
        return ""
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def se_even_split(d, n_per_arm):
    """metafor large-sample SMD variance with n1 = n2 = n_per_arm."""
    n1 = n2 = n_per_arm
    return math.sqrt(1 / n1 + 1 / n2 + d**2 / (2 * (n1 + n2)))


def even_note(d, total, per_arm, extra=""):
    return (
        f"DERIVED se: only a total N = {total} is reported; assumed split evenly (n_t = n_c = {per_arm:g}); "
        f"se = sqrt(1/n_t + 1/n_c + d^2/(2(n_t+n_c))) = {se_even_split(d, per_arm):.6f} "
        f"(metafor large-sample SMD variance). Estimate = reported d as printed, no small-sample J applied."
        + (f" {extra}" if extra else "")
    )


def effect_row(study, year, outcome, timepoint, shared_key, estimate, **kw):
    r = shared_row(*shared_key)
    row = dict.fromkeys(COLUMNS, "")
    row.update(study=study, year=year, outcome=outcome, timepoint=timepoint, measure="SMD",
               estimate=estimate, higher_is_better="true", source=source_of(r))  # fmt: skip
    row.update(kw)
    return row


def data_rows():
    rows = []
    # --- sensitivity, post ---------------------------------------------------------------
    d, n = 0.78, 54
    rows.append(effect_row("Kalinauskiene 2009", 2009, "sensitivity", "post",
                           ("Kalinauskiene 2009", "sensitivity", "post"), d,
                           se=se_even_split(d, n / 2), n_total=n,
                           note=even_note(d, n, n / 2, "Ainsworth sensitivity scale (free play); Cohen d from abstract.")))  # fmt: skip
    d = 0.65
    rows.append(effect_row("Juffer 2005", 2005, "sensitivity", "post",
                           ("Juffer 2005", "sensitivity", "post"), d,
                           se=se_even_split(d, 130 / 3),
                           note=even_note(d, "130 over three arms (book only, VIPP + book, control)", 130 / 3,
                                          "Contrast = VIPP + book vs control; n_total left blank (two-arm N unknown).")))  # fmt: skip
    d, n = 0.86, 31
    rows.append(effect_row("Barlow 2016", 2016, "sensitivity", "post",
                           ("Barlow 2016", "sensitivity", "post"), d,
                           se=se_even_split(d, n / 2), n_total=n,
                           note=even_note(d, n, n / 2, "CARE-Index sensitivity, ANCOVA-adjusted d from abstract.")))  # fmt: skip
    rows.append(effect_row("Klein Velderman 2006", 2006, "sensitivity", "post",
                           ("Klein Velderman 2006", "sensitivity", "post"), 0.48,
                           ci_low=0.02, ci_high=0.95, n_t=54, n_c=27,
                           note="se derived by the loader from the reported 95% CI (0.02, 0.95) as (hi - lo)/(2 x 1.959964). "
                                "VIPP and VIPP-R arms combined (n = 54) vs control (n = 27), as in BMJ Open 2017 Table 5. "
                                "Bakermans-Kranenburg 1998 (d = .87, N = 30) is a preliminary report of this trial: see excluded_rows.csv."))  # fmt: skip
    d, n = 0.41, 210
    rows.append(effect_row("Spieker 2012", 2012, "sensitivity", "post",
                           ("Spieker 2012", "sensitivity", "post"), d,
                           se=se_even_split(d, n / 2), n_total=n,
                           note=even_note(d, n, n / 2, "d of covariate-adjusted means (abstract); N = 210 randomised.")))  # fmt: skip
    d, n = 0.12, 222
    rows.append(effect_row("Oxford 2016", 2016, "sensitivity", "post",
                           ("Oxford 2016", "sensitivity", "post"), d,
                           se=se_even_split(d, n / 2), n_total=n,
                           note=even_note(d, n, n / 2, "Study-reported effect size as tabulated by HomVEE (NCATS sensitivity); "
                                                       "HomVEE unadjusted arm means 35.65 vs 35.07 without SDs or arm n.")))  # fmt: skip
    # --- sensitivity, short-term follow-up ------------------------------------------------
    d, n = 0.29, 129
    rows.append(effect_row("Spieker 2012", 2012, "sensitivity", "followup",
                           ("Spieker 2012", "sensitivity", "followup_short"), d,
                           se=se_even_split(d, n / 2), n_total=n,
                           note=even_note(d, n, n / 2, "6 months after the intervention; d from the programme developer's site.")))  # fmt: skip
    d, n = 0.09, 213
    rows.append(effect_row("Oxford 2016", 2016, "sensitivity", "followup",
                           ("Oxford 2016", "sensitivity", "followup_short"), d,
                           se=se_even_split(d, n / 2), n_total=n,
                           note=even_note(d, n, n / 2, "3 months after the intervention (HomVEE); unadjusted means 36.46 vs 36.04 without SDs.")))  # fmt: skip
    # --- attachment, disorganised -----------------------------------------------------------
    d = 0.46
    rows.append(effect_row("Juffer 2005", 2005, "attachment_disorganised", "post",
                           ("Juffer 2005", "attachment_disorganised", "post"), -d,
                           se=se_even_split(d, 130 / 3), higher_is_better="false",
                           note="SIGN: the abstract prints d = .46 for FEWER disorganised classifications with VIPP; entered as -0.46 "
                                "(VIPP minus control on the disorganisation scale, higher_is_better=false), i.e. +0.46 on the benefit scale. "
                                "SMD of a binary classification as reported (no counts). "
                                + even_note(d, "130 over three arms", 130 / 3)))  # fmt: skip
    # --- proxies and other outcomes (kept under their own other: names) ----------------------
    d = 0.62
    rows.append(effect_row("Juffer 2005", 2005, "other:disorganization_rating", "post",
                           ("Juffer 2005", "other:disorganization_rating", "post"), -d,
                           se=se_even_split(d, 130 / 3), higher_is_better="false",
                           note="SIGN: abstract prints d = .62 for LOWER disorganisation rating with VIPP; entered as -0.62 with "
                                "higher_is_better=false. " + even_note(d, "130 over three arms", 130 / 3)))  # fmt: skip
    d, n = 0.78, 31
    rows.append(effect_row("Barlow 2016", 2016, "other:infant_cooperativeness", "post",
                           ("Barlow 2016", "other:infant_cooperativeness", "post"), d,
                           se=se_even_split(d, n / 2), n_total=n, note=even_note(d, n, n / 2, "CARE-Index infant cooperativeness.")))  # fmt: skip
    vf = shared_row("Hoivik 2015", "other:EAS_total_score", "post", "vf")
    ct = shared_row("Hoivik 2015", "other:EAS_total_score", "post", "control")
    row = dict.fromkeys(COLUMNS, "")
    row.update(study="Hoivik 2015", year=2015, outcome="other:EAS_total_score", timepoint="post", measure="SMD",
               n_t=int(float(vf["n"])), mean_t=vf["mean"], sd_t=vf["sd"],
               n_c=int(float(ct["n"])), mean_c=ct["mean"], sd_c=ct["sd"], higher_is_better="true",
               source=source_of(vf),
               note="PROXY, not the sensitivity subscale: summed Emotional Availability Scales score copied from a later review's "
                    "table (BMJ Open 2017 Table 5). That table also gives d = 0.25 (-0.11 to 0.61) for this comparison: "
                    "see excluded_rows.csv (same comparison; arm data used).")  # fmt: skip
    rows.append(row)
    rows.append(effect_row("Green 2015", 2015, "other:parental_non_directiveness", "post",
                           ("Green 2015", "other:parental_non_directiveness", "post"), 0.81,
                           ci_low=0.28, ci_high=1.52, n_t=28, n_c=26,
                           note="PROXY for sensitivity (MACI non-directiveness), kept under its own name. Adjusted ITT effect size; "
                                "its CI is asymmetric (bootstrap), so the loader's se from the CI width, (1.52 - 0.28)/(2 x 1.96), "
                                "is a symmetric approximation. n_t/n_c = randomised arms."))  # fmt: skip
    rows.append(effect_row("Green 2015", 2015, "other:parental_non_directiveness", "followup_long",
                           ("Green 2015", "other:parental_non_directiveness", "followup_long"), 0.33,
                           ci_low=0.04, ci_high=0.63, n_t=28, n_c=26,
                           note="Green 2017 follow-up: ONE effect over the intervention and follow-up period (to child age 39 months), "
                                "not a single time point. se from the 95% CI by the loader."))  # fmt: skip
    vf = shared_row("Stein 2006", "other:mealtime conflict (marked or severe episodes)", "post", "vf")
    ct = shared_row("Stein 2006", "other:mealtime conflict (marked or severe episodes)", "post", "control")
    row = dict.fromkeys(COLUMNS, "")
    row.update(study="Stein 2006", year=2006, outcome="other:mealtime_conflict", timepoint="post", measure="logOR",
               n_t=int(float(vf["total"])), events_t=int(float(vf["events"])),
               n_c=int(float(ct["total"])), events_c=int(float(ct["events"])), higher_is_better="false",
               source=source_of(vf),
               note="events = mothers with marked or severe mealtime conflict at 13 months (unfavourable). The abstract's "
                    "OR 0.27 (0.10 to 0.73) for the same comparison is in excluded_rows.csv (counts used).")  # fmt: skip
    rows.append(row)
    rows.append(effect_row("Mendelsohn 2011", 2011, "other:StimQ_cognitive_stimulation", "post",
                           ("Mendelsohn 2011", "other:StimQ-Infant cognitive stimulation", "post"), 0.51,
                           ci_low=0.22, ci_high=0.81,
                           note="Video Interaction Project vs control (a third arm, Building Blocks, is not video feedback); "
                                "StimQ is cognitive stimulation, not sensitivity. se from the 95% CI by the loader."))  # fmt: skip
    for r in rows:
        for k in ("se",):
            if isinstance(r[k], float):
                r[k] = round(r[k], 8)
    return rows


def excluded_rows():
    def ex(study, outcome, tp, arm, value, reason):
        r = shared_row(study, outcome, tp, arm)
        return dict(study=study, outcome=outcome, timepoint=TP[tp], value=value, reason=reason, source=source_of(r))

    return [
        ex("Bakermans-Kranenburg 1998", "sensitivity", "post", "contrast",
           "d = 0.87 (t(28) = -2.3), N = 30, both VF arms vs control",
           "Preliminary report (30 mothers) of the trial reported in full as Klein Velderman 2006 (same design: VIPP and "
           "VIPP-R, 4 home visits at 7-10 months; research_notes_A). Counting both would double-count the trial; the "
           "final report is used."),
        ex("Hoivik 2015", "other:EAS_total_score", "post", "contrast", "d = 0.25 (95% CI -0.11 to 0.61), n = 73 + 52",
           "Same comparison as the arm means/SDs in study_outcomes.csv (which give g = 0.25); one row per study x outcome x time point."),
        ex("Stein 2006", "other:mealtime conflict (marked or severe episodes)", "post", "contrast",
           "OR = 0.27 (95% CI 0.10 to 0.73)",
           "Same comparison as the 2x2 counts (9/38 vs 21/39) in study_outcomes.csv; counts kept for exact likelihoods."),
        ex("Barone 2019", "sensitivity", "post", "contrast", "F(1,49) = 16.014, partial eta^2 = .246 (Time x Group), 32 vs 19",
           "A Time x Group interaction F from an earlier 51-dyad report, not a between-arm post-test contrast; converting it "
           "to an SMD would need change-score correlations that are not reported. Listed in not_found.csv as well."),
        ex("Oxford 2016", "sensitivity", "post", "vf", "unadjusted means 35.65 (PFR) vs 35.07 (control), N = 222, no SDs",
           "Arm means without SDs or arm sizes cannot form continuous arm data; the study's reported effect size 0.12 is used."),
        ex("Oxford 2016", "sensitivity", "followup_short", "vf", "unadjusted means 36.46 vs 36.04, N = 213, no SDs",
           "As above; the reported effect size 0.09 is used."),
    ]  # fmt: skip


def not_found_rows():
    def nf(study, outcome, tp, shared_outcome=None, arm="contrast", known=""):
        r = shared_row(study, shared_outcome or outcome, tp, arm) if shared_outcome is not False else None
        return dict(study=study, outcome=outcome, timepoint=TP[tp], what_is_known=known or (r["notes"] if r else ""),
                    source=source_of(r) if r else "")  # fmt: skip

    def notes_only(study, outcome, tp, known, source):
        return dict(study=study, outcome=outcome, timepoint=TP[tp], what_is_known=known, source=source)

    nb = "research_notes_B.md (shared/reference/cd012348)"
    return [
        nf("Barone 2019", "sensitivity", "post",
           known="Only a Time x Group interaction F(1,49) = 16.014 from a 51-dyad report; the review used unpublished data from the authors."),
        nf("Benzies 2013", "sensitivity", "post"),
        notes_only("Bovenschen 2012", "sensitivity", "post",
                   "N = 36; positive effect on maternal sensitivity not maintained long term (German abstract); no numbers; the review used unpublished author data.", nb),
        nf("Hoivik 2015", "sensitivity", "post",
           known="EAS sensitivity values not found (the summed-EAS proxy is a data row under other:EAS_total_score)."),
        nf("Hoivik 2015", "sensitivity", "followup_short"),
        nf("Hoffenkamp 2015", "sensitivity", "post"),
        nf("Lam-Cassettari 2015", "sensitivity", "post"),
        nf("Moss 2011", "sensitivity", "post"),
        nf("Moss 2011", "attachment_security", "post", shared_outcome="attachment_secure"),
        nf("Moss 2011", "attachment_disorganised", "post"),
        nf("Moran 2005", "attachment_security", "post", shared_outcome="attachment_secure", arm="vf",
           known="57% secure with video feedback vs 38% in the comparison group at 12 months; arm sizes not found, so no counts."),
        nf("Moran 2005", "other:sensitivity_maintained", "followup_long", shared_outcome="sensitivity",
           known="76% vs 54% of mothers maintained sensitivity from 6 to 24 months (proportions; arm sizes not found)."),
        nf("van Doesum 2008", "sensitivity", "post"),
        nf("van Doesum 2008", "attachment_aqs", "post"),
        nf("van Doesum 2008", "sensitivity", "followup_long"),
        nf("Magill-Evans 2007", "sensitivity", "post"),
        nf("Dubois-Comtois (year unverified)", "sensitivity", "post"),
        nf("Horowitz 2013", "sensitivity", "post"),
        notes_only("Kalinauskiene 2009", "attachment_aqs", "post",
                   "Attachment Q-sort (home observation) security 'not enhanced' in VIPP infants compared with control "
                   "infants after the intervention (abstract, n = 54); no number, no arm sizes.",
                   "Kalinauskiene L, Cekuoliene D, Van IJzendoorn MH, Bakermans-Kranenburg MJ, Juffer F, Kusakovskaja I "
                   "(2009) Child Care Health Dev 35(5):613-23, abstract (PMID 19323672) "
                   "<https://zendy.io/title/10.1111/j.1365-2214.2009.00962.x>"),
        # Added by the attachment search pass (see data/cd012348/README.md): outcomes measured, no numbers public.
        notes_only("Spieker 2012", "attachment_aqs", "post",
                   "Child attachment security was an analysed outcome (HomVEE: the authors' analyses controlled for the "
                   "baseline measure of 'child's attachment security'); a continuous observer rating, instrument NOT "
                   "confirmed from stored text (entered under attachment_aqs as the continuous attachment measure); no value, "
                   "no arm sizes found (N = 210 randomised).",
                   "HomVEE study review of Spieker SJ, Oxford ML, Kelly JF, Nelson EM, Fleming CB (2012) Child Maltreatment "
                   "17(4):271-286 <https://stage.homvee.net/studies/wwhv035513>"),
        notes_only("Juffer 2005", "attachment_security", "post",
                   "Strange Situation at 12 months measured (the abstract reports fewer disorganised classifications with "
                   "VIPP, d = .46); secure/insecure counts and arm sizes not found (130 families over three arms).", nb),
        notes_only("Negrao 2014", "sensitivity", "post",
                   "VIPP-SD effective on positive parent-child interactions (EAS); randomised 29/26, analysed 22/21; no numbers.", nb),
        notes_only("Yagmur 2014", "sensitivity", "post", "VIPP-TM increased maternal sensitivity (abstract); no numbers.", nb),
        notes_only("Poslawsky 2015", "sensitivity", "post",
                   "No significant group differences in EAS sensitivity (abstract; intrusiveness reduced); no numbers.", nb),
        notes_only("Platje 2018", "sensitivity", "post", "No increase in parental sensitivity (abstract); no numbers.", nb),
        notes_only("van Zeijl 2006", "sensitivity", "post",
                   "VIPP-SD promoted sensitive discipline interactions (abstract; outcome is sensitive discipline); no numbers.", nb),
        notes_only("Klein Velderman 2006", "attachment_security", "post",
                   "Strange Situation at 13 months measured; secure/insecure counts not found.", nb),
        # Studies in studies.csv with no outcome row at all in the shared reconstruction.
        dict(study="Landry 2006", outcome="any", timepoint="", source="studies.csv (shared/reference/cd012348)",
             what_is_known="No outcome description or number was gathered for this trial (PALS I; outcome rows absent)."),
        dict(study="Stein 2018", outcome="any", timepoint="", source="studies.csv (shared/reference/cd012348)",
             what_is_known="No outcome description or number was gathered for this trial (primary outcomes at 2 years)."),
    ]  # fmt: skip


INTERVENTION_FAMILY = {
    # VIPP family: Leiden Video-feedback Intervention to promote Positive Parenting and its adaptations.
    "Barone 2019": "VIPP family", "Kalinauskiene 2009": "VIPP family", "Negrao 2014": "VIPP family",
    "Klein Velderman 2006": "VIPP family", "van Zeijl 2006": "VIPP family", "Yagmur 2014": "VIPP family",
    "Poslawsky 2015": "VIPP family", "Juffer 2005": "VIPP family", "Green 2015": "VIPP family",
    "Platje 2018": "VIPP family",
}  # fmt: skip
RISK_GROUP = {
    "Barlow 2016": "preterm", "Barone 2019": "adoption", "Benzies 2013": "preterm",
    "Bovenschen 2012": "psychosocial_risk", "Hoivik 2015": "interaction_problems",
    "Kalinauskiene 2009": "insensitive_parent", "Negrao 2014": "poverty", "Lam-Cassettari 2015": "child_disability",
    "Moss 2011": "maltreatment", "Klein Velderman 2006": "insecure_parent", "van Zeijl 2006": "child_behaviour_problems",
    "Yagmur 2014": "child_behaviour_problems", "van Doesum 2008": "parental_depression", "Hoffenkamp 2015": "preterm",
    "Moran 2005": "adolescent_parent", "Poslawsky 2015": "autism", "Spieker 2012": "child_welfare",
    "Stein 2006": "parental_eating_disorder", "Magill-Evans 2007": "community", "Landry 2006": "poverty",
    "Juffer 2005": "adoption", "Stein 2018": "parental_depression", "Oxford 2016": "maltreatment",
    "Green 2015": "autism", "Platje 2018": "child_disability", "Mendelsohn 2011": "poverty",
    "Dubois-Comtois (year unverified)": "maltreatment", "Horowitz 2013": "parental_depression",
}  # fmt: skip
SESSIONS_N = {
    "Barlow 2016": 3, "Moss 2011": 8, "Klein Velderman 2006": 4, "van Zeijl 2006": 6, "Moran 2005": 8,
    "Poslawsky 2015": 5, "Spieker 2012": 10, "Stein 2006": 13, "Magill-Evans 2007": 2, "Landry 2006": 10,
    "Juffer 2005": 3, "Oxford 2016": 10, "Lam-Cassettari 2015": 3,
}  # fmt: skip
EXTRA_STUDIES = [
    # Studies with rows in study_outcomes.csv but not in studies.csv (research_notes_C.md).
    dict(study_id="Mendelsohn 2011", inclusion="doubtful", country="USA",
         population="Low-income families (Video Interaction Project trial; 410 families assessed over 3 arms)",
         intervention="Video Interaction Project (VIP)", comparator="Control (third arm Building Blocks is not VF)",
         n_randomised="", n_vf="", n_control="", child_age="6 months at outcome", sessions="",
         reference="Mendelsohn AL et al. 2011, PubMed 21199978", doi="", pmid="21199978",
         in_cd012348_evidence="research_notes_C.md: inclusion DOUBTFUL (outcome is cognitive stimulation, not sensitivity)",
         source_url="https://pubmed.ncbi.nlm.nih.gov/21199978"),
    dict(study_id="Dubois-Comtois (year unverified)", inclusion="candidate", country="Canada",
         population="Infants/toddlers neglected or at serious risk of neglect", intervention="8-week attachment video-feedback intervention",
         comparator="Control", n_randomised="41", n_vf="21", n_control="20", child_age="", sessions="8 weekly",
         reference="Dubois-Comtois K et al. Testing the limits: extending attachment-based intervention effects to infant cognitive outcome and parental stress. Dev Psychopathol",
         doi="", pmid="", in_cd012348_evidence="research_notes_C.md: inclusion UNCONFIRMED",
         source_url="https://www.cambridge.org/core/journals/development-and-psychopathology/article/testing-the-limits-extending-attachmentbased-intervention-effects-to-infant-cognitive-outcome-and-parental-stress/5F793B97DCA24A7F12781181621BA92C"),
    dict(study_id="Horowitz 2013", inclusion="candidate", country="USA",
         population="Mothers with postpartum depression", intervention="CARE relationship-focused coaching (nurse home visits; interaction video-recorded; video feedback not confirmed)",
         comparator="Control", n_randomised="134", n_vf="", n_control="", child_age="6 weeks to 9 months postpartum", sessions="",
         reference="Horowitz JA et al. J Obstet Gynecol Neonatal Nurs 2013:287-300", doi="", pmid="",
         in_cd012348_evidence="research_notes_C.md: inclusion UNCONFIRMED; video feedback not confirmed",
         source_url="https://nhvrc.org/data/nurse-home-visits-improve-maternal-infant-interaction-and-decrease-severity-of-postpartum-depression/"),
]  # fmt: skip


def leading_int(text):
    m = re.match(r"\s*(\d+)(?:\.0)?\b", text or "")
    return int(m.group(1)) if m else ""


def moderator_rows():
    out = []
    for s in STUDIES + EXTRA_STUDIES:
        name = s["study_id"]
        year = re.search(r"(\d{4})$", name)
        n_vf, n_c = leading_int(s["n_vf"]), leading_int(s["n_control"])
        if "conflict" in (s["n_vf"] + s["n_control"]):
            n_vf = n_c = ""  # sources disagree (Landry 2006): leave blank
        out.append(
            dict(
                study=name,
                year=int(year.group(1)) if year else "",
                inclusion=s["inclusion"],
                country=s["country"],
                intervention=s["intervention"],
                intervention_family=INTERVENTION_FAMILY.get(name, "other"),
                risk_group=RISK_GROUP[name],
                sessions=s["sessions"],
                sessions_n=SESSIONS_N.get(name, ""),
                child_age=s["child_age"],
                risk_of_bias="",
                n_randomised=leading_int(s["n_randomised"]),
                n_vf=n_vf,
                n_control=n_c,
                comparator=s["comparator"],
                population=s["population"],
                reference=s["reference"],
                doi=s["doi"],
                inclusion_evidence=s["in_cd012348_evidence"],
                source_url=s["source_url"],
            )
        )
    return out


PUBLISHED_MAP = {
    "SoF1": ("sensitivity", "post", "SMD"),
    "SoF2": ("attachment_security", "post", "OR"),
    "SoF3": ("other:parental_stress", "post", "SMD"),
    "SoF4": ("other:parental_anxiety", "post", "SMD"),
    "SoF5": ("other:child_behaviour", "post", "SMD"),
    "PLS1": ("sensitivity", "followup", "SMD"),
    "PLS2": ("attachment_aqs", "post", ""),
    "PLS3": ("reflective_functioning", "post", ""),
    "MOD1": ("", "", ""),
}


def published_rows():
    out = []
    for r in read("published_pooled.csv"):
        outcome, tp, measure = PUBLISHED_MAP[r["analysis"]]
        out.append(
            dict(
                analysis=r["analysis"], outcome=outcome, timepoint=tp, measure=measure or r["measure"],
                label=r["outcome"], published_timepoint=r["timepoint"], k=r["k_studies"],
                n_participants=r["n_participants"], estimate=r["estimate"], ci_low=r["ci_low"],
                ci_high=r["ci_high"], i2=r["i2"], tau2=r["tau2"], certainty=r["certainty"],
                notes=r["notes"], source=r["source_url"],
            )
        )  # fmt: skip
    return out


def write(name, rows, columns=None, out_dir=HERE):
    columns = columns or list(rows[0])
    with open(Path(out_dir) / name, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, columns, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: fmt(v) for k, v in r.items()})


FILES = ("study_outcomes.csv", "moderators.csv", "published_pooled.csv", "not_found.csv", "excluded_rows.csv")


def main(out_dir=HERE) -> None:
    """Write every bundled CSV into ``out_dir`` (default: next to this script)."""
    write("study_outcomes.csv", data_rows(), COLUMNS, out_dir)
    write("moderators.csv", moderator_rows(), out_dir=out_dir)
    write("published_pooled.csv", published_rows(), out_dir=out_dir)
    write("not_found.csv", not_found_rows(), out_dir=out_dir)
    write("excluded_rows.csv", excluded_rows(), out_dir=out_dir)


if __name__ == "__main__":
    main()
    print("wrote", *FILES)
