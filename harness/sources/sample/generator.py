"""Generator of the bundled sample: synthetic English charts with gold ICD-10-CM codes and evidence.

Every chart is written from a plan: the conditions the patient has (gold) and the
conditions the note mentions without asserting them (negated, uncertain, family
history, resolved history, symptoms integral to a diagnosis). Conditions come from a
curated inventory of common problems, each on a real billable ICD-10-CM 2026 code,
plus a few drawn at random from the tabular itself; surface forms mix the tabular
description, its inclusion terms, abbreviations and clinical or lay synonyms.

Gold follows outpatient coding rules: uncertain diagnoses are not coded, signs and
symptoms integral to a confirmed diagnosis are not coded, family and resolved
history do not code the condition itself. Combinations that ICD-10-CM would merge
into one code (hypertension with CKD, diabetes "with" its complications, Excludes1
pairs) are never planned together, so every gold code stands on its own mention.

Everything is drawn from ``random.Random(f"{seed}:{index}")``: the same seed gives
byte-identical output. Run ``python -m harness.sources.sample.generator --seed 2026 --n 200
--out datasets/sample``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Literal, cast

from coders.codeset import Icd10cm, code_set
from harness.contracts import Assertion, Chart, GoldCode, Page, Span

GENERATOR = "harness.sources.sample.generator"
GENERATOR_VERSION = "1.0.0"
"""Bump when a change to this module changes the generated charts."""
DEFAULT_SEED = 2026
DEFAULT_N = 200
CODE_SET_YEAR = 2026
SPLIT_SHARES = (("train", 0.6), ("dev", 0.2), ("test", 0.2))
"""Share of charts per split, in file order (200 charts: 120 / 40 / 40)."""
PAGE_BREAK = "\f"
"""Separator between pages in the chart text (not part of any page)."""

Kind = Literal["chronic", "acute", "symptom"]


@dataclass(frozen=True)
class Condition:
    """One codable problem and how notes talk about it."""

    key: str
    code: str
    """Billable ICD-10-CM 2026 code (checked when the inventory is loaded)."""
    kind: Kind
    forms: tuple[str, ...]
    """Curated surface forms; tabular terms are added when the inventory is loaded."""
    group: str = ""
    """Concept family (defaults to ``key``): at most one member per chart, in any role."""
    meds: tuple[str, ...] = ()
    plan: str = ""
    """Plan sentence for the assessment; default: continue the medication."""
    symptoms: tuple[str, ...] = ()
    """Symptom keys the condition explains: integral to it, so never coded beside it."""
    differential: tuple[str, ...] = ()
    """Keys that a note rules out or keeps open when this is the main problem."""
    companions: tuple[str, ...] = ()
    """Acute keys that may be coded alongside this main problem."""
    needs_companion: bool = False
    complaint: str = ""
    """Chief complaint for acute problems without integral symptoms."""
    finding: str = ""
    """Workup result that confirms an acute problem."""
    resolved: str = ""
    """Past-history template (``{f}`` form, ``{year}``) for a resolved episode."""
    present: bool = True
    """Whether the condition may be planned as the patient's (else a distractor only)."""
    family: bool = False
    """Whether it makes a plausible family-history mention."""
    inclusion: bool = True
    """Whether the tabular inclusion terms read naturally as surface forms."""
    sex: Literal["F", "M"] | None = None
    min_age: int = 18
    max_age: int = 100

    @property
    def concept(self) -> str:
        return self.group or self.key


def _c(key: str, code: str, kind: Kind, *forms: str, **fields: object) -> Condition:
    return Condition(key, code, kind, forms, **fields)  # type: ignore[arg-type]


