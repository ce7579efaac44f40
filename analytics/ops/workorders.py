"""Work-order rules without a database: the lifecycle, the activation-drop checklist and the
response / resolution KPIs that feed the operations sandbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from analytics.formatting import LOCAL_TZ

KINDS: dict[str, str] = {
    "alert": "alert order 告警工单",
    "task": "task order 任务工单",
    "job": "job order 作业工单",
}
STATES: dict[str, str] = {
    "new": "new 新建",
    "dispatched": "dispatched 已派单",
    "accepted": "accepted 已接单",
    "in_progress": "in progress 处理中",
    "resolved": "resolved 已解决",
    "verified": "verified 已核验",
    "closed": "closed 已关闭",
    "rejected": "rejected 已退单",
}
PRIORITIES = ("high", "normal", "low")
OPEN_STATES = frozenset({"new", "dispatched", "accepted", "in_progress", "rejected"})
DONE_STATES = frozenset({"resolved", "verified", "closed"})


@dataclass(frozen=True)
class Transition:
    """One allowed move: from which states, to which, and who may make it.

    ``who`` is ``"assignee"`` (only the person the order is assigned to), or a permission of
    ``data_access.store.auth.PERMISSIONS`` that the actor's role must hold.
    """

    sources: frozenset[str]
    target: str
    who: str
    needs_note: bool = False
    label: str = ""


#: Every allowed transition; anything not listed is refused.
TRANSITIONS: dict[str, Transition] = {
    "dispatch": Transition(frozenset({"new"}), "dispatched", "dispatch_orders",
                           label="Dispatch 派单"),
    "accept": Transition(frozenset({"dispatched"}), "accepted", "assignee", label="Accept 接单"),
    "reject": Transition(frozenset({"dispatched", "accepted"}), "rejected", "assignee",
                         needs_note=True, label="Reject 退单"),
    "start": Transition(frozenset({"accepted"}), "in_progress", "assignee",
                        label="Start work 开始处理"),
    "resolve": Transition(frozenset({"in_progress"}), "resolved", "assignee", needs_note=True,
                          label="Resolve 办结"),
    "verify": Transition(frozenset({"resolved"}), "verified", "verify_orders",
                         label="Verify 核验通过"),
    "reopen": Transition(frozenset({"resolved"}), "in_progress", "verify_orders",
                         needs_note=True, label="Send back 退回重办"),
    "close": Transition(frozenset({"verified", "rejected"}), "closed", "dispatch_orders",
                        label="Close 关闭"),
    "reassign": Transition(frozenset({"dispatched", "accepted", "in_progress", "rejected"}),
                           "dispatched", "dispatch_orders", label="Reassign 改派"),
}


def next_state(state: str, action: str) -> str:
    """The state ``action`` leads to from ``state``.

    Raises
    ------
    ValueError
        Naming the state and the actions allowed from it, when the move is not allowed.
    """
    if state not in STATES:
        raise ValueError(f"Unknown state {state!r}; known: {', '.join(STATES)}")
    move = TRANSITIONS.get(action)
    if move is None:
        raise ValueError(f"Unknown action {action!r}; known: {', '.join(TRANSITIONS)}")
    if state not in move.sources:
        allowed = allowed_actions(state) or ["none (the order is finished)"]
        raise ValueError(f"An order that is {STATES[state]} cannot be "
                         f"{move.label or action}; allowed: {', '.join(allowed)}.")
    return move.target


def allowed_actions(state: str) -> list[str]:
    """Actions allowed from ``state``, in lifecycle order."""
    return [name for name, move in TRANSITIONS.items() if state in move.sources]


#: The move each state waits for: the one primary button an order shows (to whoever may
#: make it). A rejected order waits for a dispatcher to send it to someone else.
NEXT_MOVE: dict[str, str] = {
    "new": "dispatch", "dispatched": "accept", "accepted": "start", "in_progress": "resolve",
    "resolved": "verify", "verified": "close", "rejected": "reassign",
}

#: Moves that end an order's path or hand it back: asked to confirm before anything is written.
CONFIRM: dict[str, str] = {
    "reject": ("Reject work order #{order_id}: it is handed back as rejected 已退单 and leaves "
               "your queue; a dispatcher then reassigns or closes it. Your reason is kept in "
               "its history."),
    "close": ("Close work order #{order_id}: it becomes closed 已关闭, leaves every queue and "
              "cannot be moved again (closed is final)."),
}


def primary_action(state: str, possible: list[str]) -> str | None:
    """The primary move among ``possible`` (those the viewer may make): the state's expected
    next move when the viewer may make it, else None (every button secondary).

    >>> primary_action("accepted", ["reject", "start", "reassign"])
    'start'
    >>> primary_action("dispatched", ["reassign"]) is None
    True
    """
    move = NEXT_MOVE.get(state)
    return move if move in possible else None


def consequence(action: str, order_id: int) -> str:
    """What confirming ``action`` on order ``order_id`` will do, in words.

    >>> consequence("close", 7)[:22]
    'Close work order #7: i'
    """
    return CONFIRM[action].format(order_id=order_id)


# --- the due day ---------------------------------------------------------------------------

#: A day picked as a deadline means the end of that working day in the city's own zone.
DUE_TIME = dt.time(18, 0)
_LOCAL = ZoneInfo(LOCAL_TZ)


def due_at_for_day(day: dt.date) -> dt.datetime:
    """The deadline a picked day stands for: 18:00 that day in Asia/Shanghai, in UTC.

    >>> due_at_for_day(dt.date(2026, 12, 8))
    datetime.datetime(2026, 12, 8, 10, 0, tzinfo=datetime.timezone.utc)
    """
    return dt.datetime.combine(day, DUE_TIME, tzinfo=_LOCAL).astimezone(dt.UTC)


def local_day(moment: dt.datetime | pd.Timestamp) -> dt.date:
    """The calendar day ``moment`` falls on in Asia/Shanghai (a naive moment is UTC).

    >>> local_day(dt.datetime(2026, 12, 7, 16, 0, tzinfo=dt.UTC))
    datetime.date(2026, 12, 8)
    """
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(LOCAL_TZ).date()


def first_due_day(now: dt.datetime | pd.Timestamp) -> dt.date:
    """The first day a user may pick: today (local) while its 18:00 is still ahead, else
    tomorrow.

    >>> first_due_day(dt.datetime(2026, 12, 7, 9, 59, tzinfo=dt.UTC))
    datetime.date(2026, 12, 7)
    >>> first_due_day(dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC))
    datetime.date(2026, 12, 8)
    """
    today = local_day(now)
    stamp = pd.Timestamp(now)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return today if due_at_for_day(today) > stamp else today + dt.timedelta(days=1)


# --- the board -----------------------------------------------------------------------------

#: The board's columns in lifecycle order: (heading, states). A rejected order waits with the
#: new ones for a dispatcher; closed orders end the row.
BOARD_LANES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("To dispatch 待派单", ("new", "rejected")),
    (STATES["dispatched"], ("dispatched",)),
    (STATES["accepted"], ("accepted",)),
    (STATES["in_progress"], ("in_progress",)),
    (STATES["resolved"], ("resolved",)),
    (STATES["verified"], ("verified",)),
    (STATES["closed"], ("closed",)),
)


@dataclass(frozen=True, eq=False)
class Lane:
    """One board column: its heading, the cards it shows and how many orders it holds."""

    title: str
    states: tuple[str, ...]
    cards: pd.DataFrame
    total: int


def board_lanes(orders: pd.DataFrame, closed: pd.DataFrame, *, per_lane: int = 8
                ) -> list[Lane]:
    """Split orders into the board's lanes: open ones soonest deadline first, closed ones
    (``closed``, already bounded by the caller) most recently closed first."""
    lanes = []
    for title, states in BOARD_LANES:
        if states == ("closed",):
            frame = closed.sort_values(["closed_at", "order_id"], ascending=False)
        else:
            frame = orders[orders["state"].isin(states)].sort_values(["due_at", "order_id"])
        lanes.append(Lane(title, states, frame.head(per_lane), int(len(frame))))
    return lanes


def outcomes(closed: pd.DataFrame) -> pd.Series:
    """How each closed order ended: resolved (with its resolution) or closed unresolved."""
    resolved = closed["resolved_at"].notna()
    text = closed["resolution"].fillna("").astype(str).str.slice(0, 80)
    return pd.Series(np.where(resolved, "✅ resolved: " + text,
                              "↩️ closed unresolved (rejected)"), index=closed.index,
                     name="outcome").str.rstrip(": ")


#: Readable names of the metrics alerts are raised on (others are shown as they are).
METRIC_LABELS: dict[str, str] = {
    "new_activations": "Daily new activations 日放号",
    "group_early_warning": "Group usage 集团预警",
    "new_activations_7d": "7-day new activations 7日放号",
    "new_subs": "New subscribers 新增用户",
    "revenue": "Revenue 收入",
    "churned": "Churned subscribers 离网",
    "churn_rate": "Churn rate 离网率",
    "rival_new_adds": "Rivals' new adds 竞对新增",
    "arpu": "ARPU",
    "market_share": "Market share 市场份额",
}


def order_title(metric: str, unit_label: str, actual: float | None = None,
                expected: float | None = None) -> str:
    """A work order's title from its alert, e.g. "7-day new activations 7日放号 fell: Outlet 5".

    >>> order_title("new_activations_7d", "Outlet 5", 3, 21)
    '7-day new activations 7日放号 fell: Outlet 5'
    >>> order_title("budget_use_80", "Guo Li (2026-Q4)")
    'budget_use_80: Guo Li (2026-Q4)'
    """
    label = METRIC_LABELS.get(metric, metric)
    if actual is None or expected is None or actual != actual or expected != expected:
        return f"{label}: {unit_label}"[:200]
    way = "fell" if actual < expected else "rose" if actual > expected else "held"
    return f"{label} {way}: {unit_label}"[:200]


# --- the channel activation-drop checklist ------------------------------------------------

@dataclass(frozen=True)
class Question:
    key: str
    text: str
    action: str  # what to do when the answer is yes
    tag: str  # the arsenal reason tag the action answers


#: The front-line checklist for a channel whose new activations dropped.
ACTIVATION_DROP_CHECKLIST: tuple[Question, ...] = (
    Question("stock_shortage", "Is the outlet short of stock (SIM cards, handsets)? 是否缺货",
             "Request a stock transfer to the outlet and raise the replenishment level.",
             "stock_shortage"),
    Question("goods_moved", "Were goods moved here from another channel (窜货)? 是否窜货",
             "Trace the moved goods, recover them, and check both channels for SIM farming.",
             "goods_moved"),
    Question("rival_products", "Are rivals' products on sale at the outlet? 是否在售竞品",
             "Negotiate shelf exclusivity and counter with a competitive offer.",
             "rival_products"),
    Question("low_footfall", "Is footfall too low (roadworks, closure, season)? 客流是否不足",
             "Run a roadshow or promotion nearby to bring customers in.", "low_footfall"),
)
ANSWERS = ("yes", "no", "unknown")


#: Metrics that count a channel's new activations (daily scan, 7-day totals, monthly KPI).
ACTIVATION_METRICS = frozenset({"new_activations", "new_activations_7d", "new_subs"})


def checklist_for(metric: str | None, unit_level: str) -> tuple[Question, ...]:
    """The checklist an order carries: the activation-drop one for a channel's activations.

    >>> [q.key for q in checklist_for("new_subs", "channel_id")][:2]
    ['stock_shortage', 'goods_moved']
    >>> checklist_for("revenue", "channel")
    ()
    """
    if unit_level in ("channel", "channel_id") and metric in ACTIVATION_METRICS:
        return ACTIVATION_DROP_CHECKLIST
    return ()


def order_checklist(order: Mapping[str, object]) -> tuple[Question, ...]:
    """The checklist a stored order carries: set when it was created (``checklist_json`` is
    not None), so an order about a rise in activations carries none."""
    if order.get("checklist_json") is None:
        return ()
    return checklist_for(order.get("metric"), str(order.get("unit_level")))


def validate_answers(questions: tuple[Question, ...], answers: Mapping[str, object]) -> None:
    """Raise ValueError naming the question or answer at fault."""
    known = {q.key for q in questions}
    for key, answer in answers.items():
        if key not in known:
            raise ValueError(f"checklist: {key!r} is not a question of this order's checklist "
                             f"({', '.join(sorted(known)) or 'it has none'}).")
        if answer not in ANSWERS:
            raise ValueError(f"checklist: the answer to {key!r} must be one of "
                             f"{', '.join(ANSWERS)}, not {answer!r}.")


def checklist_actions(questions: tuple[Question, ...],
                      answers: Mapping[str, str]) -> list[Question]:
    """The questions answered "yes": each names the action to take and its arsenal tag."""
    return [q for q in questions if answers.get(q.key) == "yes"]


def checklist_complete(questions: tuple[Question, ...], answers: Mapping[str, str]) -> bool:
    """Every question answered yes or no ("unknown" means look again before resolving)."""
    return all(answers.get(q.key) in ("yes", "no") for q in questions)


# --- response and resolution KPIs ---------------------------------------------------------

#: Targets in hours: median time to accept once dispatched, median time to resolve once created.
RESPONSE_TARGET_HOURS = 4.0
RESOLUTION_TARGET_HOURS = 72.0
ON_TIME_TARGET = 0.9


def _hours(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (pd.to_datetime(later, utc=True) - pd.to_datetime(earlier, utc=True)
            ).dt.total_seconds() / 3600.0


def order_kpis(orders: pd.DataFrame, now: pd.Timestamp) -> dict[str, float]:
    """Response and resolution figures over a frame of orders.

    Parameters
    ----------
    orders : DataFrame
        Columns ``state, created_at, dispatched_at, accepted_at, resolved_at, due_at``.
    now : Timestamp
        Time zone aware; orders still open past ``due_at`` at ``now`` are overdue.

    Returns
    -------
    dict
        ``orders``, ``open``, ``overdue``; ``response_hours`` (median accepted − dispatched),
        ``resolution_hours`` (median resolved − created) and ``on_time_rate`` (share of
        resolved orders resolved by their deadline); NaN where nothing was measured.

    Examples
    --------
    >>> t = pd.Timestamp("2026-11-01", tz="UTC")
    >>> h = pd.Timedelta(hours=1)
    >>> frame = pd.DataFrame({"state": ["closed", "in_progress"],
    ...     "created_at": [t, t], "dispatched_at": [t, t], "accepted_at": [t + 2 * h, t + 6 * h],
    ...     "resolved_at": [t + 30 * h, pd.NaT], "due_at": [t + 48 * h, t + 24 * h]})
    >>> k = order_kpis(frame, t + 40 * h)
    >>> k["response_hours"], k["resolution_hours"], k["on_time_rate"], k["overdue"]
    (4.0, 30.0, 1.0, 1)
    """
    if orders.empty:
        return {"orders": 0, "open": 0, "overdue": 0, "response_hours": float("nan"),
                "resolution_hours": float("nan"), "on_time_rate": float("nan")}
    open_ = orders["state"].isin(OPEN_STATES)
    due = pd.to_datetime(orders["due_at"], utc=True)
    response = _hours(orders["accepted_at"], orders["dispatched_at"]).dropna()
    resolved = orders["resolved_at"].notna()
    resolution = _hours(orders.loc[resolved, "resolved_at"], orders.loc[resolved, "created_at"])
    on_time = (pd.to_datetime(orders.loc[resolved, "resolved_at"], utc=True)
               <= due[resolved])
    return {
        "orders": int(len(orders)),
        "open": int(open_.sum()),
        "overdue": int((open_ & (due < now)).sum()),
        "response_hours": float(np.median(response)) if len(response) else float("nan"),
        "resolution_hours": float(np.median(resolution)) if len(resolution) else float("nan"),
        "on_time_rate": float(on_time.mean()) if len(on_time) else float("nan"),
    }


def order_kpi_status(kpis: Mapping[str, float]) -> dict[str, str]:
    """Red/amber/green for response, resolution and on-time rate against their targets
    (amber within 25% of the target; grey when not measured)."""
    def judge(value: float, target: float, higher_is_better: bool) -> str:
        if value != value:  # NaN
            return "grey"
        gap = (target - value) if higher_is_better else (value - target)
        if gap <= 0:
            return "green"
        return "amber" if gap <= 0.25 * abs(target) else "red"

    return {
        "response_hours": judge(kpis["response_hours"], RESPONSE_TARGET_HOURS, False),
        "resolution_hours": judge(kpis["resolution_hours"], RESOLUTION_TARGET_HOURS, False),
        "on_time_rate": judge(kpis["on_time_rate"], ON_TIME_TARGET, True),
    }
