// Proxy quality: how well each training-free proxy ranks architectures by the
// accuracy they reach when trained. Samples N distinct architectures of the
// spec's space (uniform per decision, seeded), scores each with every proxy
// on one real training batch, trains it with the spec's recipe, and reports
// Spearman's rho, Kendall's tau-b and the top-10% hit rate of each proxy
// (and of params and MACs, the usual baselines) against validation accuracy.
//
//   proxy_quality_bench --spec bench/proxies/specs/mnasnet_fashion.yaml
//       --archs 200 --reference ref.pt --out bench/proxies/results/mnasnet_fashion.csv
//   proxy_quality_bench --summarize a.csv,b.csv   (pools runs of other seeds)
//
// Rows are appended to --out as they finish; a rerun with the same flags
// resumes after the last row (the sample sequence depends only on --seed).
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/proxies/rank_stats.h"
#include "common/flags.h"
#include "spec/worker_spec.h"
#include "worker/proxies.h"
#include "worker/trial_runner.h"

namespace {

using hwnas::worker::ProxyKind;

const std::vector<ProxyKind> kProxies = {ProxyKind::kSynflow, ProxyKind::kNaswot,
                                         ProxyKind::kGradNorm, ProxyKind::kSnip, ProxyKind::kRmi};

struct Row {
  int index = 0;
  std::vector<int> tokens;
  std::string readable;
  double params = 0, macs = 0;
  double accuracy = NAN;  // NaN: training failed.
  double train_seconds = 0;
  std::map<std::string, double> score;    // Proxy name -> score (NaN: failed).
  std::map<std::string, double> seconds;  // Proxy name -> seconds.
};

std::vector<std::string> Columns() {
  std::vector<std::string> c = {"index", "tokens", "params", "macs", "accuracy", "train_seconds"};
  for (ProxyKind k : kProxies) {
    c.push_back(std::string(hwnas::worker::ProxyKindName(k)));
    c.push_back(absl::StrCat(hwnas::worker::ProxyKindName(k), "_seconds"));
  }
  c.push_back("arch");
  return c;
}

std::string ToCsv(const Row& r) {
  std::vector<std::string> f = {absl::StrCat(r.index),
                                absl::StrJoin(r.tokens, "-"),
                                absl::StrCat(r.params),
                                absl::StrCat(r.macs),
                                absl::StrFormat("%.6f", r.accuracy),
                                absl::StrFormat("%.3f", r.train_seconds)};
  for (ProxyKind k : kProxies) {
    const std::string name(hwnas::worker::ProxyKindName(k));
    f.push_back(absl::StrFormat("%.9g", r.score.at(name)));
    f.push_back(absl::StrFormat("%.4f", r.seconds.at(name)));
  }
  f.push_back(r.readable);  // Last: it may hold commas.
  return absl::StrJoin(f, ",");
}

std::optional<Row> FromCsv(const std::string& line) {
  const size_t fixed = Columns().size() - 1;
  std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(',', fixed));
  if (f.size() != fixed + 1) return std::nullopt;
  Row r;
  if (!absl::SimpleAtoi(f[0], &r.index)) return std::nullopt;
  for (absl::string_view t : absl::StrSplit(f[1], '-')) {
    int v = 0;
    if (!absl::SimpleAtoi(t, &v)) return std::nullopt;
    r.tokens.push_back(v);
  }
  auto num = [](const std::string& s) -> double {
    double v = NAN;
    if (s == "nan" || s == "-nan" || !absl::SimpleAtod(s, &v)) return NAN;
    return v;
  };
  r.params = num(f[2]);
  r.macs = num(f[3]);
  r.accuracy = num(f[4]);
  r.train_seconds = num(f[5]);
  size_t i = 6;
  for (ProxyKind k : kProxies) {
    const std::string name(hwnas::worker::ProxyKindName(k));
    r.score[name] = num(f[i++]);
    r.seconds[name] = num(f[i++]);
  }
  r.readable = f[fixed];
  return r;
}

