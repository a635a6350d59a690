"""Reading the network out of a trained model: in-silico perturbation or the cell-averaged attention
map, refined with the data (symmetrise, balance, orient by pseudotime, sign votes), as an edge table."""
from grn.readout.attention import aggregate_maps, attention_maps, network_from_maps
from grn.readout.edges import edges_from_matrix
from grn.readout.network import check_readout, read_network, resolve, seed_average
from grn.readout.perturbation import perturbation_effects, regulator_normalised
from grn.readout.refine import evidence_from, refine

__all__ = ["aggregate_maps", "attention_maps", "check_readout", "edges_from_matrix", "evidence_from",
           "network_from_maps", "perturbation_effects", "read_network", "refine", "regulator_normalised",
           "resolve", "seed_average"]
