// The search-space interface: the vocabulary a strategy emits (one token per
// decision), validation, readable forms, canonical hashing and lowering to
// the network IR the worker builds. Pure C++: no torch, gRPC or SQL.
#ifndef HWNAS_SPACE_SEARCH_SPACE_H_
#define HWNAS_SPACE_SEARCH_SPACE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/trial.h"
#include "space/network_plan.h"

namespace hwnas::space {

// One decision of a factorized space and its choices, in token order.
struct Decision {
  std::string name;                  // e.g. "block1.kernel"
  std::vector<std::string> choices;  // e.g. {"3", "5"}
};

// Shape of the data a space's networks consume and produce.
struct DataShape {
  Shape input_shape;  // {C, H, W} or {C, T}.
  int num_classes = 10;
};

// Thread-compatible: const methods may be called concurrently.
class SearchSpace {
 public:
  virtual ~SearchSpace() = default;

  virtual absl::string_view name() const = 0;
  virtual int version() const = 0;
  // Decisions in emission order. Token i indexes decisions()[i].choices.
  virtual const std::vector<Decision>& decisions() const = 0;
  const DataShape& data_shape() const { return data_shape_; }

  // Checks length, every token's range, then space-specific rules. The
  // message names the decision and the bad value.
  absl::Status Validate(absl::Span<const int> tokens) const;

  // Readable form of valid tokens (MnasNet block strings, NB201 arch_str...).
  virtual std::string Readable(absl::Span<const int> tokens) const = 0;
  // Inverse of Readable; also accepts a comma/space separated token list.
  absl::StatusOr<std::vector<int>> Parse(absl::string_view text) const;

  // Tokens that build the same network map to the same canonical tokens
  // (e.g. NB201 edges that cannot reach the output become "none").
  virtual std::vector<int> Canonicalize(absl::Span<const int> tokens) const;
  // Hash of (name, version, canonical tokens): equal for equivalent networks.
  uint64_t CanonicalHash(absl::Span<const int> tokens) const;
  // Equal for token lists that compute the same function up to their weights:
  // coarser than Canonicalize where a space has identity operations (an NB201
  // chain of skip connections equals the edge it bypasses). Default: the
  // canonical tokens.
  virtual std::string FunctionSignature(absl::Span<const int> tokens) const;

  // Validates and packages tokens as an Architecture with its readable form.
  absl::StatusOr<Architecture> MakeArchitecture(std::vector<int> tokens) const;

  // Lowers valid tokens to the network IR for this space's data shape.
  virtual absl::StatusOr<NetworkPlan> Lower(absl::Span<const int> tokens) const = 0;

  // Number of distinct token lists (saturates at UINT64_MAX).
  uint64_t Cardinality() const;

 protected:
  explicit SearchSpace(DataShape data_shape) : data_shape_(std::move(data_shape)) {}

  // Rules beyond per-token ranges; called after the range checks passed.
  virtual absl::Status ValidateSpecific(absl::Span<const int> tokens) const;
  // Space-specific readable parser; called by Parse for non-numeric text.
  virtual absl::StatusOr<std::vector<int>> ParseReadable(absl::string_view text) const = 0;

 private:
  DataShape data_shape_;
};

}  // namespace hwnas::space

#endif  // HWNAS_SPACE_SEARCH_SPACE_H_
