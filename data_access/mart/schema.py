"""The analytic mart's tables, declared once (never reflected: see STACK_NOTES)."""

from __future__ import annotations

import sqlalchemy as sa

MART = sa.MetaData()

#: Channel types (code → label); the only values allowed in ``dim_channel.channel_type``.
CHANNEL_TYPES: dict[str, str] = {
    "own_hall": "own hall 自营厅",
    "franchise": "franchise 合作厅",
    "social_outlet": "social outlet 社会渠道",
    "e_channel": "e-channel 电子渠道",
}
#: Customer segments (code → label).
SEGMENTS: dict[str, str] = {
    "high_end": "high-end 高端",
    "mass": "mass market 大众",
    "youth": "youth 校园青年",
    "enterprise": "enterprise member 集团成员",
}
#: Operators in the competitor figures; ``us`` is the company itself.
OPERATORS: dict[str, str] = {
    "us": "Concerto Mobile 本网",
    "rival_a": "Rival A 竞争对手A",
    "rival_b": "Rival B 竞争对手B",
}
#: Departments that run campaigns.
DEPARTMENTS: dict[str, str] = {
    "individual": "individual customers 个人客户部",
    "enterprise": "enterprise customers 政企客户部",
    "product": "product 产品部",
    "channel": "channel 渠道部",
    "communications": "communications 品牌传播",
}
#: Enterprise-group products (code → label); the only values allowed in ``group_line.product``.
GROUP_PRODUCTS: dict[str, str] = {
    "ip_line": "IP leased line 专线",
    "idc": "IDC hosting IDC托管",
    "group_sms": "group SMS 集团短信",
    "cloud_pbx": "cloud PBX 云总机",
}

# The measures shared by the monthly fact and every monthly summary.
_MONEY = ("rev_voice", "rev_data", "rev_sms", "rev_vas", "discount", "revenue")
_USAGE = ("mou", "data_mb", "sms_cnt", "service_cost")
#: Additive measures in every summary table (sums over subscribers).
SUMMARY_MEASURES: tuple[str, ...] = (
    ("active_subs", "new_subs", "churned_subs") + _MONEY + _USAGE
)


def _money_columns() -> list[sa.Column]:
    return [sa.Column(name, sa.Double, nullable=False) for name in _MONEY]


def _usage_columns() -> list[sa.Column]:
    return [sa.Column(name, sa.Double, nullable=False) for name in _USAGE]


def _summary_measure_columns() -> list[sa.Column]:
    counts = [
        sa.Column("active_subs", sa.BigInteger, nullable=False),
        sa.Column("new_subs", sa.BigInteger, nullable=False),
        sa.Column("churned_subs", sa.BigInteger, nullable=False),
    ]
    return counts + _money_columns() + _usage_columns()


