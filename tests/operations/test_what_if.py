"""``harness operations``: a recorded run's outcomes under other assumptions, without running the pipeline again."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import harness, store

from coders.routing import RoutingConfig
from harness.cli.operations import main
from harness.operations import OperationsConfig, load_recorded, operations
from harness.operations.what_if import WhatIfError, check_key, parse_overrides, parse_sweep

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


# --- keys and values, before any run is read ------------------------------------------------------------------------


def test_keys_are_fields_of_the_workload_model_or_the_routing_policy() -> None:
    assert check_key("operations.coders") == ["coders"]
    assert check_key("operations.review_minutes.high_risk") == ["review_minutes", "high_risk"]
    assert check_key("routing.family_thresholds.J96.0") == ["family_thresholds", "J96.0"]  # a code prefix keeps its dot
    assert parse_overrides(["operations.coders=8", "routing.review_on_edits=[excludes1, mce_age]", "operations.coders=6"]) == {
        "operations.coders": 6, "routing.review_on_edits": ["excludes1", "mce_age"]}
    assert parse_sweep("routing.min_code_confidence=0.5,0.7,0.9") == ("routing.min_code_confidence", [0.5, 0.7, 0.9])


@pytest.mark.parametrize(
    "argument,message",
    [
        ("operations.coderz=8", "unknown key 'operations.coderz': operations has no field 'coderz' (known: name, review_minutes"),
        ("operations.review_minutes.lunch=5", "operations.review_minutes has no field 'lunch'"),
        ("operations.coders.day=5", "unknown key 'operations.coders.day': operations.coders has no fields below it"),
        ("dataset.limit=5", "unknown key 'dataset.limit': a what-if changes operations.<field> or routing.<field>"),
        ("routing=strict", "unknown key 'routing'"),
        ("operations.coders", "'operations.coders' is not key=value"),
    ],
)
def test_an_unknown_key_is_refused_naming_it(argument: str, message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(WhatIfError, match=re.escape(message)):
        parse_overrides([argument])
    assert main(["no-such-run", argument, "--tracking-uri", "sqlite:////nonexistent/mlflow.db"]) == 2  # before the store
    assert message in capsys.readouterr().err


def test_a_sweep_or_an_override_is_needed(capsys: pytest.CaptureFixture) -> None:
    assert main(["some-run"]) == 2
    assert "nothing to change" in capsys.readouterr().err
    with pytest.raises(WhatIfError, match="is not KEY=V1,V2"):
        parse_sweep("routing.min_code_confidence")


# --- a recorded run of the bundled sample -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One job on the sample's 40 dev charts, recorded in a store of its own: its folder, run id and store."""
    root = tmp_path_factory.mktemp("what-if")
    out = harness(root, store(root), f"hydra.run.dir={root / 'job'}", "summary=true")
    run_id = re.search(r"mlflow_run: (\w+)", out.stdout).group(1)
    return root / "job" / "artifacts", run_id, f"sqlite:///{root / 'mlflow.db'}"


