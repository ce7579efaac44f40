"""Matched controls for campaigns without a randomised hold-out."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

EXACT = ("segment", "channel_type")
NEAREST = ("pre_arpu", "pre_mou", "tenure")


def matching_method(exact: tuple[str, ...] = EXACT, nearest: tuple[str, ...] = NEAREST) -> str:
    """The matching method in words, for the page."""
    return (f"matched control: for each participant, the nearest non-participant (with "
            f"replacement) on standardised {', '.join(nearest)} among those with the same "
            f"{' and '.join(exact)}, eligible and billed when the campaign started")


def match_controls(treated: pd.DataFrame, pool: pd.DataFrame, *,
                   exact: tuple[str, ...] = EXACT, nearest: tuple[str, ...] = NEAREST
                   ) -> pd.DataFrame:
    """Pair each participant with its nearest non-participant (one to one, with replacement).

    Parameters
    ----------
    treated, pool
        Per-subscriber panels (participants; eligible non-participants) with the ``exact``
        and ``nearest`` columns. Rows missing a ``nearest`` value (no pre-period) are left out.
    exact
        Columns that must agree within a pair.
    nearest
        Columns scaled by their pooled standard deviation, then matched by Euclidean distance.

    Returns
    -------
    DataFrame
        The matched participants (``arm='treated'``) and their controls (``arm='control'``,
        a control repeated once per participant it serves), with a ``pair`` column.

    Examples
    --------
    >>> t = pd.DataFrame({"segment": ["mass"], "channel_type": ["own_hall"], "pre_arpu": [50.0],
    ...                   "pre_mou": [300.0], "tenure": [12]})
    >>> p = pd.DataFrame({"segment": ["mass"] * 2, "channel_type": ["own_hall"] * 2,
    ...                   "pre_arpu": [10.0, 52.0], "pre_mou": [100.0, 290.0], "tenure": [3, 11]})
    >>> match_controls(t, p)["pre_arpu"].tolist()
    [50.0, 52.0]
    """
    cols = list(nearest)
    treated = treated.dropna(subset=cols).reset_index(drop=True)
    pool = pool.dropna(subset=cols).reset_index(drop=True)
    scale = pd.concat([treated[cols], pool[cols]]).astype(float).std(ddof=0).replace(0, 1.0)
    chosen_t, chosen_c = [], []
    pool_groups = pool.groupby(list(exact), sort=False).indices
    for key, rows in treated.groupby(list(exact), sort=False).indices.items():
        candidates = pool_groups.get(key)
        if candidates is None or len(candidates) == 0:
            continue
        model = NearestNeighbors(n_neighbors=1).fit(pool.loc[candidates, cols].to_numpy(float)
                                                    / scale.to_numpy())
        _, index = model.kneighbors(treated.loc[rows, cols].to_numpy(float) / scale.to_numpy())
        chosen_t.append(rows)
        chosen_c.append(candidates[index[:, 0]])
    if not chosen_t:
        return pd.concat([treated.iloc[:0].assign(arm="treated", pair=0),
                          pool.iloc[:0].assign(arm="control", pair=0)], ignore_index=True)
    t_rows, c_rows = np.concatenate(chosen_t), np.concatenate(chosen_c)
    pairs = np.arange(len(t_rows))
    return pd.concat([treated.loc[t_rows].assign(arm="treated", pair=pairs),
                      pool.loc[c_rows].assign(arm="control", pair=pairs)], ignore_index=True)


def balance(panel: pd.DataFrame, columns: tuple[str, ...] = NEAREST) -> pd.DataFrame:
    """Mean of each covariate per arm and the standardised mean difference (a matching check)."""
    rows = []
    for col in columns:
        t = panel.loc[panel["arm"].eq("treated"), col].astype(float)
        c = panel.loc[panel["arm"].eq("control"), col].astype(float)
        pooled = np.sqrt((t.var() + c.var()) / 2) if len(t) > 1 and len(c) > 1 else np.nan
        rows.append({"covariate": col, "participants": t.mean(), "controls": c.mean(),
                     "std_diff": (t.mean() - c.mean()) / pooled if pooled else np.nan})
    return pd.DataFrame(rows)
