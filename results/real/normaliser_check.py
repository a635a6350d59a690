"""Does the L2 normaliser blur the spherical model's perturbation read-out? One model (mDC_TFs500, evaluate_real's
2000 steps) read out by the Jacobian twice: as trained, and with each attention's r = sqrt(sum_j s_ij^2 + eps)
held fixed (detached), so a regulator moves a target only through its own score and value, not through the norm.
Scored as linear_check.py scores (AUPRC ratio per truth, the truth's regulators -> every gene); 64 read-out cells.

    PYTHONPATH=. python results/real/normaliser_check.py mDC_TFs500    (repository root; output: normaliser_check.txt)
"""
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

import grn.readout.network as network
import grn.run as run_module
from grn.data.preprocess import preprocess
from grn.data.real import load_real
from grn.evaluate_real import truth_regulators
import kernels
from linear_check import auprc_by_truth  # this folder, beside the script


def detached_l2_attention(q, k, v, key_padding_mask, eps):
    """flashsign's function in Gram form (O(N D^2), as flashsign runs on a CPU), with r detached."""
    if key_padding_mask is not None:  # a masked key scores 0 with every query
        k = k * key_padding_mask[:, None, :, None].to(k.dtype)
    scale = q.shape[-1] ** -0.5
    r = torch.sqrt((q @ (k.transpose(-1, -2) @ k) * q).sum(-1, keepdim=True) * scale * scale + eps)
    return q @ (k.transpose(-1, -2) @ v) * scale / r.detach()


def check_equal_forward():
    q, k, v = (torch.randn(2, 3, 50, 16, dtype=torch.float64) for _ in range(3))
    mask = torch.rand(2, 50) > 0.2
    assert torch.allclose(detached_l2_attention(q, k, v, mask, 1e-6), kernels.flashsign(q, k, v, mask, eps=1e-6))


original = network.read_network


def read_twice(model, *args, **kwargs):
    start = time.time()
    as_trained = original(model, *args, **kwargs)
    print("read as trained", round(time.time() - start), "s", flush=True)
    report("as trained", as_trained)
    swapped = []
    for module in model.modules():
        normaliser = getattr(module, "normaliser", None)
        if dataclasses.is_dataclass(normaliser) and normaliser.name == "l2":
            module.normaliser = dataclasses.replace(normaliser, attention=detached_l2_attention)
            swapped.append(module)
    assert swapped, "no L2 attention found"
    start = time.time()
    held_fixed = original(model, *args, **kwargs)
    print("read with r fixed", round(time.time() - start), "s", len(swapped), "attentions", flush=True)
    report("r held fixed", held_fixed)
    return as_trained


SCORING = {}  # what report() needs: the dataset, its preprocessed genes and the truths' regulators


def report(label, effects):
    adata, genes, regulators = SCORING["adata"], SCORING["genes"], SCORING["regulators"]
    weights = np.asarray(effects).T  # (regulator j, target i)
    print(SCORING["name"], label, auprc_by_truth(adata, genes, regulators, weights), flush=True)


def main(name):
    check_equal_forward()
    with initialize_config_dir(config_dir=str(Path("configs").resolve()), version_base="1.3"):
        cfg = compose("evaluate_real", overrides=["paths.root_dir=.", "readout.method=jacobian", "readout.mode=mean",
                                                  "readout.max_cells=64"])
    adata = load_real(f"../shared/data/real/beeline/{name}")
    regulators = truth_regulators(adata)
    data = preprocess(adata, **cfg.data.preprocess)
    SCORING.update(adata=adata, genes=list(data.var_names), regulators=regulators, name=name)
    run_module.read_network = read_twice
    network.read_network = read_twice
    start = time.time()
    run_module.run(cfg, data=data)
    print("total", round(time.time() - start), "s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
