"""Pieces of the churn page: the model card, its Altair charts, display tables, the
retention export and the panel of a training running in the background."""

from __future__ import annotations

import io

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from analytics.churn.retention import RISK_BANDS
from analytics.formatting import MISSING, format_time, format_value
from data_access.db import ConcertoError, Engine
from data_access.mart import churn as reads
from data_access.mart.schema import CHANNEL_TYPES, SEGMENTS
from data_access.store import churn as store
from data_access.store import churn_scores as scores_store
from data_access.store import scope
from data_access.store.auth import Principal
from jobs.churn import start_background_training
from pages.common.csvexport import safe_frame
from pages.common.plaintext import plain

#: Rows a retention export holds at most (the list is ranked: the rest is the long tail).
EXPORT_LIMIT = 100_000

BASELINE_NAMES = {"onehot_logistic": "one-hot logistic regression",
                  "plain_boosting": "plain HistGradientBoosting"}


def _pct(value: float | None) -> str:
    return format_value(value, "pct")


def render_model_card(manifest: dict) -> None:
    """Which model is live, what it was trained and judged on, and its headline figures."""
    train, test = manifest["training_window"], manifest["test_window"]
    metrics = manifest["metrics"]
    st.caption(
        f"Live model **{manifest['version']}** · trained {manifest['created_at'][:16]} UTC on "
        f"snapshots {', '.join(train['snapshots'])} ({format_value(train['rows'], 'subs')} rows) · "
        f"judged on the later month(s) {', '.join(test['snapshots'])} · predicts churn within "
        f"{manifest['horizon_months']} month(s)")
    cols = st.columns(4)
    oracle = metrics.get("oracle_roc_auc")
    cols[0].metric("ROC-AUC", f"{metrics['roc_auc']:.3f}",
                   help="Chance that a churner is ranked above a stayer.",
                   delta=f"{metrics['roc_auc'] - oracle:+.3f} vs oracle {oracle:.3f}"
                   if oracle is not None else None, delta_color="off")
    cols[1].metric("PR-AUC", f"{metrics['pr_auc']:.3f}",
                   help=f"Base rate {_pct(metrics['observed_rate'])}.")
    cols[2].metric("Top-decile lift 前10%提升度", f"{metrics['top_decile_lift']:.1f}×",
                   help="Churn rate of the riskiest tenth over the average churn rate.")
    cols[3].metric("Churn predicted / observed 预测/实际流失率",
                   f"{_pct(metrics['mean_predicted'])} / {_pct(metrics['observed_rate'])}",
                   help="Mean predicted probability and the observed rate, in the test month.")
    rows = [{"model": "ChurnModel (live)", "ROC-AUC": metrics["roc_auc"],
             "PR-AUC": metrics["pr_auc"], "top-decile lift": metrics["top_decile_lift"]}]
    for name, figures in manifest.get("baselines", {}).items():
        rows.append({"model": BASELINE_NAMES.get(name, name), "ROC-AUC": figures["roc_auc"],
                     "PR-AUC": figures["pr_auc"], "top-decile lift": figures["top_decile_lift"]})
    if oracle is not None:
        rows.append({"model": "oracle (generator's true probabilities)", "ROC-AUC": oracle,
                     "PR-AUC": float("nan"), "top-decile lift": float("nan")})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 placeholder=MISSING,  # the oracle has no PR-AUC or lift: "—", not "None"
                 column_config={
                     "ROC-AUC": st.column_config.NumberColumn(format="%.3f"),
                     "PR-AUC": st.column_config.NumberColumn(format="%.3f"),
                     "top-decile lift": st.column_config.NumberColumn(format="%.2f×")})


def lift_chart(manifest: dict) -> alt.Chart:
    """Lift per score decile (1 = the riskiest tenth), with the no-model line at 1."""
    lift = pd.DataFrame(manifest["lift"])
    bars = alt.Chart(lift).mark_bar().encode(
        x=alt.X("decile:O", title="Score decile 风险分位 (1 = riskiest)"),
        y=alt.Y("lift:Q", title="Lift 提升度"),
        tooltip=[alt.Tooltip("decile:O"), alt.Tooltip("churn_rate:Q", format=".2%"),
                 alt.Tooltip("lift:Q", format=".2f"), alt.Tooltip("subscribers:Q", format=",")])
    rule = alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 4]).encode(y="y:Q")
    return (bars + rule).properties(height=240, title="Lift by decile 分位提升度")


