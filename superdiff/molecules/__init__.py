"""Molecules: property predictors, a SELFIES autoencoder, a label-conditioned latent diffusion model, and
SuperDiff composition of property conditions inside classifier-free guidance (SCIENCE.md section 7)."""