# fmt: off
_INVENTORY: tuple[Condition, ...] = (
    # Chronic problems.
    _c("htn", "I10", "chronic", "hypertension", "HTN", "high blood pressure", family=True,
       meds=("lisinopril 20 mg PO daily", "amlodipine 5 mg PO daily", "losartan 50 mg PO daily", "hydrochlorothiazide 25 mg PO daily")),
    _c("t2dm", "E11.9", "chronic", "type 2 diabetes", "T2DM", "DM2", "type 2 diabetes mellitus", group="diabetes", family=True,
       meds=("metformin 1000 mg PO BID", "glipizide 5 mg PO daily", "empagliflozin 10 mg PO daily")),
    _c("t2dm_hyperglycemia", "E11.65", "chronic", "type 2 diabetes with hyperglycemia", "T2DM with hyperglycemia",
       "poorly controlled type 2 diabetes", group="diabetes", meds=("metformin 1000 mg PO BID",),
       plan="A1c 9.4%; add empagliflozin 10 mg PO daily and recheck in 3 months."),
    _c("t1dm", "E10.9", "chronic", "type 1 diabetes", "T1DM", "type 1 diabetes mellitus", group="diabetes",
       meds=("insulin glargine 20 units SC nightly", "insulin lispro with meals per scale")),
    _c("prediabetes", "R73.03", "chronic", "prediabetes", "pre-diabetes", "borderline diabetes", group="diabetes",
       plan="A1c 6.1%; lifestyle counseling provided."),
    _c("ckd3a", "N18.31", "chronic", "CKD stage 3a", "CKD 3a", "chronic kidney disease stage 3a", "stage 3a chronic kidney disease",
       group="ckd", min_age=40, plan="eGFR stable at 52; avoid NSAIDs."),
    _c("ckd4", "N18.4", "chronic", "CKD stage 4", "CKD 4", "chronic kidney disease stage 4", group="ckd", min_age=50,
       plan="eGFR 24; nephrology follow-up arranged."),
    _c("copd", "J44.9", "chronic", "COPD", "chronic obstructive pulmonary disease", "chronic obstructive lung disease",
       group="copd", min_age=40, meds=("tiotropium 18 mcg inhaled daily", "albuterol HFA 2 puffs q4h PRN")),
    _c("asthma", "J45.909", "chronic", "asthma", "bronchial asthma", group="asthma",
       meds=("fluticasone 110 mcg 2 puffs BID", "albuterol HFA 2 puffs q4h PRN")),
    _c("mild_asthma", "J45.20", "chronic", "mild intermittent asthma", group="asthma", meds=("albuterol HFA 2 puffs q4h PRN",)),
    _c("chf", "I50.9", "chronic", "CHF", "congestive heart failure", "heart failure", group="hf", min_age=45,
       symptoms=("edema", "sob"), meds=("furosemide 40 mg PO daily", "carvedilol 12.5 mg PO BID")),
    _c("cardiomyopathy", "I42.9", "chronic", "cardiomyopathy", group="hf", min_age=30, meds=("metoprolol succinate 50 mg PO daily",)),
    _c("afib", "I48.91", "chronic", "atrial fibrillation", "AFib", "a-fib", min_age=50, symptoms=("palpitations",),
       meds=("apixaban 5 mg PO BID", "metoprolol succinate 50 mg PO daily", "diltiazem ER 180 mg PO daily")),
    _c("cad", "I25.10", "chronic", "coronary artery disease", "CAD", "ASHD", group="cad", min_age=45, family=True,
       meds=("aspirin 81 mg PO daily",)),
    _c("angina", "I20.9", "chronic", "angina", "angina pectoris", group="cad", min_age=45, symptoms=("chest_pain",),
       meds=("nitroglycerin 0.4 mg SL PRN",)),
    _c("hld", "E78.5", "chronic", "hyperlipidemia", "HLD", "dyslipidemia", group="lipids",
       meds=("atorvastatin 40 mg PO nightly", "rosuvastatin 10 mg PO daily")),
    _c("gerd", "K21.9", "chronic", "GERD", "gastroesophageal reflux disease", "acid reflux",
       meds=("omeprazole 20 mg PO daily", "pantoprazole 40 mg PO daily")),
    _c("mdd", "F32.9", "chronic", "major depressive disorder", "MDD", "major depression", group="depression", family=True,
       meds=("sertraline 50 mg PO daily", "escitalopram 10 mg PO daily")),
    _c("depression", "F32.A", "chronic", "depression", group="depression", meds=("sertraline 50 mg PO daily", "bupropion XL 150 mg PO daily")),
    _c("bipolar", "F31.9", "chronic", "bipolar disorder", "bipolar affective disorder", group="depression",
       meds=("lamotrigine 100 mg PO daily",)),
    _c("gad", "F41.1", "chronic", "generalized anxiety disorder", "GAD", group="anxiety", inclusion=False,
       meds=("buspirone 10 mg PO BID",)),
    _c("anxiety", "F41.9", "chronic", "anxiety disorder", "anxiety", group="anxiety", meds=("hydroxyzine 25 mg PO PRN",)),
    _c("ptsd", "F43.10", "chronic", "PTSD", "post-traumatic stress disorder", "posttraumatic stress disorder",
       meds=("prazosin 2 mg PO nightly",)),
    _c("schizophrenia", "F20.9", "chronic", "schizophrenia", max_age=80, meds=("risperidone 2 mg PO nightly",)),
    _c("dementia", "F03.90", "chronic", "dementia", min_age=65, family=True, symptoms=("confusion",),
       meds=("donepezil 10 mg PO nightly",)),
    _c("insomnia", "G47.00", "chronic", "insomnia", meds=("melatonin 3 mg PO nightly",)),
    _c("obesity", "E66.9", "chronic", "obesity", group="obesity", plan="Diet and exercise counseling provided."),
    _c("morbid_obesity", "E66.01", "chronic", "morbid obesity", "severe obesity due to excess calories", group="obesity",
       plan="Discussed referral to a weight management program."),
    _c("hypothyroidism", "E03.9", "chronic", "hypothyroidism", "underactive thyroid", group="thyroid",
       meds=("levothyroxine 75 mcg PO daily",)),
    _c("hyperthyroidism", "E05.90", "chronic", "hyperthyroidism", group="thyroid", meds=("methimazole 10 mg PO daily",)),
    _c("oa_right_knee", "M17.11", "chronic", "primary osteoarthritis of the right knee", "right knee osteoarthritis",
       "OA of the right knee", "degenerative joint disease of the right knee", group="knee_oa", min_age=45,
       symptoms=("knee_pain",), meds=("acetaminophen 650 mg PO q6h PRN", "meloxicam 7.5 mg PO daily")),
    _c("oa_left_knee", "M17.12", "chronic", "primary osteoarthritis of the left knee", "left knee osteoarthritis",
       "OA of the left knee", group="knee_oa", min_age=45, meds=("acetaminophen 650 mg PO q6h PRN",)),
    _c("low_back_pain", "M54.50", "chronic", "low back pain", "LBP", "lumbago", meds=("cyclobenzaprine 5 mg PO nightly PRN",),
       plan="Home exercise program reviewed."),
    _c("migraine", "G43.909", "chronic", "migraine", "migraine headaches", symptoms=("headache",),
       meds=("sumatriptan 50 mg PO PRN",)),
    _c("osa", "G47.33", "chronic", "obstructive sleep apnea", "OSA", plan="Continue CPAP nightly; good adherence on download."),
    _c("epilepsy", "G40.909", "chronic", "epilepsy", "seizure disorder", meds=("levetiracetam 500 mg PO BID",)),
    _c("neuropathy", "G62.9", "chronic", "peripheral neuropathy", "polyneuropathy", min_age=40, meds=("gabapentin 300 mg PO TID",)),
    _c("pvd", "I73.9", "chronic", "peripheral vascular disease", "PVD", "peripheral arterial disease", "PAD",
       "intermittent claudication", min_age=50, inclusion=False, meds=("cilostazol 100 mg PO BID",)),
    _c("aortic_stenosis", "I35.0", "chronic", "aortic stenosis", "aortic valve stenosis", min_age=60,
       plan="Moderate on last echo; cardiology follow-up in 6 months."),
    _c("mitral_regurgitation", "I34.0", "chronic", "mitral regurgitation", "mitral insufficiency", min_age=40,
       plan="Mild on echo; repeat echo in 1 year."),
    _c("pulmonary_htn", "I27.20", "chronic", "pulmonary hypertension", "pulmonary HTN", min_age=40,
       plan="Followed by pulmonology; echo scheduled."),
    _c("pulmonary_fibrosis", "J84.10", "chronic", "pulmonary fibrosis", "lung fibrosis", min_age=50, inclusion=False,
       plan="PFTs stable; pulmonology follow-up."),
    _c("allergic_rhinitis", "J30.9", "chronic", "allergic rhinitis", meds=("fluticasone nasal spray 2 sprays daily", "cetirizine 10 mg PO daily")),
    _c("chronic_sinusitis", "J32.9", "chronic", "chronic sinusitis", "chronic rhinosinusitis", meds=("saline nasal irrigation daily",)),
    _c("bph", "N40.0", "chronic", "BPH", "benign prostatic hyperplasia", "enlarged prostate", sex="M", min_age=50,
       symptoms=("urinary_frequency", "urinary_incontinence"), plan="Asymptomatic; PSA stable, no medication needed."),
    _c("gout", "M10.9", "chronic", "gout", min_age=30, meds=("allopurinol 300 mg PO daily",)),
    _c("osteoporosis", "M81.0", "chronic", "osteoporosis", "age-related osteoporosis", "postmenopausal osteoporosis", sex="F",
       min_age=55, family=True, meds=("alendronate 70 mg PO weekly",)),
    _c("vitamin_d_deficiency", "E55.9", "chronic", "vitamin D deficiency", "low vitamin D", meds=("cholecalciferol 2000 IU PO daily",)),
    _c("b12_deficiency", "E53.8", "chronic", "vitamin B12 deficiency", "B12 deficiency", "cobalamin deficiency", inclusion=False,
       meds=("cyanocobalamin 1000 mcg PO daily",)),
    _c("ibs", "K58.9", "chronic", "irritable bowel syndrome", "IBS", max_age=75, symptoms=("abdominal_pain", "diarrhea", "constipation"),
       meds=("dicyclomine 20 mg PO QID PRN",)),
    _c("diverticulosis", "K57.30", "chronic", "diverticulosis", "diverticulosis of the colon", min_age=45,
       plan="High-fiber diet; colonoscopy up to date."),
    _c("hemorrhoids", "K64.9", "chronic", "hemorrhoids", plan="Fiber supplement and hydrocortisone cream PRN."),
    _c("nafld", "K76.0", "chronic", "NAFLD", "nonalcoholic fatty liver disease", "fatty liver", "hepatic steatosis", group="liver",
       plan="Liver enzymes mildly elevated; weight loss counseling."),
    _c("cirrhosis", "K74.60", "chronic", "cirrhosis", "cirrhosis of the liver", "liver cirrhosis", group="liver", min_age=40,
       plan="Compensated; hepatology follow-up and screening ultrasound."),
    _c("hepatitis_c", "B18.2", "chronic", "chronic hepatitis C", "chronic HCV infection", inclusion=False,
       plan="Referred to hepatology for antiviral therapy."),
    _c("tobacco", "F17.210", "chronic", "cigarette smoker", "nicotine dependence, cigarettes", "cigarette dependence",
       plan="Counseled on cessation; nicotine patch offered."),
    _c("alcohol_dependence", "F10.20", "chronic", "alcohol dependence", "alcohol use disorder, moderate", "EtOH dependence",
       group="alcohol", min_age=21, plan="Counseled; referred to addiction medicine."),
    _c("opioid_dependence", "F11.20", "chronic", "opioid use disorder, moderate", "opioid dependence",
       meds=("buprenorphine-naloxone 8-2 mg SL daily",)),
    _c("psoriasis", "L40.0", "chronic", "plaque psoriasis", "psoriasis vulgaris", "psoriasis", meds=("clobetasol 0.05% ointment BID",)),
    _c("atopic_dermatitis", "L20.9", "chronic", "atopic dermatitis", "atopic eczema", group="dermatitis",
       meds=("triamcinolone 0.1% cream BID",)),
    _c("acne", "L70.0", "chronic", "acne vulgaris", "acne", max_age=35, meds=("tretinoin 0.025% cream nightly",)),
    _c("onychomycosis", "B35.1", "chronic", "onychomycosis", "toenail fungus", "fungal nail infection",
       plan="Topical efinaconazole discussed."),
    _c("cataract", "H25.9", "chronic", "age-related cataract", "senile cataract", min_age=60, plan="Ophthalmology referral."),
    _c("glaucoma", "H40.9", "chronic", "glaucoma", min_age=50, family=True, meds=("latanoprost 0.005% one drop each eye nightly",)),
    _c("hearing_loss", "H91.90", "chronic", "hearing loss", min_age=50, plan="Audiology referral."),
    _c("anemia", "D64.9", "chronic", "anemia", group="anemia", plan="Hemoglobin 10.9, stable; iron studies pending."),
    _c("iron_deficiency_anemia", "D50.9", "chronic", "iron deficiency anemia", "IDA", "iron-deficiency anemia", group="anemia",
       meds=("ferrous sulfate 325 mg PO daily",)),
    _c("thrombocytopenia", "D69.6", "chronic", "thrombocytopenia", "low platelet count", plan="Platelets 118; repeat CBC in 1 month."),
    _c("pcos", "E28.2", "chronic", "polycystic ovary syndrome", "PCOS", sex="F", max_age=45, plan="Lifestyle counseling; gynecology follow-up."),
    _c("menopause", "N95.1", "chronic", "menopausal symptoms", "symptomatic menopause", sex="F", min_age=45, max_age=60, inclusion=False,
       plan="Discussed options for vasomotor symptom relief."),
    _c("menorrhagia", "N92.0", "chronic", "menorrhagia", "heavy menstrual bleeding", sex="F", max_age=50,
       plan="Pelvic ultrasound ordered; gynecology referral."),
    # Acute problems: main problems of ED and urgent care visits, or their companions.
    _c("uti", "N39.0", "acute", "urinary tract infection", "UTI", group="uti", symptoms=("dysuria", "urinary_frequency"),
       finding="Urinalysis shows positive leukocyte esterase and nitrites.",
       plan="Start nitrofurantoin 100 mg PO BID for 5 days; urine culture sent.",
       differential=("kidney_stone", "sepsis"), resolved="{f} in {year}, treated with antibiotics"),
    _c("cystitis", "N30.00", "acute", "acute cystitis", "acute cystitis without hematuria", group="uti", sex="F",
       symptoms=("dysuria",), finding="Urine dipstick positive for leukocytes; no blood.",
       plan="Nitrofurantoin 100 mg PO BID for 5 days.", differential=("kidney_stone",)),
    _c("pneumonia", "J18.9", "acute", "community-acquired pneumonia", "pneumonia", "CAP", symptoms=("cough", "fever", "sob"),
       finding="Chest x-ray shows a right lower lobe infiltrate.",
       plan="Start ceftriaxone 1 g IV daily and azithromycin 500 mg PO daily.",
       differential=("pulmonary_embolism", "influenza", "covid19"), companions=("ahrf", "dehydration", "hyponatremia"),
       resolved="{f} in {year}, treated and resolved"),
    _c("bronchitis", "J20.9", "acute", "acute bronchitis", symptoms=("cough", "wheezing"), finding="Chest x-ray is clear.",
       plan="Supportive care; albuterol HFA 2 puffs q4h PRN.", differential=("pneumonia",)),
    _c("uri", "J06.9", "acute", "upper respiratory infection", "URI", "acute upper respiratory infection", symptoms=("cough",),
       finding="Lungs are clear; no focal findings.", plan="Supportive care with fluids, rest and acetaminophen.",
       differential=("pneumonia", "influenza", "covid19")),
    _c("pharyngitis", "J02.9", "acute", "acute pharyngitis", "pharyngitis", "sore throat", inclusion=False, symptoms=("fever",),
       finding="Tonsils erythematous without exudate.", plan="Supportive care, salt-water gargles and ibuprofen.",
       differential=("strep_pharyngitis",)),
    _c("strep_pharyngitis", "J02.0", "acute", "streptococcal pharyngitis", "strep throat", present=False),
    _c("sinusitis", "J01.90", "acute", "acute sinusitis", "acute rhinosinusitis", symptoms=("headache",),
       finding="Maxillary sinus tenderness on exam.", plan="Amoxicillin-clavulanate 875 mg PO BID for 7 days."),
    _c("otitis_media", "H66.91", "acute", "right otitis media", "otitis media of the right ear", "right ear infection",
       symptoms=("fever",), finding="Right tympanic membrane is bulging and erythematous.",
       plan="Amoxicillin 875 mg PO BID for 10 days."),
    _c("influenza", "J11.1", "acute", "influenza", "flu", symptoms=("fever", "cough"),
       finding="Clinical diagnosis during a local outbreak; testing not performed.", plan="Oseltamivir 75 mg PO BID for 5 days."),
    _c("covid19", "U07.1", "acute", "COVID-19", "SARS-CoV-2 infection", symptoms=("fever", "cough"), finding="SARS-CoV-2 PCR positive.",
       plan="Supportive care; isolation precautions reviewed."),
    _c("viral_gastroenteritis", "A08.4", "acute", "viral gastroenteritis", "viral enteritis", group="gastroenteritis",
       symptoms=("nausea_vomiting", "diarrhea"), finding="Abdomen soft; several household contacts with similar symptoms.",
       plan="Oral rehydration and ondansetron 4 mg PO PRN.", companions=("dehydration", "hypokalemia")),
    _c("infectious_gastroenteritis", "A09", "acute", "infectious gastroenteritis", "infectious colitis", "infectious enteritis",
       group="gastroenteritis", symptoms=("diarrhea", "fever"), finding="Stool studies sent.", plan="Hydration and supportive care.",
       companions=("dehydration",)),
    _c("gastritis", "K29.70", "acute", "gastritis", symptoms=("abdominal_pain", "nausea"), finding="Epigastric tenderness; lipase normal.",
       plan="Start pantoprazole 40 mg PO daily; avoid NSAIDs.", differential=("pancreatitis", "cholelithiasis")),
    _c("pancreatitis", "K85.90", "acute", "acute pancreatitis", symptoms=("abdominal_pain", "nausea_vomiting"),
       finding="Lipase 1,240 U/L; CT shows peripancreatic stranding.", plan="NPO, IV fluids and pain control; admit.",
       differential=("cholelithiasis",)),
    _c("appendicitis", "K35.80", "acute", "acute appendicitis", "appendicitis", symptoms=("abdominal_pain", "fever"),
       finding="CT abdomen shows a dilated, inflamed appendix.", plan="Surgery consulted; start IV antibiotics.",
       differential=("kidney_stone",), resolved="{f}, s/p appendectomy in {year}"),
    _c("cholelithiasis", "K80.20", "acute", "cholelithiasis", "gallstones", "calculus of gallbladder",
       symptoms=("abdominal_pain", "nausea"), finding="Ultrasound shows mobile echogenic foci without gallbladder wall thickening.",
       plan="Surgery referral for elective cholecystectomy.", differential=("pancreatitis", "appendicitis"),
       resolved="{f}, s/p laparoscopic cholecystectomy in {year}"),
    _c("sepsis", "A41.9", "acute", "sepsis", "septicemia", symptoms=("fever",), finding="Lactate 2.4 mmol/L; blood cultures drawn.",
       plan="Broad-spectrum antibiotics and IV fluid bolus; admit.", companions=("pneumonia", "uti", "cellulitis"),
       needs_companion=True),
    _c("aki", "N17.9", "acute", "acute kidney injury", "AKI", "acute renal failure", complaint="weakness and poor oral intake",
       finding="Creatinine 2.1 mg/dL from a baseline of 1.0.", plan="Hold nephrotoxic medications; IV fluids; recheck BMP.",
       companions=("dehydration", "hyperkalemia")),
    _c("dehydration", "E86.0", "acute", "dehydration", symptoms=("dizziness",), finding="Orthostatic vital signs positive.",
       plan="IV fluid bolus; encourage oral hydration."),
    _c("hypokalemia", "E87.6", "acute", "hypokalemia", "low potassium", present=False,
       plan="Potassium chloride 40 mEq PO once; recheck level."),
    _c("hyponatremia", "E87.1", "acute", "hyponatremia", "low sodium", present=False,
       plan="Fluid restriction; recheck sodium in the morning."),
    _c("hyperkalemia", "E87.5", "acute", "hyperkalemia", "high potassium", present=False,
       plan="Calcium gluconate and repeat potassium in 2 hours."),
    _c("ahrf", "J96.01", "acute", "acute hypoxic respiratory failure", "acute respiratory failure with hypoxia", present=False,
       plan="Supplemental oxygen by nasal cannula to keep SpO2 above 92%."),
    _c("pulmonary_embolism", "I26.99", "acute", "pulmonary embolism", "PE", "acute pulmonary embolism", symptoms=("sob", "chest_pain"),
       finding="CT angiogram shows a segmental filling defect in the right lower lobe.", plan="Start apixaban 10 mg PO BID.",
       differential=("pneumonia", "nstemi"), resolved="{f} in {year}, completed anticoagulation"),
    _c("dvt", "I82.401", "acute", "right leg DVT", "acute deep vein thrombosis of the right leg", "acute DVT of the right lower extremity",
       symptoms=("edema",), finding="Venous duplex ultrasound confirms a thrombus in the deep veins of the right leg.",
       plan="Start apixaban 10 mg PO BID for 7 days, then 5 mg BID.", differential=("cellulitis",)),
    _c("cellulitis", "L03.115", "acute", "cellulitis of the right lower leg", "right lower extremity cellulitis", "RLE cellulitis",
       symptoms=("edema",), finding="Erythema, warmth and tenderness over the right shin without fluctuance.",
       plan="Cephalexin 500 mg PO QID for 7 days; borders marked.", differential=("dvt",),
       resolved="{f} in {year}, resolved with antibiotics"),
    _c("nstemi", "I21.4", "acute", "NSTEMI", "non-ST elevation myocardial infarction", "non-ST-elevation MI", group="mi", min_age=40,
       symptoms=("chest_pain", "sob"), finding="Troponin 0.45 ng/mL; ECG without ST elevation.",
       plan="Aspirin, heparin drip and cardiology consult for catheterization.", differential=("pulmonary_embolism",)),
    _c("mi", "I21.9", "acute", "myocardial infarction", "MI", "heart attack", group="mi", present=False, family=True),
    _c("copd_exacerbation", "J44.1", "acute", "COPD exacerbation", "acute exacerbation of COPD", "AECOPD", group="copd", min_age=40,
       symptoms=("sob", "cough", "wheezing"), finding="Chest x-ray without infiltrate; venous pH 7.36.",
       plan="Prednisone 40 mg PO daily for 5 days, nebulized albuterol-ipratropium and doxycycline.",
       differential=("pneumonia", "pulmonary_embolism")),
    _c("asthma_exacerbation", "J45.901", "acute", "asthma exacerbation", "acute asthma exacerbation", group="asthma",
       symptoms=("wheezing", "sob", "cough"), finding="Peak flow 55% of predicted.",
       plan="Nebulized albuterol; prednisone 40 mg PO daily for 5 days.", differential=("pneumonia",)),
    _c("kidney_stone", "N20.0", "acute", "kidney stone", "nephrolithiasis", "renal calculus", symptoms=("hematuria", "nausea_vomiting"),
       finding="Noncontrast CT shows a 5 mm right-sided calcification without hydronephrosis.",
       plan="Tamsulosin 0.4 mg PO daily, analgesia and strain urine.", differential=("appendicitis",),
       resolved="{f} in {year}, passed spontaneously"),
    _c("zoster", "B02.9", "acute", "herpes zoster", "shingles", min_age=50, symptoms=("rash",),
       finding="Grouped vesicles in a left T6 dermatomal distribution.", plan="Valacyclovir 1 g PO TID for 7 days."),
    _c("contact_dermatitis", "L25.9", "acute", "contact dermatitis", group="dermatitis", symptoms=("rash",),
       finding="Linear erythematous papules on both forearms after yard work.", plan="Triamcinolone 0.1% cream BID; avoid the exposure."),
    _c("conjunctivitis", "H10.9", "acute", "conjunctivitis", "pink eye", complaint="red, watery eye for two days",
       finding="Conjunctival injection without photophobia or vision change.",
       plan="Erythromycin ophthalmic ointment; hand hygiene reviewed."),
    _c("cerumen_impaction", "H61.21", "acute", "impacted cerumen of the right ear", "right cerumen impaction",
       complaint="right ear fullness and muffled sound", finding="Right canal completely occluded; tympanic membrane not visualized.",
       plan="Irrigation performed with good result."),
    _c("ankle_sprain", "S93.401A", "acute", "right ankle sprain", "sprain of the right ankle", "sprained right ankle",
       complaint="right ankle injury", finding="Lateral ankle swelling; x-ray without fracture.",
       plan="Rest, ice, ankle brace and ibuprofen 600 mg PO TID PRN.", resolved="{f} in {year}, healed"),
    _c("stroke", "I63.9", "acute", "stroke", "CVA", "cerebral infarction", present=False, family=True,
       resolved="{f} in {year} without residual deficits"),
    _c("concussion", "S06.0X0A", "acute", "concussion", "concussion without loss of consciousness", present=False,
       resolved="{f} in {year}, no residual symptoms"),
    # Cancers: family history and differentials only.
    _c("breast_cancer", "C50.919", "chronic", "breast cancer", sex="F", present=False, family=True),
    _c("ovarian_cancer", "C56.9", "chronic", "ovarian cancer", sex="F", present=False, family=True),
    _c("prostate_cancer", "C61", "chronic", "prostate cancer", sex="M", present=False, family=True),
    _c("colon_cancer", "C18.9", "chronic", "colon cancer", "carcinoma of the colon", present=False, family=True),
    _c("lung_cancer", "C34.90", "chronic", "lung cancer", present=False, family=True),
    _c("pancreatic_cancer", "C25.9", "chronic", "pancreatic cancer", present=False, family=True),
    # Signs and symptoms: coded only when no confirmed diagnosis explains them.
    _c("fatigue", "R53.83", "symptom", "fatigue", "tiredness", "lack of energy",
       differential=("hypothyroidism", "anemia", "iron_deficiency_anemia", "osa", "depression", "b12_deficiency")),
    _c("headache", "R51.9", "symptom", "headache", "headaches", inclusion=False, differential=("migraine", "sinusitis")),
    _c("chest_pain", "R07.9", "symptom", "chest pain", differential=("angina", "nstemi", "pulmonary_embolism", "gerd")),
    _c("cough", "R05.9", "symptom", "cough", present=False),
    _c("sob", "R06.02", "symptom", "shortness of breath", "SOB", differential=("chf", "pulmonary_embolism", "pneumonia", "asthma")),
    _c("wheezing", "R06.2", "symptom", "wheezing", differential=("asthma", "copd")),
    _c("abdominal_pain", "R10.9", "symptom", "abdominal pain", "abd pain",
       differential=("appendicitis", "cholelithiasis", "pancreatitis", "gastritis")),
    _c("dizziness", "R42", "symptom", "dizziness", "lightheadedness", differential=("afib", "dehydration", "stroke")),
    _c("nausea_vomiting", "R11.2", "symptom", "nausea and vomiting", "nausea with vomiting", "N/V", group="nausea",
       differential=("viral_gastroenteritis", "gastritis")),
    _c("nausea", "R11.0", "symptom", "nausea", group="nausea", differential=("gastritis", "gerd")),
    _c("diarrhea", "R19.7", "symptom", "diarrhea", differential=("viral_gastroenteritis", "infectious_gastroenteritis", "ibs")),
    _c("constipation", "K59.00", "symptom", "constipation", differential=("ibs", "hypothyroidism")),
    _c("fever", "R50.9", "symptom", "fever", "pyrexia", differential=("pneumonia", "uti", "influenza", "covid19")),
    _c("syncope", "R55", "symptom", "syncope", "fainting", "syncopal episode",
       differential=("afib", "pulmonary_embolism", "dehydration", "aortic_stenosis")),
    _c("weight_loss", "R63.4", "symptom", "unintentional weight loss", "abnormal weight loss", min_age=40,
       differential=("colon_cancer", "lung_cancer", "hyperthyroidism", "depression")),
    _c("edema", "R60.0", "symptom", "pedal edema", "localized edema", differential=("dvt", "chf")),
    _c("hematuria", "R31.9", "symptom", "hematuria", "blood in the urine", differential=("kidney_stone", "uti", "prostate_cancer")),
    _c("urinary_frequency", "R35.0", "symptom", "urinary frequency", "frequent urination", differential=("uti", "t2dm", "bph")),
    _c("dysuria", "R30.0", "symptom", "dysuria", "painful urination", "burning with urination", differential=("uti", "cystitis")),
    _c("urinary_incontinence", "R32", "symptom", "urinary incontinence", "incontinence of urine", min_age=50, inclusion=False,
       differential=("uti",)),
    _c("palpitations", "R00.2", "symptom", "palpitations", differential=("afib", "hyperthyroidism", "anxiety")),
    _c("knee_pain", "M25.561", "symptom", "right knee pain", "pain in the right knee", min_age=30, differential=("oa_right_knee", "gout")),
    _c("neck_pain", "M54.2", "symptom", "neck pain", "cervicalgia"),
    _c("rash", "R21", "symptom", "rash", "skin rash", differential=("contact_dermatitis", "zoster", "psoriasis")),
    _c("confusion", "R41.0", "symptom", "confusion", "disorientation", min_age=65, inclusion=False,
       differential=("uti", "stroke", "dementia")),
    _c("epistaxis", "R04.0", "symptom", "epistaxis", "nosebleed", differential=("thrombocytopenia",)),
)
# fmt: on

