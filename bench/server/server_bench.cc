// hwnas-bench-server: end-to-end throughput of hwnas-server against Optuna,
// a scale run with many connected workers, and where the server's time goes.
// Results and commands are in docs/benchmarks.md ("Server").
//
// It starts everything it measures and stops it on exit: a private PostgreSQL
// cluster (LocalPostgres), hwnas-server as a child process (binary from
// the build tree), a fleet of protocol-level zero-work workers
// (load_generator.h) and, for Optuna, optuna_bench.py on the same cluster.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "bench/server/load_generator.h"
#include "common/flags.h"
#include "common/local_postgres.h"
#include "common/status_macros.h"
#include "common/subprocess.h"
#include "controller/nb201_table.h"
#include "hwnas/v1/search_service.grpc.pb.h"
#include "nlohmann/json.hpp"

#ifndef HWNAS_BENCH_SOURCE_DIR
#define HWNAS_BENCH_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;

namespace hwnas::bench {
namespace {

constexpr char kUsageHead[] =
    R"(hwnas-bench-server: hwnas-server throughput against Optuna, a scale run,
and the store costs per finished trial.

Usage: hwnas-bench-server [flags]

Phases (all on by default, in this order):
  throughput  for each --workers count: a fresh `random` table search on nb201
              (chained searches when one runs out), N zero-work workers, finished
              trials/s over a window after a warm-up, store costs per trial;
              once with one trial per AcquireTrial/ReportResult, once with
              --batch trials per AcquireTrial/ReportResults
  optuna      the same counts with optuna_bench.py (N processes, RandomSampler,
              RDB storage on the same PostgreSQL)
  scale       --scale-workers workers for --scale-duration: errors, p50/p99
              AcquireTrial/ReportResult latency, server CPU and memory

Flags:
)";

const MainFlagsSpec& BenchFlags() {
  static const auto* const spec = new MainFlagsSpec{
      "hwnas-bench-server",
      kUsageHead,
      {
          {"workers", 0, "LIST", "worker counts, comma-separated (default 1,8,64)"},
          {"batch", 0, "N",
           "trials per AcquireTrial in the batched throughput rows (default 256; 1: no batched "
           "rows)"},
          {"warmup", 0, "SECS", "warm-up before each window (default 3)"},
          {"seconds", 0, "SECS", "measurement window per count (default 8)"},
          {"budget", 0, "N", "trials per search (default 15000; searches are chained)"},
          {"scale-workers", 0, "N", "workers of the scale phase (default 256)"},
          {"scale-duration", 0, "D", "length of the scale phase, e.g. 300s, 5m (default 5m)"},
          {"skip-throughput", 0, "", "leave out the hwnas throughput phase"},
          {"skip-optuna", 0, "", "leave out the Optuna phase"},
          {"skip-scale", 0, "", "leave out the scale phase"},
          {"pg-stat-statements", 0, "", "print the top statements per trial for every window"},
          {"server-threads", 0, "N", "hwnas-server --threads (default: the server's default)"},
          {"server-bin", 0, "PATH", "default: <build>/server/hwnas-server"},
          {"python", 0, "PATH", "Python with python3-optuna (default /usr/bin/python3)"},
          {"optuna-script", 0, "PATH", "default: the source tree's bench/server/optuna_bench.py"},
          {"table", 0, "PATH", "NAS-Bench-201 CSV (default: under $HWNAS_SHARED_DATA)"},
          {"durable", 0, "", "fsync on in PostgreSQL (default off for both systems)"},
          {"work-dir", 0, "DIR", "keep files here (default: a temporary one, removed after)"},
          {"json", 0, "FILE", "also write every result as JSON"},
      }};
  return *spec;
}

std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted = true; }

bool SleepUnlessInterrupted(absl::Duration d) {
  const absl::Time end = absl::Now() + d;
  while (!g_interrupted.load()) {
    const absl::Time now = absl::Now();
    if (now >= end) return true;
    absl::SleepFor(std::min(end - now, absl::Milliseconds(100)));
  }
  return false;
}

// ---------------------------------------------------------------------------
// Flags.

struct Flags {
  std::vector<int> workers = {1, 8, 64};
  int batch = 256;
  double warmup_s = 3;
  double seconds = 8;
  int budget = 15000;
  int scale_workers = 256;
  absl::Duration scale_duration = absl::Minutes(5);
  bool throughput = true;
  bool optuna = true;
  bool scale = true;
  bool pg_stat = false;
  bool durable = false;
  int server_threads = 0;
  std::string server_bin;
  std::string python = "/usr/bin/python3";
  std::string optuna_script = std::string(HWNAS_BENCH_SOURCE_DIR) + "/optuna_bench.py";
  std::string table;
  std::string work_dir;
  std::string json_out;
};

