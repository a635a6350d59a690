"""The model: the GRN transformer declared as a neural circuit diagram, its LightningModule, and the
training-throughput callback."""
from grn.model.module import GRNModule
from grn.model.throughput import ThroughputMonitor
from grn.model.transformer import GRNTransformer, grn_transformer

__all__ = ["GRNModule", "GRNTransformer", "ThroughputMonitor", "grn_transformer"]
