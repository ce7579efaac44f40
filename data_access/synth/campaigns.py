"""Campaigns of the five departments, their members, and the marketing budget plan."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_access.synth.calendar import Calendar, month_start
from data_access.synth.dims import (E_CHANNEL, ENTERPRISE, FRANCHISE, HIGH_END, MASS, OWN_HALL,
                                    SEGMENT_CODES, SOCIAL, TYPE_CODES, YOUTH, Dimensions)
from data_access.synth.names import person_names
from data_access.synth.population import Population
from data_access.synth.variants import VARIANT_A, Variant

ALL_TYPES = (OWN_HALL, FRANCHISE, SOCIAL, E_CHANNEL)
UPLIFT_AMOUNT = 6.0


@dataclass(frozen=True)
class CampaignSpec:
    """One campaign: who is eligible, how many join, what it costs and (rarely) what it does."""

    campaign_id: int
    name: str
    department: str
    offer: str
    benefit_kind: str
    target_segment: int
    channel_types: tuple[int, ...]
    start: int
    months: int
    has_control: bool
    control_share: float
    reach: float
    cost: tuple[float, float]
    effect: float = 0.0
    size: int | None = None  # a fixed number of members, split 50/50 (the planted experiment)
    by_spend: bool = False  # cost is a fraction of the member's three-month spend, not yuan

    @property
    def end(self) -> int:
        return self.start + self.months - 1


def _latest(cal: Calendar, moy: int, months: int) -> int:
    """The latest start in calendar month ``moy`` that ends three months before the window does."""
    fits = [s for s in cal.months if s % 12 == moy and s + months - 1 <= cal.last - 3]
    return fits[-1] if fits else cal.first


def _at(cal: Calendar, fraction: float, months: int) -> int:
    return cal.first + round(fraction * (len(cal) - months - 3))


def plan_campaigns(cal: Calendar, subscribers: int,
                   variant: Variant = VARIANT_A) -> list[CampaignSpec]:
    """About a dozen campaigns; the last three months are crowded with high-end benefits.

    Only one campaign changes revenue (the planted uplift): variant a's data booster (mass
    segment, the last three months), variant b's youth voice pack (youth segment, two months
    ending two months before the latest); high-end benefits cost a share of the member's
    spend, so that members of two or three campaigns lose money.
    """
    last = cal.last
    specs: list[CampaignSpec] = []

    def add(name: str, department: str, offer: str, benefit: str, segment: int,
            types: tuple[int, ...], start: int, months: int, *, control: float = 0.0,
            reach: float = 0.0, cost: tuple[float, float] = (0.0, 0.0), **extra) -> None:
        specs.append(CampaignSpec(len(specs) + 1, name, department, offer, benefit, segment, types,
                                  start, months, control > 0, control, reach, cost, **extra))

    add("Spring Festival data gift 春节流量红包", "individual", "10 GB of holiday data 春节10GB流量包",
        "data_pack", MASS, (OWN_HALL, SOCIAL), _latest(cal, 0, 2), 2,
        control=0.2, reach=0.15, cost=(4, 8))
    add("5G upgrade trial 5G升级体验", "product",
        "three months of 5G speed at the 4G price 5G提速体验", "bill_credit", MASS,
        (OWN_HALL, FRANCHISE, E_CHANNEL), _at(cal, 0.2, 3), 3, control=0.1, reach=0.10, cost=(10, 20))
    add("Leased-line retention 专线保有计划", "enterprise",
        "one month of leased line free on renewal 续约送一个月专线", "discount", ENTERPRISE,
        (OWN_HALL,), _at(cal, 0.3, 4), 4, control=0.2, reach=0.30, cost=(50, 150))
    add("Outlet activation bonus 社会渠道放号激励", "channel", "30-yuan commission per activation 放号酬金",
        "commission", MASS, (SOCIAL,), _at(cal, 0.4, 3), 3, reach=0.05, cost=(30, 30))
    add("E-channel first top-up rebate 线上首充返利", "channel",
        "20% back on the first online top-up 首充返20%", "voucher", YOUTH, (E_CHANNEL,),
        _at(cal, 0.5, 2), 2, control=0.1, reach=0.15, cost=(5, 15))
    add("Summer campus brand week 动感地带暑期品牌周", "communications",
        "concert tickets and 20 GB of summer data 暑期演唱会门票+20GB", "event_ticket", YOUTH,
        (SOCIAL, E_CHANNEL), _latest(cal, 6, 2), 2, control=0.15, reach=0.20, cost=(15, 40))
    add("Group V-net bundle 集团V网融合", "enterprise",
        "free calls inside the group and a 10 GB pool 集团V网+共享流量", "bill_credit", ENTERPRISE,
        (OWN_HALL, E_CHANNEL), _at(cal, 0.6, 3), 3, control=0.1, reach=0.40, cost=(20, 60))
    add("Broadband bundle trial 宽带融合体验", "product",
        "three months of free 300M home broadband 宽带免费体验", "bill_credit", MASS,
        (OWN_HALL, FRANCHISE), _at(cal, 0.8, 3), 3, control=0.1, reach=0.08, cost=(30, 60))
    if variant.name == "a":
        add("Data booster add-on 流量加油包", "individual",
            "6-yuan 3 GB monthly add-on 6元3GB流量加油包", "data_pack", MASS,
            (OWN_HALL, FRANCHISE, E_CHANNEL), last - 2, 3, control=0.5, cost=(2, 4),
            effect=UPLIFT_AMOUNT, size=max(200, round(subscribers / 5)))
    else:
        add("Youth voice pack 青春语音包", "individual",
            "200 minutes for 5 yuan a month 5元200分钟语音包", "bill_credit", YOUTH,
            (SOCIAL, E_CHANNEL, OWN_HALL), last - 3, 2, control=0.5, cost=(1, 3),
            effect=variant.uplift_amount, size=max(200, round(subscribers / 7)))
    add("VIP handset upgrade 高端换机补贴", "individual", "up to 900 yuan off a new 5G handset 5G换机补贴",
        "handset_subsidy", HIGH_END, ALL_TYPES, last - 2, 3, control=0.15, reach=0.45,
        cost=(0.20, 0.45), by_spend=True)
    add("Family plan bonus 家庭套餐回馈", "product",
        "a tablet or smart speaker for family upgrades 家庭升级礼品", "gift", HIGH_END, ALL_TYPES,
        last - 2, 3, reach=0.35, cost=(0.15, 0.35), by_spend=True)
    add("VIP concert night 尊享音乐会", "communications", "two tickets to the city concert night 音乐会门票",
        "event_ticket", HIGH_END, ALL_TYPES, last - 1, 2, reach=0.35, cost=(0.12, 0.30), by_spend=True)
    return specs


class Enrolment:
    """Chooses each campaign's members when it starts, from the subscribers billed then."""

    def __init__(self, rng: np.random.Generator, specs: list[CampaignSpec], dims: Dimensions,
                 pop: Population):
        self.rng, self.specs, self.pop = rng, specs, pop
        self.kind = dims.channels["type_code"].to_numpy()[pop.channel]
        self.members: list[pd.DataFrame] = []

    def enrol(self, t: int, billed: np.ndarray) -> None:
        for spec in self.specs:
            if spec.start == t:
                self.members.append(self._choose(spec, billed))

    def _choose(self, spec: CampaignSpec, billed: np.ndarray) -> pd.DataFrame:
        rng, pop = self.rng, self.pop
        ok = ((pop.segment[billed] == spec.target_segment) & np.isin(self.kind[billed], spec.channel_types)
              & ~pop.farmed[billed])
        eligible = billed[ok]
        count = min(len(eligible), spec.size if spec.size else round(spec.reach * len(eligible)))
        chosen = np.sort(rng.choice(eligible, size=count, replace=False))
        if spec.size:  # the planted experiment: an exact 50/50 randomisation
            control = rng.permutation(count) < count // 2
        else:
            control = spec.has_control & (rng.random(count) < spec.control_share)
        # High-end benefits are sized to the customer (a bigger handset subsidy for a bigger
        # plan): one is affordable, two or three usually are not.
        scale = 3 * pop.level[chosen] if spec.by_spend else 1.0
        cost = np.where(control, 0.0, np.round(scale * rng.uniform(*spec.cost, count), 2))
        return pd.DataFrame({"campaign_id": spec.campaign_id, "subscriber_id": chosen.astype(np.int64) + 1,
                             "arm": np.where(control, "control", "treated"), "cost": cost})

    def member_frame(self) -> pd.DataFrame:
        return pd.concat(self.members, ignore_index=True)

    def campaign_frame(self) -> pd.DataFrame:
        members = self.member_frame()
        spent = members.groupby("campaign_id")["cost"].sum()
        rows = []
        for spec in self.specs:
            budget = round(max(1000.0, spent.get(spec.campaign_id, 0.0) * self.rng.uniform(1.0, 1.25)), -2)
            rows.append({
                "campaign_id": spec.campaign_id, "campaign_name": spec.name,
                "department": spec.department, "offer": spec.offer,
                "benefit_kind": spec.benefit_kind, "target_segment": SEGMENT_CODES[spec.target_segment],
                "channel_types": ",".join(TYPE_CODES[k] for k in spec.channel_types),
                "start_month": month_start(spec.start), "end_month": month_start(spec.end),
                "budget": budget, "has_control": spec.has_control,
            })
        frame = pd.DataFrame(rows)
        for col in ("start_month", "end_month"):
            frame[col] = pd.to_datetime(frame[col])
        return frame


