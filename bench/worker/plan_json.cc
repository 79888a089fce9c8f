#include "bench/worker/plan_json.h"

#include <string>

namespace hwnas::bench {

using json = nlohmann::json;

json PlanToJson(const space::NetworkPlan& plan) {
  json ops = json::array();
  for (const hwnas::space::Op& op : plan.ops) {
    std::string cell = op.cell == hwnas::space::RecurrentCell::kLstm ? "lstm" : "gru";
    ops.push_back(json{{"type", std::string(hwnas::space::OpTypeName(op.type))},
                       {"name", op.name},
                       {"inputs", op.inputs},
                       {"output_shape", op.output_shape},
                       {"dims", op.dims},
                       {"in_channels", op.in_channels},
                       {"out_channels", op.out_channels},
                       {"kernel_h", op.kernel_h},
                       {"kernel_w", op.kernel_w},
                       {"stride_h", op.stride_h},
                       {"stride_w", op.stride_w},
                       {"dilation_h", op.dilation_h},
                       {"dilation_w", op.dilation_w},
                       {"pad_h", op.pad_h},
                       {"pad_w", op.pad_w},
                       {"groups", op.groups},
                       {"bias", op.bias},
                       {"activation", std::string(hwnas::space::ActivationName(op.activation))},
                       {"pool", op.pool == hwnas::space::PoolKind::kAverage ? "avg" : "max"},
                       {"cell", cell},
                       {"return_sequence", op.return_sequence},
                       {"dropout", op.dropout},
                       {"weight_bits", op.weight_bits}});
  }
  return json{{"ops", ops}, {"output", plan.output}};
}

}  // namespace hwnas::bench
