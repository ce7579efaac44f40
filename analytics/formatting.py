"""Numbers for the reader: money in 万/亿, counts, percentages, usage, and masked phone numbers."""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

#: The units a KPI value can carry; ``pct`` values are fractions (0.0152 is 1.52%).
UNITS: tuple[str, ...] = ("yuan", "yuan_per_sub", "subs", "pct", "min", "mb")
#: What the reader sees for a missing value.
MISSING = "—"

_WAN = 1e4  # 万
_YI = 1e8  # 亿
_DATA_UNITS = ("GB", "TB", "PB")
_ELEVEN_DIGITS = re.compile(r"\d{11}")


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is missing or not finite."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _chinese_scale(magnitude: float, exact_below: float) -> str:
    """A non-negative amount in full below ``exact_below``, then in 万 (one decimal), then 亿."""
    if float(f"{magnitude:.0f}") < exact_below:
        return f"{magnitude:,.0f}"
    wan = f"{magnitude / _WAN:.1f}"
    if float(wan) < _YI / _WAN:
        return f"{wan}万"
    return f"{magnitude / _YI:,.2f}亿"


def _magnitude(number: float, unit: str) -> str:
    """The text for ``abs(number)`` in ``unit``, without a sign."""
    size = abs(number)
    if unit == "yuan":
        return "¥" + _chinese_scale(size, _WAN)
    if unit == "yuan_per_sub":
        return f"¥{size:,.2f}"
    if unit == "subs":
        # Counts stay exact up to 99,999 so a micro-region's base reads in full.
        return _chinese_scale(size, 10 * _WAN)
    if unit == "pct":
        return f"{size * 100:.2f}%"
    if unit == "min":
        return f"{size:,.0f} min"
    if unit == "mb":
        if float(f"{size:.0f}") < 1024:
            return f"{size:,.0f} MB"
        scaled, name = size / 1024, _DATA_UNITS[0]
        for bigger in _DATA_UNITS[1:]:
            if float(f"{scaled:.1f}") < 1024:
                break
            scaled, name = scaled / 1024, bigger
        return f"{scaled:,.1f} {name}"
    raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(UNITS)}")


def format_value(value: Any, unit: str) -> str:
    """Format a KPI value for display.

    Parameters
    ----------
    value : float or None
        The number; None, NaN, pd.NA and infinities show as "—".
    unit : str
        One of ``UNITS``. ``yuan`` is exact below 10,000, then 万 (10⁴) and 亿 (10⁸);
        ``subs`` is exact below 100,000, then 万 and 亿; ``yuan_per_sub`` has two decimals;
        ``pct`` takes a fraction; ``mb`` switches to GB (and TB, PB) from 1,024.

    Returns
    -------
    str

    Examples
    --------
    >>> format_value(1234.4, "yuan"), format_value(123456, "yuan"), format_value(1.234e8, "yuan")
    ('¥1,234', '¥12.3万', '¥1.23亿')
    >>> format_value(12345, "subs"), format_value(123456, "subs"), format_value(0.01523, "pct")
    ('12,345', '12.3万', '1.52%')
    >>> format_value(81.3, "yuan_per_sub"), format_value(412.2, "min"), format_value(5222, "mb")
    ('¥81.30', '412 min', '5.1 GB')
    >>> format_value(float("nan"), "yuan"), format_value(-25000, "yuan")
    ('—', '-¥2.5万')
    """
    number = _number(value)
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(UNITS)}")
    if number is None:
        return MISSING
    text = _magnitude(number, unit)
    # No "-¥0": the sign only shows when the rounded magnitude is not zero.
    negative = number < 0 and any(ch in "123456789" for ch in text)
    return ("-" if negative else "") + text


