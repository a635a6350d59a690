"""Attention kernels: FlashSign (spherical attention) in Triton, its torch reference, the same
function through Gram matrices, and the cell-summed spherical attention map."""
from kernels.attention_map import spherical_attention_map
from kernels.flashsign_api import flashsign
from kernels.gram import spherical_attention_gram
from kernels.reference import spherical_attention_reference

__all__ = ["flashsign", "spherical_attention_gram", "spherical_attention_map", "spherical_attention_reference"]