TEAMS = {
    "individual": ("Retention team 保有组", "Value marketing team 价值营销组", "Youth market team 青年市场组"),
    "enterprise": ("Key accounts team 大客户组", "SME team 中小企业组", "Leased-line team 专线组"),
    "product": ("Data products team 流量产品组", "Home products team 家庭产品组"),
    "channel": ("Social outlets team 社会渠道组", "Own halls team 自营厅组", "E-channels team 电子渠道组"),
    "communications": ("Brand team 品牌组", "Media team 媒介组"),
}
DEPARTMENT_SHARE = {"individual": 0.30, "enterprise": 0.20, "product": 0.20, "channel": 0.20,
                    "communications": 0.10}


def build_budget_lines(rng: np.random.Generator, cal: Calendar, subscribers: int) -> pd.DataFrame:
    """Company → department → team → person budgets for the last four complete quarters.

    Spending misses the plan by 5–40% early on and by less later, so budget accuracy
    (1 - |spent - budget| / budget) improves across the quarters, as in the source (63% → 87%).
    """
    quarter_end = cal.last - ((cal.last % 12 - 2) % 3)
    quarters = [quarter_end - 3 * i for i in (3, 2, 1, 0)]
    people = {(d, team): person_names(rng, int(rng.integers(2, 5)))
              for d, teams in TEAMS.items() for team in teams}
    rows: list[dict] = []
    for qi, q in enumerate(quarters):
        period = f"{q // 12}-Q{q % 12 // 3 + 1}"
        total = subscribers * 7.5 * rng.uniform(0.9, 1.1)
        # Misses are shared down the hierarchy (mostly under-spending), shrinking quarter by quarter.
        miss = rng.uniform(0.05, 0.40 - 0.08 * qi) * (-1 if rng.random() < 0.8 else 1)
        company = _line(rows, None, "company", "City company 市公司", period)
        for dept, dept_share in DEPARTMENT_SHARE.items():
            dept_line = _line(rows, company, "department", dept, period)
            dept_miss = miss + rng.normal(0, 0.06)
            teams = TEAMS[dept]
            for team, team_share in zip(teams, rng.dirichlet(np.full(len(teams), 4.0)), strict=True):
                team_line = _line(rows, dept_line, "team", team, period)
                team_miss = dept_miss + rng.normal(0, 0.05)
                names = people[(dept, team)]
                for person, share in zip(names, rng.dirichlet(np.full(len(names), 4.0)), strict=True):
                    amount = round(total * dept_share * team_share * share, -2)
                    spent = max(0.0, amount * (1 + team_miss + rng.normal(0, 0.06)))
                    line = _line(rows, team_line, "person", person, period)
                    rows[line - 1].update(amount=amount, spent=round(spent, 2))
    frame = pd.DataFrame(rows)
    for level in ("team", "department", "company"):  # parents add up their children
        for col in ("amount", "spent"):
            sums = frame.groupby("parent_id")[col].sum()
            is_level = frame["level"] == level
            frame.loc[is_level, col] = frame.loc[is_level, "budget_id"].map(sums).to_numpy()
    frame["parent_id"] = frame["parent_id"].astype("Int64")
    return frame


def _line(rows: list[dict], parent: int | None, level: str, name: str, period: str) -> int:
    budget_id = len(rows) + 1
    rows.append({"budget_id": budget_id, "parent_id": parent, "level": level, "unit_name": name,
                 "period": period, "amount": 0.0, "spent": 0.0})
    return budget_id