// The flags' values; ParseMainFlags has taken --help and unknown flags.
absl::StatusOr<Flags> ReadBenchFlags(const ParsedFlags& parsed) {
  Flags f;
  auto bad = [](const std::string& name, const std::string& value) {
    return absl::InvalidArgumentError(absl::StrCat("bad value for --", name, ": '", value, "'"));
  };
  if (auto s = parsed.Get("workers")) {
    f.workers.clear();
    for (absl::string_view part : absl::StrSplit(*s, ',', absl::SkipEmpty())) {
      int n = 0;
      if (!absl::SimpleAtoi(part, &n) || n < 1 || n > 4096) return bad("workers", *s);
      f.workers.push_back(n);
    }
    if (f.workers.empty()) return bad("workers", *s);
  }
  if (auto s = parsed.Get("batch");
      s && (!absl::SimpleAtoi(*s, &f.batch) || f.batch < 1 || f.batch > 1024)) {
    return bad("batch", *s);
  }
  if (auto s = parsed.Get("warmup"); s && (!absl::SimpleAtod(*s, &f.warmup_s) || f.warmup_s < 0)) {
    return bad("warmup", *s);
  }
  if (auto s = parsed.Get("seconds"); s && (!absl::SimpleAtod(*s, &f.seconds) || f.seconds <= 0)) {
    return bad("seconds", *s);
  }
  if (auto s = parsed.Get("budget");
      s && (!absl::SimpleAtoi(*s, &f.budget) || f.budget < 1 || f.budget > 15625)) {
    return bad("budget", *s);
  }
  if (auto s = parsed.Get("scale-workers");
      s && (!absl::SimpleAtoi(*s, &f.scale_workers) || f.scale_workers < 1)) {
    return bad("scale-workers", *s);
  }
  if (auto s = parsed.Get("scale-duration"); s && (!absl::ParseDuration(*s, &f.scale_duration) ||
                                                   f.scale_duration <= absl::ZeroDuration())) {
    return bad("scale-duration", *s);
  }
  if (auto s = parsed.Get("server-threads");
      s && (!absl::SimpleAtoi(*s, &f.server_threads) || f.server_threads < 1)) {
    return bad("server-threads", *s);
  }
  f.throughput = !parsed.Has("skip-throughput");
  f.optuna = !parsed.Has("skip-optuna");
  f.scale = !parsed.Has("skip-scale");
  f.pg_stat = parsed.Has("pg-stat-statements");
  f.durable = parsed.Has("durable");
  f.server_bin = parsed.GetOr("server-bin", "");
  f.python = parsed.GetOr("python", f.python);
  f.optuna_script = parsed.GetOr("optuna-script", f.optuna_script);
  f.table = parsed.GetOr("table", "");
  f.work_dir = parsed.GetOr("work-dir", "");
  f.json_out = parsed.GetOr("json", "");
  if (f.server_bin.empty()) {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    f.server_bin =
        (self.parent_path() / ".." / ".." / "server" / "hwnas-server").lexically_normal();
  }
  f.table = controller::ResolveNb201TablePath(f.table);
  return f;
}

// ---------------------------------------------------------------------------
// Process statistics from /proc.

// Fields after the ")" that ends the command name of /proc/PID/stat:
// index 0 is field 3 (state).
std::vector<std::string> StatFields(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(in, line);
  size_t close = line.rfind(')');
  if (close == std::string::npos) return {};
  return absl::StrSplit(line.substr(close + 2), ' ', absl::SkipEmpty());
}

double Ticks(const std::vector<std::string>& f, size_t field) {
  int64_t v = 0;
  if (f.size() > field - 3) (void)absl::SimpleAtoi(f[field - 3], &v);
  return static_cast<double>(v) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// utime + stime of one process, in seconds.
double CpuSeconds(pid_t pid) {
  std::vector<std::string> f = StatFields(pid);
  return Ticks(f, 14) + Ticks(f, 15);
}

// A process and all its live children, plus what reaped children used.
double TreeCpuSeconds(pid_t root) {
  std::vector<std::string> rf = StatFields(root);
  double total = Ticks(rf, 14) + Ticks(rf, 15) + Ticks(rf, 16) + Ticks(rf, 17);
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator("/proc", ec)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e.path().filename().string(), &pid)) continue;
    std::vector<std::string> f = StatFields(pid);
    int64_t ppid = 0;
    if (f.size() > 2 && absl::SimpleAtoi(f[1], &ppid) && ppid == root) {
      total += Ticks(f, 14) + Ticks(f, 15);
    }
  }
  return total;
}

// "VmRSS" / "VmHWM" of /proc/PID/status, in KiB.
int64_t StatusKb(pid_t pid, absl::string_view key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view l = line;
    if (absl::ConsumePrefix(&l, key) && absl::ConsumePrefix(&l, ":")) {
      l = absl::StripAsciiWhitespace(l);
      absl::ConsumeSuffix(&l, " kB");
      int64_t kb = 0;
      if (absl::SimpleAtoi(l, &kb)) return kb;
    }
  }
  return 0;
}

struct CpuSample {
  absl::Time at;
  double server = 0, postgres = 0, self = 0;
};

// ---------------------------------------------------------------------------
// /metrics scraping (plain HTTP/1.0 on loopback).

absl::StatusOr<std::string> HttpGet(int port, absl::string_view path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to 127.0.0.1:", port));
  }
  const std::string req = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return absl::UnavailableError("short write");
  }
  std::string out;
  char buf[65536];
  for (int i = 0; i < 10000; ++i) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t body = out.find("\r\n\r\n");
  return body == std::string::npos ? out : out.substr(body + 4);
}

// hwnas_store_seconds_{sum,count}{op="..."} by op.
struct StoreOp {
  double sum = 0;
  double count = 0;
};
using StoreOps = std::map<std::string, StoreOp>;

StoreOps ParseStoreOps(const std::string& text) {
  StoreOps ops;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const bool is_sum = absl::StartsWith(line, "hwnas_store_seconds_sum{op=\"");
    const bool is_count = absl::StartsWith(line, "hwnas_store_seconds_count{op=\"");
    if (!is_sum && !is_count) continue;
    size_t q1 = line.find('"');
    size_t q2 = line.find('"', q1 + 1);
    size_t sp = line.rfind(' ');
    if (q1 == absl::string_view::npos || q2 == absl::string_view::npos ||
        sp == absl::string_view::npos) {
      continue;
    }
    std::string op(line.substr(q1 + 1, q2 - q1 - 1));
    double value = 0;
    if (!absl::SimpleAtod(line.substr(sp + 1), &value)) continue;
    (is_sum ? ops[op].sum : ops[op].count) = value;
  }
  return ops;
}

// ---------------------------------------------------------------------------
// The environment: PostgreSQL, hwnas-server, tokens, clients.

std::string LastTokenLine(const std::string& output) {
  std::string token;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.size() >= 16 && !absl::StrContains(line, ' ')) token = std::string(line);
  }
  return token;
}

// "postgresql://USER:PASSWORD@HOST:PORT/DB" -> its parts.
struct PgUrl {
  std::string user, password, host, port, db;
};
PgUrl SplitUrl(const std::string& url) {
  PgUrl u;
  absl::string_view s = url;
  absl::ConsumePrefix(&s, "postgresql://");
  size_t at = s.rfind('@');
  absl::string_view cred = s.substr(0, at), rest = s.substr(at + 1);
  size_t colon = cred.find(':');
  u.user = std::string(cred.substr(0, colon));
  u.password = colon == absl::string_view::npos ? "" : std::string(cred.substr(colon + 1));
  size_t slash = rest.find('/');
  absl::string_view hostport = rest.substr(0, slash);
  u.db = std::string(rest.substr(slash + 1));
  size_t pc = hostport.find(':');
  u.host = std::string(hostport.substr(0, pc));
  u.port = std::string(hostport.substr(pc + 1));
  return u;
}

