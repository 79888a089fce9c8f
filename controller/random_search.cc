#include "controller/random_search.h"

#include "common/status_macros.h"
#include "controller/bytes_internal.h"
#include "controller/strategy_internal.h"

namespace hwnas::controller {

namespace {
constexpr absl::string_view kTag = "hwnas.random";
constexpr int kFormat = 1;
}  // namespace

RandomSearch::RandomSearch(const space::SearchSpace& space, uint64_t seed)
    : space_(space), rng_(seed) {}

absl::StatusOr<std::vector<Proposal>> RandomSearch::Propose(int n) {
  std::vector<Proposal> out;
  for (int i = 0; i < n; ++i) {
    std::optional<std::vector<int>> tokens = internal::SampleUnseen(space_, rng_, seen_);
    if (!tokens) break;
    seen_.insert(internal::ExactKey(space_, *tokens));
    out.push_back(Proposal{next_id_++, internal::MakeArch(space_, *std::move(tokens))});
  }
  return out;
}

absl::Status RandomSearch::Observe(absl::Span<const Observation> observations) {
  for (const Observation& o : observations) {
    if (space_.Validate(o.architecture.tokens).ok()) {
      seen_.insert(internal::ExactKey(space_, o.architecture.tokens));
    }
  }
  return absl::OkStatus();
}

absl::Status RandomSearch::WarmStart(absl::Span<const Observation> earlier) {
  return Observe(earlier);
}

absl::StatusOr<std::string> RandomSearch::Save() const {
  internal::ByteWriter w;
  internal::WriteHeader(w, kTag, kFormat);
  w.RngState(rng_);
  w.U64(next_id_);
  internal::WriteKeys(w, seen_);
  return std::move(w).Take();
}

absl::Status RandomSearch::Restore(absl::string_view bytes) {
  internal::ByteReader r(bytes);
  HWNAS_RETURN_IF_ERROR(internal::ReadHeader(r, kTag, kFormat));
  Rng rng;
  HWNAS_RETURN_IF_ERROR(r.RngState(rng));
  HWNAS_ASSIGN_OR_RETURN(uint64_t next_id, r.U64());
  KeySet seen;
  HWNAS_RETURN_IF_ERROR(internal::ReadKeys(r, seen));
  HWNAS_RETURN_IF_ERROR(r.ExpectEnd());
  rng_ = rng;
  next_id_ = next_id;
  seen_ = std::move(seen);
  return absl::OkStatus();
}

}  // namespace hwnas::controller