def calibration_chart(manifest: dict) -> alt.Chart:
    """Mean predicted probability against the observed churn rate, with the diagonal."""
    calibration = pd.DataFrame(manifest["calibration"])
    top = float(max(calibration["mean_predicted"].max(), calibration["observed_rate"].max()))
    diagonal = alt.Chart(pd.DataFrame({"p": [0.0, top]})).mark_line(
        strokeDash=[4, 4], color="gray").encode(x="p:Q", y="p:Q")
    points = alt.Chart(calibration).mark_line(point=True).encode(
        x=alt.X("mean_predicted:Q", title="Predicted 预测流失率", axis=alt.Axis(format="%")),
        y=alt.Y("observed_rate:Q", title="Observed 实际流失率", axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("mean_predicted:Q", format=".2%"),
                 alt.Tooltip("observed_rate:Q", format=".2%"),
                 alt.Tooltip("subscribers:Q", format=",")])
    return (diagonal + points).properties(height=240, title="Calibration 校准")


def drivers_chart(manifest: dict) -> alt.Chart:
    """Global drivers: ROC-AUC lost when a driver's columns are shuffled."""
    drivers = pd.DataFrame(manifest["drivers"])
    drivers["importance"] = drivers["importance"].clip(lower=0.0)
    return alt.Chart(drivers).mark_bar().encode(
        x=alt.X("importance:Q", title="ROC-AUC lost when shuffled"),
        y=alt.Y("label:N", sort="-x", title=None),
        tooltip=[alt.Tooltip("label:N", title="driver"),
                 alt.Tooltip("importance:Q", format=".4f"), alt.Tooltip("spread:Q", format=".4f")],
    ).properties(height=320, title="What drives churn 流失驱动因素")


def retention_display(scores: pd.DataFrame) -> pd.DataFrame:
    """The retention list with money and rates written for the reader."""
    shown = scores[["rank", "subscriber_id", "micro_region", "segment", "plan_family",
                    "group_name", "churn_prob", "risk_band", "net_value", "expected_loss",
                    "top_reason", "action"]].copy()
    shown["segment"] = scores["segment"].map(lambda v: SEGMENTS.get(v, v))
    shown["group_name"] = scores["group_name"].fillna(MISSING)
    shown["churn_prob"] = scores["churn_prob"].map(_pct)
    for column in ("net_value", "expected_loss"):
        shown[column] = scores[column].map(lambda v: format_value(v, "yuan_per_sub"))
    shown["action"] = scores["action"].replace("", MISSING)
    quiet = scores["risk_band"].isin(["average", "low"])  # not explained (jobs.churn_pipeline)
    shown["top_reason"] = scores["top_reason"].where(
        scores["top_reason"].fillna("") != "",
        np.where(quiet, "— risk not elevated 风险未升高", "— no single driver stands out 无突出原因"))
    return shown


RETENTION_COLUMNS = {
    "rank": "rank 排名", "subscriber_id": "subscriber 用户", "micro_region": "micro-region 微区域",
    "segment": "segment 客户群", "plan_family": "plan 套餐", "group_name": "group 集团",
    "churn_prob": "churn risk 流失概率", "risk_band": "risk band 风险等级",
    "net_value": "net value (3 months) 净价值", "expected_loss": "expected loss 预期损失",
    "top_reason": "main reason 主要原因", "action": "suggested tactic 建议措施",
}


def band_chart(summary: pd.DataFrame) -> alt.Chart:
    """Subscribers per risk band and branch (from the SQL aggregate)."""
    order = [name for name, _ in RISK_BANDS]
    per = summary.groupby(["branch", "risk_band"], as_index=False)["subscribers"].sum()
    return alt.Chart(per).mark_bar().encode(
        x=alt.X("subscribers:Q", title="subscribers 用户数"),
        y=alt.Y("branch:N", title=None),
        color=alt.Color("risk_band:N", sort=order, title="risk band 风险等级"),
        order=alt.Order("risk_band:N", sort="ascending"),
        tooltip=["branch:N", "risk_band:N", alt.Tooltip("subscribers:Q", format=",")],
    ).properties(height=200, title="Risk bands by branch 各分公司风险分布")


def retention_csv(workflow: Engine, mart: Engine, run_id: int,
                  filters: scores_store.RetentionFilter, who: Principal, *,
                  limit: int = EXPORT_LIMIT) -> bytes:
    """The filtered list as CSV (first ``limit`` rows), read in chunks, with each number
    masked unless ``who`` may see full numbers, and formula-like cells neutralised."""
    out = io.StringIO()
    with scope.acting_as(who):  # the download runs on a thread of its own
        for number, chunk in enumerate(scores_store.iter_retention(
                workflow, run_id, filters, limit=limit, columns=scores_store.EXPORT_COLUMNS)):
            numbers = reads.load_numbers(mart, chunk["subscriber_id"].tolist())
            chunk.insert(2, "number", chunk["subscriber_id"].map(
                numbers.set_index("subscriber_id")["number"]).fillna(MISSING))
            chunk.pipe(safe_frame).to_csv(out, index=False, header=number == 0)
    return out.getvalue().encode("utf-8-sig")


