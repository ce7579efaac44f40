"""The generator's variants: the same kinds of planted truths, with different formulas.

Variant ``a`` is the original demo mart. Variant ``b`` plants the same stories (two revenue
drops, a SIM-farming channel, a campaign with a known uplift, churn from a known model, a
channel's activation drop with a stock shortage, a rival's share jump) through other cells,
channel types, magnitudes, shapes and formulas, so that an analytic tuned to one variant's
numbers fails on the other. ``docs/generator.md`` puts the two side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

VARIANTS = ("a", "b")


@dataclass(frozen=True)
class Variant:
    """What one variant plants; ``name`` selects the formulas where they differ."""

    name: str
    #: SIM farming: months of farming, farmed numbers per month as a multiple of the
    #: channel's normal monthly sales, and months after which farmed numbers are dropped.
    farm_months: int
    farm_multiple: float
    farm_churn_after: tuple[int, ...]
    #: Activation drop: days, share of activations lost, end-of-day stock during the drop.
    drop_days: int
    drop_size: float
    drop_stock: tuple[int, int]  # low, high (inclusive)
    #: Campaign uplift: yuan per treated member-month and the revenue component it lands on.
    uplift_amount: float
    uplift_component: str
    #: Rival share jump: region, operator, points of share (as a fraction) and who loses half.
    jump_region: str
    jump_operator: str
    jump_points: float
    #: Rival events: decay of their churn pressure per month and the months it lasts.
    pressure_decay: float
    pressure_months: int
    #: Cost to serve a subscriber each month: a fixed part (billing, care, network access), yuan
    #: per voice minute and yuan per GB of data. Serving a customer costs a real share of what
    #: they pay, so customers' ROI spreads over the value bands instead of sitting far above 2.
    serve_fixed: float = 4.0
    serve_per_min: float = 0.012
    serve_per_gb: float = 1.0


VARIANT_A = Variant(
    name="a", farm_months=5, farm_multiple=4, farm_churn_after=(3, 4),
    drop_days=14, drop_size=0.70, drop_stock=(0, 2),
    uplift_amount=6.0, uplift_component="rev_data",
    jump_region="Jida", jump_operator="rival_a", jump_points=0.06,
    pressure_decay=0.5, pressure_months=3,
    serve_fixed=4.0, serve_per_min=0.012, serve_per_gb=1.0)

VARIANT_B = Variant(
    name="b", farm_months=4, farm_multiple=2.5, farm_churn_after=(5, 6, 7),
    drop_days=11, drop_size=0.55, drop_stock=(3, 6),
    uplift_amount=3.5, uplift_component="rev_voice",
    jump_region="Sanzao", jump_operator="rival_b", jump_points=0.04,
    pressure_decay=0.7, pressure_months=5,
    serve_fixed=6.0, serve_per_min=0.01, serve_per_gb=0.8)


def get_variant(name: str) -> Variant:
    """The variant called ``name`` ('a' or 'b')."""
    found = {"a": VARIANT_A, "b": VARIANT_B}.get(str(name).lower())
    if found is None:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)} (got {name!r})")
    return found
