"""The next purchase, seen coming: BG/NBD and Gamma-Gamma fitted on CDNOW through the
console script, held to the `lifetimes` implementation run here on the raw file
(parameters within 1%, every customer's p_alive within 0.005); the fit check against
lifetimes' own calibration/holdout split; a predicate on the features; a shop too small to
fit."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.inprocess import huitou
from tests.test_report import CDNOW, CDNOW_CONFIG

pytestmark = pytest.mark.skipif(not CDNOW.exists(), reason="needs ../shared/data/cdnow beside the repository")
AS_OF = "1998-06-30"


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    done = huitou(*args, cwd=root)
    assert done.returncode == 0, f"huitou {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cdnow")
    (root / "huitou.yaml").write_text(yaml.safe_dump({"version": 1, "name": "cdnow", "timezone": "UTC", **CDNOW_CONFIG}), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    """lifetimes' own summary of the raw file, daily, as of AS_OF."""
    from lifetimes.utils import summary_data_from_transaction_data

    raw = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str, "date": str})
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return summary_data_from_transaction_data(raw, "customer_id", "date", monetary_value_col="dollar_value", observation_period_end=AS_OF, freq="D")


def test_cdnow_fit_and_scores_match_lifetimes(cdnow: Path, reference: pd.DataFrame) -> None:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    fitted = json.loads(run(cdnow, "forecast", "--as-of", AS_OF, "-f", "json").stdout)["fit"]
    assert (fitted["customers"], fitted["repeat_buyers"]) == (23_570, int((reference["frequency"] > 0).sum()))
    bg = BetaGeoFitter().fit(reference["frequency"], reference["recency"], reference["T"])
    for name in ("r", "alpha", "a", "b"):
        assert fitted["bg_nbd"][name] == pytest.approx(bg.params_[name], rel=0.01), name
    repeat = reference[(reference["frequency"] > 0) & (reference["monetary_value"] > 0)]
    gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    for name in ("p", "q", "v"):
        assert fitted["gamma_gamma"][name] == pytest.approx(gg.params_[name], rel=0.01), name
    # every customer's scores, from `huitou features`
    features = pd.read_csv(io.StringIO(run(cdnow, "features", "--as-of", AS_OF).stdout), dtype={"customer_id": str}).set_index("customer_id")
    ref = reference.loc[features.index]
    p_alive = bg.conditional_probability_alive(ref["frequency"], ref["recency"], ref["T"])
    assert np.max(np.abs(features["p_alive"].to_numpy() - np.asarray(p_alive))) < 0.005
    orders = bg.conditional_expected_number_of_purchases_up_to_time(90, ref["frequency"], ref["recency"], ref["T"])
    assert np.max(np.abs(features["expected_orders_90d"].to_numpy() - orders.to_numpy())) < 0.005
    spend = gg.conditional_expected_average_profit(ref["frequency"], ref["monetary_value"]).to_numpy()
    spend = np.where(ref["frequency"] > 0, spend, gg.params_["p"] * gg.params_["v"] / (gg.params_["q"] - 1))  # one-time buyers: the population mean
    assert np.allclose(features["expected_spend_90d"].to_numpy(), orders.to_numpy() * spend, rtol=0.01)


def test_the_fit_check_agrees_with_lifetimes_on_a_calibration_and_holdout_split(cdnow: Path) -> None:
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data

    check = json.loads(run(cdnow, "forecast", "--as-of", AS_OF, "--holdout", "273d", "-f", "json").stdout)["check"]
    assert (check["calibration_end"], check["holdout_end"]) == ("1997-09-30", AS_OF)
    raw = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str, "date": str})
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    # lifetimes' calibration_and_holdout_data, done by hand (it fails on pandas 3)
    calibration = raw[raw["date"] <= "1997-09-30"]
    split = summary_data_from_transaction_data(calibration, "customer_id", "date", observation_period_end="1997-09-30", freq="D")
    later = raw[(raw["date"] > "1997-09-30") & (raw["date"] <= AS_OF)].groupby("customer_id")["date"].nunique()
    split["holdout"] = later.reindex(split.index, fill_value=0)
    bg = BetaGeoFitter().fit(split["frequency"], split["recency"], split["T"])
    predicted = bg.conditional_expected_number_of_purchases_up_to_time(273, split["frequency"], split["recency"], split["T"])
    assert check["actual"] == int(split["holdout"].sum())
    assert check["predicted"] == pytest.approx(float(predicted.sum()), rel=1e-3)
    # CDNOW, daily: 19,684 purchase days in the holdout, 16,874 predicted (-14.3%); the model
    # ranks the customers as they then bought
    assert -0.2 < check["relative_error"] < 0 and check["actual"] == 19_684
    buckets = check["by_repeat_purchases"]
    assert [b["label"] for b in buckets] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert all(a["predicted"] < b["predicted"] and a["actual"] < b["actual"] for a, b in zip(buckets, buckets[1:]))
    zero = check["by_repeat_purchases"][0]
    assert zero["label"] == "0" and zero["customers"] == int((split["frequency"] == 0).sum())