_CONFLICTS: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in (
        # ICD-10-CM presumes these linked and codes them as one combination.
        ("htn", "ckd"), ("htn", "hf"), ("diabetes", "ckd"), ("diabetes", "neuropathy"), ("diabetes", "pvd"),
        ("diabetes", "cataract"), ("diabetes", "glaucoma"), ("diabetes", "dermatitis"), ("anemia", "ckd"),
        ("copd", "asthma"), ("copd", "pneumonia"), ("copd", "bronchitis"), ("sepsis", "aki"), ("sepsis", "ahrf"),
        ("pneumonia", "influenza"), ("pneumonia", "covid19"), ("influenza", "covid19"),
        # A documented link would change the code (alcoholic liver disease, alcohol-induced pancreatitis).
        ("alcohol", "liver"), ("alcohol", "pancreatitis"), ("alcohol", "gastritis"),
    )
)  # fmt: skip
"""Concept pairs never planned together as present: their gold would be a combination code."""

_EXTRA_CHAPTERS = {"K": "gastroenterology", "L": "dermatology", "M": "orthopedics"}
"""Tabular chapters that extra conditions are drawn from (digestive, skin, musculoskeletal)."""


# --- surface forms from the tabular -------------------------------------------------------

_DROP_PART = re.compile(r"unspecified|not specified|initial encounter|uncomplicated|not elsewhere classified", re.I)
_UNNATURAL = re.compile(r"\bor\b|\[|such as|\bother\b|\bNEC\b|classified|specified|\bdue to\b|/", re.I)
_AGE_BOUND = re.compile(r"juvenile|childhood|infantile|newborn|neonatal|senile|age-related|postmenopausal|puerperal", re.I)