def children(uri: str, run_id: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_run(run_id).info.experiment_id
    return client.search_runs([experiment], filter_string=f"tags.`harness.what_if_of` = '{run_id}'",
                              order_by=["attributes.start_time ASC"])


def test_what_if_recomputes_the_outcomes_and_logs_a_child_run(recorded, capsys: pytest.CaptureFixture) -> None:
    from mlflow.tracking import MlflowClient

    folder, run_id, uri = recorded
    assert main([run_id, "operations.coders=1", "operations.qa_sample_rate=0.1", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert "what-if operations.coders=1 operations.qa_sample_rate=0.1" in out
    assert re.search(r"Review queue keeps up with arrivals\s+yes\s+no", out)
    assert "unstable queue: coders needed" in out and "the backlog grows by" in out
    [child] = children(uri, run_id)
    assert f"logged as child run of {run_id}: {child.info.run_id}" in out
    tags, params, metrics = child.data.tags, child.data.params, child.data.metrics
    assert tags["harness.kind"] == "operations" and tags["mlflow.parentRunId"] == run_id
    assert tags["harness.what_if"] == "operations.coders=1 operations.qa_sample_rate=0.1" and tags["dataset"] == "sample"
    assert params["operations.coders"] == "1" and params["operations.qa_sample_rate"] == "0.1"
    assert params["routing.min_code_confidence"] == "0.5"
    # the same numbers as the workload model gives on the recorded charts, with the run's seed and resamples
    expected = operations(load_recorded(folder).facts(), OperationsConfig(coders=1, qa_sample_rate=0.1), n_resamples=1000,
                          seed=0).metrics
    assert {name: metrics[name] for name in expected} == pytest.approx(expected)
    assert metrics["operations_stable"] == 0.0 and "time_to_claim_p95_h" not in metrics
    recorded_metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["review_rate"] == recorded_metrics["review_rate"]  # routing as recorded
    client = MlflowClient(tracking_uri=uri)
    document = json.loads(Path(client.download_artifacts(child.info.run_id, "operations.json")).read_text())
    assert document["assumptions"]["coders"] == 1 and len(document["queue"]["backlog_per_day"]) == 20
    what_if = json.loads(Path(client.download_artifacts(child.info.run_id, "what_if.json")).read_text())
    assert what_if["of"] == run_id and what_if["overrides"] == {"operations.coders": 1, "operations.qa_sample_rate": 0.1}


def test_a_threshold_sweep_reroutes_the_recorded_results(recorded, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    from harness.tracking.run_store import newest_job_run

    folder, run_id, uri = recorded
    before = len(children(uri, run_id))
    sweep = "routing.min_code_confidence=" + ",".join(map(str, THRESHOLDS))
    assert main([run_id, "--sweep", sweep, "routing.review_unestimated_confidence=false", "--tracking-uri", uri,
                 "--out", str(tmp_path / "sweep.html")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("routing.min_code_confidence"))
    assert "review share" in lines[header] and "denial rate" in lines[header] and "coder h/day" in lines[header]
    assert lines[header + 1].startswith("0.5 (as recorded)")
    rows = [line.split() for line in lines[header + 2:header + 2 + len(THRESHOLDS)]]
    assert [float(row[0]) for row in rows] == list(THRESHOLDS)
    shares = [float(row[1].rstrip("%")) for row in rows]
    assert shares == sorted(shares) and shares[0] < shares[-1]  # a stricter threshold reviews more
    logged = children(uri, run_id)[before:]
    assert len(logged) == len(THRESHOLDS)
    assert [float(run.data.params["routing.min_code_confidence"]) for run in logged] == list(THRESHOLDS)
    assert {run.data.tags["harness.what_if_sweep"] for run in logged} == {"routing.min_code_confidence"}
    recorded_routing = RoutingConfig.model_validate(__import__("yaml").safe_load((folder / "config.yaml").read_text())["routing"])
    lenient = recorded_routing.model_copy(update={"min_code_confidence": 0.9, "review_unestimated_confidence": False})
    facts = load_recorded(folder).facts(lenient)
    assert logged[-1].data.metrics["review_rate"] == pytest.approx(sum(f.route == "review" for f in facts) / len(facts))
    assert newest_job_run(uri) == run_id  # a what-if is no job: `harness gate --candidate latest` never picks one


def test_no_log_prints_without_recording(recorded, capsys: pytest.CaptureFixture) -> None:
    _, run_id, uri = recorded
    before = len(children(uri, run_id))
    assert main([run_id, "operations.coders=8", "--no-log", "--tracking-uri", uri]) == 0
    assert "logged as" not in capsys.readouterr().out and len(children(uri, run_id)) == before


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["operations.coders=0"], "invalid value: operations.coders: Input should be greater than or equal to 1"),
        (["routing.min_code_confidence=high"], "invalid value: routing.min_code_confidence: Input should be a valid number"),
        (["--sweep", "operations.qa_sample_rate=0.1,1.5"], "operations.qa_sample_rate: Input should be less than or equal to 1"),
        (["operations.coders=8", "--sweep", "operations.coders=2,4"], "operations.coders is both swept and set"),
    ],
)
def test_bad_values_exit_2_naming_them_and_log_nothing(recorded, arguments: list[str], message: str,
                                                       capsys: pytest.CaptureFixture) -> None:
    _, run_id, uri = recorded
    before = len(children(uri, run_id))
    assert main([run_id, *arguments, "--tracking-uri", uri]) == 2
    assert message in capsys.readouterr().err and len(children(uri, run_id)) == before


def test_an_unknown_run_exits_2(recorded, capsys: pytest.CaptureFixture) -> None:
    _, _, uri = recorded
    assert main(["no-such-run", "operations.coders=8", "--tracking-uri", uri]) == 2
    assert "run 'no-such-run' not found" in capsys.readouterr().err


def test_a_sweep_shows_the_recorded_setting_once_and_writes_a_page_with_intervals(recorded, capsys: pytest.CaptureFixture,
                                                                                  tmp_path: Path) -> None:
    _, run_id, uri = recorded
    page = tmp_path / "curve.html"
    assert main([run_id, "--sweep", "routing.min_code_confidence=0.5,0.7,0.9", "--no-log", "--tracking-uri", uri,
                 "--out", str(page)]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines() if re.match(r"0\.\d", line)]
    assert rows == ["0.5", "0.7", "0.9"] and "0.5 (as recorded)" in out  # the recorded 0.5 is the swept 0.5, not a row more
    assert f"page: {page}" in out
    html = page.read_text()
    assert html.count("<svg") == 1 and "<h2>Outcomes by setting</h2>" in html
    body = html[html.index("<tbody>"):]
    assert body.count("<tr>") == 3 and "0.5 (as recorded)" in body
    assert re.search(r"\d+\.\d% \[\d+\.\d%, \d+\.\d%\]", body)  # review share with its interval


def test_the_run_report_names_the_automation_threshold_and_what_that_setting_gives(recorded) -> None:
    from harness.metrics.review import threshold_for_precision
    from harness.operations.chart_outcomes import recorded_settings
    from harness.operations.what_if import compute
    from harness.run_record import RunArtifacts
    from reports.labels import format_value

    folder, _, _ = recorded
    html = (folder / "report.html").read_text()
    best = threshold_for_precision(RunArtifacts(folder).curve("risk_coverage"), 0.95)
    assert best is not None and 0 < best.coverage <= json.loads((folder / "metrics.json").read_text())["automation_rate_at_p95"]
    setting = f"routing.min_code_confidence={best.threshold:g}"
    assert f"{best.coverage:.0%} of codes are accepted at {best.precision:.1%} precision" in html and setting in html
    at = compute(load_recorded(folder), recorded_settings(folder), {"routing.min_code_confidence": best.threshold}).metrics
    for name in ("review_rate", "denial_rate", "coder_minutes_per_chart"):  # the what-if's own figures at that setting
        assert f"→ {format_value(name, at[name])}" in html
    start = html.index('<div class="cards">')
    cards = html[start:html.index("<table", start)]
    assert "Claims a payer would deny" in cards and "Coder minutes per chart" in cards
    terms = html[html.index("What the terms mean"):]
    for term in ("F1 (all codes)", "Ranking quality (MAP)", "Calibration error", "Area under the risk-coverage curve"):
        assert f"<dt>{term}</dt>" in terms


# --- routing's safety settings fail closed (issue 27) -------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["routing.high_risk_codes=[A41,NOTACODE]"],
         "invalid value: routing.high_risk_codes: 'NOTACODE' is not an ICD-10-CM category or code (expected a category"),
        (["routing.high_risk_codes=[A41.99]"], "routing.high_risk_codes: 'A41.99' is not in ICD-10-CM 2026 (did you mean A41.9,"),
        (["routing.review_on_edits=[bogus_edit]"],
         "invalid value: routing.review_on_edits: unknown edit 'bogus_edit' (known: invalid_code, non_billable, excludes1,"),
        (["routing.review_on_edits=[mce]"], "'mce' is an edit group, not an edit (its edits: mce_age, mce_sex,"),
        (["routing.family_thresholds.J96=7"], "invalid value: routing.family_thresholds.J96: Input should be less than or equal"),
        (["--sweep", "routing.family_thresholds.j96=0.9,7"], "routing.family_thresholds.J96: Input should be less than or equal"),
        (["routing.family_thresholds.notacode=0.9"], "routing.family_thresholds: 'notacode' is not an ICD-10-CM category"),
    ],
)
def test_unknown_routing_entries_exit_2_naming_them_and_log_nothing(recorded, arguments: list[str], message: str,
                                                                    capsys: pytest.CaptureFixture) -> None:
    _, run_id, uri = recorded
    before = len(children(uri, run_id))
    assert main([run_id, *arguments, "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "error: invalid value: routing." in err
    assert len(children(uri, run_id)) == before


def test_routing_codes_of_a_what_if_match_however_they_are_written(recorded, capsys: pytest.CaptureFixture,
                                                                   tmp_path: Path) -> None:
    from harness.operations.chart_outcomes import recorded_settings
    from harness.operations.reroute import reroute
    from harness.operations.what_if import compute

    folder, run_id, uri = recorded
    charts, settings = load_recorded(folder), recorded_settings(folder)
    sepsis = next(r.chart_id for r in charts.results if any(c.code == "A41.9" for c in r.codes))

    def reasons(overrides: dict) -> list[str]:
        routing = compute(charts, settings, overrides).routing
        return next(r.reasons for r in reroute(charts.results, routing) if r.chart_id == sepsis)

    assert "high_risk: A41.9" in reasons({"routing.high_risk_codes": ["a41"]})
    assert "high_risk: A41.9" in reasons({"routing.high_risk_codes": ["a419"]})
    assert "high_risk: A41.9" not in reasons({"routing.high_risk_codes": ["I21"]})
    assert "low_confidence: A41.9 0.50 < 0.99" in reasons({"routing.family_thresholds.a41": 0.99})
    # a lower-case key is the recorded policy's own key: a sweep over it reads its values back
    assert main([run_id, "--sweep", "routing.family_thresholds.j96=0.6,0.9", "--no-log", "--tracking-uri", uri,
                 "--out", str(tmp_path / "j96.html")]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if re.match(r"(0\.\d|None)", line)]
    assert rows == ["None", "0.6", "0.9"]