std::vector<Row> ReadCsv(const std::string& path) {
  std::vector<Row> rows;
  std::ifstream in(path);
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      continue;
    }
    if (std::optional<Row> r = FromCsv(line)) rows.push_back(*r);
  }
  return rows;
}

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// The Markdown table of every proxy's agreement with trained accuracy.
std::string Summary(const std::vector<Row>& rows) {
  std::vector<const Row*> trained;
  for (const Row& r : rows) {
    if (std::isfinite(r.accuracy)) trained.push_back(&r);
  }
  std::vector<double> acc;
  for (const Row* r : trained) acc.push_back(r->accuracy);
  std::string out = absl::StrFormat(
      "architectures: %d (trained: %d); accuracy median %.4f, min %.4f, max %.4f; median "
      "train seconds %.2f\n\n",
      rows.size(), trained.size(), Median(acc),
      acc.empty() ? NAN : *std::min_element(acc.begin(), acc.end()),
      acc.empty() ? NAN : *std::max_element(acc.begin(), acc.end()), [&] {
        std::vector<double> t;
        for (const Row* r : trained) t.push_back(r->train_seconds);
        return Median(t);
      }());
  out +=
      "| proxy | n | Spearman rho | Kendall tau-b | top-10% hit rate | median seconds |\n"
      "|---|---:|---:|---:|---:|---:|\n";
  std::vector<std::string> names;
  for (ProxyKind k : kProxies) names.emplace_back(hwnas::worker::ProxyKindName(k));
  names.push_back("params");
  names.push_back("macs");
  for (const std::string& name : names) {
    std::vector<double> x, y, secs;
    for (const Row* r : trained) {
      const double s = name == "params" ? r->params : name == "macs" ? r->macs : r->score.at(name);
      if (!std::isfinite(s)) continue;
      x.push_back(s);
      y.push_back(r->accuracy);
      if (r->seconds.count(name)) secs.push_back(r->seconds.at(name));
    }
    out += absl::StrFormat("| %s | %d | %.3f | %.3f | %.2f | %s |\n", name, x.size(),
                           hwnas::bench::Spearman(x, y), hwnas::bench::KendallTauB(x, y),
                           hwnas::bench::TopHitRate(x, y, 0.1),
                           secs.empty() ? "-" : absl::StrFormat("%.3f", Median(secs)));
  }
  return out;
}