def format_change(change: Any, unit: str, pct: Any = None) -> str:
    """Format a change with an arrow: ▲ up, ▼ down, = unchanged.

    The arrow shows the direction of the number, not whether it is good news; colour it from
    the KPI's ``direction``. A change of a ``pct`` KPI is shown in percentage points (pp).

    Parameters
    ----------
    change : float or None
        The absolute change, in ``unit``.
    unit : str
        One of ``UNITS``.
    pct : float, optional
        The relative change as a fraction; appended in brackets, or shown alone when
        ``change`` is missing.

    Returns
    -------
    str

    Examples
    --------
    >>> format_change(-12000, "yuan"), format_change(None, "yuan", pct=0.032)
    ('▼ ¥1.2万', '▲ 3.2%')
    >>> format_change(2500, "yuan", pct=0.032), format_change(0.0012, "pct")
    ('▲ ¥2,500 (+3.2%)', '▲ 0.12 pp')
    >>> format_change(0, "subs"), format_change(None, "subs")
    ('= 0', '—')
    """
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(UNITS)}")
    number, relative = _number(change), _number(pct)
    if number is None:
        if relative is None:
            return MISSING
        return f"{_arrow(relative)} {abs(relative):.1%}"
    body = f"{abs(number) * 100:.2f} pp" if unit == "pct" else _magnitude(number, unit)
    text = f"{_arrow(number)} {body}"
    if relative is not None:
        text += f" ({relative:+.1%})"
    return text


def _arrow(number: float) -> str:
    return "▲" if number > 0 else "▼" if number < 0 else "="


def mask_msisdn(number: Any) -> str:
    """Mask a phone number: keep the first 7 of 11 digits, otherwise only the first 3 characters.

    Parameters
    ----------
    number : str or int
        The number; surrounding whitespace is ignored. None and NaN give "—".

    Returns
    -------
    str

    Examples
    --------
    >>> mask_msisdn("13512345678"), mask_msisdn(13512345678), mask_msisdn("+8613512345678")
    ('1351234****', '1351234****', '+86***********')
    >>> mask_msisdn("10086")
    '100**'
    """
    if number is None or number is pd.NA or (isinstance(number, float) and math.isnan(number)):
        return MISSING
    text = str(number).strip()
    keep = 7 if _ELEVEN_DIGITS.fullmatch(text) else 3
    return text[:keep] + "*" * max(len(text) - keep, 0)


def mask_msisdn_series(numbers: pd.Series) -> pd.Series:
    """Vectorised ``mask_msisdn``: same rule, same index and name, strings out.

    Examples
    --------
    >>> mask_msisdn_series(pd.Series(["13512345678", "10086", None])).tolist()
    ['1351234****', '100**', '—']
    """
    text = numbers.astype("string").str.strip()
    eleven = text.str.fullmatch(r"\d{11}").fillna(False).astype(bool)
    masked = text.str.replace(r"(?<=.{3}).", "*", regex=True)
    masked = masked.where(~eleven, text.str.replace(r"(?<=.{7}).", "*", regex=True))
    return masked.fillna(MISSING).astype(object).rename(numbers.name)


#: Every time a user reads is in the city's own zone, and says so.
LOCAL_TZ = "Asia/Shanghai"
TZ_LABEL = "UTC+8"


