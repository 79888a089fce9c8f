// EEGNet-style compact EEG classifiers (Lawhern et al., J. Neural Eng. 2018).
//
// Input layout: the data set yields {chans, samples} per trial (electrodes x
// time). EEGNet treats a trial as a one-channel image with electrodes as
// height and time as width, so the plan's input is {1, chans, samples}. The
// element count is the same, so the model builder only views each batch as
// {N} + plan.input_shape() (no copy). A data shape of {1, chans, samples} is
// accepted too.
//
// Network (F1, D, F2, kernels and pools are the decisions):
//   block 1: conv2d (1, K) F1 filters, padding (0, K/2), no bias -> BN
//            -> depthwise conv2d (chans, 1), groups F1, F1*D filters, no bias
//            -> BN -> ELU -> avgpool (1, P1) -> dropout
//   block 2: separable conv = depthwise (1, S), groups F1*D, padding (0, S/2)
//            -> pointwise 1x1 to F2, no bias -> BN -> ELU -> avgpool (1, P2)
//            -> dropout
//   head:    flatten -> linear(num_classes) with bias
// Kernels are odd so symmetric padding keeps the time length ("same"); the
// paper's 64/16 at 128 Hz become e.g. 63/15. The paper's max-norm weight
// constraints are a training detail and not part of the plan.
//
// Decisions, in token order: temporal_kernel (K), f1, depth (D), f2,
// pool1 (P1), sep_kernel (S), pool2 (P2), dropout. The samples left after
// both poolings must be at least 1.
//
// Readable form: "eegnet K=63 F1=8 D=2 F2=16 P1=4 S=15 P2=8 dropout=0.5";
// keys in any order, all required.
//
// Canonical form: every valid token list builds a different network (the
// choice lists have no duplicates and every decision changes a weight shape
// or, for dropout, the training), so canonical tokens are the tokens.
#ifndef HWNAS_SPACE_EEGNET_SPACE_H_
#define HWNAS_SPACE_EEGNET_SPACE_H_

#include <memory>
#include <string>
#include <vector>

#include "common/yaml_fields.h"
#include "space/search_space.h"

namespace hwnas::space {

class EegnetSpace : public SearchSpace {
 public:
  enum DecisionIndex {
    kTemporalKernel = 0,
    kF1,
    kDepth,
    kF2,
    kPool1,
    kSepKernel,
    kPool2,
    kDropout,
    kNumDecisions
  };

  struct Options {
    std::vector<int> temporal_kernels = {15, 31, 63, 81};
    std::vector<int> f1 = {4, 8, 16};
    std::vector<int> depth = {1, 2, 4};
    std::vector<int> f2 = {8, 16, 32};
    std::vector<int> pool1 = {2, 4, 8};
    std::vector<int> sep_kernels = {7, 15, 31};
    std::vector<int> pool2 = {4, 8};
    std::vector<double> dropout = {0.25, 0.5};
    int activation_bits = 32;
  };

  struct Arch {
    int temporal_kernel = 63;
    int f1 = 8;
    int depth = 2;
    int f2 = 16;
    int pool1 = 4;
    int sep_kernel = 15;
    int pool2 = 8;
    double dropout = 0.5;
  };

  // Spec keys (all optional; lists give the choices of each decision):
  //   temporal_kernels [15, 31, 63, 81] (odd)   f1 [4, 8, 16]
  //   depth [1, 2, 4]   f2 [8, 16, 32]   pool1 [2, 4, 8]
  //   sep_kernels [7, 15, 31] (odd)   pool2 [4, 8]   dropout [0.25, 0.5]
  //   activation_bits 32 (or 8)
  static absl::StatusOr<std::unique_ptr<EegnetSpace>> Create(const YamlSection& section,
                                                             DataShape data);
  EegnetSpace(Options options, DataShape data);

  absl::string_view name() const override { return "eegnet"; }
  int version() const override { return 1; }
  const std::vector<Decision>& decisions() const override { return decisions_; }
  const Options& options() const { return options_; }
  int64_t channels() const;
  int64_t samples() const;

  absl::StatusOr<Arch> Decode(absl::Span<const int> tokens) const;
  std::string Readable(absl::Span<const int> tokens) const override;
  absl::StatusOr<NetworkPlan> Lower(absl::Span<const int> tokens) const override;

 protected:
  absl::Status ValidateSpecific(absl::Span<const int> tokens) const override;
  absl::StatusOr<std::vector<int>> ParseReadable(absl::string_view text) const override;

 private:
  Arch DecodeUnchecked(absl::Span<const int> tokens) const;

  Options options_;
  std::vector<Decision> decisions_;
};

}  // namespace hwnas::space

#endif  // HWNAS_SPACE_EEGNET_SPACE_H_
