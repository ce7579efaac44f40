"""Churn risk 流失预警: the live model's quality and drivers, the retention list ranked by
expected loss, enterprise-group warnings, and one subscriber's explanation."""

import pandas as pd
import streamlit as st

from analytics.ops import arsenal as rules
from jobs.churn_pipeline import score_latest, train_churn_model
from analytics.churn.retention import filter_retention
from data_access.store import arsenal as tactics_store
from pages.common import cache
from data_access.store import scope
from data_access.mart import churn as reads
from data_access.store import churn as store
from data_access.db import ConcertoError
from pages.sections import churn_view as view
from pages.common.empty import require_mart
from pages.common.filters import current
from pages.common.session import principal
from pages.common.csvexport import safe_frame  # formula-like cells neutralised
from pages.common.plaintext import plain  # user text shown as text

st.title("Churn risk 流失预警")
require_mart()
who = principal()


def train_and_score() -> None:
    """Train on the current mart, score its latest month, make the model live."""
    with st.status("Training the churn model 训练流失模型…", expanded=True) as status:
        trained = train_churn_model(cache.mart_engine(), progress=st.write)
        version = store.save_model(trained.model, trained.manifest)
        st.write(f"Scoring the latest month with {version}…")
        model, manifest = store.load_model(version)
        month, scores, warnings = score_latest(cache.mart_engine(), model, manifest)
        store.save_scores(version, f"{month:%Y-%m}", scores, warnings)
        status.update(label=f"Model {version} is live ✓", state="complete")
    st.cache_data.clear()


@st.cache_data(ttl=cache.TTL_SECONDS, max_entries=4, show_spinner=False)  # ~250 MB at 1M
def load_scores(view_key: tuple, version: str, month: str | None) -> pd.DataFrame:
    # the viewer (last in the key) decides which rows come back: never another's region
    with scope.acting_as(view_key[-1]):
        return store.load_scores(version, month)


try:
    manifest = store.load_manifest()
    months = store.scored_months(manifest["version"])
except ConcertoError as exc:
    manifest, months = None, []
    st.info(f"{plain(exc)} Then score the latest month with `python -m jobs.churn score` "
            "(add `--alerts` to warn account managers about enterprise groups).")
if manifest is not None and not months:
    st.info(f"The live model {manifest['version']} has not scored a month yet: run "
            "`python -m jobs.churn score`.")
if manifest is None or not months:
    if who.can("view_mart_admin") and st.button("Train and score now 立即训练并评分",
                                                 type="primary", key="churn_train"):
        try:
            train_and_score()
        except ConcertoError as exc:
            st.error(plain(exc))
        else:
            st.rerun()
    st.stop()

st.subheader("Model quality 模型质量")
view.render_model_card(manifest)
left, right = st.columns(2)
left.altair_chart(view.lift_chart(manifest), width="stretch")
right.altair_chart(view.calibration_chart(manifest), width="stretch")
st.altair_chart(view.drivers_chart(manifest), width="stretch")

month = st.selectbox("Scored month 评分月份", months, key="churn_month")
try:
    scores = load_scores(cache.view_key(), manifest["version"], month)
except ConcertoError as exc:
    st.error(plain(exc))
    st.stop()

st.subheader("Retention list 挽留名单")
st.caption("Ranked by expected loss = churn risk × net value over the last three months "
           "(revenue after discount − service costs − campaign costs). Negative net value sinks "
           "to the bottom: losing them costs nothing. Reasons are given for every above-average "
           "risk and the 50,000 largest expected losses.")
glob = current()
cols = st.columns(4)


def pick(column: str, label: str, default: str | None, position: int) -> str | None:
    options = sorted(scores[column].dropna().unique().tolist())
    index = options.index(default) + 1 if default in options else 0
    chosen = cols[position].selectbox(label, [None, *options], index=index,
                                      format_func=lambda v: "All 全部" if v is None else str(v),
                                      key=f"churn_{column}")
    return chosen


filters = {"branch": pick("branch", "Branch 分公司", glob.branch if glob else None, 0),
           "micro_region": pick("micro_region", "Micro-region 微区域",
                                glob.micro_region if glob else None, 1),
           "segment": pick("segment", "Segment 客户群", None, 2)}
groups = scores.dropna(subset=["group_id"]).drop_duplicates("group_id")
group_names = dict(zip(groups["group_id"].astype(int), groups["group_name"]))
filters["group_id"] = cols[3].selectbox("Group 集团", [None, *sorted(group_names)],
                                        format_func=lambda g: "All 全部" if g is None
                                        else group_names[g], key="churn_group")
chosen = filter_retention(scores, filters)
if chosen.empty:
    st.info("Nobody in this selection: widen the filters above.")
    st.stop()
st.caption(f"{len(chosen):,} subscriber(s); the first 500 are shown, the download has them all.")
st.dataframe(view.retention_display(chosen.head(500)), hide_index=True, width="stretch",
             column_config=view.RETENTION_COLUMNS, key="churn_table")
where = "-".join(str(v) for v in filters.values() if v is not None) or "all"
st.download_button("Download the retention list (CSV)", chosen.pipe(safe_frame).to_csv(index=False)
                   .encode("utf-8-sig"), f"retention_{month}_{where}.csv", "text/csv",
                   key="churn_csv")

warnings = store.load_group_warnings(manifest["version"], month)
st.subheader("Enterprise-group warnings 集团预警")
if warnings.empty:
    st.caption("No enterprise group needs its account manager this month.")
else:
    st.dataframe(warnings[["group_name", "account_manager", "micro_region", "members", "at_risk",
                           "usage_change", "score", "message"]], hide_index=True, width="stretch",
                 column_config={"usage_change": st.column_config.NumberColumn(format="percent"),
                                "score": st.column_config.ProgressColumn(min_value=0.0,
                                                                         max_value=1.0)})
    st.download_button("Download the group warnings (CSV)", warnings.pipe(safe_frame).to_csv(index=False)
                       .encode("utf-8-sig"), f"group_warnings_{month}.csv", "text/csv",
                       key="churn_groups_csv")

st.subheader("Why this subscriber? 单用户解读")
top = chosen.head(50)
labels = {int(r.subscriber_id): f"#{r.rank} · {r.subscriber_id} · {r.micro_region} · "
          f"{r.churn_prob:.1%}" for r in top.itertuples()}
subscriber = st.selectbox("Subscriber (top 50 of the list) 用户", list(labels),
                          format_func=labels.get, key="churn_subscriber")
row = top[top["subscriber_id"] == subscriber].iloc[0]
numbers = reads.load_numbers(cache.mart_engine(), [subscriber])
tags = [t for t in str(row["reason_tags"]).split(",") if t]
tactics = tactics_store.list_tactics(cache.workflow_engine(), who)
suggestion = rules.suggest_retention(tactics, tags, {
    "segment": row["segment"], "arpu": row["arpu"], "tenure_months": row["tenure_months"],
    "plan_family": row["plan_family"]}, level=who.auth_level) if tags and not tactics.empty else None
view.explanation(row, numbers["number"].iloc[0] if not numbers.empty else None,
                 None if suggestion is None else f"{suggestion['name']} [{suggestion['code']}]")
ledger = cache.subscriber_ledger(subscriber)
if not ledger.empty:
    st.altair_chart(view.ledger_chart(ledger), width="stretch")
