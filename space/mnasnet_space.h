// The MnasNet factorized hierarchical search space (Tan et al., CVPR 2019).
//
// The network is a fixed stem, B searched blocks and a fixed head:
//   stem:  conv k3 (stem_stride) -> BN -> ReLU, stem_filters channels
//   block b (b = 0..B-1), each with its own decisions, in token order:
//     op      {conv, dwsep, mbconv1, mbconv3, mbconv6}
//     kernel  {3, 5}
//     se      {0, 0.25}    squeeze-and-excitation ratio
//     skip    {none, identity}
//     width   {0.75, 1.0, 1.25} x the block's base filters
//     layers  {base-1, base, base+1} (never below 1)
//   [weight_bits {32, 8, 4}]  one global decision, only with `quantize: true`
//   head:  conv 1x1 head_filters -> BN -> ReLU (skipped when head_filters is 0)
//          -> global average pool -> flatten -> dropout -> linear(num_classes)
//
// The first layer of a block has the block's stride and maps the previous
// block's channels to this block's; later layers keep stride 1 and width.
// Layer bodies (ReLU everywhere, as in MnasNet):
//   conv:    conv kxk -> BN -> ReLU [-> SE]
//   dwsep:   depthwise kxk -> BN -> ReLU [-> SE] -> pointwise 1x1 -> BN -> ReLU
//            (MobileNet-V1 style; the activation after the pointwise conv is
//            what makes it a different network from mbconv1)
//   mbconvE: [pointwise expand x E -> BN -> ReLU, absent for E = 1]
//            -> depthwise kxk -> BN -> ReLU [-> SE] -> pointwise project -> BN
//            (linear bottleneck, MobileNet-V2 / MnasNet)
//   SE:      global avg pool -> conv 1x1 (bias) to max(1, int(layer_in * ratio))
//            -> ReLU -> conv 1x1 (bias) back -> sigmoid -> multiply.
//   An identity skip adds the layer input to its output when the block chose
//   `identity` and the layer keeps shape (stride 1, in == out channels).
// Channel counts are base * width rounded to a multiple of channel_divisor
// (MobileNet's make_divisible), so two widths may give the same count.
//
// Input: images {C, H, W}, or time series {C, T} (every conv becomes 1-D).
//
// Readable form: one EfficientNet-style block string per block, separated by
// spaces, e.g. "r1_k3_s11_e1_i32_o16_noskip r2_k3_s22_e6_i16_o24_se0.25":
//   [conv_|dwsep_] op prefix (absent for mbconv, which carries e<E> instead),
//   r layers, k kernel, s stride (two digits for 2-D, one for 1-D), i/o
//   channels, se<ratio> when SE is on, _noskip when no identity skip is used.
// With `quantize: true` a final item w32, w8 or w4 gives the weight width.
// Readable() renders the canonical tokens, so Parse(Readable(t)) equals
// Canonicalize(t).
//
// Canonical form (token lists that build the same network):
//   - widths that round to the same channel count -> the smallest such token;
//   - layer choices clamped to the same count (base 1: "base-1" = "base") ->
//     the smallest such token;
//   - skip = identity on a block where no layer can have one (a single
//     layer that changes stride or width) -> none.
#ifndef HWNAS_SPACE_MNASNET_SPACE_H_
#define HWNAS_SPACE_MNASNET_SPACE_H_

#include <memory>
#include <string>
#include <vector>

#include "common/yaml_fields.h"
#include "space/search_space.h"

namespace hwnas::space {

class MnasnetSpace : public SearchSpace {
 public:
  enum class ConvOp { kConv = 0, kDwSep, kMbConv1, kMbConv3, kMbConv6 };
  static constexpr int kDecisionsPerBlock = 6;
  // Offsets of a block's decisions within its kDecisionsPerBlock tokens.
  static constexpr int kOp = 0, kKernel = 1, kSe = 2, kSkip = 3, kWidth = 4, kLayers = 5;

  // Base (unsearched) shape of one block.
  struct BlockBase {
    int64_t filters = 16;
    int layers = 1;
    int stride = 1;
  };

  struct Options {
    // MnasNet-A1/MobileNet-V2 skeleton for ImageNet-size inputs.
    std::vector<BlockBase> blocks = DefaultBlocks();
    int64_t stem_filters = 32;
    int stem_stride = 2;
    int64_t head_filters = 1280;  // 0: no 1x1 head conv.
    int channel_divisor = 8;
    double dropout = 0.2;
    bool quantize = false;     // Adds the global weight_bits decision.
    int activation_bits = 32;  // Activation width assumed on device (8 or 32).
  };

  // The 7 default blocks: filters 16,24,40,80,112,160,320; layers
  // 1,2,3,4,2,3,1; strides 1,2,2,2,1,2,1.
  static std::vector<BlockBase> DefaultBlocks();

  // One decoded block, with the channel counts its choices imply.
  struct Block {
    ConvOp op = ConvOp::kMbConv6;
    int kernel = 3;
    double se_ratio = 0;
    bool skip = false;  // The choice; see UsesSkip for where it applies.
    int64_t in_channels = 0;
    int64_t out_channels = 0;
    int layers = 1;
    int stride = 1;
    int expand = 1;  // 1, 3 or 6 for mbconv; 1 otherwise.
  };

  struct Arch {
    std::vector<Block> blocks;
    int weight_bits = 32;
  };

  // Spec keys (all optional):
  //   blocks           number of searched blocks, 1..12 (default: len(filters)
  //                    or 7); without explicit lists, the first `blocks`
  //                    default blocks are used
  //   filters          base filters per block      [16, 24, 40, 80, 112, 160, 320]
  //   layers           base layers per block       [1, 2, 3, 4, 2, 3, 1]
  //   strides          stride per block (1 or 2)   [1, 2, 2, 2, 1, 2, 1]
  //   stem_filters     32          stem_stride  2
  //   head_filters     1280 (0 = no head conv)
  //   channel_divisor  8 (1 keeps exact base * width)
  //   dropout          0.2 (before the classifier)
  //   quantize         false (true adds the weight_bits decision)
  //   activation_bits  32 (8: activations stored as int8 on device)
  static absl::StatusOr<std::unique_ptr<MnasnetSpace>> Create(const YamlSection& section,
                                                              DataShape data);
  MnasnetSpace(Options options, DataShape data);

  absl::string_view name() const override { return "mnasnet"; }
  int version() const override { return 1; }
  const std::vector<Decision>& decisions() const override { return decisions_; }
  const Options& options() const { return options_; }

  // Decodes valid tokens (checked) into blocks with their channel counts.
  absl::StatusOr<Arch> Decode(absl::Span<const int> tokens) const;
  // True when layer `layer` (0-based) of `block` adds an identity skip.
  static bool UsesSkip(const Block& block, int layer);

  std::string Readable(absl::Span<const int> tokens) const override;
  std::vector<int> Canonicalize(absl::Span<const int> tokens) const override;
  absl::StatusOr<NetworkPlan> Lower(absl::Span<const int> tokens) const override;

  static absl::string_view ConvOpName(ConvOp op);

 protected:
  absl::StatusOr<std::vector<int>> ParseReadable(absl::string_view text) const override;

 private:
  // Channels of block b for width token w.
  int64_t Channels(int b, int width_token) const;
  int LayerCount(int b, int layers_token) const;
  Arch DecodeUnchecked(absl::Span<const int> tokens) const;
  int num_blocks() const { return static_cast<int>(options_.blocks.size()); }

  Options options_;
  std::vector<Decision> decisions_;
};

}  // namespace hwnas::space

#endif  // HWNAS_SPACE_MNASNET_SPACE_H_