class Env {
 public:
  explicit Env(Flags flags) : flags_(std::move(flags)) {}
  ~Env() { Shutdown(); }

  absl::Status Start() {
    if (flags_.work_dir.empty()) {
      char tmpl[] = "/tmp/hwnas-bench-server-XXXXXX";
      if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
      work_dir_ = tmpl;
      remove_work_dir_ = true;
    } else {
      work_dir_ = flags_.work_dir;
      fs::create_directories(work_dir_);
    }
    chmod(work_dir_.c_str(), 0755);
    if (!fs::exists(flags_.server_bin)) {
      return absl::NotFoundError(absl::StrCat("no hwnas-server at ", flags_.server_bin,
                                              " (build it, or pass --server-bin)"));
    }
    HWNAS_ASSIGN_OR_RETURN(table_, controller::Nb201Table::Load(flags_.table));

    LocalPostgres::Options po;
    po.dir = work_dir_ + "/pg";
    po.durable = flags_.durable;
    postgres_ = std::make_unique<LocalPostgres>(po);
    HWNAS_RETURN_IF_ERROR(postgres_->Start());
    {
      // Same cluster settings for both systems; 64 Optuna processes hold
      // about two connections each, over the default limit of 100.
      HWNAS_RETURN_IF_ERROR(postgres_->Stop());
      std::ofstream conf(po.dir + "/pgdata/postgresql.conf", std::ios::app);
      conf << "\n# hwnas-bench-server\nmax_connections = 400\n";
      if (flags_.pg_stat) {
        conf << "shared_preload_libraries = 'pg_stat_statements'\n"
                "pg_stat_statements.track = all\n"
                "pg_stat_statements.max = 1000\n";
      }
      conf.close();
      HWNAS_RETURN_IF_ERROR(postgres_->Start());
    }
    HWNAS_RETURN_IF_ERROR(postgres_->CreateDatabase("optuna"));
    database_ = postgres_->ConnectionString();
    url_ = SplitUrl(database_);
    // Children inherit these: the password never appears in an argv.
    setenv("HWNAS_DATABASE", database_.c_str(), 1);
    setenv("PGPASSWORD", url_.password.c_str(), 1);
    const std::string optuna_url =
        absl::StrCat("postgresql+psycopg2://", url_.user, ":", url_.password, "@", url_.host, ":",
                     url_.port, "/optuna");
    setenv("OPTUNA_BENCH_STORAGE", optuna_url.c_str(), 1);
    {
      std::ifstream pid_file(po.dir + "/pgdata/postmaster.pid");
      pid_file >> postmaster_pid_;
    }
    if (flags_.pg_stat) {
      HWNAS_RETURN_IF_ERROR(Psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").status());
    }

    HWNAS_ASSIGN_OR_RETURN(admin_token_, CreateUser("bench-admin", "--admin"));
    HWNAS_ASSIGN_OR_RETURN(worker_token_, CreateUser("bench-fleet", "--worker"));

    HWNAS_ASSIGN_OR_RETURN(metrics_port_, PickFreePort());
    const std::string port_file = work_dir_ + "/server.port";
    // A kept --work-dir holds the last run's file: wait for this server's.
    fs::remove(port_file);
    std::vector<std::string> argv = {flags_.server_bin, "serve",
                                     "--listen",        "127.0.0.1:0",
                                     "--metrics",       absl::StrCat("127.0.0.1:", metrics_port_),
                                     "--port-file",     port_file,
                                     "--log-level",     "warn"};
    if (flags_.server_threads > 0) {
      argv.push_back("--threads");
      argv.push_back(absl::StrCat(flags_.server_threads));
    }
    HWNAS_ASSIGN_OR_RETURN(
        ChildProcess child,
        ChildProcess::Start({.argv = argv, .log_path = work_dir_ + "/server.log"}));
    server_ = std::make_unique<ChildProcess>(std::move(child));
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (!fs::exists(port_file)) {
      if (!server_->Running()) {
        return absl::InternalError(
            absl::StrCat("hwnas-server exited; see ", work_dir_, "/server.log"));
      }
      if (absl::Now() > give_up || g_interrupted) {
        return absl::DeadlineExceededError("hwnas-server did not start within 60 s");
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    std::ifstream(port_file) >> grpc_port_;
    target_ = absl::StrCat("127.0.0.1:", grpc_port_);
    search_stub_ = hwnas::v1::SearchService::NewStub(
        grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
    return absl::OkStatus();
  }

  void Shutdown() {
    if (server_) {
      server_->Stop(absl::Seconds(10));
      server_.reset();
    }
    if (postgres_) {
      (void)postgres_->Stop();
      postgres_.reset();
    }
    if (remove_work_dir_ && !work_dir_.empty()) {
      std::error_code ec;
      fs::remove_all(work_dir_, ec);
      remove_work_dir_ = false;
    }
  }

  absl::StatusOr<std::string> Psql(const std::string& sql) {
    HWNAS_ASSIGN_OR_RETURN(CommandResult r,
                           RunCommand({"psql", "-X", "-q", "-At", "-F", "\t", "-h", url_.host, "-p",
                                       url_.port, "-U", url_.user, "-d", url_.db, "-c", sql},
                                      absl::Seconds(60)));
    if (r.exit_code != 0) return absl::InternalError(absl::StrCat("psql: ", r.output));
    return r.output;
  }

  absl::StatusOr<int64_t> Submit(const std::string& name, int budget) {
    const std::string spec =
        absl::StrCat("name: ", name,
                     "\n"
                     "space:\n  name: nb201\n"
                     "evaluator:\n  kind: table\n  dataset: cifar10\n  device: raspi4\n"
                     "objectives:\n  reward: penalty\n"
                     "  constraints:\n    - {metric: latency_ms, target: 15.72, lambda: 100}\n"
                     "  pareto_metrics: [latency_ms]\n"
                     "strategy:\n  name: random\n"
                     "budget:\n  trials: ",
                     budget, "\n");
    hwnas::v1::SubmitSearchRequest req;
    req.set_spec_yaml(spec);
    hwnas::v1::SubmitSearchResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s = search_stub_->SubmitSearch(&ctx, req, &resp);
    if (!s.ok()) return absl::InternalError(absl::StrCat("SubmitSearch: ", s.error_message()));
    return resp.search().id();
  }

  absl::StatusOr<hwnas::v1::Search> GetSearch(int64_t id) {
    hwnas::v1::GetSearchRequest req;
    req.set_search_id(id);
    hwnas::v1::Search resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s = search_stub_->GetSearch(&ctx, req, &resp);
    if (!s.ok()) return absl::InternalError(absl::StrCat("GetSearch: ", s.error_message()));
    return resp;
  }

  void Cancel(int64_t id) {
    hwnas::v1::CancelSearchRequest req;
    req.set_search_id(id);
    hwnas::v1::Search resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    (void)search_stub_->CancelSearch(&ctx, req, &resp);
  }

  // Commits, rollbacks and WAL bytes of the cluster so far, and the size of
  // the newest controller checkpoint (bytes).
  std::vector<double> DbCounters() {
    absl::StatusOr<std::string> out = Psql(
        "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = 'hwnas'), "
        "(SELECT xact_rollback FROM pg_stat_database WHERE datname = 'hwnas'), "
        "(SELECT wal_bytes FROM pg_stat_wal), "
        "(SELECT COALESCE(max(octet_length(state)), 0) FROM controller_checkpoints "
        "WHERE sequence = (SELECT max(sequence) FROM controller_checkpoints c2 "
        "WHERE c2.search_id = controller_checkpoints.search_id))");
    std::vector<double> v;
    if (!out.ok()) return v;
    for (absl::string_view part : absl::StrSplit(absl::StripAsciiWhitespace(*out), '\t')) {
      double d = 0;
      if (!absl::SimpleAtod(part, &d)) return {};
      v.push_back(d);
    }
    return v;
  }

  StoreOps ScrapeStore() {
    absl::StatusOr<std::string> text = HttpGet(metrics_port_, "/metrics");
    return text.ok() ? ParseStoreOps(*text) : StoreOps{};
  }

  CpuSample Cpu() {
    CpuSample c;
    c.at = absl::Now();
    c.server = server_ ? CpuSeconds(server_->pid()) : 0;
    c.postgres = postmaster_pid_ > 0 ? TreeCpuSeconds(postmaster_pid_) : 0;
    c.self = CpuSeconds(getpid());
    return c;
  }

  const Flags& flags() const { return flags_; }
  const std::string& target() const { return target_; }
  const std::string& worker_token() const { return worker_token_; }
  std::shared_ptr<const controller::Nb201Table> table() const { return table_; }
  pid_t server_pid() const { return server_ ? server_->pid() : -1; }
  const std::string& work_dir() const { return work_dir_; }

 private:
  void Prepare(grpc::ClientContext* ctx) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", admin_token_));
  }

  absl::StatusOr<std::string> CreateUser(const std::string& name, const std::string& kind) {
    HWNAS_ASSIGN_OR_RETURN(CommandResult r, RunCommand({flags_.server_bin, "admin", "create-user",
                                                        name, kind, "--log-level", "warn"},
                                                       absl::Seconds(60)));
    std::string token = LastTokenLine(r.output);
    if (r.exit_code != 0 || token.empty()) {
      return absl::InternalError(absl::StrCat("create-user ", name, ": ", r.output));
    }
    return token;
  }

  Flags flags_;
  std::string work_dir_;
  bool remove_work_dir_ = false;
  std::shared_ptr<const controller::Nb201Table> table_;
  std::unique_ptr<LocalPostgres> postgres_;
  std::string database_;
  PgUrl url_;
  pid_t postmaster_pid_ = 0;
  std::string admin_token_, worker_token_;
  int metrics_port_ = 0;
  int grpc_port_ = 0;
  std::string target_;
  std::unique_ptr<ChildProcess> server_;
  std::unique_ptr<hwnas::v1::SearchService::Stub> search_stub_;
};

// ---------------------------------------------------------------------------
// One hwnas run: N workers on chained searches, a window after a warm-up.

struct StatementCost {
  double calls = 0, total_ms = 0, rows = 0;
  std::string query;
};

struct HwnasRun {
  int workers = 0;
  int batch = 1;  // Trials per AcquireTrial.
  double window_s = 0;
  int64_t finished_store = 0;   // Finished trials in the store during the window.
  int64_t finished_client = 0;  // Accepted reports the fleet saw in the window.
  double rate = 0;              // finished_store / window_s
  int searches = 0;
  FleetStats fleet;
  StoreOps store_delta;
  double cpu_server = 0, cpu_postgres = 0, cpu_self = 0;  // Cores used in the window.
  int64_t rss_start_kb = 0, rss_max_kb = 0, rss_end_kb = 0, hwm_kb = 0;
  std::vector<StatementCost> statements;
  double pg_calls_total = 0, pg_ms_total = 0;
  // From pg_stat_database / pg_stat_wal over the window.
  double commits = 0, rollbacks = 0, wal_bytes = 0;
  double checkpoint_bytes = 0;  // Latest controller checkpoint, at the window's end.
  // hwnas-server's PostgreSQL sessions by "state wait_event_type:wait_event",
  // averaged over samples of pg_stat_activity (--pg-stat-statements only).
  std::map<std::string, double> sessions;
  std::string note;
};

int64_t Finished(const hwnas::v1::Search& s) {
  return s.trials_succeeded() + s.trials_failed() + s.trials_infeasible() +
         s.trials_early_stopped();
}

absl::StatusOr<HwnasRun> RunHwnas(Env& env, int workers, int batch, absl::Duration warmup,
                                  absl::Duration window, const std::string& tag, bool progress) {
  HwnasRun run;
  run.workers = workers;
  run.batch = batch;
  const int budget = env.flags().budget;
  std::vector<int64_t> searches;
  HWNAS_ASSIGN_OR_RETURN(int64_t first, env.Submit(absl::StrCat(tag, "-0"), budget));
  searches.push_back(first);

  LoadGenerator fleet({.target = env.target(),
                       .worker_token = env.worker_token(),
                       .table = env.table(),
                       .batch = batch});
  HWNAS_RETURN_IF_ERROR(fleet.Start(workers));

  // Chains searches: a new one when the newest has finished 80% of its
  // budget, so the fleet never runs dry (nb201 has 15,625 cells).
  std::atomic<bool> keeper_stop{false};
  absl::Mutex mu;
  std::thread keeper([&] {
    while (!keeper_stop.load() && !g_interrupted.load()) {
      absl::SleepFor(absl::Milliseconds(500));
      int64_t newest;
      {
        absl::MutexLock lock(&mu);
        newest = searches.back();
      }
      absl::StatusOr<hwnas::v1::Search> s = env.GetSearch(newest);
      if (!s.ok()) continue;
      if (Finished(*s) >= budget * 8 / 10 || s->state() != hwnas::v1::SEARCH_STATE_RUNNING) {
        absl::MutexLock lock(&mu);
        absl::StatusOr<int64_t> next = env.Submit(absl::StrCat(tag, "-", searches.size()), budget);
        if (next.ok()) searches.push_back(*next);
      }
    }
  });

  auto finished_now = [&]() -> int64_t {
    std::vector<int64_t> ids;
    {
      absl::MutexLock lock(&mu);
      ids = searches;
    }
    int64_t n = 0;
    for (int64_t id : ids) {
      absl::StatusOr<hwnas::v1::Search> s = env.GetSearch(id);
      if (s.ok()) n += Finished(*s);
    }
    return n;
  };

  absl::Status failed;
  if (SleepUnlessInterrupted(warmup)) {
    if (env.flags().pg_stat) (void)env.Psql("SELECT pg_stat_statements_reset()");
    const std::vector<double> db0 = env.DbCounters();
    const StoreOps ops0 = env.ScrapeStore();
    const int64_t f0 = finished_now();
    const CpuSample c0 = env.Cpu();
    const pid_t spid = env.server_pid();
    run.rss_start_kb = StatusKb(spid, "VmRSS");
    run.rss_max_kb = run.rss_start_kb;
    const absl::Time end = c0.at + window;
    absl::Time next_progress = c0.at + absl::Seconds(30);
    int64_t last_finished = fleet.finished();
    absl::Time last_at = c0.at;
    int activity_samples = 0;
    while (absl::Now() < end && !g_interrupted.load()) {
      if (env.flags().pg_stat) {
        // What the server's sessions are doing right now: running, waiting
        // for a lock, or idle in a transaction (waiting for the server).
        SleepUnlessInterrupted(std::min(absl::Milliseconds(250), end - absl::Now()));
        absl::StatusOr<std::string> act = env.Psql(
            "SELECT state || ' ' || COALESCE(wait_event_type, '-') || ':' || "
            "COALESCE(wait_event, '-'), count(*) FROM pg_stat_activity WHERE datname = 'hwnas' "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1");
        if (act.ok()) {
          ++activity_samples;
          for (absl::string_view line : absl::StrSplit(*act, '\n', absl::SkipEmpty())) {
            std::vector<std::string> cols = absl::StrSplit(line, '\t');
            double count = 0;
            if (cols.size() == 2 && absl::SimpleAtod(cols[1], &count))
              run.sessions[cols[0]] += count;
          }
        }
      } else {
        SleepUnlessInterrupted(std::min(absl::Seconds(1), end - absl::Now()));
      }
      run.rss_max_kb = std::max(run.rss_max_kb, StatusKb(spid, "VmRSS"));
      if (progress && absl::Now() >= next_progress) {
        const int64_t n = fleet.finished();
        const absl::Time now = absl::Now();
        std::cerr << absl::StrFormat(
            "  [%s] %4.0f s: %.0f trials/s (last 30 s), %d finished, server RSS %d MiB\n", tag,
            absl::ToDoubleSeconds(now - c0.at),
            (n - last_finished) / absl::ToDoubleSeconds(now - last_at), n,
            StatusKb(spid, "VmRSS") / 1024);
        last_finished = n;
        last_at = now;
        next_progress = now + absl::Seconds(30);
      }
    }
    for (auto& [k, v] : run.sessions) v /= std::max(1, activity_samples);
    const CpuSample c1 = env.Cpu();
    const int64_t f1 = finished_now();
    const StoreOps ops1 = env.ScrapeStore();
    const std::vector<double> db1 = env.DbCounters();
    if (db0.size() == 4 && db1.size() == 4) {
      run.commits = db1[0] - db0[0];
      run.rollbacks = db1[1] - db0[1];
      run.wal_bytes = db1[2] - db0[2];
      run.checkpoint_bytes = db1[3];
    }
    run.rss_end_kb = StatusKb(spid, "VmRSS");
    run.hwm_kb = StatusKb(spid, "VmHWM");
    run.window_s = absl::ToDoubleSeconds(c1.at - c0.at);
    run.finished_store = f1 - f0;
    run.rate = static_cast<double>(run.finished_store) / run.window_s;
    run.cpu_server = (c1.server - c0.server) / run.window_s;
    run.cpu_postgres = (c1.postgres - c0.postgres) / run.window_s;
    run.cpu_self = (c1.self - c0.self) / run.window_s;
    for (const auto& [op, v] : ops1) {
      StoreOp d = v;
      if (auto it = ops0.find(op); it != ops0.end()) {
        d.sum -= it->second.sum;
        d.count -= it->second.count;
      }
      if (d.count > 0) run.store_delta[op] = d;
    }
    if (env.flags().pg_stat) {
      absl::StatusOr<std::string> rows = env.Psql(
          "SELECT calls, total_exec_time, rows, regexp_replace(query, '\\s+', ' ', 'g') "
          "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
          "WHERE d.datname = 'hwnas' ORDER BY total_exec_time DESC");
      if (rows.ok()) {
        for (absl::string_view line : absl::StrSplit(*rows, '\n', absl::SkipEmpty())) {
          std::vector<std::string> cols = absl::StrSplit(line, absl::MaxSplits('\t', 3));
          if (cols.size() < 4) continue;
          StatementCost c;
          (void)absl::SimpleAtod(cols[0], &c.calls);
          (void)absl::SimpleAtod(cols[1], &c.total_ms);
          (void)absl::SimpleAtod(cols[2], &c.rows);
          c.query = cols[3];
          // The benchmark's own probes are not the server's cost.
          if (absl::StrContains(c.query, "pg_stat_") ||
              absl::StrContains(c.query, "controller_checkpoints c2")) {
            continue;
          }
          run.pg_calls_total += c.calls;
          run.pg_ms_total += c.total_ms;
          run.statements.push_back(std::move(c));
        }
      } else {
        run.note = std::string(rows.status().message());
      }
    }
    // Client-side cross-check: accepted reports inside the window.
    run.fleet = fleet.Snapshot();
    const int64_t lo = absl::ToUnixMicros(c0.at), hi = absl::ToUnixMicros(c1.at);
    for (int64_t t : run.fleet.finished_at_us) run.finished_client += (t >= lo && t < hi) ? 1 : 0;
  }
  keeper_stop = true;
  keeper.join();
  fleet.Stop();
  if (run.fleet.finished_at_us.empty()) run.fleet = fleet.Snapshot();
  // Errors seen after the window (while stopping) count too.
  FleetStats all = fleet.Snapshot();
  run.fleet.errors = all.errors;
  run.fleet.first_error = all.first_error;
  for (int64_t id : searches) {
    absl::StatusOr<hwnas::v1::Search> s = env.GetSearch(id);
    if (s.ok() && s->state() == hwnas::v1::SEARCH_STATE_RUNNING) env.Cancel(id);
  }
  run.searches = static_cast<int>(searches.size());
  if (g_interrupted) return absl::CancelledError("interrupted");
  return run;
}

// ---------------------------------------------------------------------------
// Optuna.

struct OptunaRun {
  int workers = 0;
  double rate = 0;
  int64_t completed = 0;
  double window_s = 0;
  int failed_processes = 0;
  std::string error;
};

OptunaRun RunOptuna(Env& env, int workers, double warmup_s, double seconds) {
  OptunaRun run;
  run.workers = workers;
  const double timeout = warmup_s + seconds + 240;
  absl::StatusOr<CommandResult> r =
      RunCommand({env.flags().python, env.flags().optuna_script, "--workers", absl::StrCat(workers),
                  "--warmup", absl::StrCat(warmup_s), "--seconds", absl::StrCat(seconds), "--table",
                  env.flags().table, "--study",
                  absl::StrCat("bench-", workers, "-", absl::ToUnixMillis(absl::Now()))},
                 absl::Seconds(timeout));
  if (!r.ok()) {
    run.error = std::string(r.status().message());
    return run;
  }
  std::string last;
  for (absl::string_view line : absl::StrSplit(r->output, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "{")) last = std::string(line);
  }
  if (r->exit_code != 0 || last.empty()) {
    run.error =
        absl::StrCat("optuna_bench.py exit ", r->exit_code, ": ", r->output.substr(0, 2000));
    return run;
  }
  nlohmann::json j = nlohmann::json::parse(last, nullptr, false);
  if (j.is_discarded()) {
    run.error = "unparsable output: " + last;
    return run;
  }
  run.rate = j.value("trials_per_s", 0.0);
  run.completed = j.value("completed", int64_t{0});
  run.window_s = j.value("window_s", 0.0);
  run.failed_processes = j.value("failed_processes", 0);
  return run;
}

// ---------------------------------------------------------------------------
// Reports.

std::string Ms(double us) { return absl::StrFormat("%.2f", us / 1000.0); }

double MeanUs(const std::vector<int64_t>& v) {
  double sum = 0;
  for (int64_t x : v) sum += static_cast<double>(x);
  return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
}

// "p50 / p99 / mean" in ms.
std::string Latency(const std::vector<int64_t>& v) {
  return absl::StrCat(Ms(Percentile(v, 50)), " / ", Ms(Percentile(v, 99)), " / ", Ms(MeanUs(v)));
}

void PrintStoreCosts(const HwnasRun& r) {
  if (r.finished_store <= 0) return;
  const double n = static_cast<double>(r.finished_store);
  std::cout << absl::StrFormat(
      "\nStore calls per finished trial, %d workers, %d trials per AcquireTrial (server's "
      "hwnas_store_seconds):\n",
      r.workers, r.batch);
  std::cout << absl::StrFormat(
      "(PostgreSQL per finished trial: %.2f commits, %.2f rollbacks, %.1f KiB of WAL; newest "
      "controller checkpoint %.1f KiB)\n",
      r.commits / n, r.rollbacks / n, r.wal_bytes / n / 1024, r.checkpoint_bytes / 1024);
  std::cout << "| op | calls/trial | mean ms | ms/trial |\n|---|---:|---:|---:|\n";
  std::vector<std::pair<std::string, StoreOp>> ops(r.store_delta.begin(), r.store_delta.end());
  std::sort(ops.begin(), ops.end(),
            [](const auto& a, const auto& b) { return a.second.sum > b.second.sum; });
  for (const auto& [op, d] : ops) {
    std::cout << absl::StrFormat("| %s | %.2f | %.2f | %.2f |\n", op, d.count / n,
                                 1000 * d.sum / d.count, 1000 * d.sum / n);
  }
  if (!r.sessions.empty()) {
    std::cout << "\nhwnas-server's PostgreSQL sessions, average over the window (pg_stat_activity: "
                 "state wait_event_type:wait_event):\n";
    for (const auto& [k, v] : r.sessions) std::cout << absl::StrFormat("- %s: %.2f\n", k, v);
  }
  if (!r.statements.empty()) {
    std::cout << absl::StrFormat(
        "\nPostgreSQL statements per finished trial, %d workers (pg_stat_statements; %.1f "
        "statements and %.2f ms of execution per trial):\n",
        r.workers, r.pg_calls_total / n, r.pg_ms_total / n);
    std::cout << "| calls/trial | exec ms/trial | mean ms | rows/call | statement |\n"
                 "|---:|---:|---:|---:|---|\n";
    for (size_t i = 0; i < r.statements.size() && i < 15; ++i) {
      const StatementCost& c = r.statements[i];
      std::cout << absl::StrFormat("| %.2f | %.3f | %.3f | %.1f | `%s` |\n", c.calls / n,
                                   c.total_ms / n, c.calls > 0 ? c.total_ms / c.calls : 0,
                                   c.calls > 0 ? c.rows / c.calls : 0, c.query.substr(0, 160));
    }
  }
}

std::string Errors(const FleetStats& f) {
  if (f.errors.empty()) return "0";
  std::vector<std::string> parts;
  for (const auto& [k, v] : f.errors) {
    auto it = f.first_error.find(k);
    parts.push_back(
        absl::StrCat(k, " x", v, it != f.first_error.end() ? " (" + it->second + ")" : ""));
  }
  return absl::StrJoin(parts, "; ");
}

nlohmann::json ToJson(const HwnasRun& r) {
  nlohmann::json j;
  j["workers"] = r.workers;
  j["batch"] = r.batch;
  j["leases"] = r.fleet.leases;
  j["window_s"] = r.window_s;
  j["finished_store"] = r.finished_store;
  j["finished_client"] = r.finished_client;
  j["trials_per_s"] = r.rate;
  j["searches"] = r.searches;
  auto mean = [](const std::vector<int64_t>& v) {
    double sum = 0;
    for (int64_t x : v) sum += static_cast<double>(x);
    return v.empty() ? 0.0 : sum / static_cast<double>(v.size()) / 1000;
  };
  j["acquire_ms_mean"] = mean(r.fleet.acquire_us);
  j["report_ms_mean"] = mean(r.fleet.report_us);
  j["per_trial"] = {{"commits", r.commits / std::max<double>(1, r.finished_store)},
                    {"wal_bytes", r.wal_bytes / std::max<double>(1, r.finished_store)},
                    {"checkpoint_bytes", r.checkpoint_bytes}};
  j["acquire_ms"] = {{"p50", Percentile(r.fleet.acquire_us, 50) / 1000},
                     {"p99", Percentile(r.fleet.acquire_us, 99) / 1000},
                     {"n", r.fleet.acquire_us.size()}};
  j["report_ms"] = {{"p50", Percentile(r.fleet.report_us, 50) / 1000},
                    {"p99", Percentile(r.fleet.report_us, 99) / 1000},
                    {"n", r.fleet.report_us.size()}};
  j["errors"] = r.fleet.ErrorCount();
  j["empty_polls"] = r.fleet.empty_polls;
  j["cpu_cores"] = {
      {"server", r.cpu_server}, {"postgres", r.cpu_postgres}, {"load_generator", r.cpu_self}};
  j["server_rss_kb"] = {
      {"start", r.rss_start_kb}, {"max", r.rss_max_kb}, {"end", r.rss_end_kb}, {"hwm", r.hwm_kb}};
  nlohmann::json ops = nlohmann::json::object();
  for (const auto& [op, d] : r.store_delta) ops[op] = {{"count", d.count}, {"seconds", d.sum}};
  j["store_ops"] = ops;
  return j;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

int Main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<ParsedFlags> parsed =
      ParseMainFlags(BenchFlags(), argc, argv, std::cout, std::cerr, &exit_code);
  if (!parsed) return exit_code;
  absl::StatusOr<Flags> flags = ReadBenchFlags(*parsed);
  if (!flags.ok()) {
    std::cerr << "hwnas-bench-server: " << flags.status().message()
              << "\n(hwnas-bench-server --help lists the flags)\n";
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  const Flags& f = *flags;
  Env env(f);
  if (absl::Status s = env.Start(); !s.ok()) {
    std::cerr << "hwnas-bench-server: " << s << "\n";
    return 1;
  }
  std::cerr << "hwnas-bench-server: server on " << env.target() << ", work dir " << env.work_dir()
            << ", load average " << LoadAverage() << "\n";
  nlohmann::json out;
  out["load_average_start"] = LoadAverage();
  out["durable"] = f.durable;
  out["pg_stat_statements"] = f.pg_stat;

  std::vector<HwnasRun> hwnas_runs;
  if (f.throughput) {
    for (int n : f.workers) {
      for (int batch : {1, f.batch}) {
        if (batch == 1 && !hwnas_runs.empty() && hwnas_runs.back().workers == n) continue;
        std::cerr << "hwnas: " << n << " workers, " << batch << " trials per AcquireTrial...\n";
        absl::StatusOr<HwnasRun> r =
            RunHwnas(env, n, batch, absl::Seconds(f.warmup_s), absl::Seconds(f.seconds),
                     absl::StrCat("bench-", n, "x", batch), false);
        if (!r.ok()) {
          std::cerr << "hwnas-bench-server: " << r.status() << "\n";
          return 1;
        }
        std::cerr << absl::StrFormat("hwnas: %d workers, batch %d: %.1f trials/s\n", n, batch,
                                     r->rate);
        hwnas_runs.push_back(*std::move(r));
      }
    }
  }
  std::vector<OptunaRun> optuna_runs;
  if (f.optuna) {
    for (int n : f.workers) {
      if (g_interrupted) return 1;
      std::cerr << "optuna: " << n << " processes...\n";
      OptunaRun r = RunOptuna(env, n, f.warmup_s, f.seconds);
      if (!r.error.empty()) std::cerr << "optuna: " << r.error << "\n";
      std::cerr << absl::StrFormat("optuna: %d processes: %.2f trials/s\n", n, r.rate);
      optuna_runs.push_back(r);
    }
  }

  if (!hwnas_runs.empty() || !optuna_runs.empty()) {
    std::cout << absl::StrFormat(
        "\n## Throughput: finished trials/s (window %.0f s after %.0f s warm-up; PostgreSQL "
        "fsync %s; load average at start %s)\n\n",
        f.seconds, f.warmup_s, f.durable ? "on" : "off",
        out["load_average_start"].get<std::string>());
    std::cout << "| workers | trials per AcquireTrial | hwnas trials/s | Optuna trials/s | "
                 "hwnas / Optuna | hwnas Acquire ms p50 / p99 / mean | Report ms p50 / p99 / "
                 "mean | errors | CPU cores: server / postgres / load gen |\n"
                 "|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
    // One row per hwnas run (or per worker count when only Optuna ran).
    std::vector<std::pair<int, const HwnasRun*>> rows;
    for (const HwnasRun& h : hwnas_runs) rows.emplace_back(h.workers, &h);
    if (rows.empty()) {
      for (int n : f.workers) rows.emplace_back(n, nullptr);
    }
    for (const auto& [workers, h] : rows) {
      const OptunaRun* o = nullptr;
      for (const OptunaRun& run : optuna_runs) {
        if (run.workers == workers) o = &run;
      }
      std::cout << absl::StrFormat(
          "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", workers,
          h ? absl::StrFormat("%d (%.1f leased per call)", h->batch,
                              h->fleet.acquire_us.empty()
                                  ? 0.0
                                  : static_cast<double>(h->fleet.leases) /
                                        static_cast<double>(h->fleet.acquire_us.size()))
            : "-",
          h ? absl::StrFormat("%.1f", h->rate) : "-",
          o ? (o->error.empty() ? absl::StrFormat("%.2f", o->rate) : "error") : "-",
          h && o && o->rate > 0 ? absl::StrFormat("%.0fx", h->rate / o->rate) : "-",
          h ? Latency(h->fleet.acquire_us) : "-", h ? Latency(h->fleet.report_us) : "-",
          h ? absl::StrCat(h->fleet.ErrorCount()) : "-",
          h ? absl::StrFormat("%.2f / %.2f / %.2f", h->cpu_server, h->cpu_postgres, h->cpu_self)
            : "-");
    }
    for (const HwnasRun& h : hwnas_runs) {
      if (h.fleet.ErrorCount() > 0)
        std::cout << "errors, " << h.workers << " workers, batch " << h.batch << ": "
                  << Errors(h.fleet) << "\n";
      if (std::abs(h.finished_client - h.finished_store) > h.workers * h.batch + 2) {
        std::cout << absl::StrFormat(
            "note, %d workers: the store counted %d finished trials in the window, the fleet %d\n",
            h.workers, h.finished_store, h.finished_client);
      }
    }
    for (const OptunaRun& o : optuna_runs) {
      if (o.failed_processes > 0) {
        std::cout << absl::StrFormat("note, Optuna %d processes: %d did not finish cleanly\n",
                                     o.workers, o.failed_processes);
      }
      if (!o.error.empty())
        std::cout << "Optuna " << o.workers << " processes: " << o.error << "\n";
    }
    for (const HwnasRun& h : hwnas_runs) PrintStoreCosts(h);
    nlohmann::json hj = nlohmann::json::array();
    for (const HwnasRun& h : hwnas_runs) hj.push_back(ToJson(h));
    out["hwnas"] = hj;
    nlohmann::json oj = nlohmann::json::array();
    for (const OptunaRun& o : optuna_runs) {
      oj.push_back({{"workers", o.workers},
                    {"trials_per_s", o.rate},
                    {"completed", o.completed},
                    {"window_s", o.window_s},
                    {"failed_processes", o.failed_processes},
                    {"error", o.error}});
    }
    out["optuna"] = oj;
  }

  if (f.scale && !g_interrupted) {
    std::cerr << "scale: " << f.scale_workers << " workers for "
              << absl::FormatDuration(f.scale_duration) << "...\n";
    out["load_average_scale_start"] = LoadAverage();
    absl::StatusOr<HwnasRun> r =
        RunHwnas(env, f.scale_workers, 1, absl::Seconds(5), f.scale_duration, "scale", true);
    if (!r.ok()) {
      std::cerr << "hwnas-bench-server: " << r.status() << "\n";
      return 1;
    }
    const HwnasRun& s = *r;
    std::cout << absl::StrFormat(
        "\n## Scale: %d connected workers for %s (after 5 s warm-up; load average at start %s)\n\n",
        s.workers, absl::FormatDuration(f.scale_duration),
        out["load_average_scale_start"].get<std::string>());
    std::cout << "| metric | value |\n|---|---|\n";
    std::cout << absl::StrFormat(
        "| finished trials (store) | %d in %.0f s = %.1f trials/s, %d searches |\n",
        s.finished_store, s.window_s, s.rate, s.searches);
    std::cout << absl::StrFormat("| errors | %s |\n", Errors(s.fleet));
    std::cout << absl::StrFormat(
        "| AcquireTrial with a lease, ms | p50 %s, p99 %s, mean %s, max %s (n=%d) |\n",
        Ms(Percentile(s.fleet.acquire_us, 50)), Ms(Percentile(s.fleet.acquire_us, 99)),
        Ms(MeanUs(s.fleet.acquire_us)), Ms(Percentile(s.fleet.acquire_us, 100)),
        s.fleet.acquire_us.size());
    std::cout << absl::StrFormat("| ReportResult, ms | p50 %s, p99 %s, mean %s, max %s (n=%d) |\n",
                                 Ms(Percentile(s.fleet.report_us, 50)),
                                 Ms(Percentile(s.fleet.report_us, 99)),
                                 Ms(MeanUs(s.fleet.report_us)),
                                 Ms(Percentile(s.fleet.report_us, 100)), s.fleet.report_us.size());
    std::cout << absl::StrFormat("| empty long-polls (1 s) | %d |\n", s.fleet.empty_polls);
    std::cout << absl::StrFormat(
        "| server CPU | %.2f cores (PostgreSQL %.2f, load generator %.2f) |\n", s.cpu_server,
        s.cpu_postgres, s.cpu_self);
    std::cout << absl::StrFormat(
        "| server memory (RSS) | %.0f MiB at start, %.0f MiB max, %.0f MiB at end (peak %.0f MiB) "
        "|\n",
        s.rss_start_kb / 1024.0, s.rss_max_kb / 1024.0, s.rss_end_kb / 1024.0, s.hwm_kb / 1024.0);
    PrintStoreCosts(s);
    out["scale"] = ToJson(s);
  }
  if (!f.json_out.empty()) {
    std::ofstream(f.json_out) << out.dump(2) << "\n";
  }
  env.Shutdown();
  return g_interrupted ? 1 : 0;
}

}  // namespace
}  // namespace hwnas::bench

int main(int argc, char** argv) { return hwnas::bench::Main(argc, argv); }
