"""One GRN transformer trained on a real BEELINE dataset through the run core, then read out several ways
(grn.readout.network.read_network on the same trained model) and scored on each truth by the real-data
protocol: which read-out finds the structure the model learned.

    python results/real/readout_check.py mHSC-GM_TFs500 "trainer.max_epochs=60" -- \
        "readout.method=knockout" "readout.method=knockout readout.mask_fraction=0.75" "readout.method=attention"
"""
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from grn.data.datamodule import ExpressionDataModule
from grn.data.preprocess import preprocess
from grn.data.real import load_real
from grn.readout.edges import edges_from_matrix
from grn.readout.network import read_network
from grn.run import run
from grn.scoring.metrics import evaluated_regulators, score_real

name, rest = sys.argv[1], sys.argv[2:]
split = rest.index("--")
training, readouts = rest[:split], [text.split() for text in rest[split + 1:]]
adata = load_real(f"../shared/data/real/beeline/{name}")
truths = adata.uns["truths"]
evaluated = {gene for truth in truths.values() for gene in evaluated_regulators(truth, adata.var_names)}
regulators = [gene for gene in adata.var_names if gene in evaluated]

def config(overrides):
    with initialize_config_dir(config_dir=str(Path("configs").resolve()), version_base="1.3"):
        return compose("evaluate_real", overrides=["paths.root_dir=.", f"readout.regulators={regulators}", *overrides])

cfg = config([*training, "readout.method=attention"])
data = preprocess(adata, **cfg.data.preprocess)
start = time.time()
network = run(cfg, data=data)
print(name, training, "val_loss", network.metrics.get("val_loss"), "s", round(time.time() - start), flush=True)
model = network.modules[0].model
columns = [list(data.var_names).index(gene) for gene in regulators]
datamodule = ExpressionDataModule(data, seed=cfg.seed, regulators=columns, **cfg.data.loader)
for overrides in readouts:
    readout = config([*training, "readout.max_cells=100", "readout.n_masks=2", *overrides]).readout
    start = time.time()
    weights = read_network(model, datamodule, readout, seed=cfg.seed, regulators=columns)
    edges = edges_from_matrix(weights, list(data.var_names), regulators=columns)
    scores = {truth_name: score_real(edges, truth, list(data.var_names)) for truth_name, truth in truths.items()}
    print(" ".join(overrides), "|", " ".join(f"{t} {s['auprc_ratio']:.2f}/{s['epr']:.2f}" for t, s in scores.items()),
          "| s", round(time.time() - start), flush=True)
