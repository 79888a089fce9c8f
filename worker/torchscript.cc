#include "worker/torchscript.h"

#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace hwnas::worker {
namespace {

using space::Op;
using space::OpType;

std::string V(int i) { return absl::StrCat("v", i); }
std::string P(size_t i, absl::string_view name) { return absl::StrCat("self.op", i, "_", name); }

std::string IntList(std::initializer_list<int64_t> values) {
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

// "[x.size(0), d1, d2, ...]": a batch of `shape`.
std::string BatchShape(const space::Shape& shape) {
  std::string out = "[x.size(0)";
  for (int64_t d : shape) absl::StrAppend(&out, ", ", d);
  return out + "]";
}

std::string Float(double v) { return absl::StrFormat("%.17g", v); }

}  // namespace

std::string TorchScriptSource(const space::NetworkPlan& plan) {
  std::string src = "def forward(self, x):\n";
  auto line = [&](const std::string& text) { absl::StrAppend(&src, "    ", text, "\n"); };
  line(absl::StrCat(V(0), " = x.reshape(", BatchShape(plan.input_shape()), ")"));
  for (size_t i = 1; i < plan.ops.size(); ++i) {
    const Op& op = plan.ops[i];
    const std::string out = V(static_cast<int>(i));
    const std::string in = op.inputs.empty() ? "" : V(op.inputs[0]);
    const size_t in_rank = op.inputs.empty() ? 0 : plan.ops[op.inputs[0]].output_shape.size();
    switch (op.type) {
      case OpType::kInput:
        line(absl::StrCat(out, " = ", V(0)));
        break;
      case OpType::kConv: {
        const std::string bias = op.bias ? P(i, "bias") : "None";
        if (op.dims == 2) {
          line(absl::StrCat(out, " = torch.conv2d(", in, ", ", P(i, "weight"), ", ", bias, ", ",
                            IntList({op.stride_h, op.stride_w}), ", ",
                            IntList({op.pad_h, op.pad_w}), ", ",
                            IntList({op.dilation_h, op.dilation_w}), ", ", op.groups, ")"));
        } else {
          line(absl::StrCat(out, " = torch.conv1d(", in, ", ", P(i, "weight"), ", ", bias, ", ",
                            IntList({op.stride_w}), ", ", IntList({op.pad_w}), ", ",
                            IntList({op.dilation_w}), ", ", op.groups, ")"));
        }
        break;
      }
      case OpType::kBatchNorm:
        line(absl::StrCat(out, " = torch.batch_norm(", in, ", ", P(i, "weight"), ", ", P(i, "bias"),
                          ", ", P(i, "running_mean"), ", ", P(i, "running_var"),
                          ", False, 0.1, 1e-05, False)"));
        break;
      case OpType::kActivation:
        switch (op.activation) {
          case space::Activation::kIdentity:
            line(absl::StrCat(out, " = ", in));
            break;
          case space::Activation::kRelu:
            line(absl::StrCat(out, " = torch.relu(", in, ")"));
            break;
          case space::Activation::kRelu6:
            line(absl::StrCat(out, " = torch.hardtanh(", in, ", 0.0, 6.0)"));
            break;
          case space::Activation::kElu:
            line(absl::StrCat(out, " = torch.elu(", in, ")"));
            break;
          case space::Activation::kSigmoid:
            line(absl::StrCat(out, " = torch.sigmoid(", in, ")"));
            break;
          case space::Activation::kHardSwish:
            line(absl::StrCat(out, " = torch.hardswish(", in, ")"));
            break;
          case space::Activation::kTanh:
            line(absl::StrCat(out, " = torch.tanh(", in, ")"));
            break;
        }
        break;
      case OpType::kAdd: {
        std::vector<std::string> terms;
        for (int k : op.inputs) terms.push_back(V(k));
        line(absl::StrCat(out, " = ", absl::StrJoin(terms, " + ")));
        break;
      }
      case OpType::kMul:
        line(absl::StrCat(out, " = ", in, " * ", V(op.inputs[1])));
        break;
      case OpType::kPool: {
        const bool avg = op.pool == space::PoolKind::kAverage;
        if (op.dims == 1 || in_rank == 2) {
          line(avg ? absl::StrCat(out, " = torch.avg_pool1d(", in, ", ", IntList({op.kernel_w}),
                                  ", ", IntList({op.stride_w}), ", ", IntList({op.pad_w}),
                                  ", False, False)")
                   : absl::StrCat(out, " = torch.max_pool1d(", in, ", ", IntList({op.kernel_w}),
                                  ", ", IntList({op.stride_w}), ", ", IntList({op.pad_w}),
                                  ", [1], False)"));
        } else {
          const std::string args = absl::StrCat(in, ", ", IntList({op.kernel_h, op.kernel_w}), ", ",
                                                IntList({op.stride_h, op.stride_w}), ", ",
                                                IntList({op.pad_h, op.pad_w}));
          line(avg ? absl::StrCat(out, " = torch.avg_pool2d(", args, ", False, False)")
                   : absl::StrCat(out, " = torch.max_pool2d(", args, ", [1, 1], False)"));
        }
        break;
      }
      case OpType::kGlobalAvgPool:
        line(absl::StrCat(out, " = torch.mean(", in, in_rank == 3 ? ", [2, 3]" : ", [2]",
                          ", True)"));
        break;
      case OpType::kFlatten:
        line(absl::StrCat(out, " = torch.flatten(", in, ", 1)"));
        break;
      case OpType::kLinear:
        line(absl::StrCat(out, " = torch.linear(", in, ", ", P(i, "weight"), ", ",
                          op.bias ? P(i, "bias") : "None", ")"));
        break;
      case OpType::kRecurrent: {
        const std::string seq = absl::StrCat("s", i), h0 = absl::StrCat("h", i),
                          o = absl::StrCat("o", i);
        const std::string params = absl::StrCat("[", P(i, "w_ih"), ", ", P(i, "w_hh"), ", ",
                                                P(i, "b_ih"), ", ", P(i, "b_hh"), "]");
        line(absl::StrCat(seq, " = ", in, ".transpose(1, 2).contiguous()"));
        line(absl::StrCat(h0, " = torch.zeros([1, ", seq, ".size(0), ", op.out_channels,
                          "], dtype=", seq, ".dtype, device=", seq, ".device)"));
        if (op.cell == space::RecurrentCell::kLstm) {
          line(absl::StrCat(o, ", hn", i, ", cn", i, " = torch.lstm(", seq, ", [", h0,
                            ", torch.zeros_like(", h0, ")], ", params,
                            ", True, 1, 0.0, False, False, True)"));
        } else {
          line(absl::StrCat(o, ", hn", i, " = torch.gru(", seq, ", ", h0, ", ", params,
                            ", True, 1, 0.0, False, False, True)"));
        }
        line(op.return_sequence ? absl::StrCat(out, " = ", o, ".transpose(1, 2)")
                                : absl::StrCat(out, " = ", o, ".select(1, ", o, ".size(1) - 1)"));
        break;
      }
      case OpType::kDropout:
        line(absl::StrCat(out, " = ", in, "  # dropout p=", Float(op.dropout), ": eval mode"));
        break;
      case OpType::kZero:
        line(absl::StrCat(out, " = torch.zeros(", BatchShape(op.output_shape),
                          ", dtype=x.dtype, device=x.device)"));
        break;
    }
  }
  line(absl::StrCat("return ", V(plan.output)));
  return src;
}

absl::StatusOr<torch::jit::Module> ToTorchScript(PlanNet& net) {
  try {
    torch::NoGradGuard no_grad;
    torch::jit::Module module("HwnasPlanNet");
    for (const auto& p : net->named_parameters(/*recurse=*/false)) {
      module.register_parameter(p.key(), p.value().detach().clone(), /*is_buffer=*/false);
    }
    for (const auto& b : net->named_buffers(/*recurse=*/false)) {
      module.register_buffer(b.key(), b.value().detach().clone());
    }
    module.define(TorchScriptSource(net->plan()));
    module.eval();
    return module;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("cannot compile the TorchScript module: ", ExceptionMessage(e)));
  }
}

absl::Status SaveTorchScript(PlanNet& net, const std::string& path,
                             const std::map<std::string, std::string>& extra_files) {
  absl::StatusOr<torch::jit::Module> module = ToTorchScript(net);
  if (!module.ok()) return module.status();
  try {
    torch::jit::ExtraFilesMap extra(extra_files.begin(), extra_files.end());
    module->save(path, extra);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("cannot save ", path, ": ", ExceptionMessage(e)));
  }
  return absl::OkStatus();
}

}  // namespace hwnas::worker
