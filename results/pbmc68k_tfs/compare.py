"""pbmc68k_reduced with the human TF list: the knockout and attention read-outs of grn.infer, the gene coupling alone
(experiment=grn_coupling, three seeds, as the README recommends for real cells) and our GENIE3, scored on the same
TF-restricted candidates (every TF in the data -> every gene) against the shipped OmniPath edges
(grn/data/pbmc68k_omnipath.csv) whose regulator is one of those TFs.

    python results/pbmc68k_tfs/compare.py    (writes results/pbmc68k_tfs/scores.md; progress goes to the terminal)
"""
import os
import platform
import time
from pathlib import Path

import pandas as pd
import torch

import grn
from grn.data.loaders import load_pbmc68k
from grn.data.regulators import regulators_in
from grn.io import atomic_write
from grn.scoring.metrics import score_real
from grn.scoring.peers import REAL_PEERS


def main():
    adata = load_pbmc68k()
    truth, genes = adata.uns["ground_truth"], list(adata.var_names)
    regulators = regulators_in("human", genes)
    truth = truth[truth["Gene1"].isin(regulators)]
    networks, seconds = {}, {}
    for readout in ("knockout", "attention"):
        start = time.perf_counter()
        networks[f"spherical, {readout} read-out"] = grn.infer(adata.copy(), tf_names="human", readout=readout)
        seconds[f"spherical, {readout} read-out"] = time.perf_counter() - start
    start = time.perf_counter()
    networks["gene coupling alone (experiment=grn_coupling), 3 seeds"] = grn.infer(
        adata.copy(), tf_names="human", n_seeds=3, overrides=["experiment=grn_coupling"])
    seconds["gene coupling alone (experiment=grn_coupling), 3 seeds"] = time.perf_counter() - start
    start = time.perf_counter()
    networks["GENIE3 (ours)"] = REAL_PEERS["genie3"](adata.X.toarray(), genes, regulators)
    seconds["GENIE3 (ours)"] = time.perf_counter() - start
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU, {os.cpu_count()} cores"
    lines = [f"# pbmc68k_reduced, {len(regulators)} human TFs x {len(genes)} genes, {len(truth)} OmniPath edges out of them",
             "", f"Device: {device} ({platform.processor() or platform.machine()}), torch {torch.__version__}; "
             "grn.infer defaults (the spherical model 40 epochs, its read-out on the CPU over 128 random cells; "
             "the coupling 2000 steps a seed, read out by its weights).", "",
             "| method | AUPRC ratio | EPR | AUROC | seconds |", "|---|---|---|---|---|"]
    for name, network in networks.items():
        scores = score_real(network[["source", "target", "weight"]], truth, genes, regulators=regulators)
        lines.append(f"| {name} | {scores['auprc_ratio']:.2f} | {scores['epr']:.2f} | {scores['auroc']:.3f} "
                     f"| {seconds[name]:.0f} |")
    lines += ["", f"Command: `python results/pbmc68k_tfs/compare.py` (it writes this file). Candidates: every one of the "
              f"{len(regulators)} TFs -> every other gene; the truth: the {len(truth)} shipped OmniPath edges out of "
              "those TFs. Seconds are wall time on this machine, shared with other jobs where it was."]
    scores_md = Path(__file__).with_name("scores.md")
    atomic_write(scores_md, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
