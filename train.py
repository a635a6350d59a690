"""Train a GRN transformer and read out its network: python train.py experiment=grn_spherical

The entry point lives in grn/cli.py, so that the installed `flashsign-grn` console script runs the same."""
from grn.cli import main

if __name__ == "__main__":
    main()
