// SPDX-License-Identifier: Apache-2.0
// TreeNegotiation: one round of name negotiation over a binomial tree of point-to-point messages.
// Each rank offers the hashes of the global operations it has posted; bitmaps of who offered
// what are OR-ed up the tree; rank 0 decides which names every rank offered and sends the answer
// (plus who is missing for the rest) back down. Only ranks with pending work start rounds, so an
// idle engine sends nothing; no rank does more than log2(size) sends and receives per round.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace bluefog {

class TreeNegotiation final : public NegotiationRound {
 public:
  // Also rings the doorbell (tag doorbell_tag) of every child, so idle subtrees join the round.
  TreeNegotiation(MPI_Comm comm, int tag, int doorbell_tag, int rank, int size, uint64_t round,
                  const std::vector<uint64_t>& names);
  ~TreeNegotiation() override;

  Status Test(bool* done) override;
  const std::vector<uint64_t>& ready() const override { return ready_; }
  std::string WaitingFor() const override;

  // After the round: ranks that had not offered `name` (empty if every rank had).
  std::vector<int> MissingRanks(uint64_t name) const override;

 private:
  using Bitmap = std::vector<uint64_t>;
  enum class Phase { kGatherChildren, kAwaitParent, kDone };

  Status ReceiveFrom(int source, std::vector<uint64_t>* words, bool* received);
  Status SendTo(int destination, std::vector<uint64_t> words, int tag);
  void Merge(const std::vector<uint64_t>& words);
  std::vector<uint64_t> EncodeOffers() const;
  std::vector<uint64_t> EncodeDecision() const;
  void DecodeDecision(const std::vector<uint64_t>& words);
  void Decide();

  MPI_Comm comm_;
  int tag_, rank_, size_;
  uint64_t round_;
  size_t bitmap_words_;
  int parent_ = -1;
  std::vector<int> children_;
  std::vector<char> child_done_;
  Phase phase_ = Phase::kGatherChildren;
  std::map<uint64_t, Bitmap> offers_;  // name -> ranks (in this subtree) that offered it
  std::vector<uint64_t> ready_;
  std::map<uint64_t, Bitmap> partial_;  // after the round: names not everyone offered
  std::vector<std::vector<uint64_t>> send_buffers_;
  std::vector<MPI_Request> send_requests_;
};

}  // namespace bluefog
