"""Layer 0, storage: atomic writes and the checkpoint store. Computes no number; imports no other layer."""
