"""Does the refine step (grn/readout/refine.py) help on real cells? One GRN transformer per dataset, trained
through the run core and read out once by the TFs' knockout; then the same weights refined several ways and
each scored on every truth by the real-data protocol (grn.scoring.metrics.score_real). Tuning on the BEELINE
sets we have (no held-out set is touched).

    python results/real/refine_check.py mHSC-GM_TFs500 hHep_TFs500 -- trainer.max_epochs=60 readout.max_cells=100 readout.n_masks=2
"""
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from grn.data.preprocess import preprocess
from grn.data.real import load_real
from grn.readout.edges import edges_from_matrix
from grn.readout.refine import evidence_from, refine
from grn.run import run
from grn.scoring.metrics import evaluated_regulators, score_real

ORIENT = {"bins": 40, "lags": [1, 2, 4, 6], "sharpness": 20, "pooling": "p4", "strength_power": 0}
VARIANTS = {  # name -> refine options (null: the weights as read out)
    "as read out": None,
    "balance": {"balance": True, "orient": None, "sign_votes": ["effect"]},
    "orient": {"balance": False, "orient": ORIENT, "sign_votes": ["effect"]},
    "orient, strength^0.5": {"balance": False, "orient": {**ORIENT, "strength_power": 0.5}, "sign_votes": ["effect"]},
    "orient, strength^1": {"balance": False, "orient": {**ORIENT, "strength_power": 1.0}, "sign_votes": ["effect"]},
    "balance, orient, strength^0.5": {"balance": True, "orient": {**ORIENT, "strength_power": 0.5},
                                      "sign_votes": ["effect"]},
}

split = sys.argv.index("--")
names, overrides = sys.argv[1:split], sys.argv[split + 1:]
for name in names:
    adata = load_real(f"../shared/data/real/beeline/{name}")
    truths = adata.uns["truths"]
    evaluated = {gene for truth in truths.values() for gene in evaluated_regulators(truth, adata.var_names)}
    regulators = [gene for gene in adata.var_names if gene in evaluated]
    with initialize_config_dir(config_dir=str(Path("configs").resolve()), version_base="1.3"):
        cfg = compose("evaluate_real", overrides=["paths.root_dir=.", f"readout.regulators={regulators}", *overrides])
    data = preprocess(adata, **cfg.data.preprocess)
    network = run(cfg, data=data)
    genes, columns = list(data.var_names), [list(data.var_names).index(gene) for gene in regulators]
    print(name, " ".join(overrides), "val_loss", round(network.metrics["val_loss"], 4), flush=True)
    for variant, options in VARIANTS.items():
        options = options and OmegaConf.create(options)
        weights = network.weights if options is None else refine(network.weights, evidence_from(data, options), options)
        edges = edges_from_matrix(weights, genes, regulators=columns)
        scores = {truth: score_real(edges, table, genes) for truth, table in truths.items()}
        print(f"  {variant:32s} |", " ".join(f"{t} {s['auprc_ratio']:.2f}/{s['epr']:.2f}" for t, s in scores.items()),
              flush=True)
