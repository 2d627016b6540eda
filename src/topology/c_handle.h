// SPDX-License-Identifier: Apache-2.0
// The object behind the public opaque `bf_topology*`: a heap-allocated Topology value, so other
// api files (bf_set_topology, bf_get_topology) can reach `topology->graph`.
#pragma once

#include "topology/graph.h"

struct bf_topology {
  bluefog::Topology graph;
};
