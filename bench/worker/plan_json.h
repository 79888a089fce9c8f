// The JSON form of a network plan that bench/worker/train_plan.py reads to
// build the same network in PyTorch; shared by the benchmarks that hand
// plans to it (worker_train_bench, fidelity_plan_tool).
#ifndef HWNAS_BENCH_WORKER_PLAN_JSON_H_
#define HWNAS_BENCH_WORKER_PLAN_JSON_H_

#include "nlohmann/json.hpp"
#include "space/network_plan.h"

namespace hwnas::bench {

nlohmann::json PlanToJson(const space::NetworkPlan& plan);

}  // namespace hwnas::bench

#endif  // HWNAS_BENCH_WORKER_PLAN_JSON_H_
