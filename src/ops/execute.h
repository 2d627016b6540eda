// SPDX-License-Identifier: Apache-2.0
// The engine's executor: runs one op on the backend. One function per operation family.
#pragma once

#include "backend/backend.h"
#include "backend/mpi/mpi_backend.h"
#include "core/op.h"

namespace bluefog {

Status ExecuteOp(Op& op, Backend& backend, const ProcessLayout& layout);

// ops/collective.cc
Status RunAllreduce(Op& op, Backend& backend);
Status RunBroadcast(Op& op, Backend& backend);
Status RunAllgather(Op& op, Backend& backend);
Status RunBarrier(Op& op, Backend& backend);
Status RunSetTopology(Op& op, Backend& backend);

// ops/neighbor.cc
Status RunNeighborAllreduce(Op& op, Backend& backend);
Status RunNeighborAllgather(Op& op, Backend& backend);
Status RunPairGossip(Op& op, Backend& backend);

}  // namespace bluefog