dim_region = sa.Table(
    "dim_region", MART,
    sa.Column("region_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("branch", sa.String(40), nullable=False),
    sa.Column("branch_zh", sa.String(20), nullable=False),
    sa.Column("micro_region", sa.String(40), nullable=False, unique=True),
    sa.Column("micro_region_zh", sa.String(20), nullable=False),
    sa.Column("lat", sa.Double, nullable=False),
    sa.Column("lon", sa.Double, nullable=False),
    comment="Branches (分公司) and their micro-regions (微区域), with coordinates.",
)

dim_channel = sa.Table(
    "dim_channel", MART,
    sa.Column("channel_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("channel_name", sa.String(80), nullable=False),
    sa.Column("channel_type", sa.String(20), nullable=False),
    sa.Column("region_id", sa.Integer, sa.ForeignKey("dim_region.region_id"), nullable=False),
    sa.Column("manager", sa.String(40), nullable=False),
    sa.Column("opened_on", sa.Date, nullable=False),
    comment="Sales channels (渠道): own halls, franchises, social outlets, e-channels.",
)

dim_group = sa.Table(
    "dim_group", MART,
    sa.Column("group_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("group_name", sa.String(80), nullable=False),
    sa.Column("industry", sa.String(40), nullable=False),
    sa.Column("account_manager", sa.String(40), nullable=False),
    sa.Column("region_id", sa.Integer, sa.ForeignKey("dim_region.region_id"), nullable=False),
    sa.Column("has_leased_line", sa.Boolean, nullable=False),
    comment="Enterprise group customers (集团客户).",
)

dim_plan = sa.Table(
    "dim_plan", MART,
    sa.Column("plan_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("plan_name", sa.String(60), nullable=False),
    sa.Column("plan_family", sa.String(20), nullable=False),
    sa.Column("monthly_fee", sa.Double, nullable=False),
    sa.Column("data_quota_mb", sa.Double, nullable=False),
    comment="Tariff plans (套餐).",
)

dim_subscriber = sa.Table(
    "dim_subscriber", MART,
    sa.Column("subscriber_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("msisdn", sa.String(11), nullable=False, unique=True),
    sa.Column("join_month", sa.Date, nullable=False),
    sa.Column("churn_month", sa.Date, nullable=True),
    sa.Column("plan_id", sa.Integer, sa.ForeignKey("dim_plan.plan_id"), nullable=False),
    sa.Column("region_id", sa.Integer, sa.ForeignKey("dim_region.region_id"), nullable=False),
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("dim_channel.channel_id"), nullable=False),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("dim_group.group_id"), nullable=True),
    sa.Column("segment", sa.String(20), nullable=False),
    sa.Column("age", sa.Integer, nullable=False),
    comment=(
        "Subscribers. join_month is the first billed month; churn_month is the first month "
        "no longer billed (NULL while active). The number is stored whole and masked on read."
    ),
)

fact_subscriber_month = sa.Table(
    "fact_subscriber_month", MART,
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("subscriber_id", sa.BigInteger, sa.ForeignKey("dim_subscriber.subscriber_id"),
              primary_key=True),
    *_money_columns(),
    *_usage_columns(),
    sa.Column("is_new", sa.Boolean, nullable=False),
    comment=(
        "One row per billed subscriber and month. rev_* are gross revenue by component; "
        "revenue = rev_voice + rev_data + rev_sms + rev_vas - discount (yuan)."
    ),
)

fact_region_day = sa.Table(
    "fact_region_day", MART,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("region_id", sa.Integer, sa.ForeignKey("dim_region.region_id"), primary_key=True),
    sa.Column("new_activations", sa.Integer, nullable=False),
    sa.Column("churned", sa.Integer, nullable=False),
    sa.Column("revenue", sa.Double, nullable=False),
    sa.Column("active_subs", sa.Integer, nullable=False),
    comment="Daily figures per micro-region, for alerting.",
)

fact_channel_day = sa.Table(
    "fact_channel_day", MART,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("dim_channel.channel_id"),
              primary_key=True),
    sa.Column("new_activations", sa.Integer, nullable=False),
    sa.Column("revenue", sa.Double, nullable=False),
    sa.Column("stock_level", sa.Integer, nullable=False),
    comment="Daily figures per channel: activations, revenue and handset/SIM stock on hand.",
)

fact_competitor_month = sa.Table(
    "fact_competitor_month", MART,
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("region_id", sa.Integer, sa.ForeignKey("dim_region.region_id"), primary_key=True),
    sa.Column("operator", sa.String(10), primary_key=True),
    sa.Column("subscribers", sa.Integer, nullable=False),
    sa.Column("new_adds", sa.Integer, nullable=False),
    sa.Column("churned", sa.Integer, nullable=False),
    sa.Column("net_adds", sa.Integer, nullable=False),
    sa.Column("arpu", sa.Double, nullable=False),
    comment="Three operators' figures per micro-region and month (operator 'us' is our own).",
)

competitor_event = sa.Table(
    "competitor_event", MART,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("operator", sa.String(10), nullable=False),
    sa.Column("region_id", sa.Integer, sa.ForeignKey("dim_region.region_id"), nullable=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("description", sa.String(400), nullable=False),
    comment="Rivals' tariff and promotion events (region NULL = city-wide).",
)

campaign = sa.Table(
    "campaign", MART,
    sa.Column("campaign_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("campaign_name", sa.String(120), nullable=False),
    sa.Column("department", sa.String(20), nullable=False),
    sa.Column("offer", sa.String(200), nullable=False),
    sa.Column("benefit_kind", sa.String(20), nullable=False),
    sa.Column("target_segment", sa.String(20), nullable=False),
    sa.Column("channel_types", sa.String(120), nullable=False),
    sa.Column("start_month", sa.Date, nullable=False),
    sa.Column("end_month", sa.Date, nullable=False),
    sa.Column("budget", sa.Double, nullable=False),
    sa.Column("has_control", sa.Boolean, nullable=False),
    comment="Marketing campaigns; channel_types is a comma-separated list of channel type codes.",
)

campaign_member = sa.Table(
    "campaign_member", MART,
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaign.campaign_id"), primary_key=True),
    sa.Column("subscriber_id", sa.BigInteger, sa.ForeignKey("dim_subscriber.subscriber_id"),
              primary_key=True),
    sa.Column("arm", sa.String(10), nullable=False),
    sa.Column("cost", sa.Double, nullable=False),
    comment="Campaign participants: arm is 'treated' or 'control' (randomised hold-out).",
)

budget_line = sa.Table(
    "budget_line", MART,
    sa.Column("budget_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("budget_line.budget_id"), nullable=True),
    sa.Column("level", sa.String(12), nullable=False),
    sa.Column("unit_name", sa.String(80), nullable=False),
    sa.Column("period", sa.String(10), nullable=False),
    sa.Column("amount", sa.Double, nullable=False),
    sa.Column("spent", sa.Double, nullable=False),
    comment="Marketing budget plan: company → department → team → person, per period (e.g. 2026-Q3).",
)

fact_network_day = sa.Table(
    "fact_network_day", MART,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("region_id", sa.Integer, sa.ForeignKey("dim_region.region_id"), primary_key=True),
    sa.Column("coverage_pct", sa.Double, nullable=False),
    sa.Column("call_drop_rate", sa.Double, nullable=False),
    sa.Column("throughput_mbps", sa.Double, nullable=False),
    sa.Column("complaints", sa.Integer, nullable=False),
    comment=(
        "Daily network KPIs per micro-region (网络监控): coverage (% of samples with good "
        "signal), call-drop rate (a fraction), mean data throughput (Mbps) and network "
        "complaints. Optional in an extract; without it the network section says so."
    ),
)

discount_term = sa.Table(
    "discount_term", MART,
    sa.Column("subscriber_id", sa.BigInteger, sa.ForeignKey("dim_subscriber.subscriber_id"),
              primary_key=True),
    sa.Column("rate", sa.Double, nullable=False),
    sa.Column("end_month", sa.Date, nullable=False),
    comment=(
        "Agreed discounts (资费优惠协议): the share of the gross bill a line may be discounted, "
        "until end_month (the first month no longer covered). Revenue assurance checks "
        "discounts against it; absent, those checks cannot run."
    ),
)

fact_plan_change = sa.Table(
    "fact_plan_change", MART,
    sa.Column("subscriber_id", sa.BigInteger, sa.ForeignKey("dim_subscriber.subscriber_id"),
              primary_key=True),
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("from_plan_id", sa.Integer, sa.ForeignKey("dim_plan.plan_id"), nullable=False),
    sa.Column("to_plan_id", sa.Integer, sa.ForeignKey("dim_plan.plan_id"), nullable=False),
    comment=(
        "Plan changes (套餐迁移): month is the first month billed on to_plan_id. A "
        "subscriber's changes chain (each from_plan_id is the previous to_plan_id) and the "
        "last to_plan_id is dim_subscriber.plan_id (the current plan). Optional in an "
        "extract; without it the product view has no migrations and plans count by the "
        "current plan."
    ),
)

group_line = sa.Table(
    "group_line", MART,
    sa.Column("line_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("dim_group.group_id"), nullable=False),
    sa.Column("product", sa.String(20), nullable=False),
    sa.Column("monthly_fee", sa.Double, nullable=False),
    sa.Column("start_month", sa.Date, nullable=False),
    sa.Column("contract_end", sa.Date, nullable=False),
    sa.Column("cancel_month", sa.Date, nullable=True),
    comment=(
        "Enterprise groups' lines and products (集团专线/产品): product code, agreed monthly fee "
        "(yuan), first billed month, the month the current contract ends, and cancel_month, "
        "the first month no longer billed (NULL while active). Optional in an extract; "
        "without it the enterprise-group page says the extract has no group lines."
    ),
)

fact_group_line_month = sa.Table(
    "fact_group_line_month", MART,
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("line_id", sa.Integer, sa.ForeignKey("group_line.line_id"), primary_key=True),
    sa.Column("traffic", sa.Double, nullable=False),
    sa.Column("revenue", sa.Double, nullable=False),
    comment=(
        "One row per group line and billed month (start_month to the month before "
        "cancel_month): traffic in the product's own unit (GB for IP lines and IDC, thousand "
        "messages for group SMS, thousand minutes for cloud PBX) and revenue (yuan)."
    ),
)

planted_truth = sa.Table(
    "planted_truth", MART,
    sa.Column("truth_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("where_json", sa.String(400), nullable=False),
    sa.Column("size", sa.Double, nullable=False),
    sa.Column("period", sa.String(40), nullable=False),
    sa.Column("detail", sa.String(1000), nullable=False),
    comment="What the generator planted, so analytics can be checked (empty for real extracts).",
)

truth_churn_prob = sa.Table(
    "truth_churn_prob", MART,
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("subscriber_id", sa.BigInteger, primary_key=True),
    sa.Column("prob", sa.Double, nullable=False),
    comment="Generated marts only: each subscriber's true probability of churning after this month.",
)

mart_meta = sa.Table(
    "mart_meta", MART,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.String(400), nullable=False),
    comment="Build facts: source (generator or loader), seed, sizes, build time, schema version.",
)

sum_cube_month = sa.Table(
    "sum_cube_month", MART,
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("region_id", sa.Integer, primary_key=True),
    sa.Column("channel_type", sa.String(20), primary_key=True),
    sa.Column("plan_id", sa.Integer, primary_key=True),
    sa.Column("segment", sa.String(20), primary_key=True),
    *_summary_measure_columns(),
    comment=(
        "Summary: monthly measures per micro-region × activation channel type × plan × segment. "
        "churned_subs counts subscribers whose churn_month is this month."
    ),
)

sum_channel_month = sa.Table(
    "sum_channel_month", MART,
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("channel_id", sa.Integer, primary_key=True),
    *_summary_measure_columns(),
    comment="Summary: monthly measures per activation channel.",
)

sum_region_channel_month = sa.Table(
    "sum_region_channel_month", MART,
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("region_id", sa.Integer, primary_key=True),
    sa.Column("channel_id", sa.Integer, primary_key=True),
    *_summary_measure_columns(),
    comment=(
        "Summary: monthly measures per subscriber micro-region × activation channel, so that a "
        "micro-region's channels add up to the micro-region."
    ),
)

sum_group_month = sa.Table(
    "sum_group_month", MART,
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("group_id", sa.Integer, primary_key=True),
    *_summary_measure_columns(),
    comment="Summary: monthly measures per enterprise group (members only).",
)

sum_plan_month = sa.Table(
    "sum_plan_month", MART,
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("plan_id", sa.Integer, primary_key=True),
    sa.Column("region_id", sa.Integer, primary_key=True),
    sa.Column("channel_type", sa.String(20), primary_key=True),
    *_summary_measure_columns(),
    comment=(
        "Summary: monthly measures per plan held that month (from fact_plan_change, else "
        "the current plan) × micro-region × activation channel type. churned_subs counts "
        "by churn month on the last plan held."
    ),
)

def _starts_of(summary: sa.Table) -> sa.Table:
    """The table of ``summary``'s rows that start a run of months of their member."""
    keys = [c for c in summary.primary_key.columns if c.name != "month"]
    return sa.Table(
        summary.name.removesuffix("_month") + "_start", MART,
        sa.Column("month", sa.Date, primary_key=True),
        *[sa.Column(c.name, c.type, primary_key=True) for c in keys],
        sa.Column("prev_month", sa.Date, nullable=True),
        comment=(
            f"Summary: the rows of {summary.name} whose member ("
            + " × ".join(c.name for c in keys) + ") has no row in the table's month before "
            "(its first row, or its first after a gap), with the member's previous month "
            "(NULL: none). A member with a row in a run of months lo…hi has one in the first "
            "of them the table holds, or one of these in it with prev_month before lo: the "
            "drill finds a level's members without reading every month."
        ),
    )


#: The drill's members per summary: where each member's runs of months start.
MEMBER_STARTS: dict[str, sa.Table] = {
    summary.name: _starts_of(summary)
    for summary in (sum_channel_month, sum_region_channel_month, sum_group_month)}

#: Subscribers kept per micro-region, month and ordering in ``sum_top_fallers_month``: the
#: subscriber step's page size, so the top rows of any set of micro-regions are a merge.
TOP_FALLERS = 500
#: The orderings ``sum_top_fallers_month`` ranks by (the change of this fact measure).
FALLER_ORDERS = ("revenue", "mou", "data_mb")

def _fallers(name: str, *keys: sa.Column, comment: str) -> sa.Table:
    """A table of fallers: per month, micro-region, ``keys`` and order_key, the subscribers
    with both months' revenue, MOU and data, and the change they are ranked by."""
    return sa.Table(
        name, MART,
        sa.Column("month", sa.Date, primary_key=True),
        sa.Column("region_id", sa.Integer, primary_key=True),
        *keys,
        sa.Column("order_key", sa.String(10), primary_key=True),
        sa.Column("subscriber_id", sa.BigInteger, primary_key=True),
        *[sa.Column(f"{m}_{when}", sa.Double, nullable=False)
          for m in FALLER_ORDERS for when in ("now", "before")],
        sa.Column("change", sa.Double, nullable=False),
        comment=comment,
    )


sum_top_fallers_month = _fallers(
    "sum_top_fallers_month",
    comment=(
        "Summary: per month, micro-region and order_key (revenue, mou or data_mb), the "
        "TOP_FALLERS (500) subscribers billed this month or the month before with the lowest "
        "change of that measure (ties by subscriber_id), with both months' revenue, MOU and "
        "data (0 when not billed). The subscriber step's top rows of a city, branch or "
        "micro-region are the first rows of a merge of these."
    ),
)

sum_top_fallers_type_month = _fallers(
    "sum_top_fallers_type_month",
    sa.Column("channel_type", sa.String(20), primary_key=True),
    comment=(
        "Summary: sum_top_fallers_month's rows per micro-region and activation channel type: "
        "the TOP_FALLERS (500) subscribers of each with the lowest change, the same figures. "
        "The subscriber step's top rows of a channel type in the city, a branch or a "
        "micro-region are the first rows of a merge of these (and sum_top_fallers_month's "
        "of a micro-region the first of its channel types')."
    ),
)

#: The value page's windows (its latest 1, 3, 6 and 12 months), summarised at build.
VALUE_WINDOWS = (1, 3, 6, 12)


def _value_money_columns() -> list[sa.Column]:
    """A value summary's money: summed over the window and the cell's customers."""
    return [sa.Column(name, sa.Double, nullable=False)
            for name in ("gross", "discount", "service_cost", "campaign_cost", "net_value")]


def _value_window_keys() -> list[sa.Column]:
    return [sa.Column("first_month", sa.Date, primary_key=True),
            sa.Column("last_month", sa.Date, primary_key=True)]


sum_value_cell = sa.Table(
    "sum_value_cell", MART,
    *_value_window_keys(),
    sa.Column("region_id", sa.Integer, primary_key=True),
    sa.Column("segment", sa.String(20), primary_key=True),
    sa.Column("band", sa.String(20), primary_key=True),
    sa.Column("customers", sa.BigInteger, nullable=False),
    sa.Column("negative_customers", sa.BigInteger, nullable=False),
    sa.Column("negative_duplicates", sa.BigInteger, nullable=False),
    *_value_money_columns(),
    comment=(
        "Summary: per value window (VALUE_WINDOWS: the latest 1, 3, 6 and 12 months), "
        "micro-region, segment and ROI band, the customers billed in the window's last month, "
        "those with net value below zero (and of them those paid benefits by two or more "
        "departments), and their money over the window: the value page's bands, micro-regions "
        "and high-end figures."
    ),
)

sum_value_unit = sa.Table(
    "sum_value_unit", MART,
    *_value_window_keys(),
    sa.Column("level", sa.String(10), primary_key=True),  # channel | group
    sa.Column("unit_id", sa.Integer, primary_key=True),
    sa.Column("region_id", sa.Integer, primary_key=True),
    sa.Column("customers", sa.BigInteger, nullable=False),
    sa.Column("negative_customers", sa.BigInteger, nullable=False),
    *_value_money_columns(),
    comment=(
        "Summary: sum_value_cell's customers and money per activation channel or enterprise "
        "group (level) and the customers' micro-region: the value page's channel and group "
        "tables in any scope."
    ),
)

sum_value_customer = sa.Table(
    "sum_value_customer", MART,
    *_value_window_keys(),
    sa.Column("subscriber_id", sa.BigInteger, primary_key=True),
    sa.Column("region_id", sa.Integer, nullable=False),
    sa.Column("segment", sa.String(20), nullable=False),
    sa.Column("channel_id", sa.Integer, nullable=False),
    sa.Column("group_id", sa.Integer, nullable=True),
    *_value_money_columns(),
    sa.Column("departments", sa.Integer, nullable=False),
    sa.Column("campaigns", sa.Integer, nullable=False),
    comment=(
        "Summary: per value window, the customers the value page lists: high-end with net "
        "value below zero, or paid benefits by two or more departments."
    ),
)

sa.Index("ix_sub_channel", dim_subscriber.c.channel_id)
sa.Index("ix_sub_region", dim_subscriber.c.region_id)
sa.Index("ix_sub_group", dim_subscriber.c.group_id)
# A subscriber's months (the ledger; the subscriber rows of a slice, two months each of tens
# of thousands of subscribers) read from the index on PostgreSQL: on subscriber_id alone it
# fetched all of a subscriber's rows and filtered the months (see load_subscriber_rows).
# DuckDB gets no indexes (build._duckdb_metadata).
sa.Index("ix_fact_subscriber_month", fact_subscriber_month.c.subscriber_id,
         fact_subscriber_month.c.month)
sa.Index("ix_member_subscriber", campaign_member.c.subscriber_id)

#: Indexes of earlier versions that a server mart drops after its next build or load.
RETIRED_INDEXES: tuple[sa.Index, ...] = (  # now ix_fact_subscriber_month
    sa.Index("ix_fact_subscriber", sa.column("subscriber_id")),)

#: Tables a real extract must provide (in load order: referenced tables first).
EXTRACT_TABLES: tuple[sa.Table, ...] = (
    dim_region, dim_plan, dim_channel, dim_group, dim_subscriber, fact_subscriber_month,
    fact_region_day, fact_channel_day, fact_competitor_month, competitor_event,
    campaign, campaign_member, budget_line,
)
#: Tables a real extract may provide; absent means empty.
OPTIONAL_TABLES: tuple[sa.Table, ...] = (fact_network_day, discount_term, planted_truth,
                                          truth_churn_prob,
                                          fact_plan_change,  # plan history: the product view
                                          # enterprise groups' lines (集团客户管理)
                                          group_line, fact_group_line_month)
#: Tables derived from the others by ``data_access.mart.summaries``.
SUMMARY_TABLES: tuple[sa.Table, ...] = (
    sum_cube_month, sum_channel_month, sum_region_channel_month, sum_group_month,
    sum_plan_month,  # by the plan held each month (the product view)
    sum_top_fallers_month,  # the subscriber step's top rows per micro-region
    sum_top_fallers_type_month,  # … and per micro-region × channel type
    *MEMBER_STARTS.values(),  # where members' runs of months start (the drill's members)
    sum_value_cell, sum_value_unit, sum_value_customer,  # the value page's windows
)
