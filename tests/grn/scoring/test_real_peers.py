"""Real-cell peers: one weight for every regulator -> gene pair, each checked against an independent
computation (scipy's correlations, a forest fitted by hand, arboreto's own GRNBoost2, RegDiffusion's
adjacency read the way its own GRN class reads it), and the data README's Pearson |r| reference run
reproduced on mHSC-GM_TFs500 when the shared data is beside the repository."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.ensemble import RandomForestRegressor

from grn.data.real import load_real
from grn.errors import InputError
from grn.scoring.baselines import genie3
from grn.scoring.metrics import evaluated_regulators, score_real
from grn.scoring.peers import REAL_PEERS, arboreto_grnboost2, grnboost2_peer, pearson_peer, regdiffusion, spearman_peer

REAL = Path(__file__).resolve().parents[4] / "shared" / "data" / "real"
GENES = [f"g{i}" for i in range(8)]
REGULATORS = ["g5", "g0", "g2"]


def expression(n_cells=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.gamma(2.0, 1.0, size=(n_cells, len(GENES)))
    X[:, 1] += 0.8 * X[:, 0]  # g0 drives g1
    return X


def weights(table: pd.DataFrame) -> dict:
    return {(s, t): w for s, t, w in table.itertuples(index=False)}


@pytest.mark.parametrize("peer", [pearson_peer, spearman_peer, grnboost2_peer])
def test_a_peer_weighs_every_regulator_to_every_other_gene_by_magnitude(peer):
    table = peer(expression(), GENES, REGULATORS, seed=0)
    assert list(table.columns) == ["source", "target", "weight"]
    assert set(zip(table["source"], table["target"])) == {(r, g) for r in REGULATORS for g in GENES if r != g}
    assert len(table) == len(REGULATORS) * (len(GENES) - 1)
    assert (np.diff(table["weight"].abs()) <= 0).all()


def test_correlations_are_scipys():
    X = expression()
    pearson, spearman = weights(pearson_peer(X, GENES, REGULATORS)), weights(spearman_peer(X, GENES, REGULATORS))
    for source, target in [("g0", "g1"), ("g5", "g3"), ("g2", "g7")]:
        i, j = GENES.index(source), GENES.index(target)
        assert pearson[source, target] == pytest.approx(pearsonr(X[:, i], X[:, j]).statistic)
        assert spearman[source, target] == pytest.approx(spearmanr(X[:, i], X[:, j]).statistic)


def test_genie3_regresses_each_target_on_the_regulators_alone():
    X = expression()
    table = weights(genie3(X, GENES, n_trees=20, seed=3, regulators=REGULATORS).set_axis(["s", "t", "w"], axis=1))
    # the target g0 is a regulator itself: its predictors are the other two, in the order given
    predictors = [GENES.index("g5"), GENES.index("g2")]
    target = X[:, 0] / X[:, 0].std()
    forest = RandomForestRegressor(n_estimators=20, max_features="sqrt", random_state=3).fit(X[:, predictors], target)
    expected = np.mean([tree.tree_.compute_feature_importances(normalize=False) for tree in forest.estimators_], axis=0)
    assert [table["g5", "g0"], table["g2", "g0"]] == pytest.approx(expected.tolist())
    assert genie3(X, GENES, n_trees=20, seed=3, regulators=REGULATORS, n_jobs=2).equals(
        genie3(X, GENES, n_trees=20, seed=3, regulators=REGULATORS))


def test_our_grnboost2_with_out_of_bag_stopping_is_arboretos():
    pytest.importorskip("arboreto")
    X = expression(n_cells=80)
    ours, theirs = grnboost2_peer(X, GENES, REGULATORS, seed=7), arboreto_grnboost2(X, GENES, REGULATORS, seed=7)
    assert weights(ours) == pytest.approx(weights(theirs))
    assert (ours["weight"] > 0).sum() > len(GENES)  # not a table of zeros


def test_regdiffusion_reads_its_adjacency_rows_as_sources(monkeypatch):
    rd = pytest.importorskip("regdiffusion")
    seen = {}

    class Trainer:  # stands in for the 1,000 training steps; the wrapper's reading of the result is under test
        def __init__(self, X, **settings):
            seen.update(X=X, **settings)

        def train(self):
            seen["trained"] = True

        def get_adj(self):
            n = seen["X"].shape[1]
            return (np.arange(n * n, dtype=np.float16).reshape(n, n) + 1) * (1 - np.eye(n, dtype=np.float16))

    monkeypatch.setattr(rd, "RegDiffusionTrainer", Trainer)
    X = expression()
    X[:, 3] = 0.0  # constant: left out of its training, weighs 0
    table = weights(regdiffusion(X, GENES, REGULATORS, seed=4, device="cpu"))
    assert seen["trained"] and seen["seed"] == 4 and seen["device"] == "cpu" and seen["X"].shape == (60, 7)
    trained = [g for g in GENES if g != "g3"]  # adjacency row/column k is trained[k]
    assert table["g5", "g1"] == 7 * trained.index("g5") + trained.index("g1") + 1
    assert table["g0", "g7"] == 7 * trained.index("g0") + trained.index("g7") + 1
    assert table["g2", "g3"] == 0.0


def test_a_missing_extra_and_unknown_regulators_are_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "regdiffusion", None)  # as if not installed
    with pytest.raises(InputError, match=r"regdiffusion is not installed.*pip install -e '.\[bench\]'"):
        regdiffusion(expression(), GENES, REGULATORS)
    with pytest.raises(InputError, match=r"unknown \['TF9'\]"):
        pearson_peer(expression(), GENES, ["g0", "TF9"])


def test_the_registry_holds_every_peer():
    assert set(REAL_PEERS) == {"genie3", "grnboost2", "arboreto_grnboost2", "pearson", "spearman", "regdiffusion"}


@pytest.mark.skipif(not REAL.is_dir(), reason="shared/data/real is not beside the repository")
def test_pearson_reproduces_the_readme_reference_run_on_mhsc_gm():
    adata = load_real(REAL / "beeline" / "mHSC-GM_TFs500")
    genes = list(adata.var_names)
    # the README's reference (AUPRC ratio, cell-type ChIP / non-specific ChIP / STRING) is average precision
    readme = {"celltype_chip": 0.93, "nonspecific_chip": 4.80, "string": 13.77}
    # our BEELINE trapezoid on the same ranking: 0.932, 4.736, 13.652
    trapezoid = {"celltype_chip": 0.932, "nonspecific_chip": 4.736, "string": 13.652}
    for name, truth in adata.uns["truths"].items():
        regulators = evaluated_regulators(truth, genes)
        scores = score_real(pearson_peer(adata.X, genes, regulators), truth, genes, regulators)
        assert scores["ap_ratio"] == pytest.approx(readme[name], abs=0.005), name
        assert scores["auprc_ratio"] == pytest.approx(trapezoid[name], abs=0.0005), name