def _table_phrase(term: str) -> str | None:
    """A tabular term as a clinician would write it, or None where it would not read naturally.

    Drops nonessential modifiers in parentheses, "NOS", and comma parts that only say
    "unspecified"; turns a trailing laterality part into "of the right ...".
    """
    text = re.sub(r"\s*\([^)]*\)", "", term)
    text = re.sub(r"\bNOS\b", "", text)
    text = re.sub(r"\bunspecified (site|part) of ", "", text, flags=re.I)
    head, *rest = [part.strip() for part in text.split(",")]
    rest = [part for part in rest if part and not _DROP_PART.search(part)]
    head = re.sub(r"\bunspecified\s+", "", head, flags=re.I)
    if len(rest) == 1 and re.match(r"(right|left|bilateral)\b", rest[0]):
        head, rest = f"{head} of the {rest[0]}", []
    text = re.sub(r"\s+", " ", ", ".join([head, *rest])).strip(" ,")
    if not text or len(text) > 70 or _UNNATURAL.search(text) or _DROP_PART.search(text):
        return None
    first = text.split(" ", 1)[0]
    # Sentence case in the table; lower-case it unless the first word is an acronym or eponym.
    if first[1:].islower() and "'" not in first:
        text = first[0].lower() + text[1:]
    return text


@dataclass(frozen=True)
class _Inventory:
    """The curated conditions with their full surface forms, and the pool of extra tabular conditions."""

    conditions: dict[str, Condition]
    extras: dict[str, tuple[Condition, ...]]
    """Extra tabular conditions by chapter letter."""

    def __getitem__(self, key: str) -> Condition:
        return self.conditions[key]


