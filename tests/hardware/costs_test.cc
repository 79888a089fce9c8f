#include "hardware/costs.h"

#include "gtest/gtest.h"
#include "space/eegnet_space.h"
#include "space/mnasnet_space.h"
#include "space/temporal_space.h"
#include "tests/hardware/small_cnn.h"

namespace hwnas::hardware {
namespace {

using space::Activation;
using space::DataShape;
using space::NetworkPlan;
using space::PlanBuilder;

TEST(CostsTest, SmallCnnByHand) {
  absl::StatusOr<CostReport> r = ComputeCosts(SmallCnn(32, 32));
  ASSERT_TRUE(r.ok()) << r.status();
  // params: conv 4*1*3*3 = 36; BN 2*4 = 8; linear 4*3 + 3 = 15 -> 59.
  EXPECT_EQ(r->totals.params, 59);
  // MACs: conv 4*8*8 outputs * 1*3*3 = 2304; linear 4*3 = 12 -> 2316.
  EXPECT_EQ(r->totals.macs, 2316);
  // Float32 activations. Buffers: input 64 el = 256 B (ops 0-1); conv 256 el
  // = 1024 B, shared in place by BN and ReLU, alive until the GAP (ops 1-4);
  // GAP 4 el = 16 B, shared by flatten (ops 4-6); linear 3 el = 12 B.
  // Live per op: 256, 1280, 1024, 1024, 1040, 16, 28 -> peak 1280 at the conv.
  std::vector<int64_t> live;
  for (const OpCost& c : r->ops) live.push_back(c.live_bytes);
  EXPECT_EQ(live, (std::vector<int64_t>{256, 1280, 1024, 1024, 1040, 16, 28}));
  EXPECT_EQ(r->totals.peak_activation_bytes, 1280);
  EXPECT_EQ(r->peak_op, 1);
  EXPECT_TRUE(r->ops[2].in_place && r->ops[3].in_place && r->ops[5].in_place);
  // Flash: conv 36*4 = 144; BN folded into the bias-free conv -> bias 4*4 =
  // 16; linear (12 + 3)*4 = 60 -> 220.
  EXPECT_TRUE(r->ops[2].folded);
  EXPECT_EQ(r->ops[2].flash_bytes, 16);
  EXPECT_EQ(r->totals.flash_bytes, 220);
  // Scratch: im2col of two 1*3*3 receptive fields at float32 = 72 B.
  EXPECT_EQ(r->max_scratch_bytes, 72);
}

TEST(CostsTest, QuantizedFlashAndActivations) {
  // int8 weights: conv 36 B + 4 float scales 16 B = 52; folded BN bias 16;
  // linear 12 B + bias 3*4 + scales 3*4 = 36 -> 104.
  absl::StatusOr<CostReport> r8 = ComputeCosts(SmallCnn(8, 8));
  ASSERT_TRUE(r8.ok()) << r8.status();
  EXPECT_EQ(r8->ops[1].flash_bytes, 52);
  EXPECT_EQ(r8->ops[6].flash_bytes, 36);
  EXPECT_EQ(r8->totals.flash_bytes, 104);
  // int8 activations: 64 + 256 = 320 at the conv; im2col at q15: 2*9*2 = 36.
  EXPECT_EQ(r8->totals.peak_activation_bytes, 320);
  EXPECT_EQ(r8->max_scratch_bytes, 36);
  // Params and MACs do not depend on widths.
  EXPECT_EQ(r8->totals.params, 59);
  EXPECT_EQ(r8->totals.macs, 2316);
  // int4: conv ceil(36/2) = 18 + 16 = 34; BN 16; linear 12/2 = 6 + 12 + 12
  // = 30 -> 80.
  absl::StatusOr<HardwareCosts> c4 = StaticCosts(SmallCnn(4, 8));
  ASSERT_TRUE(c4.ok());
  EXPECT_EQ(c4->flash_bytes, 80);
}

TEST(CostsTest, ResidualInputStaysAliveUntilItsAdd) {
  // int8 activations so sizes equal element counts.
  PlanBuilder b({4, 4, 4});  // op0: 64 B
  b.set_activation_bits(8);
  int c1 = b.Conv(b.input(), 8, 1, 1);   // op1: 128 B
  int r = b.Act(c1, Activation::kRelu);  // op2: in place on op1
  int c2 = b.Conv(r, 8, 3, 1);           // op3: 128 B
  int add = b.Add({c2, r});              // op4: 128 B, reads op2 again
  int g = b.GlobalAvgPool(add);          // op5: 8 B
  int f = b.Flatten(g);                  // op6: in place on op5
  int fc = b.Linear(f, 2);               // op7: 2 B
  absl::StatusOr<NetworkPlan> plan = std::move(b).Finish(fc);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<CostReport> rep = ComputeCosts(*plan);
  ASSERT_TRUE(rep.ok()) << rep.status();
  // op0: input 64. op1: input 64 + c1 128 = 192. op2: 128 (input freed).
  // op3: relu'd c1 128 + c2 128 = 256. op4: the residual is still alive:
  // 128 + 128 + add 128 = 384. op5: add 128 + gap 8 = 136. op6: 8. op7: 8 + 2.
  std::vector<int64_t> live;
  for (const OpCost& c : rep->ops) live.push_back(c.live_bytes);
  EXPECT_EQ(live, (std::vector<int64_t>{64, 192, 128, 256, 384, 136, 8, 10}));
  EXPECT_EQ(rep->totals.peak_activation_bytes, 384);
  EXPECT_EQ(rep->peak_op, 4);
  EXPECT_TRUE(rep->ops[2].in_place);
  EXPECT_FALSE(rep->ops[4].in_place);
  // Params: 4*8 + 8*8*9 + 8*2 + 2 = 32 + 576 + 18 = 626; MACs: 8*16*4 = 512
  // + 8*16*72 = 9216 + 16 = 9744.
  EXPECT_EQ(rep->totals.params, 626);
  EXPECT_EQ(rep->totals.macs, 9744);
}

TEST(CostsTest, BatchNormFoldsOnlyIntoASoleConsumerLayer) {
  PlanBuilder b({2, 4, 4});
  int c = b.Conv(b.input(), 2, 1, 1);  // op1: 4 weights
  int add = b.Add({c, b.input()});     // op2
  int bn = b.BatchNorm(add);           // op3: after an add, cannot fold
  int g = b.GlobalAvgPool(bn);
  int f = b.Flatten(g);
  int fc = b.Linear(f, 2, false);
  absl::StatusOr<NetworkPlan> plan = std::move(b).Finish(fc);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<CostReport> rep = ComputeCosts(*plan);
  ASSERT_TRUE(rep.ok()) << rep.status();
  EXPECT_FALSE(rep->ops[3].folded);
  EXPECT_EQ(rep->ops[3].flash_bytes, 2 * 2 * 4);  // scale + shift, float32.
  // 4*4 conv + 16 BN + 4*4 linear.
  EXPECT_EQ(rep->totals.flash_bytes, 48);
}

TEST(CostsTest, MnasnetBlockByHand) {
  space::MnasnetSpace::Options o;
  o.blocks = {{8, 1, 1}};
  o.stem_filters = 8;
  o.stem_stride = 1;
  o.head_filters = 0;
  o.dropout = 0;
  space::MnasnetSpace space(o, DataShape{{1, 8, 8}, 2});
  // mbconv3, k3, SE 0.25, identity skip, width 1.0 (8), 1 layer.
  absl::StatusOr<NetworkPlan> plan = space.Lower(std::vector<int>{3, 0, 1, 1, 1, 1});
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<CostReport> r = ComputeCosts(*plan);
  ASSERT_TRUE(r.ok()) << r.status();
  // 8x8 maps throughout (stride 1), 64 positions.
  //                     params                MACs
  // stem conv 3x3 1->8  72                    64*8*9    = 4608
  // stem BN             16
  // expand 1x1 8->24    192                   64*24*8   = 12288
  // expand BN           48
  // dw 3x3 x24          216                   64*24*9   = 13824
  // dw BN               48
  // SE reduce 24->2     48 + 2 (int(8*0.25))  2*24      = 48
  // SE expand 2->24     48 + 24               24*2      = 48
  // project 1x1 24->8   192                   64*8*24   = 12288
  // project BN          16
  // classifier 8->2     16 + 2                16
  // total               940                   43120
  EXPECT_EQ(r->totals.params, 940);
  EXPECT_EQ(r->totals.macs, 43120);
  // Flash (float32): weights 72+192+216+48+48+192+16 = 784 -> 3136 B; biases
  // 2+24+2 = 28 -> 112 B; 4 folded BNs give bias-free convs biases
  // (8+24+24+8)*4 = 256 B. Total 3504.
  EXPECT_EQ(r->totals.flash_bytes, 3504);
}

TEST(CostsTest, TemporalLstmAndGruByHand) {
  space::TemporalSpace space({.conv_layers = 1,
                              .rnn_layers = 1,
                              .kernels = {3},
                              .dilations = {1},
                              .channels = {4},
                              .hidden_sizes = {2}},
                             DataShape{{1, 8}, 2});
  // conv1d 1->4 k3 on 8 steps, BN, ReLU, LSTM(4 -> 2), linear 2->2.
  absl::StatusOr<NetworkPlan> lstm = space.Lower(std::vector<int>{1, 0, 0, 0, 0, 1, 0});
  ASSERT_TRUE(lstm.ok()) << lstm.status();
  absl::StatusOr<CostReport> r = ComputeCosts(*lstm);
  ASSERT_TRUE(r.ok()) << r.status();
  // params: conv 4*1*3 = 12; BN 8; LSTM 4 gates * 2 * (4 + 2) = 48 weights +
  // bias_ih + bias_hh 2 * 8 = 16 -> 64; linear 4 + 2 = 6. Total 90.
  EXPECT_EQ(r->totals.params, 90);
  // MACs: conv 4*8 outputs * 3 = 96; LSTM 8 steps * 48 = 384; linear 4 -> 484.
  EXPECT_EQ(r->totals.macs, 484);
  // Flash: conv 48; folded BN bias 16; LSTM 48*4 = 192 + merged bias 8*4 =
  // 32; linear 24 -> 312.
  EXPECT_EQ(r->totals.flash_bytes, 312);
  // Peak: input 32 B + conv output 128 B at the conv.
  EXPECT_EQ(r->totals.peak_activation_bytes, 160);
  // LSTM scratch: (4 gates + cell) * 2 * 4 B = 40 > conv im2col 2*3*4 = 24.
  EXPECT_EQ(r->max_scratch_bytes, 40);

  absl::StatusOr<NetworkPlan> gru = space.Lower(std::vector<int>{1, 0, 0, 0, 0, 2, 0});
  ASSERT_TRUE(gru.ok()) << gru.status();
  r = ComputeCosts(*gru);
  ASSERT_TRUE(r.ok()) << r.status();
  // GRU: 3 gates * 2 * 6 = 36 weights + 2 * 6 biases = 48 params; MACs 8 * 36
  // = 288; flash 36*4 + 4 * 2 * 4 (b_r, b_z merged, b_in, b_hn) = 176.
  EXPECT_EQ(r->totals.params, 12 + 8 + 48 + 6);
  EXPECT_EQ(r->totals.macs, 96 + 288 + 4);
  EXPECT_EQ(r->totals.flash_bytes, 48 + 16 + 176 + 24);
}

TEST(CostsTest, EegnetByHand) {
  space::EegnetSpace::Options o;
  o.temporal_kernels = {3};
  o.f1 = {2};
  o.depth = {2};
  o.f2 = {4};
  o.pool1 = {2};
  o.sep_kernels = {3};
  o.pool2 = {2};
  o.dropout = {0.5};
  space::EegnetSpace space(o, DataShape{{4, 16}, 2});
  absl::StatusOr<NetworkPlan> plan = space.Lower(std::vector<int>(8, 0));
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<CostReport> r = ComputeCosts(*plan);
  ASSERT_TRUE(r.ok()) << r.status();
  //                              params   MACs                 output
  // temporal conv (1,3) 1->2      6        2*4*16 * 3 = 384     {2,4,16}
  // BN                            4
  // spatial dw (4,1) 2->4, g=2    16       4*1*16 * 4 = 256     {4,1,16}
  // BN                            8
  // ELU, avgpool (1,2), dropout                                 {4,1,8}
  // sep dw (1,3) g=4              12       32 * 3     = 96
  // sep pw 4->4                   16       32 * 4     = 128
  // BN                            8
  // ELU, avgpool (1,2), dropout, flatten                        {16}
  // linear 16->2                  34       32
  // total                         104      896
  EXPECT_EQ(r->totals.params, 104);
  EXPECT_EQ(r->totals.macs, 896);
  // Flash: conv weights (6+16+12+16)*4 = 200; three folded BNs: biases
  // (2+4+4)*4 = 40; linear 34*4 = 136 -> 376.
  EXPECT_EQ(r->totals.flash_bytes, 376);
  // Peak: input 64 el (256 B) + temporal conv 128 el (512 B) = 768 B.
  EXPECT_EQ(r->totals.peak_activation_bytes, 768);
  EXPECT_EQ(r->peak_op, 1);
}

TEST(CostsTest, RejectsMalformedPlans) {
  NetworkPlan plan = SmallCnn(32, 32);
  plan.ops[3].inputs = {5};
  absl::StatusOr<CostReport> r = ComputeCosts(plan);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("reads op 5, which does not run before it"),
            std::string::npos)
      << r.status();
  plan = SmallCnn(32, 32);
  plan.ops[1].weight_bits = 3;
  r = ComputeCosts(plan);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("weight_bits must be 4, 8, 16 or 32, got 3"),
            std::string::npos);
  plan = SmallCnn(32, 32);
  plan.output = 0;
  EXPECT_FALSE(ComputeCosts(plan).ok());
}

TEST(CostsTest, TableListsEveryOpAndTheTotals) {
  NetworkPlan plan = SmallCnn(32, 32);
  absl::StatusOr<CostReport> r = ComputeCosts(plan);
  ASSERT_TRUE(r.ok());
  const std::string table = FormatCostTable(plan, *r);
  EXPECT_NE(table.find("<- peak"), std::string::npos) << table;
  EXPECT_NE(table.find("batchnorm*"), std::string::npos) << table;
  EXPECT_NE(
      table.find("total: params 59, MACs 2316, peak activations 1280 B (32-bit), flash 220 B"),
      std::string::npos)
      << table;
}

}  // namespace
}  // namespace hwnas::hardware
