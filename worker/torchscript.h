// TorchScript export of a trained PlanNet. The C++ frontend cannot trace or
// script a C++ module, so the network is written as TorchScript source (one
// straight-line forward over the plan's ops, eval-mode semantics) and
// compiled into a torch::jit::Module that holds copies of the trained
// parameters and buffers under the same names ("op3_weight", ...). The saved
// file loads with torch::jit::load (C++) and torch.jit.load (Python).
// Includes torch: only worker torch translation units include this header.
#ifndef HWNAS_WORKER_TORCHSCRIPT_H_
#define HWNAS_WORKER_TORCHSCRIPT_H_

#include <torch/script.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "space/network_plan.h"
#include "worker/plan_net.h"

namespace hwnas::worker {

// The TorchScript source of `plan`'s forward(self, x) in eval mode: dropout
// is the identity, batch norm uses running statistics, quantized weights are
// used as stored (call FreezeQuantization on the net first). Inputs of the
// plan's shape, or of any shape with as many elements per sample, as PlanNet.
std::string TorchScriptSource(const space::NetworkPlan& plan);

// A scripted copy of `net` (which should be trained, in eval mode and with
// quantization frozen). The module is in eval mode.
absl::StatusOr<torch::jit::Module> ToTorchScript(PlanNet& net);

// Saves ToTorchScript(net) to `path` with `extra_files` (name -> contents,
// e.g. the architecture and the plan as JSON) inside the archive.
absl::Status SaveTorchScript(PlanNet& net, const std::string& path,
                             const std::map<std::string, std::string>& extra_files);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_TORCHSCRIPT_H_
