#include "controller/nb201_table.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/data_paths.h"
#include "common/status_macros.h"

namespace hwnas::controller {
namespace {

constexpr std::array<absl::string_view, 3> kAccuracyColumns = {"acc_cifar10", "acc_cifar100",
                                                               "acc_imagenet16"};

}  // namespace

std::string ResolveNb201TablePath(absl::string_view configured) {
  if (!configured.empty()) return std::string(configured);
  return DataLocations(SharedDataDirFromEnv().value_or(kCheckoutSharedDataDir)).Nb201Table();
}

absl::StatusOr<int> Nb201Table::IndexOf(absl::Span<const int> tokens) {
  if (tokens.size() != kNumEdges) {
    return absl::InvalidArgumentError(
        absl::StrCat("an nb201 cell has 6 tokens, got ", tokens.size()));
  }
  int index = 0;
  for (int t : tokens) {
    if (t < 0 || t >= kNumOps) {
      return absl::InvalidArgumentError(absl::StrCat("nb201 token ", t, " is not in [0, 5)"));
    }
    index = index * kNumOps + t;
  }
  return index;
}

std::vector<int> Nb201Table::TokensOf(int index) {
  std::vector<int> tokens(kNumEdges);
  for (int e = kNumEdges - 1; e >= 0; --e) {
    tokens[e] = index % kNumOps;
    index /= kNumOps;
  }
  return tokens;
}

absl::StatusOr<std::shared_ptr<const Nb201Table>> Nb201Table::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "cannot open the NAS-Bench-201 table '", path,
        "' (set HWNAS_SHARED_DATA to the shared data directory or give the path explicitly)"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  auto error = [&](size_t line, absl::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": ", problem));
  };

  std::shared_ptr<Nb201Table> table(new Nb201Table());
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty()) return error(1, "empty file");
  std::vector<absl::string_view> header = absl::StrSplit(absl::StripSuffix(lines[0], "\r"), ',');
  int col_idx = -1, col_arch = -1, col_ops = -1;
  std::array<int, 3> col_acc = {-1, -1, -1};
  std::vector<int> col_lat;
  for (int c = 0; c < static_cast<int>(header.size()); ++c) {
    absl::string_view h = header[c];
    if (h == "idx") col_idx = c;
    if (h == "arch_str") col_arch = c;
    if (h == "ops") col_ops = c;
    for (int d = 0; d < 3; ++d) {
      if (h == kAccuracyColumns[d]) col_acc[d] = c;
    }
    if (absl::StartsWith(h, "lat_")) {
      table->devices_.emplace_back(h.substr(4));
      col_lat.push_back(c);
    }
  }
  if (col_idx < 0 || col_arch < 0 || col_ops < 0 || col_acc[0] < 0 || col_acc[1] < 0 ||
      col_acc[2] < 0) {
    return error(1,
                 "missing one of the columns idx, arch_str, ops, acc_cifar10, acc_cifar100, "
                 "acc_imagenet16");
  }
  for (auto& a : table->accuracy_) a.assign(kNumArchitectures, 0);
  table->latency_.assign(col_lat.size(), std::vector<double>(kNumArchitectures, 0));
  table->arch_str_.assign(kNumArchitectures, "");
  table->bench_idx_.assign(kNumArchitectures, -1);
  std::vector<bool> present(kNumArchitectures, false);
  std::vector<absl::string_view> fields;
  for (size_t l = 1; l < lines.size(); ++l) {
    fields = absl::StrSplit(absl::StripSuffix(lines[l], "\r"), ',');
    if (fields.size() != header.size()) {
      return error(l + 1,
                   absl::StrCat("has ", fields.size(), " fields, the header has ", header.size()));
    }
    absl::string_view ops = fields[col_ops];
    if (ops.size() != kNumEdges) return error(l + 1, absl::StrCat("bad ops '", ops, "'"));
    int index = 0;
    for (char ch : ops) {
      if (ch < '0' || ch >= '0' + kNumOps) return error(l + 1, absl::StrCat("bad ops '", ops, "'"));
      index = index * kNumOps + (ch - '0');
    }
    if (present[index]) return error(l + 1, absl::StrCat("repeated ops '", ops, "'"));
    present[index] = true;
    if (!absl::SimpleAtoi(fields[col_idx], &table->bench_idx_[index])) {
      return error(l + 1, absl::StrCat("bad idx '", fields[col_idx], "'"));
    }
    table->arch_str_[index] = std::string(fields[col_arch]);
    for (int d = 0; d < 3; ++d) {
      if (!absl::SimpleAtod(fields[col_acc[d]], &table->accuracy_[d][index])) {
        return error(l + 1,
                     absl::StrCat("bad ", kAccuracyColumns[d], " '", fields[col_acc[d]], "'"));
      }
    }
    for (size_t k = 0; k < col_lat.size(); ++k) {
      if (!absl::SimpleAtod(fields[col_lat[k]], &table->latency_[k][index])) {
        return error(l + 1,
                     absl::StrCat("bad ", header[col_lat[k]], " '", fields[col_lat[k]], "'"));
      }
    }
  }
  for (int i = 0; i < kNumArchitectures; ++i) {
    if (!present[i]) {
      std::string ops;
      for (int t : TokensOf(i)) absl::StrAppend(&ops, t);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": no row for ops '", ops, "' (the table must list all 15625 cells)"));
    }
  }
  return std::shared_ptr<const Nb201Table>(std::move(table));
}

absl::StatusOr<int> Nb201Table::DeviceColumn(absl::string_view device) const {
  HWNAS_ASSIGN_OR_RETURN(std::string name, CanonicalNb201Device(device));
  for (int i = 0; i < static_cast<int>(devices_.size()); ++i) {
    if (devices_[i] == name) return i;
  }
  return absl::NotFoundError(absl::StrCat("the NAS-Bench-201 table has no column lat_", name,
                                          " (it has: ", absl::StrJoin(devices_, ", "), ")"));
}

absl::StatusOr<TableEvaluator> TableEvaluator::Create(std::shared_ptr<const Nb201Table> table,
                                                      Nb201Dataset dataset,
                                                      absl::string_view device) {
  if (table == nullptr) return absl::InvalidArgumentError("no NAS-Bench-201 table");
  HWNAS_ASSIGN_OR_RETURN(int column, table->DeviceColumn(device));
  std::string name = table->devices()[column];
  return TableEvaluator(std::move(table), dataset, std::move(name), column);
}

absl::StatusOr<TrialResult> TableEvaluator::Evaluate(const Architecture& architecture) const {
  if (architecture.space != "nb201") {
    return absl::InvalidArgumentError(
        absl::StrCat("the NAS-Bench-201 table answers nb201 architectures only, got space '",
                     architecture.space, "'"));
  }
  return EvaluateTokens(architecture.tokens);
}

absl::StatusOr<TrialResult> TableEvaluator::EvaluateTokens(absl::Span<const int> tokens) const {
  HWNAS_ASSIGN_OR_RETURN(int index, Nb201Table::IndexOf(tokens));
  return EvaluateIndex(index);
}

TrialResult TableEvaluator::EvaluateIndex(int index) const {
  TrialResult r;
  r.accuracy = table_->accuracy_percent(dataset_, index) / 100.0;
  const double lat = table_->latency_ms(column_, index);
  LatencyMeasurement m;
  m.median_ms = lat;
  m.p90_ms = lat;
  m.device = absl::StrCat("nb201:", device_);
  r.latency = std::move(m);
  r.estimates[absl::StrCat("latency_ms@", device_)] = lat;
  r.epochs = 200;
  return r;
}

}  // namespace hwnas::controller
