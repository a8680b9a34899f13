"""Write lrjax/data/breast_cancer.csv from scikit-learn's bundled copy (run once).

The Wisconsin diagnostic breast-cancer data: 569 tumours, 30 real-valued
features of the cell nuclei, label 1 = malignant, 0 = benign (scikit-learn
codes malignant as 0; we flip it so that the positive class is the diagnosis).

    python scripts/make_dataset.py
"""

import csv
from pathlib import Path

from sklearn.datasets import load_breast_cancer

OUT = Path(__file__).resolve().parents[1] / "lrjax" / "data" / "breast_cancer.csv"


def main() -> None:
    data = load_breast_cancer()
    names = [name.replace(" ", "_") for name in data.feature_names]
    with OUT.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([*names, "malignant"])
        for row, label in zip(data.data, data.target, strict=True):
            writer.writerow([*(f"{v:.6g}" for v in row), int(label == 0)])
    print(f"wrote {OUT} ({len(data.target)} rows, {len(names)} features)")


if __name__ == "__main__":
    main()
