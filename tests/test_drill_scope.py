"""The sandbox's drill, map and breadcrumbs for scoped managers, and the drilled unit on the map."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from data_access.mart.geography import load_regions
from data_access.mart.queries import SUBSCRIBER_MOVEMENTS

REGIONS = load_regions()


def _map(at: AppTest) -> dict[str, list[dict]]:
    """The map's shapes as the browser gets them: ``micro_regions`` (the viewer's own cells,
    with their fields) and ``outside_scope`` (the rest of the city), and the JSON of the
    whole chart (``text``: names anywhere in it, labels included, would show)."""
    maps = [c for c in at.get("vega_lite_chart") if '"geoshape"' in c.proto.spec]
    assert len(maps) == 1
    spec = json.loads(maps[0].proto.spec)
    shapes = [layer for layer in spec["layer"] if "geoshape" in json.dumps(layer["mark"])]
    own = [layer for layer in shapes if "encoding" in layer]
    outside = [layer for layer in shapes if layer["mark"].get("fill") == "#e2e2e2"]
    assert len(own) == 1 and len(outside) <= 1
    labels = [str(v) for d in maps[0].proto.datasets for v in _arrow(d.data.data)]
    return {"micro_regions": own[0]["data"]["values"],
            "outside_scope": outside[0]["data"]["values"] if outside else [],
            "text": [maps[0].proto.spec, *labels]}


def _arrow(data: bytes) -> list[object]:
    import pyarrow as pa
    table = pa.ipc.open_stream(data).read_all()
    return [v for column in table.columns for v in column.to_pylist()]


def _cells(frames: list[pd.DataFrame]) -> set[str]:
    return {str(v) for frame in frames for column in frame.columns for v in frame[column]}


def _drill_tables(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe if str(d.key or "").startswith("sandbox_table_")]


def test_a_micro_region_manager_drills_and_maps_their_own_area_only(app_as):
    at = app_as("rm_gongbei")
    at.run()
    assert not at.exception, at.exception
    crumbs = [b.label for b in at.button if b.key == "sandbox_crumb_top"]
    assert crumbs == ["⌂ Gongbei 拱北"]
    tables = [d for d in at.dataframe if str(d.key or "").startswith("sandbox_table_0_")]
    assert tables, "the drill shows a first table"
    # The drill starts inside Gongbei: no branch or micro-region table naming anyone else.
    assert tables[0].key not in ("sandbox_table_0_branch", "sandbox_table_0_micro_region")
    others = set(REGIONS["branch"]) | set(REGIONS["micro_region"]) - {"Gongbei"}
    shown = _cells(_drill_tables(at))
    assert not shown & others, shown & others
    assert not any(name in text for text in shown for name in ("Xiangzhou", "Doumen", "Jinwan"))
    layers = _map(at)
    assert [row["micro_region"] for row in layers["micro_regions"]] == ["Gongbei"]
    # The rest of the city is drawn, but as bare shapes: no names, no figures.
    assert len(layers["outside_scope"]) == len(REGIONS) - 1
    assert all(set(row) == {"type", "geometry"} for row in layers["outside_scope"])
    text = json.dumps(layers["text"], ensure_ascii=False)
    assert "Gongbei" in text
    assert not [name for name in set(REGIONS["micro_region"]) - {"Gongbei"} if name in text]
    captions = "\n".join(c.value for c in at.caption)
    assert "Your area 您的范围: Gongbei 拱北" in captions
    assert "Zhuhai city" not in captions


def test_a_branch_manager_starts_at_their_branchs_micro_regions(app_as):
    at = app_as("rm_xiangzhou")
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button if b.key == "sandbox_crumb_top"] == ["⌂ Xiangzhou 香洲"]
    first = at.dataframe(key="sandbox_table_0_micro_region").value
    names = set(first["Micro-region 微区域"])
    ours = set(REGIONS.loc[REGIONS["branch"] == "Xiangzhou", "micro_region"])
    assert names and names <= ours
    assert {row["micro_region"] for row in _map(at)["micro_regions"]} <= ours


@pytest.mark.parametrize(("params", "outlined"), [
    ({"drill": "micro_region:Jida"}, {"Jida"}),
    ({"drill": "branch:Doumen"}, set(REGIONS.loc[REGIONS["branch"] == "Doumen", "micro_region"])),
    ({"branch": "Jinwan"}, set(REGIONS.loc[REGIONS["branch"] == "Jinwan", "micro_region"])),
    ({}, set()),
])
def test_the_drilled_unit_is_outlined_on_the_map(app_as, params, outlined):
    at = app_as("analyst")
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    layers = _map(at)
    cells = layers["micro_regions"]
    assert len(cells) == len(REGIONS) and not layers["outside_scope"]  # unscoped: every cell
    dark = {row["micro_region"] for row in cells if row["selected"]}
    assert dark == outlined


def test_the_net_adds_subscriber_step_lists_both_movements_labelled(app_as):
    at = app_as("analyst")
    at.query_params["region"] = "Gongbei"
    at.query_params["kpi"] = "net_adds"
    at.query_params["drill"] = "channel_type:social_outlet"
    at.run()
    assert not at.exception, at.exception
    members = at.dataframe(key="sandbox_table_1_channel").value
    assert "None" not in _cells([members]) and "nan" not in _cells([members])
    # Net adds can be zero or negative: the gap to the expected value is a count, not a %.
    assert not members["vs expected 与预期差"].str.contains("%").any()
    at.segmented_control(key="sandbox_level_1").set_value("subscribers").run()
    assert not at.exception, at.exception
    rows = at.dataframe(key="sandbox_subscribers").value
    assert set(rows["movement"]) == set(SUBSCRIBER_MOVEMENTS.values())
    gone = rows[rows["movement"] == SUBSCRIBER_MOVEMENTS["churned"]]
    month = at.query_params["month"]  # the app writes the month it shows
    assert (gone["churn_month"] == month).all()  # a month, no time
    assert (rows["micro_region"] == "Gongbei").all()
    assert not rows.isna().any().any() and "None" not in _cells([rows])


@pytest.mark.parametrize(("kpi", "root"), [("arpu", "ARPU"), ("active_subs", "active subscribers"),
                                           ("churn_rate", None)])
def test_the_sandbox_tree_follows_the_selected_kpi(app_as, kpi, root):
    at = app_as("analyst")
    at.query_params["kpi"] = kpi
    at.run()
    assert not at.exception, at.exception
    trees = [d.value for d in at.dataframe if "KPI 指标" in d.value.columns]
    if root is None:
        assert not trees
        assert any("has no KPI tree" in i.value for i in at.info)
        return
    assert len(trees) == 1
    tree = trees[0]
    assert tree["KPI 指标"].iloc[0].startswith(root)
    assert "None" not in _cells([tree]) and "nan" not in _cells([tree])


def test_every_map_cell_is_a_closed_ring_wound_clockwise(app_as):
    """The map projects on a sphere: a ring wound anticlockwise would be drawn as the rest of
    the globe, covering the city."""
    at = app_as("rm_gongbei")
    at.run()
    layers = _map(at)
    rings = [shape["geometry"]["coordinates"][0]
             for shape in layers["micro_regions"] + layers["outside_scope"]]
    assert len(rings) == len(REGIONS)
    for ring in rings:
        assert len(ring) >= 4 and ring[0] == ring[-1]
        twice_area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:]))
        assert twice_area < 0


def test_a_map_drawn_again_reuses_its_spec(monkeypatch):
    """The same map again (another session, or a drill click that does not move the outline)
    builds no Altair chart; a moved outline builds a new one; what is drawn is Altair's own
    spec without its theme's default size, and a spec changed downstream (Streamlit takes
    the datasets out of it) leaves the kept one whole."""
    from pages.common import maps

    maps._spec.cache_clear()
    built, drawn = [], []
    real = maps.region_map
    monkeypatch.setattr(maps, "region_map", lambda *a, **k: built.append(1) or real(*a, **k))
    monkeypatch.setattr(maps.st, "vega_lite_chart", lambda spec, **_: drawn.append(spec))
    regions = REGIONS.assign(status="green", selected=False, shown="¥1.2万")
    tooltip = [("micro_region", "Micro-region"), ("shown", "Revenue")]
    maps.draw_region_map(regions, tooltip=tooltip)
    drawn[0]["layer"].clear()
    maps.draw_region_map(regions.copy(), tooltip=tooltip)
    assert len(built) == 1
    expected = real(regions, tooltip=tooltip).to_dict()
    expected["config"]["view"] = {"stroke": None}
    assert drawn[1] == expected
    maps.draw_region_map(regions.assign(selected=regions["micro_region"] == "Gongbei"),
                         tooltip=tooltip)
    assert len(built) == 2 and drawn[2] != drawn[1]