def _parse(value: Any) -> pd.Timestamp | None:
    """``value`` as a timestamp, or None when it is missing or not a time."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return None if stamp is pd.NaT else stamp


def _timestamp(value: Any) -> pd.Timestamp | None:
    """``value`` as a timezone-aware timestamp in ``LOCAL_TZ`` (naive values are UTC)."""
    stamp = _parse(value)
    if stamp is None:
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(LOCAL_TZ)


def format_time(value: Any, *, label: bool = True) -> str:
    """A moment as local date and minute, labelled with its zone; naive values are UTC.

    Examples
    --------
    >>> format_time("2026-12-05 17:30:00"), format_time(None)
    ('2026-12-06 01:30 UTC+8', '—')
    >>> format_time(pd.Timestamp("2026-12-06 09:00", tz="Asia/Shanghai"), label=False)
    '2026-12-06 09:00'
    """
    stamp = _timestamp(value)
    if stamp is None:
        return MISSING
    return f"{stamp:%Y-%m-%d %H:%M}" + (f" {TZ_LABEL}" if label else "")


def format_times(values: pd.Series, *, label: bool = True) -> pd.Series:
    """Vectorised :func:`format_time` (same index and name)."""
    stamps = pd.to_datetime(values, errors="coerce", utc=True).dt.tz_convert(LOCAL_TZ)
    text = stamps.dt.strftime("%Y-%m-%d %H:%M") + (f" {TZ_LABEL}" if label else "")
    return text.astype(object).where(stamps.notna(), MISSING).rename(values.name)


def format_day(value: Any) -> str:
    """A calendar day, without a time: dates as they are; moments in local time.

    Examples
    --------
    >>> format_day("2024-11-01 00:00:00"), format_day(pd.Timestamp("2026-12-05 17:30", tz="UTC"))
    ('2024-11-01', '2026-12-06')
    """
    stamp = _parse(value)
    if stamp is None:
        return MISSING
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(LOCAL_TZ)
    return f"{stamp:%Y-%m-%d}"


def format_month(value: Any) -> str:
    """A month as ``YYYY-MM``.

    >>> format_month("2024-11-01 00:00:00")
    '2024-11'
    """
    text = format_day(value)
    return text if text == MISSING else text[:7]


#: A parent's change smaller than this share of its level is noise: no share of it is shown.
SHARE_MIN_PARENT_MOVE = 0.001


def format_share(share: Any, parent_change: Any = None, parent_level: Any = None) -> str:
    """A member's share of its parent's change, or "—" when the parent barely moved.

    When the parent moved by less than ``SHARE_MIN_PARENT_MOVE`` of its level (or not at
    all), shares become huge and meaningless (−1,066%); the reader gets "—" instead.

    Examples
    --------
    >>> format_share(0.42, 1000, 50000), format_share(-10.67, 3, 50000), format_share(None)
    ('42.0%', '—', '—')
    """
    number = _number(share)
    if number is None:
        return MISSING
    move, level = _number(parent_change), _number(parent_level)
    if move is not None:
        if move == 0 or (level is not None and abs(move) < SHARE_MIN_PARENT_MOVE * abs(level)):
            return MISSING
    return f"{number:.1%}"


def format_ratio(value: Any) -> str:
    """A multiple such as an input-output ratio: two decimals and ×; ∞ when nothing was spent.

    Examples
    --------
    >>> format_ratio(1.3749), format_ratio(float("inf")), format_ratio(None)
    ('1.37×', '∞', '—')
    """
    if value is not None and not pd.isna(value):
        try:
            if math.isinf(float(value)):
                return "∞" if float(value) > 0 else MISSING
        except (TypeError, ValueError):
            return MISSING
    number = _number(value)
    return MISSING if number is None else f"{number:,.2f}×"


#: Human, bilingual names for the columns pages show (snake_case never reaches a reader).
COLUMN_LABELS: dict[str, str] = {
    "branch": "Branch 分公司", "micro_region": "Micro-region 微区域", "channel": "Channel 渠道",
    "channel_id": "Channel 渠道", "channel_type": "Channel type 渠道类型",
    "group": "Group 集团", "group_id": "Group 集团", "group_name": "Group 集团",
    "subscriber_id": "Subscriber 用户", "msisdn": "Number 号码", "plan": "Plan 套餐",
    "month": "Month 月份", "current": "This month 本期", "previous": "Last month 上期",
    "change": "Change 变化", "contribution": "Contribution 贡献",
    "share_of_parent_change": "Share of change 变化占比", "expected": "Expected 预期",
    "vs_expected": "vs expected 与预期差", "revenue": "Revenue 收入", "arpu": "ARPU",
    "rev_voice": "Voice revenue 语音收入", "rev_data": "Data revenue 流量收入",
    "rev_sms": "SMS revenue 短信收入", "rev_vas": "VAS revenue 增值收入",
    "discount": "Discount 优惠", "is_new": "New this month 新入网", "churned": "Churned 离网",
    "mou": "Minutes (MOU) 通话分钟", "dou_mb": "Data (DOU, MB) 流量", "tenure_months":
    "Tenure (months) 在网月数", "roi": "ROI 投入产出比", "cost": "Cost 成本",
    "net_value": "Net value 净价值", "score": "Score 评分", "churn_prob": "Churn risk 离网概率",
    "status": "Status 状态", "created_at": "Created 创建时间", "due_at": "Due 截止",
    "title": "Title 标题", "priority": "Priority 优先级", "assignee": "Assignee 处理人",
    "kpi": "KPI 指标", "unit": "Unit 单元", "level": "Level 层级", "count": "Count 数量",
    "amount": "Amount 金额", "budget": "Budget 预算", "spent": "Spent 已用",
    # diagnosis
    "node": "Node 节点", "label": "Node 节点", "value": "Value 本期值",
    "compare_value": "Compared with 对比值", "breached": "Alert fired 告警", "message":
    "What happened 说明", "version": "Version 版本", "created_by": "Created by 创建人",
    "is_current": "Current 当前", "run_id": "Run 运行", "name": "Name 名称", "period": "Period 账期",
    "compare_period": "Compared with 对比账期", "trigger": "Trigger 触发方式",
    "started_at": "Started 开始时间", "seconds": "Seconds 耗时(秒)",
    "alerts_raised": "Alerts raised 告警数", "difference": "Difference 差值",
    "template_id": "Template 模板",
    # campaigns
    "campaign_id": "Campaign 活动编号", "campaign_name": "Campaign 活动", "department":
    "Department 部门", "start_month": "Start 开始", "end_month": "End 结束", "has_control":
    "Hold-out 对照组", "spend": "Spend 投入", "participants": "Participants 参与用户",
    "controls": "Controls 对照用户", "measure": "Measure 指标", "estimate": "Effect 效果",
    "low": "95% low 下限", "high": "95% high 上限", "p_value": "p-value p值",
    "n_treated": "Participants 参与用户", "n_control": "Controls 对照用户", "segment":
    "Segment 客群", "arm": "Arm 组别", "significant":
    "Significant 显著",
    # channels and value
    "channel_name": "Channel 渠道", "new_numbers": "New numbers 新增号码",
    "low_use_share": "Low-use share 低使用占比", "behaviour": "Behaviour type 行为类型",
    "action": "Recommended action 建议动作", "roi_note": "ROI note ROI说明",
    "reason": "Reason 原因", "customers": "Customers 客户数",
    "negative_customers": "Losing money 负价值客户", "gross": "Gross revenue 优惠前收入",
    "service_cost": "Service cost 服务成本", "campaign_cost": "Campaign cost 营销成本",
    "band": "ROI band ROI区间", "industry": "Industry 行业", "departments": "Departments 部门数",
    "campaigns": "Campaigns 活动数", "units": "Units 数量", "share": "Share 占比",
    "new_arpu": "New-customer ARPU 新客ARPU", "manager": "Manager 经理",
    "number": "Number 号码", "check": "Check 检查项", "first_month": "From 起始月",
    "months": "Months 月数", "plan_name": "Plan 套餐", "detail": "Detail 说明",
}


def column_label(name: str) -> str:
    """The reader's name for a column: the table above, else the words of ``name``.

    Examples
    --------
    >>> column_label("rev_voice"), column_label("new_adds_est")
    ('Voice revenue 语音收入', 'New adds est')
    """
    if name in COLUMN_LABELS:
        return COLUMN_LABELS[name]
    words = str(name).replace("_", " ").strip()
    return words[:1].upper() + words[1:]
