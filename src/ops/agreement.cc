// SPDX-License-Identifier: Apache-2.0
// Descriptor agreement: one small allreduce (max of d and of -d) decides; only on disagreement are
// the descriptors gathered to name the ranks and what differs.
#include "ops/agreement.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#include "device/staging.h"

namespace bluefog {

namespace {

constexpr int kCompared = 7;  // all but rows, which may differ

void ComparedFields(const OpDescriptor& d, int64_t* fields) {
  fields[0] = d.kind;
  fields[1] = d.name_hash;
  fields[2] = d.dtype;
  fields[3] = d.elements;
  fields[4] = d.root;
  fields[5] = d.flags;
  fields[6] = d.on_device_comm;
}

bool SameOp(const OpDescriptor& a, const OpDescriptor& b) {
  int64_t fa[kCompared], fb[kCompared];
  ComparedFields(a, fa);
  ComparedFields(b, fb);
  return std::equal(fa, fa + kCompared, fb);
}

std::string RankList(const std::vector<int>& ranks) {
  std::ostringstream text;
  text << (ranks.size() == 1 ? "rank " : "ranks ");
  for (size_t i = 0; i < ranks.size(); ++i) text << (i ? "," : "") << ranks[i];
  return text.str();
}

Status MismatchError(const std::vector<OpDescriptor>& all, int my_rank) {
  // Group ranks by what they posted, in order of first appearance.
  std::vector<std::pair<OpDescriptor, std::vector<int>>> groups;
  for (int r = 0; r < static_cast<int>(all.size()); ++r) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return SameOp(g.first, all[r]); });
    if (it == groups.end()) {
      groups.push_back({all[r], {r}});
    } else {
      it->second.push_back(r);
    }
  }
  std::ostringstream text;
  text << "mismatched collective operations (seen on rank " << my_rank << "): ";
  for (size_t g = 0; g < groups.size(); ++g) {
    text << (g ? "; " : "") << RankList(groups[g].second) << " posted "
         << groups[g].first.Describe();
  }
  return Status(BF_ERR_MISMATCH, text.str());
}

}  // namespace

OpDescriptor OpDescriptor::For(const Op& op) {
  OpDescriptor d;
  d.kind = static_cast<int64_t>(op.kind);
  d.name_hash = static_cast<int64_t>(HashName(op.name));
  std::strncpy(d.name, op.name.c_str(), sizeof(d.name) - 1);
  if (!op.invalid_reason.empty()) {
    d.dtype = kInvalidArguments;  // never matches a real op: every rank fails
    return d;
  }
  if (op.kind == OpKind::kBarrier || op.kind == OpKind::kSetMatchingMode) return d;
  d.dtype = static_cast<int64_t>(op.in.dtype);
  d.on_device_comm = op.stage && op.stage->direct ? 1 : 0;
  switch (op.kind) {
    case OpKind::kAllgather:
      d.elements = op.in.row_elements();
      d.rows = op.in.shape.empty() ? 1 : op.in.shape[0];
      d.flags = static_cast<int64_t>(op.in.shape.size());
      break;
    case OpKind::kBroadcast:
      d.elements = op.in.num_elements;
      d.root = op.root_or_peer;
      break;
    case OpKind::kAllreduce:
      d.elements = op.in.num_elements;
      d.flags = static_cast<int64_t>(op.reduce_op) | (op.machine_local ? 0x100 : 0);
      break;
    default:
      d.elements = op.in.num_elements;
      break;
  }
  return d;
}

std::string OpDescriptor::Describe() const {
  std::ostringstream text;
  const auto op_kind = static_cast<OpKind>(kind);
  text << OpKindName(op_kind) << " '" << std::string(name, strnlen(name, sizeof(name))) << "'";
  if (dtype == kInvalidArguments) return text.str() + " with invalid arguments";
  if (op_kind == OpKind::kBarrier || op_kind == OpKind::kSetTopology ||
      op_kind == OpKind::kSetMachineTopology || op_kind == OpKind::kInferTopology ||
      op_kind == OpKind::kSetMatchingMode) {
    return text.str();
  }
  text << " (" << DTypeName(static_cast<DType>(dtype));
  if (op_kind == OpKind::kAllgather) {
    text << ", " << flags << "-d rows of " << elements << " elements";
  } else {
    text << ", " << elements << " elements";
  }
  if (op_kind == OpKind::kBroadcast) text << ", root " << root;
  if (op_kind == OpKind::kAllreduce) {
    text << ((flags & 0xFF) == BF_REDUCE_SUM ? ", sum" : ", average");
    if (flags & 0x100) text << ", machine-local";
  }
  if (on_device_comm != 0) text << ", on the GPU communicator";
  text << ")";
  return text.str();
}

Status AgreeOnValue(Backend& backend, uint64_t value, Group group, bool* agreed) {
  const auto signed_value = static_cast<int64_t>(value >> 1);  // keeps -value in range
  int64_t fields[2] = {signed_value, -signed_value};
  BF_RETURN_IF_ERROR(backend.AllreduceMax(fields, 2, group));
  *agreed = fields[0] == signed_value && -fields[1] == signed_value;
  return Status::Ok();
}

Status AgreeOnOp(Backend& backend, const OpDescriptor& mine, Group group) {
  int64_t fields[2 * kCompared];
  ComparedFields(mine, fields);
  for (int i = 0; i < kCompared; ++i) fields[kCompared + i] = -fields[i];
  BF_RETURN_IF_ERROR(backend.AllreduceMax(fields, 2 * kCompared, group));
  int64_t expected[kCompared];
  ComparedFields(mine, expected);
  bool agreed = true;
  for (int i = 0; i < kCompared; ++i) {
    agreed = agreed && fields[i] == expected[i] && -fields[kCompared + i] == expected[i];
  }
  if (agreed) return Status::Ok();
  std::vector<OpDescriptor> all;
  return AgreeAndGather(backend, mine, group, &all);
}

Status AgreeAndGather(Backend& backend, const OpDescriptor& mine, Group group,
                      std::vector<OpDescriptor>* all) {
  all->assign(backend.size(group), OpDescriptor{});
  BF_RETURN_IF_ERROR(backend.AllgatherFixed(&mine, sizeof(OpDescriptor), all->data(), group));
  for (const OpDescriptor& other : *all) {
    if (!SameOp(other, mine)) return MismatchError(*all, backend.rank(Group::kWorld));
  }
  return Status::Ok();
}

uint64_t Fingerprint(const Op& op) {
  const OpDescriptor d = OpDescriptor::For(op);
  const int64_t path = !op.stage ? 0 : op.stage->direct ? 1 : op.stage->mpi_direct ? 2 : 3;
  uint64_t hash = 1469598103934665603ull;
  // Gathers' rows too: ranks that gather equal rows need not exchange them first.
  for (int64_t part : {d.kind, d.name_hash, d.dtype, d.elements, d.root, d.flags, d.rows, path}) {
    hash = (hash ^ static_cast<uint64_t>(part)) * 1099511628211ull;
  }
  return hash;
}

bool SynchronizesAlone(const Op& op) {
  const bool kind = op.kind == OpKind::kAllreduce || op.kind == OpKind::kBroadcast ||
                    op.kind == OpKind::kBarrier || op.kind == OpKind::kAllgather;
  return op.negotiated_alike && kind && op.invalid_reason.empty() &&
         !(op.stage && op.stage->direct);
}

}  // namespace bluefog