def _load_inventory(table: Icd10cm) -> _Inventory:
    """Check every curated code against the tabular, add tabular forms, and build the extra pool."""
    seen_codes: dict[str, str] = {}
    owner: dict[str, str] = {}
    for condition in _INVENTORY:
        if condition.code not in table or not table.is_billable(condition.code):
            raise ValueError(f"{condition.key}: {condition.code} is not a billable ICD-10-CM {table.year} code")
        if condition.code in seen_codes:
            raise ValueError(f"{condition.key}: code {condition.code} repeats {seen_codes[condition.code]}")
        seen_codes[condition.code] = condition.key
        for form in condition.forms:
            if owner.setdefault(form.lower(), condition.key) != condition.key:
                raise ValueError(f"{condition.key}: surface form {form!r} already belongs to {owner[form.lower()]}")
    conditions: dict[str, Condition] = {}
    for condition in _INVENTORY:
        terms = [table.description(condition.code)] + (table.inclusion_terms(condition.code) if condition.inclusion else [])
        forms = list(condition.forms)
        for phrase in filter(None, map(_table_phrase, terms)):
            # A tabular term that another condition already uses would make evidence ambiguous.
            if owner.setdefault(phrase.lower(), condition.key) == condition.key and phrase.lower() not in map(str.lower, forms):
                forms.append(phrase)
        conditions[condition.key] = dataclasses.replace(condition, forms=tuple(forms))
    for condition in conditions.values():
        for ref in condition.symptoms + condition.differential + condition.companions:
            if ref not in conditions:
                raise ValueError(f"{condition.key}: unknown condition {ref!r}")
        if any(conditions[s].kind != "symptom" for s in condition.symptoms):
            raise ValueError(f"{condition.key}: symptoms must name symptom conditions")
        if condition.kind == "acute" and condition.present and not (condition.symptoms or condition.complaint):
            raise ValueError(f"{condition.key}: an acute main problem needs integral symptoms or a complaint")
    return _Inventory(conditions, _extra_pool(table, conditions))


def _extra_pool(table: Icd10cm, conditions: dict[str, Condition]) -> dict[str, tuple[Condition, ...]]:
    """Billable codes of a few chapters whose description reads as a diagnosis, as plain chronic conditions."""
    curated_categories = {c.code[:3] for c in conditions.values()}
    pool: dict[str, list[Condition]] = {chapter: [] for chapter in _EXTRA_CHAPTERS}
    for code in sorted(table.billable_codes):
        chapter = code[0]
        # Oral cavity (K00-K14) is dental; 7-character codes carry encounter and episode axes.
        if chapter not in _EXTRA_CHAPTERS or code[:2] in ("K0", "K1") or len(code) > 7 or code[:3] in curated_categories:
            continue
        description = table.description(code)
        parts = [part.strip().lower() for part in description.split(",")]
        if any("unspecified" in part and part != "unspecified" for part in parts) or _AGE_BOUND.search(description):
            continue
        phrase = _table_phrase(description)
        if phrase is None:
            continue
        pool[chapter].append(
            Condition(
                key=f"table:{code}",
                code=code,
                kind="chronic",
                forms=(phrase,),
                group=f"table:{code[:3]}",
                plan=f"Follow up with {_EXTRA_CHAPTERS[chapter]}.",
            )
        )
    return {chapter: tuple(codes) for chapter, codes in pool.items()}


# --- planning a chart ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Role:
    """How a chart asserts a condition; gold when present and not integral to another code."""

    assertion: Assertion
    reason: str = ""
    """Why the mention is not coded; empty for gold."""


_NOT_CODED = {
    "negated": "negated",
    "possible": "uncertain diagnosis (outpatient: not coded)",
    "family": "family history, not the patient's condition",
    "historical": "resolved past episode",
}


@dataclass
class _Plan:
    """What one chart says about which conditions."""

    scenario: Literal["chronic", "acute", "symptom"]
    encounter: str
    sex: Literal["F", "M"]
    age: int
    main: Condition | None = None
    companions: list[Condition] = field(default_factory=list)
    chronic: list[Condition] = field(default_factory=list)
    integral: list[Condition] = field(default_factory=list)
    negated: list[Condition] = field(default_factory=list)
    ruled_out: list[Condition] = field(default_factory=list)
    uncertain: list[Condition] = field(default_factory=list)
    family: list[Condition] = field(default_factory=list)
    historical: list[Condition] = field(default_factory=list)
    roles: dict[str, _Role] = field(default_factory=dict)
    codes: dict[str, Condition] = field(default_factory=dict)
    """Every planned condition by key (curated and extra)."""
    reserved: list[str] = field(default_factory=list)
    """Concepts a distractor may not take: the patient has them or they are explained."""

    def eligible(self, condition: Condition) -> bool:
        return condition.sex in (None, self.sex) and condition.min_age <= self.age <= condition.max_age

    def free(self, condition: Condition) -> bool:
        return condition.concept not in self.reserved

    def assign(self, condition: Condition, role: _Role) -> None:
        self.roles[condition.key] = role
        self.codes[condition.key] = condition
        self.reserved.append(condition.concept)

    def present(self) -> list[Condition]:
        return [self.codes[k] for k, role in self.roles.items() if role.assertion == "present" and not role.reason]


_SCENARIOS = (("chronic", 0.4), ("acute", 0.35), ("symptom", 0.25))
_ENCOUNTERS = {
    "chronic": ("office", "office", "telehealth"),
    "acute": ("emergency", "emergency", "urgent_care"),
    "symptom": ("office", "urgent_care", "telehealth"),
}


class _Planner:
    """Draws a chart plan that keeps gold consistent with the coding rules."""

    def __init__(self, inventory: _Inventory, table: Icd10cm, rng: random.Random):
        self.inv = inventory
        self.table = table
        self.rng = rng

    def plan(self) -> _Plan:
        rng = self.rng
        scenario = rng.choices([s for s, _ in _SCENARIOS], weights=[w for _, w in _SCENARIOS])[0]
        plan = _Plan(scenario, rng.choice(_ENCOUNTERS[scenario]), rng.choice(("F", "M")), rng.randint(35 if scenario == "chronic" else 18, 90))
        if scenario == "acute":
            self._acute_main(plan)
        elif scenario == "symptom":
            self._symptom_main(plan)
        n_chronic = {"chronic": rng.randint(2, 5), "acute": rng.randint(0, 3), "symptom": rng.randint(0, 3)}[scenario]
        n_extra = rng.choice((0, 1, 1, 2) if scenario == "chronic" else (0, 0, 1))
        self._add_chronic(plan, [c for c in self.inv.conditions.values() if c.kind == "chronic" and c.present], n_chronic)
        for _ in range(n_extra):
            # Chapter first, so the large musculoskeletal chapter does not crowd out the others.
            self._add_chronic(plan, self.inv.extras[rng.choice(sorted(self.inv.extras))], 1)
        for condition in plan.present():
            plan.reserved.extend(self.inv[s].concept for s in condition.symptoms)
        self._distractors(plan)
        return plan

    def _acute_main(self, plan: _Plan) -> None:
        mains = [c for c in self.inv.conditions.values() if c.kind == "acute" and c.present and plan.eligible(c)]
        main = self.rng.choice(mains)
        plan.main = main
        plan.assign(main, _Role("present"))
        options = [self.inv[k] for k in main.companions if self._compatible(plan, self.inv[k])]
        if options and (main.needs_companion or self.rng.random() < 0.4):
            companion = self.rng.choice(options)
            plan.companions.append(companion)
            plan.assign(companion, _Role("present"))
        for condition in [main, *plan.companions]:
            for key in condition.symptoms:
                symptom = self.inv[key]
                if key not in plan.roles:
                    plan.integral.append(symptom)
                    plan.assign(symptom, _Role("present", f"integral to {condition.code}"))

    def _symptom_main(self, plan: _Plan) -> None:
        mains = [c for c in self.inv.conditions.values() if c.kind == "symptom" and c.present and c.differential and plan.eligible(c)]
        main = self.rng.choice(mains)
        plan.main = main
        plan.assign(main, _Role("present"))

    def _compatible(self, plan: _Plan, condition: Condition) -> bool:
        if not plan.eligible(condition) or not plan.free(condition):
            return False
        present = plan.present()
        if any(frozenset((condition.concept, other.concept)) in _CONFLICTS for other in present):
            return False
        if any(self.table.excludes1_conflict(condition.code, other.code) for other in present):
            return False
        # Diabetes "with" covers skin and bone problems broadly: keep extras off those chapters.
        if condition.key.startswith("table:") and any(o.concept == "diabetes" for o in present) and condition.code[0] in "LM":
            return False
        main = plan.main
        if main is not None and main.kind == "symptom":
            # A condition that explains the presenting symptom would make the symptom integral.
            return condition.key not in main.differential and main.key not in condition.symptoms
        return True

    def _add_chronic(self, plan: _Plan, pool: Sequence[Condition], count: int) -> None:
        for _ in range(count):
            options = [c for c in pool if self._compatible(plan, c)]
            if not options:
                return
            condition = self.rng.choice(options)
            plan.chronic.append(condition)
            plan.assign(condition, _Role("present"))

    def _pick(self, plan: _Plan, options: Sequence[Condition], count: int, assertion: Assertion, *, patient: bool = True) -> list[Condition]:
        """Up to ``count`` distractors drawn from ``options``, each marked with ``assertion``."""
        picked = []
        for _ in range(count):
            free = [c for c in options if plan.free(c) and (plan.eligible(c) or not patient) and c.key not in plan.roles]
            if not free:
                break
            condition = self.rng.choice(free)
            plan.assign(condition, _Role(assertion, _NOT_CODED[assertion]))
            picked.append(condition)
        return picked

    def _distractors(self, plan: _Plan) -> None:
        rng = self.rng
        conditions = self.inv.conditions
        symptoms = [c for c in conditions.values() if c.kind == "symptom"]
        # Pertinent negatives of the exam; the writer finds them by their role.
        exam_keys = [k for k in ("wheezing", "edema", "rash") if rng.random() < 0.6]
        self._pick(plan, [conditions[k] for k in exam_keys], len(exam_keys), "negated")
        plan.negated = self._pick(plan, symptoms, rng.randint(2, 4), "negated")
        differential = [conditions[k] for k in plan.main.differential] if plan.main else []
        if plan.scenario == "acute":
            plan.ruled_out = self._pick(plan, differential, 1, "negated")
            plan.uncertain = self._pick(plan, differential, rng.choice((0, 1)), "possible")
        elif plan.scenario == "symptom":
            plan.uncertain = self._pick(plan, differential, rng.choice((1, 1, 2)), "possible")
            plan.ruled_out = self._pick(plan, differential, rng.choice((0, 1)), "negated")
        elif rng.random() < 0.5:
            screening = [c for c in conditions.values() if c.kind == "chronic" and c.present]
            plan.uncertain = self._pick(plan, screening, 1, "possible")
        family = [c for c in conditions.values() if c.family]
        plan.family = self._pick(plan, family, rng.choice((0, 1, 1, 2, 2)), "family", patient=False)
        if rng.random() < 0.5:
            plan.historical = self._pick(plan, [c for c in conditions.values() if c.resolved], 1, "historical")


