// The NAS-Bench-201 cell space: 6 edges of a 4-node cell, 5 ops per edge.
// Token values equal the digits of the benchmark table's `ops` column.
#ifndef HWNAS_SPACE_NB201_SPACE_H_
#define HWNAS_SPACE_NB201_SPACE_H_

#include <array>
#include <memory>

#include "common/yaml_fields.h"
#include "space/search_space.h"

namespace hwnas::space {

class Nb201Space : public SearchSpace {
 public:
  static constexpr int kNumEdges = 6;
  static constexpr int kNumOps = 5;
  // Edge e connects kEdgeFrom[e] -> kEdgeTo[e] (benchmark order).
  static constexpr std::array<int, kNumEdges> kEdgeFrom = {0, 0, 1, 0, 1, 2};
  static constexpr std::array<int, kNumEdges> kEdgeTo = {1, 2, 2, 3, 3, 3};
  static constexpr std::array<absl::string_view, kNumOps> kOpNames = {
      "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};

  struct Options {
    int channels = 16;        // Stem width; doubles at each reduction.
    int cells_per_stage = 5;  // N in the paper (5); 1-2 for proxy training.
  };

  // Reads `channels` and `cells_per_stage` from the spec's space section.
  static absl::StatusOr<std::unique_ptr<Nb201Space>> Create(const YamlSection& section,
                                                            DataShape data);
  Nb201Space(Options options, DataShape data);

  absl::string_view name() const override { return "nb201"; }
  int version() const override { return 1; }
  const std::vector<Decision>& decisions() const override { return decisions_; }
  std::string Readable(absl::Span<const int> tokens) const override;
  std::vector<int> Canonicalize(absl::Span<const int> tokens) const override;
  // The output node as an expression over the input: each node is the sorted
  // sum of its live edges' terms, skip edges pass their source's terms on.
  std::string FunctionSignature(absl::Span<const int> tokens) const override;
  absl::StatusOr<NetworkPlan> Lower(absl::Span<const int> tokens) const override;

  // True when some path of non-"none" edges leads from input to output.
  static bool IsConnected(absl::Span<const int> tokens);

 protected:
  absl::StatusOr<std::vector<int>> ParseReadable(absl::string_view text) const override;

 private:
  Options options_;
  std::vector<Decision> decisions_;
};

}  // namespace hwnas::space

#endif  // HWNAS_SPACE_NB201_SPACE_H_
