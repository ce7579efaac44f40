"""Demo intelligence: two field reports on Rival A's offer behind the planted Jida share jump."""

from __future__ import annotations

import sqlalchemy as sa

from data_access.store.auth import Principal
from data_access.store.intel import submit_report

#: Demo reports behind the planted Jida share jump (submitted by the demo users).
_DEMO_REPORTS = (
    (Principal("rm_xiangzhou", "Demo Manager, Xiangzhou", "regional_manager", "branch",
               "Xiangzhou"),
     {"token": "demo-intel-jida-1", "operator": "rival_a", "category": "tariff",
      "micro_region": "Jida", "tags": "jida, 5g, door-to-door",
      "figures": {"monthly fee (yuan)": 99, "handset subsidy (yuan)": 1000},
      "text": "Rival A is selling a 99-yuan 5G unlimited plan with a free handset in Jida, "
              "door to door in the residential compounds around Jingshan Road. 竞争对手A在吉大"
              "扫楼推广99元5G不限量套餐送手机, several of our customers asked us to match it."}),
    (Principal("channel_mgr", "Demo Channel Manager", "channel_manager"),
     {"token": "demo-intel-jida-2", "operator": "rival_a", "category": "channel",
      "micro_region": "Jida", "tags": "jida, porting, door-to-door",
      "figures": {"port-out requests this week": 37},
      "text": "Two of our franchise halls in Jida report customers porting to Rival A after "
              "its promoters visited their buildings; Rival B's customers are moving too. "
              "吉大合作厅反映携号转网增多。"}),
)


def seed_demo_intel(engine: sa.Engine) -> int:
    """Demo seeder: two field reports on Rival A's offer behind the Jida share jump
    (idempotent through their submission tokens); returns how many were new."""
    return sum(submit_report(engine, who, **fields).created for who, fields in _DEMO_REPORTS)