@st.fragment(run_every=5)
def _training_progress(workflow: Engine) -> None:
    record = store.current_training(workflow)
    if record is None or not record["alive"]:
        st.rerun()  # it finished: show the new model and scores
    st.info(f"A churn training started by {plain(record['started_by'])} at "
            f"{format_time(record['started_at'])} is running in the background: "
            f"{plain(record['step'])}. It goes on if you leave this page; this panel "
            "updates itself.")


def training_panel(workflow: Engine, who: Principal, *, label: str) -> None:
    """What a training started from the page is doing, or its last outcome, and the button
    that starts one (only for roles with ``view_mart_admin``)."""
    record = store.current_training(workflow)
    if record is not None and record["alive"]:
        _training_progress(workflow)  # the button stays: a second start is refused, said so
    elif record is not None and record["status"] == "failed":
        st.warning(f"The last churn training (started by {plain(record['started_by'])} at "
                   f"{format_time(record['started_at'])}) failed: {plain(record['message'])}")
    elif record is not None and record["status"] == "done":
        st.caption(f"Last training: {plain(record['message'])}, finished "
                   f"{format_time(record['finished_at'])}.")
    if not who.can("view_mart_admin"):
        st.caption("An analyst, an executive or an administrator can train the churn model "
                   "from this page.")
        return
    if st.button(label, key="churn_train"):
        try:
            start_background_training(workflow, model_dir=store.MODEL_DIR)
        except ConcertoError as exc:
            st.error(plain(exc))
        else:
            st.rerun()


def explanation(row: pd.Series, number: str | None, action: str | None) -> None:
    """One subscriber: risk, value, the reasons in plain words, and what to do."""
    cols = st.columns(3)
    cols[0].metric("Churn risk 流失概率", _pct(row["churn_prob"]))
    cols[1].metric("Net value, 3 months 净价值", format_value(row["net_value"], "yuan_per_sub"))
    cols[2].metric("Expected loss 预期损失", format_value(row["expected_loss"], "yuan_per_sub"))
    group = f", member of {row['group_name']}" if isinstance(row.get("group_name"), str) else ""
    st.markdown(f"Subscriber **{row['subscriber_id']}** (`{number or 'number hidden'}`) · "
                f"{row['micro_region']} ({row['branch']}) · "
                f"{SEGMENTS.get(row['segment'], row['segment'])} · {row['plan_family']} plan · "
                f"joined {int(row['tenure_months'])} month(s) ago · activated via "
                f"{CHANNEL_TYPES.get(row['channel_type'], row['channel_type'])}{group}")
    reasons_and_tactic([r for r in str(row["reasons"]).split("; ") if r], action)


def reasons_and_tactic(reasons: list[str], action: str | None) -> None:
    """Why a subscriber is at risk (the model's own reasons) and the tactic suggested for it;
    both shown as plain text (reasons quote place names from the data)."""
    if reasons:
        st.markdown("**Why at risk 流失原因**\n" + "\n".join(f"- {plain(r)}" for r in reasons))
    else:
        st.caption("No single reason stands out: the risk is the base rate of the profile.")
    if action:
        st.success(f"Suggested retention tactic 建议挽留措施: {plain(action)}")
    else:
        st.caption("The marketing arsenal has no tactic within your level for these reasons.")


def ledger_chart(ledger: pd.DataFrame) -> alt.Chart:
    """A subscriber's monthly revenue and minutes, the last twelve months."""
    recent = ledger.tail(12).melt(id_vars="month", value_vars=["revenue", "mou"],
                                  var_name="measure", value_name="value")
    recent["measure"] = recent["measure"].map({"revenue": "revenue ¥ 收入", "mou": "minutes 通话分钟"})
    return alt.Chart(recent).mark_line(point=True).encode(
        x=alt.X("yearmonth(month):T", title=None), y=alt.Y("value:Q", title=None),
        color=alt.Color("measure:N", title=None),
        tooltip=[alt.Tooltip("yearmonth(month):T", title="month"), "measure:N",
                 alt.Tooltip("value:Q", format=",.1f")]).properties(height=200)
