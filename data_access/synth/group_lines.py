"""Planted enterprise-group lines (集团专线/产品): each group's IP leased lines, IDC hosting,
group SMS and cloud PBX, with contracts, monthly traffic and revenue, and the stories an early
warning must find or must not be blamed for.

Every line has its own level, growth, noise and its product's seasonality (New Year and
Golden Week dips). Planted, differently per variant (``docs/generator.md``):

* **decline before cancellation** (``group_line_churn``): a line's traffic falls over the
  months before it is cancelled at the end of its contract; one more line is still falling
  in the latest month, its contract ending next month (cancel_month NULL);
* **sudden cancellations** (``group_line_sudden_cancel``): traffic normal to the end; nothing
  can warn of them, and the truth says so;
* **benign dips** (``group_line_dip``): a month or two of low traffic that recovers;
* **a group's usage falling** (``group_usage_fall``): all the lines of a group fall together
  to the latest month, none cancelled.

The first group (the source's Hengqin resort with a leased line) has its IP line among the
declining ones, as in the source's case. The module draws only from its own random stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data_access.synth.calendar import NEVER, Calendar, month_label
from data_access.synth.dims import Dimensions
from data_access.synth.variants import Variant

PRODUCTS = ("ip_line", "idc", "group_sms", "cloud_pbx")
#: Monthly fee (yuan) and traffic level (the product's unit) ranges, drawn log-uniformly.
_FEE = {"ip_line": (2_000, 20_000), "idc": (3_000, 15_000), "group_sms": (300, 3_000),
        "cloud_pbx": (500, 5_000)}
_TRAFFIC = {"ip_line": (200, 5_000), "idc": (500, 8_000), "group_sms": (5, 200),
            "cloud_pbx": (10, 300)}
#: Seasonal factors by calendar month (January first): New Year in February, Golden Week in
#: October for the office products; SMS peaks at the festivals.
_SEASON = {
    "ip_line": np.array([0.97, 0.82, 1.00, 1.00, 1.00, 1.00, 0.98, 0.97, 1.00, 0.92, 1.00, 1.02]),
    "idc": np.array([1.00, 0.95, 1.00, 1.00, 1.00, 1.01, 1.02, 1.02, 1.00, 0.98, 1.00, 1.02]),
    "group_sms": np.array([1.10, 1.20, 0.95, 0.95, 1.00, 0.97, 0.95, 0.95, 1.05, 1.08, 0.97, 1.05]),
    "cloud_pbx": np.array([0.96, 0.78, 1.00, 1.00, 1.00, 1.00, 0.97, 0.96, 1.00, 0.88, 1.00, 1.00]),
}
_TERMS = (12, 24, 36)
#: Months of normal history a planted line has inside the window before its story starts.
MIN_HISTORY = 6


@dataclass(frozen=True)
class LineSettings:
    """What one variant plants."""

    decline_share: float  # of all lines, declining before they are cancelled (at least 3)
    decline_months: tuple[int, int]  # months of decline before the cancel month (inclusive)
    shape: str  # "linear": an even slide; "convex": slow at first, then steep
    floor: tuple[float, float]  # level reached in the last billed month, as a share
    sudden_share: float  # cancelled with no warning (at least 2)
    dip_share: float  # benign dips (at least 2)
    dip_months: tuple[int, int]
    dip_depth: tuple[float, float]  # level during the dip, as a share
    noise: tuple[float, float]  # month-to-month noise (log standard deviation) of a line
    falling_groups: int
    group_fall_months: int
    group_fall_to: float


SETTINGS = {
    "a": LineSettings(decline_share=0.08, decline_months=(4, 6), shape="linear",
                      floor=(0.25, 0.45), sudden_share=0.05, dip_share=0.08, dip_months=(1, 2),
                      dip_depth=(0.45, 0.70), noise=(0.04, 0.12), falling_groups=1,
                      group_fall_months=5, group_fall_to=0.60),
    "b": LineSettings(decline_share=0.07, decline_months=(5, 8), shape="convex",
                      floor=(0.35, 0.60), sudden_share=0.06, dip_share=0.10, dip_months=(1, 2),
                      dip_depth=(0.50, 0.75), noise=(0.06, 0.16), falling_groups=2,
                      group_fall_months=6, group_fall_to=0.70),
}


@dataclass
class GroupLines:
    """The lines, their monthly facts and the planted truths."""

    lines: pd.DataFrame  # group_line rows
    months: pd.DataFrame  # fact_group_line_month rows
    truths: list[tuple[str, dict, float, str, dict]] = field(default_factory=list)


def _dates(months: np.ndarray) -> np.ndarray:
    return (np.asarray(months, dtype=np.int64) - 1970 * 12).astype("datetime64[M]") \
        .astype("datetime64[D]")


def _products(rng: np.random.Generator, groups: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(group_id, product) of every line: an IP line for each group with a leased line (two
    for the larger ones), then SMS, PBX and IDC by chance; every group has at least one."""
    size_rank = groups["size"].rank(pct=True).to_numpy() if "size" in groups else \
        np.full(len(groups), 0.5)
    owners, products = [], []
    for gid, leased, rank in zip(groups["group_id"], groups["has_leased_line"], size_rank,
                                 strict=True):
        mine = []
        if leased:
            mine += ["ip_line"] * (1 + int(rng.random() < 0.2 + 0.4 * rank))
        for product, chance in (("group_sms", 0.7), ("cloud_pbx", 0.6), ("idc", 0.35)):
            if rng.random() < chance * (0.6 + 0.8 * rank):
                mine.append(product)
        mine = mine or ["group_sms"]
        owners += [int(gid)] * len(mine)
        products += mine
    return np.array(owners, dtype=np.int64), np.array(products)


