"""FlashSign-GRN: gene regulatory networks read out of transformers trained on single-cell expression.

For AnnData users: grn.infer, grn.load_model, grn.perturb (grn/api.py) and the plots grn.pl. They are
imported on first use, so that `import grn` (and train.py's --help) stays light."""

__all__ = ["infer", "load_model", "perturb", "pl"]


def __getattr__(name):
    if name == "pl":
        import grn.pl
        return grn.pl
    if name in ("infer", "load_model", "perturb"):
        import grn.api
        return getattr(grn.api, name)
    raise AttributeError(f"module 'grn' has no attribute {name!r}")