def test_a_predicate_finds_the_valuable_customers_slipping_away(cdnow: Path) -> None:
    """The issue's example: p_alive < 0.3 AND total_spent >= 500 (here 100: CDNOW's spend)."""
    (cdnow / "rules").mkdir(exist_ok=True)
    (cdnow / "templates" / "en" / "sms").mkdir(parents=True, exist_ok=True)
    (cdnow / "templates" / "en" / "sms" / "back.j2").write_text("We miss you.", encoding="utf-8")
    (cdnow / "rules" / "slipping.yaml").write_text(
        "version: 1\nname: slipping\ntimezone: UTC\nlocale: en\nrules:\n"
        "  - {id: win-back, intent: care, segment: p_alive < 0.3 AND total_spent >= 100, when: {immediate: true}, channel: sms, template: sms/back.j2}\n",
        encoding="utf-8",
    )
    try:
        # validate cannot see the data: it warns that the feature is empty for a small shop
        warned = run(cdnow, "validate").stdout
        assert "rules/slipping.yaml:6:43: warning HT206 'p_alive' is fitted from the shop's history" in warned
        features = pd.read_csv(io.StringIO(run(cdnow, "features", "--as-of", AS_OF).stdout))
        expected = int(((features["p_alive"] < 0.3) & (features["total_spent"] >= 100)).sum())
        counts = json.loads(run(cdnow, "segments", "--as-of", AS_OF, "-f", "json").stdout)
        (rule,) = [c for c in counts["counts"] if c["playbook"] == "slipping" and c["name"] == "win-back"]
        assert rule["customers"] == expected and expected > 500
    finally:
        (cdnow / "rules" / "slipping.yaml").unlink()


def test_a_shop_too_small_to_fit_gets_a_sentence_and_empty_features(tmp_path: Path) -> None:
    root = tmp_path / "tiny"
    root.mkdir()
    (root / "huitou.yaml").write_text("version: 1\nname: tiny\ntimezone: UTC\ndata: {orders: {path: orders.csv}}\n", encoding="utf-8")
    with open(root / "orders.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "ordered_at", "amount"])
        writer.writerows([f"o{i}-{k}", f"c{i}", f"2026-0{k + 1}-10 10:00", "20.00"] for i in range(30) for k in range(1 + i % 2))
    done = run(root, "features", "--as-of", "2026-06-30")
    assert "too few customers to fit the purchase models" in done.stderr and "30 with a purchase and 15 who bought again" in done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == 30 and {r["p_alive"] for r in rows} == {""} and {r["expected_spend_90d"] for r in rows} == {""}
    text = run(root, "forecast", "--as-of", "2026-06-30").stdout
    assert "too few customers to fit" in text and "Traceback" not in text


@pytest.mark.parametrize(("segment", "spend_fitted"), [("p_alive < 0.3", False), ("expected_spend_90d > 50", True)])
def test_only_the_models_the_named_features_need_are_fitted(cdnow: Path, segment: str, spend_fitted: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """p_alive needs BG/NBD alone; expected_spend_90d needs Gamma-Gamma too. A playbook
    naming only p_alive leaves the spend model unfitted and its feature empty."""
    from huitou.workspace import DataOptions, Workspace

    (cdnow / "rules").mkdir(exist_ok=True)
    playbook = cdnow / "rules" / "named.yaml"
    playbook.write_text(
        "version: 1\nname: named\ntimezone: UTC\nlocale: en\nrules:\n"
        f"  - {{id: r, intent: care, segment: {segment}, when: {{immediate: true}}, channel: sms, template: sms/back.j2}}\n",
        encoding="utf-8",
    )
    (cdnow / "templates" / "en" / "sms").mkdir(parents=True, exist_ok=True)
    (cdnow / "templates" / "en" / "sms" / "back.j2").write_text("We miss you.", encoding="utf-8")
    monkeypatch.chdir(cdnow)
    try:
        with Workspace.open([playbook]) as ws:
            session = ws.load(DataOptions(as_of=AS_OF), say=False)
            spend = session.con.execute(session.local_features().select("count(expected_spend_90d)", append=False).sql("duckdb")).fetchone()[0]
            assert session.forecast.model is not None and (session.forecast.spend is not None) == spend_fitted
            assert (spend == 23_570) if spend_fitted else (spend == 0)
    finally:
        playbook.unlink()
