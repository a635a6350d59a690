"""Ground-truth networks: validation, and parsing scanpy's Boolean-rule models into signed edges."""
import ast
from pathlib import Path

import pandas as pd

from grn.errors import InputError

SIGNS = ("+", "-")
_DOT = "_DOT_"


def validate_truth(truth: pd.DataFrame, genes, source: str) -> pd.DataFrame:
    """Check a `Gene1, Gene2, Type` table against the data's genes; return it deduplicated."""
    missing = {"Gene1", "Gene2", "Type"} - set(truth.columns)
    if missing:
        raise InputError(f"{source}: missing column(s) {sorted(missing)}; expected Gene1,Gene2,Type")
    truth = truth[["Gene1", "Gene2", "Type"]].astype(str).drop_duplicates().reset_index(drop=True)
    bad_signs = sorted(set(truth["Type"]) - set(SIGNS))
    if bad_signs:
        raise InputError(f"{source}: unknown edge sign(s) {bad_signs}; expected '+' or '-'")
    known = set(genes)
    unknown = sorted((set(truth["Gene1"]) | set(truth["Gene2"])) - known)
    if unknown:
        raise InputError(f"{source}: ground truth names genes absent from the expression data: {unknown[:10]}")
    if not (truth["Gene1"] != truth["Gene2"]).any():
        raise InputError(f"{source}: ground truth has no edges between distinct genes")
    return truth


def edges_from_boolean_rules(path: Path) -> pd.DataFrame:
    """Signed edges of a scanpy `sim_models` file: in `T = expr`, each gene in `expr` regulates T,
    negatively when it sits under an odd number of `not`s."""
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        target, rule = (side.strip() for side in line.split("=", 1))
        if not rule:  # an input gene: nothing regulates it
            continue
        # Gene names such as `Pu.1` are not Python identifiers; dots never occur in the operators.
        tree = ast.parse(rule.replace(".", _DOT), mode="eval").body
        for regulator, negated in _literals(tree, False):
            rows.append((regulator.replace(_DOT, "."), target, "-" if negated else "+"))
    return pd.DataFrame(rows, columns=["Gene1", "Gene2", "Type"]).drop_duplicates().reset_index(drop=True)


def _literals(node, negated):
    if isinstance(node, ast.Name):
        yield node.id, negated
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield from _literals(node.operand, not negated)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _literals(value, negated)
    else:
        raise InputError(f"unsupported Boolean rule element: {ast.dump(node)}")