# --- writing the note ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mention:
    """A surface form of a condition at one place in the note."""

    key: str
    text: str


Segment = str | _Mention

_GIVEN = ("Avery", "Jordan", "Riley", "Morgan", "Casey", "Quinn", "Taylor", "Rowan", "Skyler", "Emerson", "Harper", "Reese")
_SURNAMES = ("Testperson", "Mockwell", "Sampleton", "Placeholder", "Fakename", "Dummyford", "Notreal", "Synthetica", "Exampleby")
_TITLES = {
    ("chronic", "office"): "OFFICE VISIT - CHRONIC CARE FOLLOW-UP",
    ("chronic", "telehealth"): "TELEHEALTH VISIT - FOLLOW-UP",
    ("acute", "emergency"): "EMERGENCY DEPARTMENT NOTE",
    ("acute", "urgent_care"): "URGENT CARE NOTE",
    ("symptom", "office"): "OFFICE VISIT - ACUTE CONCERN",
    ("symptom", "urgent_care"): "URGENT CARE NOTE",
    ("symptom", "telehealth"): "TELEHEALTH VISIT - ACUTE CONCERN",
}
_STATUS = ("stable", "well controlled", "stable on current regimen", "unchanged since last visit", "doing well")
_WORKUP = ("will reassess at follow-up", "further workup ordered", "labs ordered", "will follow up pending results")
_UNCERTAIN = (("Possible ", ""), ("Rule out ", ""), ("Cannot exclude ", ""), ("Suspected ", ", not yet confirmed"),
              ("R/O ", ""), ("", " is in the differential"), ("Concern for ", ""))  # fmt: skip
_RULED_OUT = (("No evidence of ", ""), ("", " ruled out"), ("Negative for ", " on workup"), ("", " has been excluded"))
_FEMALE_RELATIVES = ("mother", "sister", "maternal grandmother", "maternal aunt")
_MALE_RELATIVES = ("father", "brother", "paternal grandfather", "paternal uncle")
_SOCIAL = ("tobacco", "alcohol_dependence")
"""Conditions documented in the social history rather than as problems."""
_JOBS = ("teacher", "electrician", "accountant", "nurse aide", "bus driver", "retail manager", "carpenter", "office clerk")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _series(items: Sequence[Segment], conjunction: str = "and") -> list[Segment]:
    """Items joined as an English series: "a", "a and b", "a, b and c" (``or`` under a negation)."""
    out: list[Segment] = []
    for index, item in enumerate(items):
        if index:
            out.append(f" {conjunction} " if index == len(items) - 1 else ", ")
        out.append(item)
    return out


