"""The real-cell table: every method's rows (written by python -m grn.evaluate_real on different machines into
different `out` folders, each kept here as a csv of its scores.csv rows) merged into one results.csv and one
summary.md, with our models first and the win counts taken against the peers only.

    python results/real/table.py           (from the repository root; rewrites results/real/results.csv, summary.md)

Each source csv names its setting in the method column (see README.md for the command behind each file).
"""
from pathlib import Path

import pandas as pd

from grn.evaluate_real import COLUMNS, SCORES, summary_markdown
from grn.io import atomic_write

HERE = Path(__file__).parent
SOURCES = ["spherical_h200.csv", "spherical_cpu.csv", "softmax_cpu.csv", "beeline_cpu_peers.csv",
           "mccalla_cpu_peers.csv", "regdiffusion_cpu.csv"]
OURS = ("spherical", "softmax")  # method names that start so are our models; the rest are peers


def merged() -> pd.DataFrame:
    tables = [pd.read_csv(HERE / name) for name in SOURCES if (HERE / name).exists()]
    results = pd.concat(tables, ignore_index=True)[COLUMNS]
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


def where_ours_ran(results: pd.DataFrame) -> str:
    """The AUPRC ratio table of summary_markdown, kept to the settings where one of our models has a row."""
    ran = results[results["method"].astype(str).str.startswith(OURS) & results["auprc_ratio"].notna()]
    kept = results.merge(ran[["dataset", "truth"]].drop_duplicates(), on=["dataset", "truth"])
    return summary_markdown(kept.astype({"method": str})).split("\n\n### epr")[0]


def main():
    results = merged()
    lines = [summary_markdown(results.astype({"method": str})), "### Our models against the peers", "",
             "| method | " + " | ".join(f"{score}: wins / settings" for score in SCORES[:2]) + " |",
             "|---|---|---|"]
    for method in results["method"].cat.categories:
        if method.startswith(OURS):
            cells = ["{} / {}".format(*wins_over_peers(results, method, score)) for score in SCORES[:2]]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "### Where our models ran (the README's table)", "", where_ours_ran(results)]
    atomic_write(HERE / "results.csv", lambda tmp: results.to_csv(tmp, index=False))
    atomic_write(HERE / "summary.md", lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
