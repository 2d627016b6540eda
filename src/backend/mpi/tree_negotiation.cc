// SPDX-License-Identifier: Apache-2.0
// Binomial-tree negotiation rounds (see tree_negotiation.h). Message layout, all uint64:
//   up:   [round, names, (hash, least fingerprint, greatest fingerprint, bitmap words...) * names]
//   down: [round, ready, (hash, agreed) * ready, partial, (hash, bitmap words...) * partial]
#include "backend/mpi/tree_negotiation.h"

#include <algorithm>
#include <bit>
#include <sstream>

#include "backend/mpi/mpi_check.h"

namespace bluefog {

TreeNegotiation::TreeNegotiation(MPI_Comm comm, int tag, int doorbell_tag, int rank, int size,
                                 uint64_t round, const std::vector<NegotiationOffer>& offers)
    : comm_(comm), tag_(tag), rank_(rank), size_(size), round_(round),
      bitmap_words_((static_cast<size_t>(size) + 63) / 64) {
  // Children of r are r + 2^k for 2^k below r's lowest set bit; the parent clears that bit.
  const int lowest = rank == 0 ? size : (rank & -rank);
  for (int step = 1; step < lowest && rank + step < size; step <<= 1) {
    children_.push_back(rank + step);
  }
  child_done_.assign(children_.size(), 0);
  if (rank != 0) parent_ = rank - (rank & -rank);
  for (const NegotiationOffer& offer : offers) {
    Offered& offered = offers_[offer.name];
    offered.least = offer.fingerprint;
    offered.greatest = offer.fingerprint;
    offered.ranks.assign(bitmap_words_, 0);
    offered.ranks[rank / 64] |= uint64_t{1} << (rank % 64);
  }
  for (int child : children_) (void)SendTo(child, {round_}, doorbell_tag);
}

TreeNegotiation::~TreeNegotiation() {
  // Control messages are small (sent eagerly); finishing them keeps their buffers valid.
  if (!send_requests_.empty()) {
    MPI_Waitall(static_cast<int>(send_requests_.size()), send_requests_.data(),
                MPI_STATUSES_IGNORE);
  }
}

Status TreeNegotiation::ReceiveFrom(int source, std::vector<uint64_t>* words, bool* received) {
  int found = 0;
  MPI_Message message;
  MPI_Status status;
  BF_MPI_CHECK(MPI_Improbe(source, tag_, comm_, &found, &message, &status));
  *received = found != 0;
  if (!found) return Status::Ok();
  int count = 0;
  BF_MPI_CHECK(MPI_Get_count(&status, MPI_UINT64_T, &count));
  words->resize(static_cast<size_t>(count));
  BF_MPI_CHECK(MPI_Mrecv(words->data(), count, MPI_UINT64_T, &message, MPI_STATUS_IGNORE));
  if (count < 2 || (*words)[0] != round_) {
    return Error(BF_ERR_INTERNAL, "negotiation message from rank ", source, " is for round ",
                 count ? (*words)[0] : 0, " but rank ", rank_, " is in round ", round_);
  }
  return Status::Ok();
}

Status TreeNegotiation::SendTo(int destination, std::vector<uint64_t> words, int tag) {
  send_buffers_.push_back(std::move(words));
  send_requests_.push_back(MPI_REQUEST_NULL);
  const auto& buffer = send_buffers_.back();
  BF_MPI_CHECK(MPI_Isend(buffer.data(), static_cast<int>(buffer.size()), MPI_UINT64_T,
                         destination, tag, comm_, &send_requests_.back()));
  return Status::Ok();
}

void TreeNegotiation::Merge(const std::vector<uint64_t>& words) {
  const size_t names = words[1];
  size_t at = 2;
  for (size_t n = 0; n < names; ++n) {
    Offered& offered = offers_[words[at]];
    offered.least = std::min(offered.least, words[at + 1]);
    offered.greatest = std::max(offered.greatest, words[at + 2]);
    offered.ranks.resize(bitmap_words_, 0);
    for (size_t w = 0; w < bitmap_words_; ++w) offered.ranks[w] |= words[at + 3 + w];
    at += 3 + bitmap_words_;
  }
}

std::vector<uint64_t> TreeNegotiation::EncodeOffers() const {
  std::vector<uint64_t> words = {round_, offers_.size()};
  for (const auto& [name, offered] : offers_) {
    words.insert(words.end(), {name, offered.least, offered.greatest});
    words.insert(words.end(), offered.ranks.begin(), offered.ranks.end());
  }
  return words;
}

void TreeNegotiation::Decide() {
  for (const auto& [name, offered] : offers_) {
    size_t ranks = 0;
    for (uint64_t word : offered.ranks) ranks += std::popcount(word);
    if (ranks == static_cast<size_t>(size_)) {
      ready_.push_back(name);  // std::map order: ascending hash, the same on every rank
      if (offered.least == offered.greatest) agreed_.insert(name);
    } else {
      partial_[name] = offered.ranks;
    }
  }
}

std::vector<uint64_t> TreeNegotiation::EncodeDecision() const {
  std::vector<uint64_t> words = {round_, ready_.size()};
  for (uint64_t name : ready_) {
    words.insert(words.end(), {name, uint64_t{agreed_.count(name) != 0 ? 1u : 0u}});
  }
  words.push_back(partial_.size());
  for (const auto& [name, bits] : partial_) {
    words.push_back(name);
    words.insert(words.end(), bits.begin(), bits.end());
  }
  return words;
}

void TreeNegotiation::DecodeDecision(const std::vector<uint64_t>& words) {
  const size_t ready = words[1];
  size_t at = 2;
  for (size_t n = 0; n < ready; ++n, at += 2) {
    ready_.push_back(words[at]);
    if (words[at + 1] != 0) agreed_.insert(words[at]);
  }
  const size_t partial = words[at++];
  for (size_t n = 0; n < partial; ++n) {
    partial_[words[at]] = Bitmap(words.begin() + at + 1, words.begin() + at + 1 + bitmap_words_);
    at += 1 + bitmap_words_;
  }
}

Status TreeNegotiation::Test(bool* done) {
  if (phase_ == Phase::kGatherChildren) {
    for (size_t c = 0; c < children_.size(); ++c) {
      if (child_done_[c]) continue;
      std::vector<uint64_t> words;
      bool received = false;
      BF_RETURN_IF_ERROR(ReceiveFrom(children_[c], &words, &received));
      if (!received) continue;
      Merge(words);
      child_done_[c] = 1;
    }
    if (std::all_of(child_done_.begin(), child_done_.end(), [](char d) { return d != 0; })) {
      if (parent_ < 0) {
        Decide();
        const std::vector<uint64_t> decision = EncodeDecision();
        for (int child : children_) BF_RETURN_IF_ERROR(SendTo(child, decision, tag_));
        phase_ = Phase::kDone;
      } else {
        BF_RETURN_IF_ERROR(SendTo(parent_, EncodeOffers(), tag_));
        phase_ = Phase::kAwaitParent;
      }
    }
  }
  if (phase_ == Phase::kAwaitParent) {
    std::vector<uint64_t> words;
    bool received = false;
    BF_RETURN_IF_ERROR(ReceiveFrom(parent_, &words, &received));
    if (received) {
      DecodeDecision(words);
      for (int child : children_) BF_RETURN_IF_ERROR(SendTo(child, words, tag_));
      phase_ = Phase::kDone;
    }
  }
  *done = phase_ == Phase::kDone;
  return Status::Ok();
}

std::string TreeNegotiation::WaitingFor() const {
  std::ostringstream text;
  if (phase_ == Phase::kGatherChildren) {
    bool first = true;
    for (size_t c = 0; c < children_.size(); ++c) {
      if (child_done_[c]) continue;
      const int child = children_[c];
      const int last = std::min(size_ - 1, child + (child & -child) - 1);
      text << (first ? "" : ", ") << "rank " << child;
      if (last > child) text << " (or one of ranks " << child + 1 << ".." << last << " under it)";
      first = false;
    }
  } else if (phase_ == Phase::kAwaitParent) {
    text << "rank " << parent_ << " (the negotiation result comes down from rank 0)";
  }
  return text.str();
}

std::vector<int> TreeNegotiation::MissingRanks(uint64_t name) const {
  std::vector<int> missing;
  auto it = partial_.find(name);
  if (it == partial_.end()) return missing;
  for (int r = 0; r < size_; ++r) {
    if (!(it->second[r / 64] >> (r % 64) & 1)) missing.push_back(r);
  }
  return missing;
}

}  // namespace bluefog
