"""pbmc68k_reduced with the human TF list: the knockout and attention read-outs of grn.infer and our GENIE3, scored
on the same TF-restricted candidates (every TF in the data -> every gene) against the shipped OmniPath edges
(grn/data/pbmc68k_omnipath.csv) whose regulator is one of those TFs.

    python results/pbmc68k_tfs/compare.py > results/pbmc68k_tfs/scores.md
"""
import os
import platform
import time

import pandas as pd
import torch

import grn
from grn.data.loaders import load_pbmc68k
from grn.data.regulators import regulators_in
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
    networks["GENIE3 (ours)"] = REAL_PEERS["genie3"](adata.X.toarray(), genes, regulators)
    seconds["GENIE3 (ours)"] = time.perf_counter() - start
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU, {os.cpu_count()} cores"
    print(f"# pbmc68k_reduced, {len(regulators)} human TFs x {len(genes)} genes, {len(truth)} OmniPath edges out of "
          f"them\n\nDevice: {device} ({platform.processor() or platform.machine()}), torch {torch.__version__}; "
          f"grn.infer defaults (40 epochs; on the CPU the read-out averages over 128 random cells).\n")
    print("| method | AUPRC ratio | EPR | AUROC | seconds |\n|---|---|---|---|---|")
    for name, network in networks.items():
        scores = score_real(network[["source", "target", "weight"]], truth, genes, regulators=regulators)
        print(f"| {name} | {scores['auprc_ratio']:.2f} | {scores['epr']:.2f} | {scores['auroc']:.3f} | {seconds[name]:.0f} |")


if __name__ == "__main__":
    main()