class _Writer:
    """Writes the sections of one note from its plan."""

    def __init__(self, plan: _Plan, rng: random.Random, index: int):
        self.plan = plan
        self.rng = rng
        self.he = "She" if plan.sex == "F" else "He"
        self.person = "woman" if plan.sex == "F" else "man"
        self.visit = date(2025, 1, 1) + timedelta(days=rng.randrange(365))
        self.name = f"{rng.choice(_SURNAMES).upper()}, {rng.choice(_GIVEN)}"
        self.mrn = f"SYN-{index:04d}-{rng.randrange(10_000):04d}"
        self.meds = {c.key: rng.choice(c.meds) for c in plan.chronic if c.meds}
        self.problems = [c for c in plan.chronic if c.key not in _SOCIAL]
        self.copied_forward = False

    def m(self, condition: Condition, *, cap: bool = False) -> _Mention:
        form = self.rng.choice(condition.forms)
        return _Mention(condition.key, _cap(form) if cap else form)

    def sections(self) -> list[list[Segment]]:
        """The note's sections in reading order (header first), each a list of segments."""
        plan = self.plan
        chronic_lines = [self._chronic_line(c) for c in plan.chronic]
        copied: list[list[Segment]] = []
        if chronic_lines and self.rng.random() < 0.35:
            # Copy-forward: earlier assessment lines pasted verbatim, then repeated in today's assessment.
            copied = [line for line in chronic_lines if self.rng.random() < 0.6] or chronic_lines[:1]
            self.copied_forward = True
        sections = [self._header(), self._chief_complaint(), self._hpi()]
        if copied:
            prior = (self.visit - timedelta(days=self.rng.randint(60, 240))).isoformat()
            sections.append([f"INTERVAL HISTORY (copied from prior note dated {prior}):\n", *self._lines(copied, "- ")])
        sections += [self._pmh(), self._medications(), self._allergies(), self._family(), self._social(), self._ros(), self._exam()]
        sections += [self._assessment(chronic_lines), [f"Electronically signed: Sample Clinician, MD (synthetic) {self.visit.isoformat()}"]]
        return sections

    @staticmethod
    def _lines(lines: Sequence[Sequence[Segment]], bullet: str) -> list[Segment]:
        out: list[Segment] = []
        for index, line in enumerate(lines):
            out += ["\n" if index else "", bullet.format(n=index + 1), *line]
        return out

    def _header(self) -> list[Segment]:
        plan = self.plan
        return [
            f"{_TITLES[plan.scenario, plan.encounter]}\n"
            f"Date of service: {self.visit.isoformat()}\n"
            f"Patient: {self.name} (synthetic)    MRN: {self.mrn}    Age: {plan.age}    Sex: {plan.sex}\n"
            "Provider: Sample Clinician, MD (synthetic)"
        ]

    def _chief_complaint(self) -> list[Segment]:
        plan = self.plan
        head: list[Segment] = ["CHIEF COMPLAINT:\n"]
        if plan.scenario == "chronic":
            if not self.problems:
                return [*head, "Routine follow-up."]
            return [*head, "Follow-up of ", *_series([self.m(c) for c in self.problems[:2]]), "."]
        if plan.scenario == "symptom":
            return [*head, self.m(plan.main, cap=True), "."]
        if plan.integral:
            return [*head, *_series([self.m(c, cap=not i) for i, c in enumerate(plan.integral)]), "."]
        return [*head, _cap(plan.main.complaint), "."]

    def _history_clause(self) -> list[Segment]:
        shown = self.problems[:3]
        if not shown:
            return ["with no significant past medical history"]
        return [self.rng.choice(("with a history of ", "with PMH of ", "with ")), *_series([self.m(c) for c in shown])]

    def _hpi(self) -> list[Segment]:
        plan, rng = self.plan, self.rng
        out: list[Segment] = ["HISTORY OF PRESENT ILLNESS:\n", f"{plan.age}-year-old {self.person} ", *self._history_clause()]
        if plan.scenario == "chronic":
            out += [" presents for routine follow-up. ", f"{self.he} reports taking medications as prescribed."]
        elif plan.scenario == "symptom":
            duration = rng.choice(("3 days", "1 week", "2 weeks", "a month"))
            out += [rng.choice((" presents with ", " presents c/o ", " complains of ")), self.m(plan.main), f" for {duration}. ",
                    rng.choice(("Symptoms are intermittent and not clearly related to activity.",
                                "No clear trigger identified.", "Over-the-counter remedies have not helped."))]  # fmt: skip
        else:
            place = "the emergency department" if plan.encounter == "emergency" else "urgent care"
            if plan.integral:
                out += [f" presents to {place} with ", *_series([self.m(c) for c in plan.integral]), f" for {rng.randint(1, 5)} days."]
            else:
                out += [f" presents to {place} with {plan.main.complaint}."]
            out += [f" Workup: {plan.main.finding}"]
        hpi_negated = plan.negated[: rng.randint(1, 2)]
        if hpi_negated:
            out += [f" {self.he} denies ", *_series([self.m(c) for c in hpi_negated], "or"), "."]
        return out

    def _pmh(self) -> list[Segment]:
        plan = self.plan
        lines: list[list[Segment]] = [[self.m(c)] for c in self.problems]
        for condition in plan.historical:
            year = self.rng.randint(self.visit.year - max(2, min(plan.age - 16, 25)), self.visit.year - 1)
            before, _, after = condition.resolved.partition("{f}")
            lines.append([self.rng.choice(("History of ", "Remote history of ")), before, self.m(condition), after.format(year=year)])
        return ["PAST MEDICAL HISTORY:\n", *self._lines(lines or [["None reported"]], "- ")]

    def _medications(self) -> list[Segment]:
        meds = list(dict.fromkeys(self.meds.values()))  # one line per drug even when two problems share it
        return ["MEDICATIONS:\n", *self._lines([[m] for m in meds] or [["None"]], "- ")]

    def _allergies(self) -> list[Segment]:
        return ["ALLERGIES:\n", self.rng.choice(("NKDA", "NKDA", "Penicillin (intolerance)", "Sulfa drugs (intolerance)"))]

    def _family(self) -> list[Segment]:
        rng = self.rng
        out: list[Segment] = ["FAMILY HISTORY:\n"]
        for index, condition in enumerate(self.plan.family):
            relatives = {"F": _FEMALE_RELATIVES, "M": _MALE_RELATIVES}.get(condition.sex or "", _FEMALE_RELATIVES + _MALE_RELATIVES)
            relative = rng.choice(relatives)
            style = rng.randrange(4)
            out.append(" " if index else "")
            if style == 0:
                out += [f"{_cap(relative)} with ", self.m(condition), "."]
            elif style == 1:
                out += [f"FHx: {relative} ", self.m(condition), "."]
            elif style == 2:
                out += [f"{_cap(relative)} had ", self.m(condition), f" at age {rng.randint(45, 80)}."]
            else:
                out += [f"{_cap(relative)}: ", self.m(condition), "."]
        if not self.plan.family:
            out.append("Noncontributory.")
        return out

    def _social(self) -> list[Segment]:
        rng = self.rng
        keys = [c.key for c in self.plan.chronic]
        tobacco: list[Segment] = ["never smoker"]
        if "tobacco" in keys:
            tobacco = [self.m(self.plan.codes["tobacco"]), f", about {rng.randint(10, 50)} pack-years"]
        alcohol: list[Segment] = [rng.choice(("occasional, 1-2 drinks per week", "none"))]
        if "alcohol_dependence" in keys:
            alcohol = [self.m(self.plan.codes["alcohol_dependence"]), f"; last drink {rng.randint(1, 4)} days ago"]
        job = rng.choice(_JOBS)
        occupation = rng.choice((f"works as {'an' if job[0] in 'aeiou' else 'a'} {job}", f"retired {job}"))
        return ["SOCIAL HISTORY:\n", "Tobacco: ", *tobacco, ".\nAlcohol: ", *alcohol,
                f".\nOccupation: {occupation}.\nLives {rng.choice(('with spouse', 'alone', 'with family'))}."]  # fmt: skip

    def _ros(self) -> list[Segment]:
        plan, rng = self.plan, self.rng
        positive = plan.integral if plan.scenario == "acute" else [plan.main] if plan.scenario == "symptom" else []
        out: list[Segment] = ["REVIEW OF SYSTEMS:\n"]
        if positive:
            out += ["Positive for ", *_series([self.m(c) for c in positive]), ". "]
        if plan.negated:
            out += [rng.choice(("Negative for ", "Denies ", "No ")), *_series([self.m(c) for c in plan.negated], "or"), ". "]
        return [*out, "All other systems reviewed and negative."]

    def _exam_finding(self, key: str, normal: str) -> list[Segment]:
        """An exam line: the finding itself where the patient has it, its negation where it is a distractor."""
        role = self.plan.roles.get(key)
        if role is None:
            return [normal + "."]
        if role.assertion == "negated":
            return [normal, ", no ", self.m(self.plan.codes[key]), "."]
        return [self.m(self.plan.codes[key]), " noted."]

    def _exam(self) -> list[Segment]:
        plan, rng = self.plan, self.rng
        keys = {c.key for c in plan.present()} | {c.key for c in plan.integral}
        fever = "fever" in keys
        temp = f"{rng.uniform(38.3, 39.2):.1f}" if fever else f"{rng.uniform(36.4, 37.2):.1f}"
        hr = rng.randint(105, 125) if "sepsis" in keys else rng.randint(62, 96)
        spo2 = rng.randint(86, 89) if "ahrf" in keys else rng.randint(94, 99)
        rhythm = "irregularly irregular rhythm" if "afib" in keys else "regular rate and rhythm"
        abdomen = "soft, nondistended, mildly tender" if "abdominal_pain" in keys else "soft, nondistended, nontender"
        video = plan.encounter == "telehealth"
        return [
            "PHYSICAL EXAM (limited, by video; vitals patient-reported):\n" if video else "PHYSICAL EXAM:\n",
            f"Vitals: BP {rng.randint(112, 158)}/{rng.randint(64, 94)}, HR {hr}, Temp {temp} C, RR {rng.randint(12, 22)}, "
            f"SpO2 {spo2}% on room air.\nGeneral: awake, in no acute distress.\nHEENT: normocephalic, atraumatic.\nLungs: ",
            *self._exam_finding("wheezing", "clear to auscultation bilaterally"),
            f"\nHeart: {rhythm}.\nAbdomen: {abdomen}.\nExtremities: ",
            *self._exam_finding("edema", "warm and well perfused"),
            "\nSkin: ",
            *self._exam_finding("rash", "warm and dry"),
            "\nNeuro: no focal deficits.",
        ]

    def _chronic_line(self, condition: Condition) -> list[Segment]:
        if condition.plan:
            return [self.m(condition, cap=True), f": {condition.plan}"]
        med = self.meds.get(condition.key)
        plan = f"Continue {med}." if med else "Continue current management."
        return [self.m(condition, cap=True), f": {self.rng.choice(_STATUS)}. {plan}"]

    def _clause(self, templates: tuple[tuple[str, str], ...], condition: Condition) -> list[Segment]:
        prefix, suffix = self.rng.choice(templates)
        return [prefix, self.m(condition, cap=not prefix), suffix]

    def _assessment(self, chronic_lines: list[list[Segment]]) -> list[Segment]:
        plan, rng = self.plan, self.rng
        items: list[list[Segment]] = []
        workup: list[Segment] = []  # the main problem's differential: ruled out, or kept open
        if plan.main is not None:
            for condition in plan.ruled_out:
                workup += [" ", *self._clause(_RULED_OUT, condition), "."]
            for condition in plan.uncertain:
                workup += [" ", *self._clause(_UNCERTAIN, condition), f"; {rng.choice(_WORKUP)}."]
        if plan.scenario == "acute":
            items.append([self.m(plan.main, cap=True), f": {plan.main.plan}", *workup])
            items += [[self.m(c, cap=True), f": {c.plan}"] for c in plan.companions]
        elif plan.scenario == "symptom":
            items.append([self.m(plan.main, cap=True), ": etiology unclear.", *workup])
        items += chronic_lines
        if plan.scenario == "chronic":
            items += [[*self._clause(_UNCERTAIN, c), f"; {rng.choice(_WORKUP)}."] for c in plan.uncertain]
        follow_up = rng.choice(("Return precautions reviewed.", f"Follow up in {rng.choice((2, 4, 6, 12))} weeks."))
        return ["ASSESSMENT AND PLAN:\n", *self._lines(items, "{n}. "), f"\n{follow_up}"]


# --- assembling charts -----------------------------------------------------------------------


def _paginate(sections: list[list[Segment]], rng: random.Random) -> list[list[list[Segment]]]:
    """Sections grouped into 2-4 pages, breaking only between sections.

    The header and chief complaint stay on page 1 and the signature never sits alone on the last page.
    """
    n_pages = rng.choice((2, 3, 3, 4))
    cuts = sorted(rng.sample(range(2, len(sections) - 1), n_pages - 1))
    bounds = [0, *cuts, len(sections)]
    return [sections[a:b] for a, b in zip(bounds, bounds[1:])]


def _render(pages: list[list[list[Segment]]], running_header: str) -> tuple[str, list[int], list[tuple[_Mention, int]]]:
    """The chart text, each page's offset, and each mention with its offset."""
    text_parts: list[str] = []
    page_offsets: list[int] = []
    mentions: list[tuple[_Mention, int]] = []
    offset = 0
    for page_index, page in enumerate(pages):
        if page_index:
            text_parts.append(PAGE_BREAK)
            offset += len(PAGE_BREAK)
        page_offsets.append(offset)
        segments: list[Segment] = [f"{running_header} | Page {page_index + 1} of {len(pages)}"]
        for section in page:
            segments += ["\n\n", *section]
        for segment in segments:
            if isinstance(segment, _Mention):
                mentions.append((segment, offset))
                piece = segment.text
            else:
                piece = segment
            text_parts.append(piece)
            offset += len(piece)
    return "".join(text_parts), page_offsets, mentions


