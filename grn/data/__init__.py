"""Loading and batching: every source becomes an AnnData (cells x genes, ground truth in
`.uns["ground_truth"]` when known), preprocessed with scanpy, then cells become token batches."""
from grn.data.cells import CellDataset, ExpressedGenesDataset, cell_loader, pad_cells
from grn.data.datamodule import ExpressionDataModule
from grn.data.ground_truth import validate_truth
from grn.data.loaders import load_beeline, load_h5ad, load_krumsiek11, load_pbmc68k, simulate_krumsiek11
from grn.data.real import find_real_datasets, load_beeline_experimental, load_mccalla, load_real
from grn.data.preprocess import gene_standardisation, preprocess, with_pseudotime

__all__ = ["CellDataset", "ExpressedGenesDataset", "ExpressionDataModule", "cell_loader", "find_real_datasets",
           "gene_standardisation", "load_beeline", "load_beeline_experimental", "load_h5ad", "load_krumsiek11",
           "load_mccalla", "load_pbmc68k", "load_real", "pad_cells", "preprocess", "simulate_krumsiek11",
           "validate_truth", "with_pseudotime"]