def _contract_end(start: int, term: int, after: int) -> int:
    """The end of the contract running at ``after`` (renewed every ``term`` months)."""
    k = max(1, -(-(after - start + 1) // term))
    return start + k * term


def _shape(settings: LineSettings, months: int, floor: float) -> np.ndarray:
    """Levels of the decline's months (the last one at ``floor``)."""
    share = np.arange(1, months + 1) / months
    if settings.shape == "convex":
        share = share ** 2
    return 1.0 - (1.0 - floor) * share


def plant_group_lines(rng: np.random.Generator, cal: Calendar, dims: Dimensions,
                      variant: Variant) -> GroupLines:
    """Lines for every group, their monthly traffic and revenue, and the planted stories."""
    s = SETTINGS[variant.name]
    groups = dims.groups
    owner, product = _products(rng, groups)
    n = owner.size
    old = rng.random(n) < 0.8  # most lines predate the window
    start = np.where(old, cal.first - rng.integers(1, 37, n),
                     cal.first + rng.integers(1, max(2, len(cal) - 2), n))
    term = np.array(_TERMS)[rng.integers(0, len(_TERMS), n)]
    fee = np.array([np.exp(rng.uniform(*np.log(_FEE[p]))) for p in product]).round(-1)
    level = np.array([np.exp(rng.uniform(*np.log(_TRAFFIC[p]))) for p in product])
    growth = rng.normal(0.004, 0.006, n)
    noise = rng.uniform(*s.noise, n)
    cancel = np.full(n, NEVER, dtype=np.int64)
    factor = np.ones((n, len(cal)))
    truths: list[tuple[str, dict, float, str, dict]] = []
    used = np.zeros(n, dtype=bool)
    span = len(cal) - MIN_HISTORY  # months a story can take after its history

    def eligible() -> np.ndarray:
        return np.flatnonzero(~used & (start <= cal.first))

    def take(count: int, first: int | None = None) -> np.ndarray:
        pool = eligible()
        chosen = list(rng.permutation(pool)[:count])
        if first is not None and first in pool and first not in chosen[:1]:
            chosen = [first] + [c for c in chosen if c != first][:count - 1]
        used[chosen] = True
        return np.array(chosen, dtype=np.int64)

    def where(i: int) -> dict:
        return {"line_id": int(i) + 1, "group_id": int(owner[i])}

    # groups whose usage falls: every line of the group, to the latest month, none cancelled
    # (chosen first, among groups whose lines all predate the window; not the source's group)
    counts = pd.Series(owner).value_counts()
    falling: list[int] = []
    for gid in rng.permutation(counts.index[counts >= 2].to_numpy()):
        mine = np.flatnonzero(owner == gid)
        if len(falling) == s.falling_groups or gid == groups["group_id"].iloc[0] \
                or (start[mine] > cal.first).any():
            continue
        falling.append(int(gid))
        used[mine] = True
        months = int(min(s.group_fall_months, span))
        begin = cal.last - months + 1
        factor[mine, begin - cal.first:] = 1.0 - (1.0 - s.group_fall_to) * (
            np.arange(1, months + 1) / months)
        truths.append(("group_usage_fall", {"group_id": int(gid)}, round(1 - s.group_fall_to, 4),
                       month_label(cal.last),
                       {"lines": [int(i) + 1 for i in mine], "fall_from": month_label(begin),
                        "months": months, "why": "the group moves work elsewhere: every line's "
                        "traffic slides together; nothing cancelled yet"}))
    # declining, then cancelled at the end of the contract (the Hengqin IP line first)
    hengqin = np.flatnonzero((owner == int(groups["group_id"].iloc[0])) & (product == "ip_line"))
    count = max(3, round(s.decline_share * n))
    for k, i in enumerate(take(count, int(hengqin[0]) if hengqin.size else None)):
        months = int(min(rng.integers(s.decline_months[0], s.decline_months[1] + 1), span - 1))
        latest_start = cal.last - months  # the cancel month is in the window
        begin = int(rng.integers(cal.first + MIN_HISTORY, latest_start + 1))
        floor = float(rng.uniform(*s.floor))
        factor[i, begin - cal.first:begin - cal.first + months] = _shape(s, months, floor)
        cancel[i] = begin + months
        truths.append(("group_line_churn", where(i), round(1 - floor, 4),
                       month_label(begin + months),
                       {"product": str(product[i]), "cancel_month": month_label(begin + months), "cancelled": True,
                        "decline_from": month_label(begin), "months": months, "shape": s.shape,
                        "floor": round(floor, 4),
                        "why": "traffic falls over these months, then the group does not renew"}))
    # still declining in the latest month; the contract ends next month (not yet cancelled)
    for i in take(1):
        months = int(min(s.decline_months[1], span))
        begin = cal.last - months + 1
        floor = float(np.mean(s.floor))
        factor[i, begin - cal.first:] = _shape(s, months, floor)
        truths.append(("group_line_churn", where(i), round(1 - floor, 4), month_label(cal.last),
                       {"product": str(product[i]), "cancel_month": month_label(cal.last + 1), "cancelled": False,
                        "decline_from": month_label(begin), "months": months, "shape": s.shape,
                        "floor": round(floor, 4),
                        "why": "falling to the latest month; the contract ends next month"}))
    # cancelled with no warning: traffic normal to the last billed month
    for i in take(max(2, round(s.sudden_share * n))):
        cancel[i] = int(rng.integers(cal.first + MIN_HISTORY, cal.last + 1))
        truths.append(("group_line_sudden_cancel", where(i), 0.0, month_label(cancel[i]),
                       {"product": str(product[i]), "cancel_month": month_label(cancel[i]),
                        "why": "no warning planted: traffic normal until the cancellation "
                               "(a rival's tender, a move); no early warning can see it"}))
    # benign dips that recover; the line stays
    for i in take(max(2, round(s.dip_share * n))):
        months = int(rng.integers(s.dip_months[0], s.dip_months[1] + 1))
        begin = int(rng.integers(cal.first + MIN_HISTORY, cal.last - months + 1))
        depth = float(rng.uniform(*s.dip_depth))
        factor[i, begin - cal.first:begin - cal.first + months] = depth
        truths.append(("group_line_dip", where(i), round(1 - depth, 4), month_label(begin),
                       {"product": str(product[i]), "dip_from": month_label(begin), "months": months,
                        "level": round(depth, 4), "why": "benign: maintenance or a holiday; "
                        "traffic recovers and the line stays"}))
    ends = np.array([cancel[i] if cancel[i] != NEVER else
                     _contract_end(int(start[i]), int(term[i]), cal.last) for i in range(n)])
    for t in truths:  # the still-falling line's contract ends next month
        if t[0] == "group_line_churn" and not t[4]["cancelled"]:
            ends[t[1]["line_id"] - 1] = cal.last + 1
    lines = pd.DataFrame({
        "line_id": np.arange(1, n + 1, dtype=np.int64), "group_id": owner, "product": product,
        "monthly_fee": fee, "start_month": _dates(start), "contract_end": _dates(ends),
        "cancel_month": np.where(cancel == NEVER, np.datetime64("NaT"),
                                 _dates(np.where(cancel == NEVER, 0, cancel))),
    })
    return GroupLines(lines, _facts(rng, cal, start, cancel, product, fee, level, growth, noise,
                                    factor), truths)


def _facts(rng: np.random.Generator, cal: Calendar, start: np.ndarray, cancel: np.ndarray,
           product: np.ndarray, fee: np.ndarray, level: np.ndarray, growth: np.ndarray,
           noise: np.ndarray, factor: np.ndarray) -> pd.DataFrame:
    """fact_group_line_month: every line's billed months, traffic and revenue."""
    months = np.array(list(cal.months))
    season = np.stack([_SEASON[p][months % 12] for p in product])
    expected = level[:, None] * season * np.exp(growth[:, None] * (months - cal.first)[None, :])
    traffic = expected * factor * np.exp(rng.normal(0.0, 1.0, factor.shape) * noise[:, None])
    use = np.minimum(traffic / expected, 2.0)
    revenue = fee[:, None] * (0.85 + 0.15 * use)
    billed = (months[None, :] >= start[:, None]) & (months[None, :] < cancel[:, None])
    rows, cols = np.nonzero(billed)
    return pd.DataFrame({
        "month": _dates(months[cols]), "line_id": (rows + 1).astype(np.int64),
        "traffic": traffic[rows, cols].round(2), "revenue": revenue[rows, cols].round(2),
    })
