"""eam-ser: speech emotion recognition with Energy-Adaptive Mixup (EAM), Frame-Level Attention
(FLAM) and Multi-Loss Learning (MLL) on the Hugging Face stack."""

__version__ = "0.1.0"
