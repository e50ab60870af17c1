"""Suite-wide settings."""

import torch

# The suite's tensors are small: intra-op threads only add spin-wait overhead (80x on a loaded 2-core machine).
torch.set_num_threads(1)
