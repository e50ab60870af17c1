"""Protein backbones: structure IO, built-in Cα experts, and design evaluation."""
