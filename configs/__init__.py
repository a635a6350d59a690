"""Hydra configs (YAML, see train.yaml). A package only so that a wheel ships the folder beside `grn`
(pyproject.toml's package-data); grn/cli.py finds it as `grn/../configs`, grn.evaluate as `../configs`."""