def _build_chart(index: int, seed: int, split: str, inventory: _Inventory, table: Icd10cm) -> Chart:
    rng = random.Random(f"{seed}:{index}")
    plan = _Planner(inventory, table, rng).plan()
    writer = _Writer(plan, rng, index)
    pages = _paginate(writer.sections(), rng)
    chart_id = f"sample-{index:04d}"
    text, page_offsets, mentions = _render(pages, f"SYNTHETIC RECORD - NOT A REAL PATIENT | {writer.name} | MRN {writer.mrn}")
    page_texts = text.split(PAGE_BREAK)
    chart_pages = [Page(index=i, offset=o, text=t) for i, (o, t) in enumerate(zip(page_offsets, page_texts))]
    layout = Chart(id=chart_id, text=text, pages=chart_pages)  # validates the pages; maps offsets to pages

    evidence: dict[str, list[Span]] = {}
    distractors: list[dict[str, object]] = []
    for mention, start in mentions:
        end = start + len(mention.text)
        role = plan.roles[mention.key]
        condition = plan.codes[mention.key]
        if role.assertion == "present" and not role.reason:
            evidence.setdefault(mention.key, []).append(Span(start=start, end=end, text=mention.text, page=layout.page_of(start)))
        else:
            distractors.append(
                {"code": condition.code, "assertion": role.assertion, "reason": role.reason, "text": mention.text, "start": start, "end": end}
            )
    missing = [c.key for c in plan.present() if c.key not in evidence]
    if missing:
        raise RuntimeError(f"{chart_id}: planned conditions never mentioned: {missing}")
    gold = [GoldCode(code=plan.codes[key].code, system="icd10cm", evidence=spans) for key, spans in evidence.items()]
    gold_codes = {g.code for g in gold}
    clash = sorted({str(d["code"]) for d in distractors} & gold_codes)
    if clash:
        raise RuntimeError(f"{chart_id}: codes both gold and distractor: {clash}")
    meta = {
        "split": split,
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "age": plan.age,
        "sex": plan.sex,
        "encounter": plan.encounter,
        "scenario": plan.scenario,
        "copied_forward": writer.copied_forward,
        "distractors": distractors,
    }
    return Chart(id=chart_id, language="en", text=text, pages=chart_pages, gold=gold, meta=meta)


def split_sizes(n: int) -> dict[str, int]:
    """Charts per split for ``n`` charts (the last split takes the rounding remainder)."""
    sizes = {name: round(n * share) for name, share in SPLIT_SHARES[:-1]}
    sizes[SPLIT_SHARES[-1][0]] = n - sum(sizes.values())
    return sizes


def generate_charts(seed: int = DEFAULT_SEED, n: int = DEFAULT_N) -> list[Chart]:
    """``n`` synthetic charts; the same ``seed`` and ``n`` always give the same charts."""
    table = cast(Icd10cm, code_set("icd10cm", CODE_SET_YEAR))
    inventory = _load_inventory(table)
    splits = [name for name, size in split_sizes(n).items() for _ in range(size)]
    return [_build_chart(index + 1, seed, split, inventory, table) for index, split in enumerate(splits)]


def dataset_card(charts: Sequence[Chart], seed: int) -> str:
    """The dataset card (README.md) of a generated sample, with its counts."""
    splits = list(split_sizes(len(charts)))
    rows = []
    for split in splits:
        part = [c for c in charts if c.meta["split"] == split]
        rows.append(
            f"| {split} | {len(part)} | {sum(len(c.pages) for c in part)} | {sum(len(c.gold) for c in part)} "
            f"| {len({g.code for c in part for g in c.gold})} | {sum(bool(c.meta['copied_forward']) for c in part)} |"
        )
    codes = Counter(g.code for c in charts for g in c.gold)
    assertions = Counter(str(d["assertion"]) if not d["reason"].startswith("integral") else "integral symptom"
                         for c in charts for d in c.meta["distractors"])  # fmt: skip
    scenarios = Counter(str(c.meta["scenario"]) for c in charts)
    return f"""# Bundled sample: synthetic English charts with ICD-10-CM gold codes

Synthetic outpatient notes (office, telehealth, urgent care, emergency department) with gold
ICD-10-CM codes and character-exact evidence spans. The sample exists to exercise the harness
end to end without real data: smoke runs, CI regression checks, demonstrations. It is not a
clinical benchmark; use CodiEsp (see `datasets/codiesp/`) for published comparisons.

**Entirely synthetic.** No real patient, clinician or record is involved: names (obviously fake
surnames such as `TESTPERSON` or `MOCKWELL`, marked "(synthetic)"), MRNs (`SYN-...`), dates and
findings are generated, and every page opens with "SYNTHETIC RECORD - NOT A REAL PATIENT".

## Generation

```
python -m harness.sources.sample.generator --seed {seed} --n {len(charts)} --out datasets/sample
```

- generator: `{GENERATOR}` version `{GENERATOR_VERSION}`; seed `{seed}` (recorded in every chart's `meta`)
- code set: ICD-10-CM FY{CODE_SET_YEAR} (April {CODE_SET_YEAR} tabular, package `simple-icd-10-cm`); every gold code
  is checked to be billable when the generator runs
- deterministic: the same seed and count reproduce `charts.jsonl` byte for byte (a test checks it)

Each chart is planned from a curated inventory of {len(_INVENTORY)} conditions (chronic problems,
acute problems, signs and symptoms, cancers for family history; each on a billable code) plus
conditions drawn at random from the tabular's digestive, skin and musculoskeletal chapters. Surface
forms mix the tabular description, its inclusion terms, abbreviations (HTN, T2DM, COPD, CHF, AFib,
UTI, CAP, GERD, HLD, MDD, OSA, CKD 3a, ...) and clinical or lay synonyms. Notes have a header, chief
complaint, HPI, sometimes an "Interval history (copied from prior note)" section repeating earlier
assessment lines verbatim, PMH, medications, allergies, family and social history, ROS, exam,
assessment and plan; they are split into 2-4 pages at section boundaries, each page opening with a
running header.

## Counts

| split | charts | pages | gold codes | distinct codes | copied-forward charts |
|---|---|---|---|---|---|
{chr(10).join(rows)}

{sum(codes.values())} gold codes in all, {len(codes)} distinct. Scenarios: {scenarios['chronic']} chronic-care follow-ups,
{scenarios['acute']} acute visits, {scenarios['symptom']} symptom visits.
Non-gold mentions (`meta.distractors`): {', '.join(f'{n} {a}' for a, n in sorted(assertions.items()))}.

## Labelling rules

- Gold: conditions asserted as the patient's current problems (HPI, PMH, social history,
  assessment), with every mention that asserts them as evidence, copied-forward repeats included.
- Not gold, listed in `meta.distractors` with code, assertion, reason and span: negated mentions
  ("denies chest pain", "no evidence of pneumonia"), uncertain diagnoses ("rule out PE", "possible
  OSA"; not coded in outpatient settings), family history ("mother with breast cancer"), resolved past
  episodes ("history of appendicitis, s/p appendectomy"), and symptoms integral to a confirmed diagnosis
  (cough with pneumonia).
- Symptoms are gold (R codes) when they are the presenting problem and no confirmed diagnosis explains them.
- Out of scope, never gold: personal and family history Z codes (Z80-Z87), BMI and status Z codes,
  external cause codes. Pairs that ICD-10-CM codes as one combination (hypertension with CKD or heart
  failure, diabetes "with" its complications, COPD with pneumonia) and Excludes1 pairs are never planned
  together, so each gold code rests on its own mention.

## Format

`charts.jsonl`: one `harness.contracts.Chart` per line (`Chart.model_dump(mode="json")`). Offsets are
character offsets into `text`; pages are slices of `text` joined by a form feed (`\\f`). `meta` holds
`split`, `generator`, `generator_version`, `seed`, `age`, `sex`, `encounter`, `scenario`,
`copied_forward` and `distractors`.

## Licence

Synthetic data generated by this project's code, under the project's licence (Apache-2.0). ICD-10-CM
is published by CMS and NCHS and is in the public domain.
"""


def write_sample(out: Path, seed: int = DEFAULT_SEED, n: int = DEFAULT_N) -> list[Chart]:
    """Generate the sample into ``out`` (``charts.jsonl`` and ``README.md``) and return its charts."""
    charts = generate_charts(seed, n)
    out.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(chart.model_dump(mode="json"), ensure_ascii=False) + "\n" for chart in charts]
    (out / "charts.jsonl").write_text("".join(lines), encoding="utf-8", newline="\n")
    (out / "README.md").write_text(dataset_card(charts, seed), encoding="utf-8", newline="\n")
    return charts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (recorded in every chart)")
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="number of charts (60%% train, 20%% dev, 20%% test)")
    parser.add_argument("--out", type=Path, default=Path("datasets/sample"), help="output folder")
    args = parser.parse_args(argv)
    charts = write_sample(args.out, args.seed, args.n)
    print(f"wrote {len(charts)} charts to {args.out / 'charts.jsonl'} (seed {args.seed}, generator {GENERATOR_VERSION})")


if __name__ == "__main__":
    main()
