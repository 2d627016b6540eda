// SPDX-License-Identifier: Apache-2.0
// Neighbor operations: neighbor_allreduce, neighbor_allgather and pair_gossip. Each posts framed
// sends to its destinations, takes one message per source from the mailbox as they arrive, checks
// every header, then combines or gathers locally.
#include <cstring>
#include <map>
#include <sstream>
#include <vector>

#include "core/backoff.h"
#include "core/managed_tensor.h"
#include "ops/combine.h"
#include "ops/compression.h"
#include "ops/execute.h"

namespace bluefog {

namespace {

WireEncoding EncodingOf(const Op& op) { return EncodingFor(op.neighbor.compression); }

// Elements a top-k payload of `op` carries (0 for other encodings).
int64_t KeptOf(const Op& op) {
  return EncodingOf(op) == WireEncoding::kTopK
             ? TopKCount(op.neighbor.topk_ratio, op.in.num_elements)
             : 0;
}

bool UsesFeedback(const Op& op) {
  return op.neighbor.error_feedback && EncodingOf(op) != WireEncoding::kRaw;
}

WireHeader HeaderFor(const Op& op, int my_rank) {
  WireHeader header;
  header.op_kind = static_cast<uint8_t>(op.kind);
  header.dtype = static_cast<uint8_t>(op.in.dtype);
  header.encoding = static_cast<uint8_t>(EncodingOf(op));
  header.feedback = UsesFeedback(op) ? 1 : 0;
  header.flags = static_cast<uint8_t>(op.in.shape.size());
  header.sender = my_rank;
  header.name_hash = HashName(op.name);
  header.payload_elements = op.in.num_elements;
  header.row_elements = op.in.row_elements();
  header.payload_bytes = EncodedBytes(EncodingOf(op), op.in.dtype, op.in.num_elements, KeptOf(op));
  std::strncpy(header.name, op.name.c_str(), sizeof(header.name) - 1);
  return header;
}

std::string DescribeHeader(const WireHeader& header) {
  std::ostringstream text;
  const auto kind = static_cast<OpKind>(header.op_kind);
  text << OpKindName(kind) << " '" << std::string(header.name, strnlen(header.name, 24)) << "'"
       << " (" << DTypeName(static_cast<DType>(header.dtype)) << ", "
       << header.payload_elements << " elements";
  const auto encoding = static_cast<WireEncoding>(header.encoding);
  if (encoding != WireEncoding::kRaw) {
    text << ", " << EncodingName(encoding) << " on the wire, "
         << (header.feedback ? "with" : "without") << " error feedback";
  }
  text << ")";
  return text.str();
}

// A received header must describe the same op, name and dtype; `same_size` also demands the
// element count (allreduce-like ops) rather than only the row size (gathers).
Status CheckIncoming(const Op& op, const ReceivedMessage& incoming, int my_rank, bool same_size) {
  const WireHeader& got = incoming.header;
  const WireHeader expected = HeaderFor(op, my_rank);
  bool match = got.magic == WireHeader::kMagic && got.op_kind == expected.op_kind &&
               got.name_hash == expected.name_hash && got.dtype == expected.dtype &&
               got.encoding == expected.encoding && got.feedback == expected.feedback &&
               got.sender == incoming.source;
  if (same_size) {
    match = match && got.payload_elements == expected.payload_elements;
  } else {
    match = match && got.row_elements == expected.row_elements && got.flags == expected.flags;
  }
  // (Top-k sizes differ when the ranks' ratios do; gathers are raw, of any row count.)
  const size_t declared =
      same_size ? expected.payload_bytes
                : static_cast<size_t>(got.payload_elements) *
                      ElementSize(static_cast<DType>(got.dtype));
  match = match && got.payload_bytes == declared && incoming.payload_bytes() == declared;
  if (match) return Status::Ok();
  if (got.magic != WireHeader::kMagic) {
    return Error(BF_ERR_MISMATCH, "rank ", my_rank, " received a message from rank ",
                 incoming.source, " that is not a BlueFog neighbor message while running ",
                 DescribeHeader(expected));
  }
  return Error(BF_ERR_MISMATCH, "mismatched neighbor operations: rank ", my_rank, " runs ",
               DescribeHeader(expected), " but rank ", incoming.source, " sent ",
               DescribeHeader(got));
}

// Dynamic plans: all ranks share their send/receive sets and check i->j is sent iff received.
Status CheckPlanConsistency(const Op& op, Backend& backend) {
  const int size = backend.size(Group::kWorld);
  const int me = backend.rank(Group::kWorld);
  std::vector<uint8_t> mine(2 * static_cast<size_t>(size), 0);  // [sends to | receives from]
  for (int d : op.neighbor.dst_ranks) mine[d] = 1;
  for (int s : op.neighbor.src_ranks) mine[size + s] = 1;
  std::vector<uint8_t> all(mine.size() * size);
  BF_RETURN_IF_ERROR(backend.AllgatherFixed(mine.data(), mine.size(), all.data(), Group::kWorld));
  auto sends = [&](int i, int j) { return all[i * 2 * size + j] != 0; };
  auto receives = [&](int j, int i) { return all[j * 2 * size + size + i] != 0; };
  std::ostringstream problems;
  int count = 0;
  for (int i = 0; i < size; ++i) {
    for (int j = 0; j < size; ++j) {
      if (sends(i, j) == receives(j, i)) continue;
      if (count++ < 8) {
        problems << (count > 1 ? "; " : "") << "rank " << i
                 << (sends(i, j) ? " sends to " : " does not send to ") << j << " but " << j
                 << (receives(j, i) ? " receives from " : " does not receive from ") << i;
      }
    }
  }
  if (count == 0) return Status::Ok();
  return Error(BF_ERR_MISMATCH, OpKindName(op.kind), " '", op.name, "' (seen on rank ", me,
               "): send and receive lists do not match: ", problems.str(),
               count > 8 ? " (and more)" : "");
}

}  // namespace

Status CheckTopologyConsistency(Op& op, Backend& backend) { return CheckPlanConsistency(op, backend); }

namespace {

// Encodes `value` (the scaled `in` for destination k); progress->payloads[k] points at the
// message. With error feedback the message encodes the difference from what the destination
// has, this end's copy of that estimate moves as the destination's will, and
// progress->residuals[k] points at what the destination still lacks.
void EncodeForDestination(const Op& op, size_t k, const void* value, WireHeader* header,
                          NeighborProgress* progress) {
  const DType dtype = op.in.dtype;
  const int64_t n = op.in.num_elements;
  const WireEncoding encoding = EncodingOf(op);
  const int64_t kept = KeptOf(op);
  const size_t bytes = header->payload_bytes;  // HeaderFor sized the encoding
  if (!UsesFeedback(op)) {
    auto& wire = progress->encoded[k];
    wire.resize(bytes);
    Encode(encoding, dtype, value, n, kept, wire.data());
    progress->payloads[k] = wire.data();
    return;
  }
  EdgeEstimate& edge = op.neighbor.feedback->Find(op.name, op.neighbor.dst_ranks[k],
                                                  FeedbackStore::Side::kSent, dtype, n);
  edge.wire.resize(bytes);  // kept from the last call: no fresh pages to fault in
  edge.residual.resize(op.in.num_bytes());
  EncodeDifference(encoding, dtype, value, n, kept, edge.values.data(), edge.residual.data(),
                   edge.wire.data());
  header->feedback_sequence = edge.sequence++;
  progress->payloads[k] = edge.wire.data();
  progress->residuals[k] = edge.residual.data();
}

}  // namespace

Status StartNeighborOps(std::span<Op* const> ops, Backend& backend, size_t fusion_threshold_bytes) {
  const int me = backend.rank(Group::kWorld);
  struct Segment {
    WireHeader header;
    const void* payload;
    size_t bytes;
  };
  std::map<int, std::vector<Segment>> by_destination;  // ascending ranks: a fixed send order
  for (Op* op : ops) {
    const NeighborPlan& plan = op->neighbor;
    auto progress = std::make_unique<NeighborProgress>();
    const WireHeader header = HeaderFor(*op, me);
    const bool compressed = plan.compression != BF_COMPRESSION_NONE;
    progress->scaled.resize(plan.dst_ranks.size());
    if (compressed) {
      progress->encoded.resize(plan.dst_ranks.size());
      progress->payloads.resize(plan.dst_ranks.size());
      progress->residuals.resize(plan.dst_ranks.size());
    }
    for (size_t k = 0; k < plan.dst_ranks.size(); ++k) {
      const void* payload = op->in.data;
      if (k < plan.dst_weights.size() && plan.dst_weights[k] != 1.0) {
        auto& scaled = progress->scaled[k];
        scaled.resize(op->in.num_bytes());
        Scale(op->in.dtype, scaled.data(), op->in.data, plan.dst_weights[k],
              static_cast<size_t>(op->in.num_elements));
        payload = scaled.data();
      }
      WireHeader to_destination = header;
      if (compressed) {
        EncodeForDestination(*op, k, payload, &to_destination, progress.get());
        payload = progress->payloads[k];
      }
      by_destination[plan.dst_ranks[k]].push_back(
          {to_destination, payload, to_destination.payload_bytes});
    }
    progress->received.resize(plan.src_ranks.size());
    progress->name_hash = header.name_hash;
    op->progress = std::move(progress);
  }

  auto batch = std::make_shared<SendBatch>();
  std::vector<Outgoing> sends;
  for (const auto& [destination, segments] : by_destination) {
    size_t total = 0;
    for (const Segment& segment : segments) total += segment.bytes;
    if (segments.size() == 1 || total > fusion_threshold_bytes) {
      for (const Segment& segment : segments) {
        sends.push_back({destination, segment.header, segment.payload, segment.bytes});
      }
      continue;
    }
    // One message: [sub-headers][aligned payloads], after the outer header the mailbox reads
    // first. Offsets count from the message start (outer header included).
    size_t end = sizeof(WireHeader) * (1 + segments.size());
    for (const Segment& segment : segments) end = AlignFused(end) + segment.bytes;
    const size_t packed_bytes = end - sizeof(WireHeader);
    std::byte* packed =
        batch->fused_buffers.emplace_back(std::make_unique_for_overwrite<std::byte[]>(packed_bytes))
            .get();
    auto at = [&](size_t message_offset) { return packed + (message_offset - sizeof(WireHeader)); };
    size_t offset = sizeof(WireHeader);
    for (const Segment& segment : segments) {
      std::memcpy(at(offset), &segment.header, sizeof(WireHeader));  // payload_bytes set
      offset += sizeof(WireHeader);
    }
    for (const Segment& segment : segments) {
      const size_t aligned = AlignFused(offset);
      std::memset(at(offset), 0, aligned - offset);  // padding: no uninitialized bytes on the wire
      offset = aligned;
      if (segment.bytes) std::memcpy(at(offset), segment.payload, segment.bytes);
      offset += segment.bytes;
    }
    WireHeader outer;
    outer.sender = me;
    outer.fused_count = static_cast<int32_t>(segments.size());
    sends.push_back({destination, outer, packed, packed_bytes});
  }
  BF_RETURN_IF_ERROR(backend.StartSends(sends, &batch->sends));
  for (Op* op : ops) op->progress->batch = batch;
  return Status::Ok();
}

Status StartNeighborOp(Op& op, Backend& backend) {
  Op* one[] = {&op};
  return StartNeighborOps(one, backend, 0);
}

namespace {

// Compressed: every header is checked before any estimate changes, then each message is decoded
// (into its edge's estimate, or a scratch buffer without error feedback) and combined:
//   out = in + step * (self_weight * in + sum_j w_j * decoded_j + sum_k r_k * residual_k - in).
Status CombineCompressed(Op& op, int me) {
  NeighborProgress& progress = *op.progress;
  const NeighborPlan& plan = op.neighbor;
  const DType dtype = op.in.dtype;
  const int64_t n = op.in.num_elements;
  const WireEncoding encoding = EncodingOf(op);
  const int64_t kept = KeptOf(op);
  const bool feedback = UsesFeedback(op);
  std::vector<EdgeEstimate*> estimates(progress.received.size(), nullptr);
  for (size_t k = 0; k < progress.received.size(); ++k) {
    const ReceivedMessage& message = *progress.received[k];
    BF_RETURN_IF_ERROR(CheckIncoming(op, message, me, /*same_size=*/true));
    if (!feedback) continue;
    EdgeEstimate& estimate = plan.feedback->Find(op.name, plan.src_ranks[k],
                                                 FeedbackStore::Side::kReceived, dtype, n);
    const uint32_t sequence = message.header.feedback_sequence;
    if (sequence == 0 && estimate.sequence != 0) estimate.Reset();  // the sender started over
    if (sequence != estimate.sequence) {
      return Error(BF_ERR_MISMATCH, OpKindName(op.kind), " '", op.name, "': rank ", me,
                   " has applied ", estimate.sequence, " error-feedback messages from rank ",
                   plan.src_ranks[k], ", which sent its message number ", sequence,
                   "; an earlier operation under this name failed on one side. Use a new name "
                   "to start the estimates afresh");
    }
    estimates[k] = &estimate;
  }
  const double step = plan.consensus_step;
  std::vector<const void*> sources;
  std::vector<double> weights;
  std::vector<std::vector<std::byte>> scratch;  // decoded messages without error feedback
  scratch.reserve(progress.received.size());
  for (size_t k = 0; k < progress.received.size(); ++k) {
    const ReceivedMessage& message = *progress.received[k];
    void* target = nullptr;
    if (feedback) {
      target = estimates[k]->values.data();
      ++estimates[k]->sequence;
    } else {
      target = scratch.emplace_back(op.in.num_bytes(), std::byte{0}).data();
    }
    if (!AddDecoded(encoding, dtype, message.payload(), n, kept, target)) {
      return Error(BF_ERR_MISMATCH, OpKindName(op.kind), " '", op.name, "': rank ", me,
                   " received a malformed ", EncodingName(encoding), " payload from rank ",
                   plan.src_ranks[k]);
    }
    if (plan.src_weights[k] == 0.0) continue;  // received (static pattern), not combined
    sources.push_back(target);
    weights.push_back(step * plan.src_weights[k]);
  }
  if (feedback) {
    for (size_t k = 0; k < plan.dst_ranks.size(); ++k) {
      sources.push_back(progress.residuals[k]);
      weights.push_back(step * plan.receiver_weights[k]);
    }
  }
  WeightedCombine(dtype, op.out.data, op.in.data, 1.0 - step + step * plan.self_weight, sources,
                  weights, static_cast<size_t>(n));
  return Status::Ok();
}

Status CombineReceived(Op& op, int me) {
  if (op.neighbor.compression != BF_COMPRESSION_NONE) return CombineCompressed(op, me);
  NeighborProgress& progress = *op.progress;
  std::vector<const void*> sources;
  std::vector<double> weights;
  for (size_t k = 0; k < progress.received.size(); ++k) {
    BF_RETURN_IF_ERROR(CheckIncoming(op, *progress.received[k], me, /*same_size=*/true));
    if (op.neighbor.src_weights[k] == 0.0) continue;  // received (static pattern), not combined
    sources.push_back(progress.received[k]->payload());
    weights.push_back(op.neighbor.src_weights[k]);
  }
  WeightedCombine(op.in.dtype, op.out.data, op.in.data, op.neighbor.self_weight, sources, weights,
                  static_cast<size_t>(op.in.num_elements));
  return Status::Ok();
}

Status GatherReceived(Op& op, int me) {
  NeighborProgress& progress = *op.progress;
  int64_t total_rows = 0;
  for (const auto& message : progress.received) {
    BF_RETURN_IF_ERROR(CheckIncoming(op, *message, me, /*same_size=*/false));
    const int64_t row = message->header.row_elements;
    total_rows += row == 0 ? 0 : message->header.payload_elements / row;
  }
  std::vector<int64_t> shape = op.in.shape;
  shape[0] = total_rows;
  DLManagedTensor* result = NewManagedTensor(op.in.dtype, shape, op.result_storage);
  auto* cursor = static_cast<std::byte*>(result->dl_tensor.data);
  for (const auto& message : progress.received) {
    if (message->payload_bytes()) std::memcpy(cursor, message->payload(), message->payload_bytes());
    cursor += message->payload_bytes();
  }
  *op.managed_out = result;
  return Status::Ok();
}

}  // namespace

Status TestNeighborSends(Op& op) {
  SendBatch& batch = *op.progress->batch;
  if (!batch.done) BF_RETURN_IF_ERROR(batch.sends->Test(&batch.done));
  return Status::Ok();
}

Status PollNeighborOp(Op& op, Backend& backend, bool* arrived) {
  *arrived = false;
  NeighborProgress& progress = *op.progress;
  const std::vector<int>& sources = op.neighbor.src_ranks;
  const uint64_t filed = backend.filed_count();
  for (size_t k = 0; k < sources.size() && progress.received_count < sources.size() &&
                     progress.filed_seen != filed;
       ++k) {
    if (progress.received[k]) continue;
    progress.received[k] = backend.Take(sources[k], progress.name_hash);
    if (progress.received[k]) ++progress.received_count;
  }
  progress.filed_seen = filed;
  // Our sends must have left before the op completes: the caller may reuse `in` right after.
  progress.sends_done = progress.sends_done || progress.batch->done;
  *arrived = progress.sends_done && progress.received_count == sources.size();
  return Status::Ok();
}

Status CompleteNeighborOp(Op& op, Backend& backend) {
  const int me = backend.rank(Group::kWorld);
  if (op.kind == OpKind::kNeighborAllgather) return GatherReceived(op, me);
  return CombineReceived(op, me);
}

Status RunNeighborOpBlocking(Op& op, Backend& backend) {
  BF_RETURN_IF_ERROR(StartNeighborOp(op, backend));
  Backoff backoff;
  for (;;) {
    bool moved = false;
    BF_RETURN_IF_ERROR(backend.Progress(&moved));
    bool arrived = false;
    BF_RETURN_IF_ERROR(TestNeighborSends(op));
    BF_RETURN_IF_ERROR(PollNeighborOp(op, backend, &arrived));
    if (arrived) return CompleteNeighborOp(op, backend);
    if (moved) {
      backoff.Progressed();
    } else {
      backoff.Pause(/*waiting_for_peer=*/true);
    }
  }
}

std::vector<int> MissingSources(const Op& op) {
  std::vector<int> missing;
  if (!op.progress) return missing;
  for (size_t k = 0; k < op.neighbor.src_ranks.size(); ++k) {
    if (!op.progress->received[k]) missing.push_back(op.neighbor.src_ranks[k]);
  }
  return missing;
}

}  // namespace bluefog
