"""Data tooling for songgen-hf (corpus generation, manifests, loaders)."""
