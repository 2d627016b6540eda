// SPDX-License-Identifier: Apache-2.0
// TreeNegotiation: one round of name negotiation over a binomial tree of point-to-point messages.
// Each rank offers the hashes of the global operations it has posted; bitmaps of who offered
// what are OR-ed up the tree, with the least and greatest fingerprint offered for each name; rank 0
// decides which names every rank offered, and whether with one fingerprint, and sends the answer
// (plus who is missing for the rest) back down. Only ranks with pending work start rounds, so an
// idle engine sends nothing; no rank does more than log2(size) sends and receives per round.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace bluefog {

class TreeNegotiation final : public NegotiationRound {
 public:
  // Also rings the doorbell (tag doorbell_tag) of every child, so idle subtrees join the round.
  TreeNegotiation(MPI_Comm comm, int tag, int doorbell_tag, int rank, int size, uint64_t round,
                  const std::vector<NegotiationOffer>& offers);
  ~TreeNegotiation() override;

  Status Test(bool* done) override;
  const std::vector<uint64_t>& ready() const override { return ready_; }
  bool Agreed(uint64_t name) const override { return agreed_.count(name) != 0; }
  std::string WaitingFor() const override;

  // After the round: ranks that had not offered `name` (empty if every rank had).
  std::vector<int> MissingRanks(uint64_t name) const override;

 private:
  using Bitmap = std::vector<uint64_t>;
  // Who offered a name in this subtree, and the range of fingerprints they offered it with.
  struct Offered {
    uint64_t least = UINT64_MAX;
    uint64_t greatest = 0;
    Bitmap ranks;
  };
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
  std::map<uint64_t, Offered> offers_;  // by name
  std::vector<uint64_t> ready_;
  std::set<uint64_t> agreed_;  // ready names offered with one fingerprint
  std::map<uint64_t, Bitmap> partial_;  // after the round: names not everyone offered
  std::vector<std::vector<uint64_t>> send_buffers_;
  std::vector<MPI_Request> send_requests_;
};

}  // namespace bluefog
