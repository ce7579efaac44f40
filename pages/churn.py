"""Churn risk 流失预警: the live model's quality and drivers, the retention list ranked by
expected loss (read page by page with SQL), enterprise-group warnings, and one subscriber's
explanation."""

import pandas as pd
import streamlit as st

from analytics.ops import arsenal as rules
from data_access.store import arsenal as tactics_store
from pages.common import cache
from data_access.store import scope
from data_access.mart import churn as reads
from data_access.store import churn as store
from data_access.store import churn_scores as scores
from data_access.store.churn_scores import RetentionFilter
from data_access.db import ConcertoError
from pages.sections import churn_view as view
from pages.common.empty import require_mart
from pages.common.filters import current
from pages.common.session import principal
from pages.common.plaintext import plain  # user text shown as text
from pages.common.csvexport import csv_file  # formula-like cells neutralised
from pages.common.links import open_customer_button

PAGE_ROWS = 50
st.title("Churn risk 流失预警")
require_mart()
who = principal()
workflow = cache.workflow_engine()


# Cached by scoring run, viewer scope and filters (results depend on nothing else); the
# person (``_who``, not hashed) only declares the scope to the store while computing.
@st.cache_data(ttl=cache.TTL_SECONDS, max_entries=64, show_spinner=False)
def summary(run_id: int, view_scope: tuple, filters: RetentionFilter, _who) -> pd.DataFrame:
    with scope.acting_as(_who):
        return scores.load_risk_summary(cache.workflow_engine(), run_id, filters)


@st.cache_data(ttl=cache.TTL_SECONDS, max_entries=64, show_spinner=False)
def actions(run_id: int, view_scope: tuple, _who) -> list[str]:
    with scope.acting_as(_who):
        return scores.load_actions(cache.workflow_engine(), run_id)


@st.cache_data(ttl=cache.TTL_SECONDS, max_entries=256, show_spinner=False)
def page_rows(run_id: int, view_scope: tuple, filters: RetentionFilter, page: int,
              _who) -> pd.DataFrame:
    with scope.acting_as(_who):
        return scores.load_retention(cache.workflow_engine(), run_id, filters,
                                     limit=PAGE_ROWS, offset=(page - 1) * PAGE_ROWS)


try:
    manifest = store.load_manifest()
except ConcertoError as exc:
    manifest = None
    st.info(f"{plain(exc)} Then score the latest month with `python -m jobs.churn score` "
            "(add `--alerts` to warn account managers about enterprise groups).")
runs = scores.list_runs(workflow, manifest["version"]) if manifest is not None else []
if manifest is not None and not runs:
    st.info(f"The live model {manifest['version']} has not scored a month yet: run "
            "`python -m jobs.churn score`.")
if manifest is None or not runs:
    view.training_panel(workflow, who, label="Train and score now 立即训练并评分")
    st.stop()

st.subheader("Model quality 模型质量")
view.render_model_card(manifest)
left, right = st.columns(2)
left.altair_chart(view.lift_chart(manifest), width="stretch")
right.altair_chart(view.calibration_chart(manifest), width="stretch")
st.altair_chart(view.drivers_chart(manifest), width="stretch")
with st.expander("Retrain 重新训练", expanded=store.current_training(workflow) is not None):
    view.training_panel(workflow, who, label="Retrain and score in the background 后台重新训练")

by_month = {run.month: run for run in runs}
month = st.selectbox("Scored month 评分月份", list(by_month), key="churn_month")
run = by_month[month]
key = (run.run_id, (who.scope_level, who.scope_value))  # the run and the viewer's scope

st.subheader("Retention list 挽留名单")
st.caption("Ranked by expected loss = churn risk × net value over the last three months "
           "(revenue after discount − service costs − campaign costs). Negative net value sinks "
           "to the bottom: losing them costs nothing. Risk bands compare each risk with the "
           f"month's average ({run.base_rate:.2%}): high from 3×, elevated from 1.5×.")
try:
    everyone = summary(*key, RetentionFilter(), who)
    tactic_names = actions(*key, who)
except ConcertoError as exc:
    st.error(plain(exc))
    st.stop()
glob = current()
cols = st.columns(5)


def pick(column: str, label: str, options: list, default: str | None, position: int):
    index = options.index(default) + 1 if default in options else 0
    return cols[position].selectbox(label, [None, *options], index=index,
                                    format_func=lambda v: "All 全部" if v is None else str(v),
                                    key=f"churn_{column}")


