// SPDX-License-Identifier: Apache-2.0
// Agreement: before a global collective moves data, every rank checks that all ranks posted the
// same operation (kind, name, dtype, size, root). A mismatch fails on every rank with one message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/op.h"

namespace bluefog {

struct OpDescriptor {
  // dtype of an op posted by a rank whose arguments failed validation (see FailTogether).
  static constexpr int64_t kInvalidArguments = -2;

  int64_t kind = 0;
  int64_t name_hash = 0;
  int64_t dtype = -1;
  int64_t elements = 0;  // whole tensor, or elements per row for gathers
  int64_t root = -1;
  int64_t flags = 0;     // reduce op, machine-local, ndim for gathers
  int64_t rows = 0;      // gathers: this rank's dim 0 (may differ between ranks)
  // 1: on the device communicator (NCCL), 0: through MPI. Ranks that disagree (e.g. on
  // BLUEFOG_<OP>_BY_MPI) would run different collectives, so it is compared.
  int64_t on_device_comm = 0;
  char name[40] = {};

  static OpDescriptor For(const Op& op);
  std::string Describe() const;
};

// *agreed: every rank of the group passed the same value. One small allreduce.
Status AgreeOnValue(Backend& backend, uint64_t value, Group group, bool* agreed);

// Fails with BF_ERR_MISMATCH on every rank unless all descriptors agree (rows excepted).
Status AgreeOnOp(Backend& backend, const OpDescriptor& mine, Group group);
// Same check, returning every rank's descriptor (gathers need the rows).
Status AgreeAndGather(Backend& backend, const OpDescriptor& mine, Group group,
                      std::vector<OpDescriptor>* all);

// What every rank offers with `op`'s name in a negotiation round: a hash of its descriptor and of
// the path it runs on (the device communicator, or the host path with or without device
// pointers), which decide how the ranks agree on it and how it is fused.
uint64_t Fingerprint(const Op& op);
// Whether `op` needs no agreement of its own: the negotiation round that made it ready found every
// rank's fingerprint equal (named mode), which is the same check, for an allreduce, a broadcast,
// a barrier (the round itself is the barrier: an op is ready only once every rank has posted it)
// or an allgather (every rank gathers as many rows as it gives) on the host path. A rank may then finish one (a broadcast's root, a barrier) and finalize
// before the others have started it; they still run it, since the departure notice says how far
// the leaving rank got (Engine::MissedByDeparted).
bool SynchronizesAlone(const Op& op);

}  // namespace bluefog
