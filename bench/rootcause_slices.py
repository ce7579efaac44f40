"""Write the small root-cause test slices in tests/data/rootcause/ from the development data.

    python -m bench.rootcause_slices [--devdata PATH]

Each slice keeps some values of each attribute of one development case (every leaf of the
kept values, figures to 6 significant digits) and the labelled elements that
lie inside it; the ratio slice is built from two trimmed cases as in
``bench.rootcause_eval.ratio_cases``. The tests read only the written files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from bench.rootcause_eval import DEFAULT_DEVDATA

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "rootcause"
B4_KEEP = {"b": ["b2", "b5", "b12", "b16", "b17", "b20", "b27", "b30"]}
#: (file, set, case id, values kept per attribute; attributes not named keep every value)
SLICES = (
    ("b4_168958.csv.gz", "B4_dev", "168958", B4_KEEP),
    ("l_421144.csv.gz", "L_dev", "421144",
     {"a": [f"a{k}" for k in range(1, 6)], "b": [f"b{k}" for k in range(13, 19)],
      "d": [f"d{k}" for k in range(1, 7)]}),
    ("h6_363066.csv.gz", "H6_dev", "363066",
     {"a": ["a1", "a2", "a3", "a5"], "c": ["c1", "c2", "c3", "c4", "c6", "c10"],
      "d": ["d2", "d3", "d4", "d6"]}),
)
RATIO = ("ratio_b4_398380_over_168958.csv.gz", "B4_dev", "398380", "168958", B4_KEEP)


def _trim(folder: Path, case: str, keep: dict[str, list[str]]) -> tuple[pd.DataFrame, list[str]]:
    frame = pd.read_csv(folder / f"{case}.csv.gz")
    for attr, values in keep.items():
        frame = frame[frame[attr].isin(values)]
    frame = frame.reset_index(drop=True)
    info = pd.read_csv(folder / "injection_info.csv", dtype={"timestamp": str}).set_index("timestamp")
    inside = []
    for element in str(info.loc[case, "set"]).split(";"):
        pairs = dict(p.split("=") for p in element.split("&"))
        if all(v in keep.get(k, [v]) for k, v in pairs.items()):
            inside.append(element)
    return frame, inside


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devdata", default=str(DEFAULT_DEVDATA))
    args = parser.parse_args()
    rca = Path(args.devdata) / "rca"
    if not rca.is_dir():
        print(f"No development data at {rca}: nothing to write.")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    labels = []
    for name, dev_set, case, keep in SLICES:
        frame, inside = _trim(rca / dev_set / "all", case, keep)
        frame.to_csv(OUT / name, index=False, float_format="%.6g")
        labels.append((name, dev_set, case, ";".join(inside)))
    name, dev_set, rates, base, keep = RATIO
    source, inside = _trim(rca / dev_set / "all", rates, keep)
    volume, _ = _trim(rca / dev_set / "all", base, keep)
    dims = [c for c in source.columns if c not in ("real", "predict")]
    assert (source[dims].to_numpy() == volume[dims].to_numpy()).all()
    real, predict = (np.clip(source[c].to_numpy(float), 0, None) for c in ("real", "predict"))
    pad = 1e-3 * float(np.median(predict[predict > 0]))
    rate_e = 50 * np.random.default_rng(int(rates)).lognormal(0.0, 0.3, len(source))
    rate_e = rate_e * ((real > 0) | (predict > 0))
    den_e, den_a = (np.clip(volume[c].to_numpy(float), 0, None) for c in ("predict", "real"))
    frame = source[dims].assign(num_a=rate_e * (real + pad) / (predict + pad) * den_a,
                                num_e=rate_e * den_e, den_a=den_a, den_e=den_e)
    frame.to_csv(OUT / name, index=False, float_format="%.6g")
    labels.append((name, dev_set, f"{rates} (rates) over {base} (base)", ";".join(inside)))
    pd.DataFrame(labels, columns=["file", "source_set", "case", "set"]).to_csv(
        OUT / "labels.csv", index=False)
    for row in labels:
        print(*row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