const hwnas::MainFlagsSpec kFlags = {
    "proxy_quality_bench",
    "usage: proxy_quality_bench --spec SPEC.yaml --out ROWS.csv [flags]\n"
    "       proxy_quality_bench --summarize ROWS.csv[,MORE.csv]\n\n"
    "Trains N sampled architectures with the spec's recipe, scores each with every\n"
    "training-free proxy on one real batch, and prints each proxy's Spearman rho,\n"
    "Kendall tau-b and top-10% hit rate against validation accuracy.\n\n"
    "flags:\n",
    {{"spec", 0, "PATH", "worker spec: space, data (subsets) and the training recipe"},
     {"archs", 0, "N", "architectures to sample (default 200)"},
     {"seed", 0, "N", "sampling seed (default 1)"},
     {"proxy-batch", 0, "N", "samples in the proxies' batch (default 64)"},
     {"reference", 0, "PATH", "RMI's trained reference (TorchScript, hwnas-worker export)"},
     {"out", 0, "PATH", "rows CSV (appended; a rerun resumes)"},
     {"data-dir", 0, "DIR", "shared data directory (default: $HWNAS_SHARED_DATA)"},
     {"summarize", 0, "PATHS",
      "print the table of existing rows CSVs (comma-separated, pooled) and exit"}}};

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<hwnas::ParsedFlags> flags =
      hwnas::ParseMainFlags(kFlags, argc, argv, std::cout, std::cerr, &exit_code);
  if (!flags) return exit_code;
  auto fail = [&](const auto& message) {
    std::cerr << kFlags.program << ": " << message << "\n";
    return 1;
  };
  if (std::optional<std::string> paths = flags->Get("summarize")) {
    std::vector<Row> rows;
    for (absl::string_view path : absl::StrSplit(*paths, ',', absl::SkipEmpty())) {
      std::vector<Row> part = ReadCsv(std::string(path));
      if (part.empty()) return fail(absl::StrCat(path, ": no rows"));
      rows.insert(rows.end(), part.begin(), part.end());
    }
    std::cout << Summary(rows);
    return 0;
  }
  if (absl::Status s = flags->Require({"spec", "out"}); !s.ok()) return fail(s.message());
  const auto archs = flags->Int("archs", 1);
  const auto seed = flags->Int("seed", 0);
  const auto batch = flags->Int("proxy-batch", 8);
  for (const absl::Status& s : {archs.status(), seed.status(), batch.status()}) {
    if (!s.ok()) return fail(s.message());
  }
  absl::StatusOr<hwnas::worker::WorkerSpec> spec =
      hwnas::worker::LoadWorkerSpec(*flags->Get("spec"));
  if (!spec.ok()) return fail(spec.status().message());
  spec->hardware.measure_latency = false;  // Accuracy is what the proxies predict.
  absl::StatusOr<std::string> data_dir =
      hwnas::worker::ResolveSharedDataDir(flags->GetOr("data-dir", ""));
  if (!data_dir.ok()) return fail(data_dir.status().message());
  auto runner = hwnas::worker::TrialRunner::Create(*spec, {.shared_data_dir = *data_dir});
  if (!runner.ok()) return fail(runner.status().message());
  const hwnas::space::SearchSpace& space = (*runner)->space();
  const hwnas::worker::DataSplits& data = (*runner)->data();

  hwnas::worker::ProxyOptions proxy{.batch_size = static_cast<int>(batch->value_or(64)),
                                    .seed = static_cast<uint64_t>(seed->value_or(1))};
  std::optional<hwnas::worker::Representation> reference;
  if (std::optional<std::string> ref = flags->Get("reference")) {
    auto r = hwnas::worker::ModuleOutputRepresentation(*ref, data.train, proxy);
    if (!r.ok()) return fail(r.status().message());
    reference = *std::move(r);
    proxy.reference = &*reference;
  }

  const std::string out_path = *flags->Get("out");
  std::vector<Row> rows = ReadCsv(out_path);
  std::ofstream out(out_path, std::ios::app);
  if (!out) return fail(absl::StrCat("cannot write ", out_path));
  if (rows.empty()) out << absl::StrJoin(Columns(), ",") << "\n" << std::flush;
  std::cerr << absl::StrFormat("space=%s archs=%d resumed=%d train=%d val=%d device=%s\n",
                               std::string(space.name()), archs->value_or(200), rows.size(),
                               data.train.size(), data.val.size(), hwnas::worker::HostDeviceName());

  // The same sequence of distinct architectures on every run of this seed.
  std::mt19937_64 gen(seed->value_or(1));
  std::set<std::string> seen;
  const int wanted = static_cast<int>(archs->value_or(200));
  for (int index = 0; index < wanted;) {
    std::vector<int> tokens;
    for (const hwnas::space::Decision& d : space.decisions()) {
      tokens.push_back(static_cast<int>(gen() % d.choices.size()));
    }
    if (!space.Validate(tokens).ok()) continue;
    if (!seen.insert(space.FunctionSignature(tokens)).second) continue;
    if (index < static_cast<int>(rows.size())) {
      if (rows[index].tokens != tokens) {
        return fail(absl::StrCat(out_path, " row ", index, " is another architecture: not ",
                                 "written with these flags"));
      }
      ++index;
      continue;
    }
    absl::StatusOr<hwnas::space::NetworkPlan> plan = space.Lower(tokens);
    if (!plan.ok()) return fail(plan.status().message());
    Row row;
    row.index = index;
    row.tokens = tokens;
    row.readable = space.Readable(tokens);
    absl::StatusOr<hwnas::TrialResult> statics = (*runner)->StaticResult(*plan);
    if (!statics.ok()) return fail(statics.status().message());
    row.params = static_cast<double>(statics->costs.params);
    row.macs = static_cast<double>(statics->costs.macs);
    for (ProxyKind k : kProxies) {
      const std::string name(hwnas::worker::ProxyKindName(k));
      row.score[name] = NAN;
      row.seconds[name] = NAN;
      if (k == ProxyKind::kRmi && !reference) continue;
      auto s = hwnas::worker::ScoreProxy(*plan, data.train, k, proxy);
      if (!s.ok()) {
        std::cerr << "arch " << index << " " << name << ": " << s.status().message() << "\n";
        continue;
      }
      row.score[name] = s->score;
      row.seconds[name] = s->seconds;
    }
    hwnas::worker::TrialOutcome trained =
        hwnas::worker::TrainAndEvaluate(*plan, data, spec->training, nullptr);
    if (trained.state == hwnas::TrialState::kSucceeded) {
      row.accuracy = trained.result.accuracy;
    } else {
      std::cerr << "arch " << index << " training: " << trained.result.error << "\n";
    }
    row.train_seconds = trained.result.train_seconds;
    out << ToCsv(row) << "\n" << std::flush;
    std::cerr << absl::StrFormat("%d/%d acc=%.4f train_s=%.1f %s\n", index + 1, wanted,
                                 row.accuracy, row.train_seconds, row.readable);
    rows.push_back(std::move(row));
    ++index;
  }
  std::cout << Summary(rows);
  return 0;
}
