// A search space for time-series classifiers small enough for
// microcontrollers: a stack of 1-D convolutions followed by recurrent cells
// and a linear classifier. Input: {C, T} (channels x time steps), e.g. ECG5000
// as {1, 140}.
//
// Decisions, in token order:
//   conv<i>.op        {none, conv, sep}     for i = 1..conv_layers
//   conv<i>.kernel    kernels option        (default 3, 5, 7, 9)
//   conv<i>.dilation  dilations option      (default 1, 2, 4)
//   conv<i>.channels  channels option       (default 8, 16, 32, 64)
//   conv<i>.pool      {1, 2}                max-pool by 2 after the layer
//   rnn<j>.cell       {none, lstm, gru}     for j = 1..rnn_layers
//   rnn<j>.hidden     hidden_sizes option   (default 16, 32, 64)
// Layer bodies:
//   conv: conv1d k, dilation d, "same" padding -> BN -> ReLU [-> maxpool 2]
//   sep:  depthwise conv1d k, d -> pointwise 1x1 -> BN -> ReLU [-> maxpool 2]
//   rnn:  LSTM/GRU (one layer, batch-first); every cell but the last returns
//         the whole sequence, the last returns its final hidden state.
// Head: the last hidden state, or global average pooling over time when there
// is no recurrent cell, -> [dropout] -> linear(num_classes).
//
// Readable form: the layers in order, separated by spaces, "none" for an empty
// stack, e.g. "conv_k5_d1_c16_p2 sep_k3_d2_c32 lstm_h32". `_p2` marks pooling.
//
// Canonical form: a "none" layer is removed from the stack, so the remaining
// layers are packed to the front (in order) and every "none" slot has all its
// other tokens at 0; with a kernel of 1, dilation is irrelevant and becomes
// the dilation-1 token (when the dilation list has 1). Readable() renders the
// canonical tokens, so Parse(Readable(t)) equals Canonicalize(t).
#ifndef HWNAS_SPACE_TEMPORAL_SPACE_H_
#define HWNAS_SPACE_TEMPORAL_SPACE_H_

#include <memory>
#include <string>
#include <vector>

#include "common/yaml_fields.h"
#include "space/search_space.h"

namespace hwnas::space {

class TemporalSpace : public SearchSpace {
 public:
  static constexpr int kConvDecisions = 5;
  static constexpr int kRnnDecisions = 2;
  enum class ConvKind { kNone = 0, kConv, kSep };
  enum class CellKind { kNone = 0, kLstm, kGru };

  struct Options {
    int conv_layers = 3;
    int rnn_layers = 1;
    std::vector<int> kernels = {3, 5, 7, 9};
    std::vector<int> dilations = {1, 2, 4};
    std::vector<int> channels = {8, 16, 32, 64};
    std::vector<int> hidden_sizes = {16, 32, 64};
    double dropout = 0;
    int activation_bits = 32;
  };

  struct ConvLayer {
    ConvKind kind = ConvKind::kConv;
    int kernel = 3;
    int dilation = 1;
    int channels = 8;
    bool pool = false;
  };
  struct RnnLayer {
    CellKind cell = CellKind::kLstm;
    int hidden = 16;
  };
  // Only the layers that exist (canonical order).
  struct Arch {
    std::vector<ConvLayer> convs;
    std::vector<RnnLayer> rnns;
  };

  // Spec keys (all optional): conv_layers (3, 0..8), rnn_layers (1, 0..3),
  // kernels [3, 5, 7, 9], dilations [1, 2, 4], channels [8, 16, 32, 64],
  // hidden_sizes [16, 32, 64], dropout (0), activation_bits (32 or 8).
  static absl::StatusOr<std::unique_ptr<TemporalSpace>> Create(const YamlSection& section,
                                                               DataShape data);
  TemporalSpace(Options options, DataShape data);

  absl::string_view name() const override { return "temporal"; }
  int version() const override { return 1; }
  const std::vector<Decision>& decisions() const override { return decisions_; }
  const Options& options() const { return options_; }

  absl::StatusOr<Arch> Decode(absl::Span<const int> tokens) const;
  std::string Readable(absl::Span<const int> tokens) const override;
  std::vector<int> Canonicalize(absl::Span<const int> tokens) const override;
  absl::StatusOr<NetworkPlan> Lower(absl::Span<const int> tokens) const override;

 protected:
  absl::Status ValidateSpecific(absl::Span<const int> tokens) const override;
  absl::StatusOr<std::vector<int>> ParseReadable(absl::string_view text) const override;

 private:
  Arch DecodeUnchecked(absl::Span<const int> tokens) const;
  int rnn_offset() const { return options_.conv_layers * kConvDecisions; }

  Options options_;
  std::vector<Decision> decisions_;
};

}  // namespace hwnas::space

#endif  // HWNAS_SPACE_TEMPORAL_SPACE_H_
