"""The real-cell table: every method's rows (written by python -m grn.evaluate_real on different machines into
different `out` folders, each kept here as a csv of its scores.csv rows) merged into one results.csv and one
summary.md, with our models first and the win counts taken against the peers only.

    python results/real/table.py    (repository root; rewrites results/real/results.csv, summary.md and the
                                     README's table between its <!-- real-table --> markers)

Each source csv names its setting in the method column (results/real/README.md gives the command behind each).
"""
import re
from pathlib import Path

import pandas as pd

from grn.evaluate_real import COLUMNS, SCORES, score_table, sign_table
from grn.io import atomic_write

HERE = Path(__file__).parent
README = HERE.parents[1] / "README.md"
SOURCES = ["spherical_h200.csv", "gpu2_h100.csv", "gpu3_h100.csv", "gpu6_h100.csv", "gpu7_h100.csv", "coupling_only_cpu.csv", "gpu8_h100.csv", "coupling_only_30_cpu.csv", "coupling_only_30_seeds3_cpu.csv", "gpu10_h100.csv", "spherical_cpu.csv", "softmax_cpu.csv", "beeline_cpu_peers.csv", "mccalla_cpu_peers.csv", "regdiffusion_cpu.csv"]
OURS = ("spherical", "softmax", "coupling")  # method names that start so are our models; the rest are peers


def merged() -> pd.DataFrame:
    results = pd.concat([pd.read_csv(HERE / name) for name in SOURCES], ignore_index=True)[COLUMNS]
    repeated = results[results.duplicated(["dataset", "truth", "method"], keep=False)]
    if len(repeated):  # two files with the same method name: the tables would average them
        raise ValueError(f"rows given twice:\n{repeated[['dataset', 'truth', 'method']]}")
    order = sorted(results["method"].unique(), key=lambda method: (not method.startswith(OURS), method))
    results["method"] = pd.Categorical(results["method"], categories=order, ordered=True)
    return results.sort_values(["dataset", "truth", "method"]).reset_index(drop=True)


def wins_over_peers(results: pd.DataFrame, method: str, score: str) -> tuple[int, int]:
    """(settings where `method` is strictly above every peer, settings where both it and a peer were scored)."""
    table = results[results["truth"] != "omnipath_signs"].pivot_table(
        index=["dataset", "truth"], columns="method", values=score, observed=True)
    peers = [column for column in table.columns if not column.startswith(OURS)]
    scored = table[method].notna() & table[peers].notna().any(axis=1)
    return int((table[method] > table[peers].max(axis=1))[scored].sum()), int(scored.sum())


def where_ours_ran(results: pd.DataFrame, score: str = "auprc_ratio") -> str:
    """The table of `score`, kept to the settings where one of our models has a row."""
    ran = results[results["method"].astype(str).str.startswith(OURS) & results[score].notna()]
    kept = results.merge(ran[["dataset", "truth"]].drop_duplicates(), on=["dataset", "truth"])
    return score_table(kept.astype({"method": str}), score, list(results["method"].cat.categories))


def main():
    results = merged()
    named = results.astype({"method": str})
    order = list(results["method"].cat.categories)
    lines = [*(score_table(named, score, order) + "\n" for score in SCORES), sign_table(named), "",
             "### Our models against the peers", "",
             "| method | " + " | ".join(f"{score}: wins / settings" for score in SCORES[:2]) + " |",
             "|---|---|---|"]
    for method in results["method"].cat.categories:
        if method.startswith(OURS):
            cells = ["{} / {}".format(*wins_over_peers(results, method, score)) for score in SCORES[:2]]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "### Where our models ran (the README's table)", "", where_ours_ran(results)]
    atomic_write(HERE / "results.csv", lambda tmp: results.to_csv(tmp, index=False))
    atomic_write(HERE / "summary.md", lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
    # the AUPRC ratio in the open, EPR and AUROC folded under it; each without its heading
    tables = {score: where_ours_ran(results, score).split("\n", 2)[2] for score in SCORES}
    table = tables[SCORES[0]] + "".join(
        f"\n\n<details><summary>{score}</summary>\n\n{tables[score]}\n\n</details>" for score in SCORES[1:])
    readme = re.sub(r"<!-- real-table -->.*?<!-- /real-table -->",
                    lambda _: f"<!-- real-table -->\n{table}\n<!-- /real-table -->", README.read_text(), flags=re.S)
    atomic_write(README, lambda tmp: Path(tmp).write_text(readme))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
