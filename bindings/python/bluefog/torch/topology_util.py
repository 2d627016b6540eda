# SPDX-License-Identifier: Apache-2.0
"""BlueFog's ``bluefog.torch.topology_util``: infer one side of a dynamic neighbor pattern from
the other (collective)."""
from ..topology_infer import InferDestinationFromSourceRanks, InferSourceFromDestinationRanks

__all__ = ["InferSourceFromDestinationRanks", "InferDestinationFromSourceRanks"]