branch = pick("branch", "Branch 分公司", sorted(everyone["branch"].unique()),
              glob.branch if glob else None, 0)
regions = everyone if branch is None else everyone[everyone["branch"] == branch]
filters = RetentionFilter(
    branch=branch,
    micro_region=pick("micro_region", "Micro-region 微区域", sorted(regions["micro_region"].unique()),
                      glob.micro_region if glob else None, 1),
    segment=pick("segment", "Segment 客户群", sorted(everyone["segment"].dropna().unique()), None, 2),
    action=pick("action", "Tactic 建议措施", tactic_names, None, 3),
    min_prob=cols[4].number_input("Min. risk 最低流失概率 (%)", 0.0, 100.0, 0.0, 1.0,
                                  key="churn_min_prob") / 100)
chosen = summary(*key, filters, who)
total = int(chosen["subscribers"].sum())
if total == 0:
    st.info("Nobody in this selection: widen the filters above.")
    st.stop()
bands = chosen.groupby("risk_band")["subscribers"].sum()
figures = st.columns(5)
figures[0].metric("Subscribers 用户", f"{total:,}")
for column, (band, _) in zip(figures[1:], view.RISK_BANDS, strict=True):
    column.metric(f"{band} risk", f"{int(bands.get(band, 0)):,}")
st.altair_chart(view.band_chart(chosen), width="stretch")
pages = max(1, -(-total // PAGE_ROWS))
page = st.number_input(f"Page 页 (of {pages:,}, {PAGE_ROWS} rows each)", min_value=1,
                       max_value=pages, key="churn_page")
rows = page_rows(*key, filters, int(page), who)
st.dataframe(view.retention_display(rows), hide_index=True, width="stretch",
             column_config=view.RETENTION_COLUMNS, key="churn_table")
where = "-".join(str(v) for v in (filters.branch, filters.micro_region, filters.segment,
                                  filters.action) if v is not None) or "all"
mart, shown = cache.mart_engine(), min(total, view.EXPORT_LIMIT)
st.download_button(
    f"Download the retention list (CSV, first {shown:,} rows)",
    lambda: view.retention_csv(workflow, mart, run.run_id, filters, who),
    f"retention_{month}_{where}.csv", "text/csv", key="churn_csv", on_click="ignore")

try:
    warnings = scores.load_group_warnings(workflow, run.run_id)
except ConcertoError as exc:
    st.error(plain(exc))
    st.stop()
st.subheader("Enterprise-group warnings 集团预警")
if warnings.empty:
    st.caption("No enterprise group needs its account manager this month.")
else:
    st.dataframe(warnings[["group_name", "account_manager", "micro_region", "members", "at_risk",
                           "usage_change", "score", "message"]], hide_index=True, width="stretch",
                 column_config={"usage_change": st.column_config.NumberColumn(format="percent"),
                                "score": st.column_config.ProgressColumn(min_value=0.0,
                                                                         max_value=1.0)})
    st.download_button("Download the group warnings (CSV)",
                       csv_file(warnings, encoding="utf-8-sig"), f"group_warnings_{month}.csv",
                       "text/csv", key="churn_groups_csv")

st.subheader("Why this subscriber? 单用户解读")
labels = {int(r.subscriber_id): f"#{r.rank} · {r.subscriber_id} · {r.micro_region} · "
          f"{r.churn_prob:.1%}" for r in rows.itertuples()}
subscriber = st.selectbox("Subscriber (this page of the list) 用户", list(labels),
                          format_func=labels.get, key="churn_subscriber")
row = scores.load_subscriber_score(workflow, run.run_id, subscriber)
if row is None:
    st.info("This subscriber is not in the scored list you may see.")
    st.stop()
numbers = reads.load_numbers(mart, [subscriber])
tags = [t for t in str(row["reason_tags"]).split(",") if t]
tactics = tactics_store.list_tactics(workflow, who)
suggestion = rules.suggest_retention(tactics, tags, {
    "segment": row["segment"], "arpu": row["arpu"], "tenure_months": row["tenure_months"],
    "plan_family": row["plan_family"]}, level=who.auth_level) if tags and not tactics.empty else None
view.explanation(row, numbers["number"].iloc[0] if not numbers.empty else None,
                 None if suggestion is None else f"{suggestion['name']} [{suggestion['code']}]")
open_customer_button(subscriber, key="churn_open_customer")
ledger = cache.subscriber_ledger(subscriber)
if not ledger.empty:
    st.altair_chart(view.ledger_chart(ledger), width="stretch")
