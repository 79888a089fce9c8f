#include "cli/spec_info.h"

#include <algorithm>
#include <exception>

#include "spec/evaluator.h"
#include "yaml-cpp/yaml.h"

namespace hwnas::cli {
namespace {

std::vector<MetricBound> ReadBounds(const YAML::Node& list, const char* value_key) {
  std::vector<MetricBound> out;
  if (!list || !list.IsSequence()) return out;
  for (const YAML::Node& item : list) {
    if (!item.IsMap() || !item["metric"] || !item[value_key]) continue;
    try {
      out.push_back({item["metric"].as<std::string>(), item[value_key].as<double>()});
    } catch (const YAML::Exception&) {
      // Lenient: skip entries the server would have rejected anyway.
    }
  }
  return out;
}

void AddUnique(std::vector<std::string>& out, const std::string& metric) {
  if (std::find(out.begin(), out.end(), metric) == out.end()) out.push_back(metric);
}

}  // namespace

SpecInfo ReadSpecInfo(absl::string_view spec_yaml) {
  SpecInfo info;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(spec_yaml));
  } catch (const YAML::Exception&) {
    return info;
  }
  if (!root.IsMap()) return info;
  try {
    if (root["name"] && root["name"].IsScalar()) info.name = root["name"].as<std::string>();
    YAML::Node evaluator = root["evaluator"];
    info.table_evaluator =
        evaluator && evaluator.IsMap() && evaluator["kind"] && evaluator["kind"].IsScalar() &&
        evaluator["kind"].as<std::string>() == spec::EvaluatorKindName(spec::EvaluatorKind::kTable);
    YAML::Node strategy = root["strategy"];
    if (strategy && strategy.IsScalar()) {
      info.dnas = strategy.as<std::string>() == "dnas";
    } else if (strategy && strategy.IsMap() && strategy["name"] && strategy["name"].IsScalar()) {
      info.dnas = strategy["name"].as<std::string>() == "dnas";
    }
    YAML::Node fidelity = root["fidelity"];
    if (fidelity && fidelity.IsMap() && fidelity["kind"] && fidelity["kind"].IsScalar()) {
      scheduler::FidelityOptions f;
      const std::string kind = fidelity["kind"].as<std::string>();
      f.kind = kind == "asha"        ? scheduler::FidelityKind::kAsha
               : kind == "hyperband" ? scheduler::FidelityKind::kHyperband
                                     : scheduler::FidelityKind::kNone;
      auto read = [&](const char* key, int& value) {
        if (fidelity[key] && fidelity[key].IsScalar()) value = fidelity[key].as<int>();
      };
      read("min", f.min);
      read("max", f.max);
      read("eta", f.eta);
      read("brackets", f.brackets);
      info.fidelity = f;
    }
    YAML::Node objectives = root["objectives"];
    if (objectives && objectives.IsMap()) {
      info.targets = ReadBounds(objectives["constraints"], "target");
      info.hard_limits = ReadBounds(objectives["hard_limits"], "max");
      YAML::Node pareto = objectives["pareto_metrics"];
      if (pareto && pareto.IsSequence()) {
        for (const YAML::Node& m : pareto) {
          if (m.IsScalar()) AddUnique(info.pareto_metrics, m.as<std::string>());
        }
      }
    }
  } catch (const YAML::Exception&) {
    // Keep what was read.
  }
  return info;
}

std::vector<std::string> SpecInfo::CostMetrics() const {
  if (!pareto_metrics.empty()) return pareto_metrics;
  std::vector<std::string> out;
  for (const MetricBound& b : targets) AddUnique(out, b.metric);
  for (const MetricBound& b : hard_limits) AddUnique(out, b.metric);
  if (out.empty()) out.push_back("latency_ms");
  return out;
}

std::optional<double> SpecInfo::TargetOf(absl::string_view metric) const {
  for (const MetricBound& b : targets) {
    if (b.metric == metric) return b.value;
  }
  return std::nullopt;
}

std::optional<double> SpecInfo::HardLimitOf(absl::string_view metric) const {
  for (const MetricBound& b : hard_limits) {
    if (b.metric == metric) return b.value;
  }
  return std::nullopt;
}

}  // namespace hwnas::cli
