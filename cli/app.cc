#include "cli/app.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/export.h"
#include "cli/local.h"
#include "common/files.h"
#include "common/flags.h"
#include "common/status_macros.h"

namespace hwnas::cli {
namespace {

using Runner = absl::StatusOr<int> (*)(const ParsedArgs&, CliContext&, Client&);
// Commands that make their own connection (`local`).
using StandaloneRunner = absl::StatusOr<int> (*)(const ParsedArgs&, CliContext&);

struct Entry {
  const CommandSpec* spec;
  Runner run = nullptr;
  StandaloneRunner run_standalone = nullptr;
};

const std::vector<Entry>& Table() {
  static const auto* table = [] {
    const auto& commands = Commands();
    const Runner runners[] = {RunSubmit, RunList,    RunStatus, RunCancel,
                              RunWatch,  RunTrials,  RunPareto, RunTrial,
                              RunReport, RunEnqueue, RunImport, RunExportCommand};
    constexpr size_t kConnected = sizeof(runners) / sizeof(runners[0]);
    auto* t = new std::vector<Entry>();
    for (size_t i = 0; i < kConnected; ++i) t->push_back({&commands[i], runners[i]});
    t->push_back({&commands[kConnected], nullptr, RunLocal});
    return t;
  }();
  return *table;
}

const Entry* FindCommand(absl::string_view name) {
  for (const Entry& e : Table()) {
    if (e.spec->name == name) return &e;
  }
  if (name == "list") return FindCommand("ls");
  return nullptr;
}

// The global flag spelled `arg` ("--server" or "-s"), or nullptr.
const FlagSpec* GlobalFlagNamed(absl::string_view arg) {
  for (const FlagSpec& f : GlobalFlags()) {
    if (arg == absl::StrCat("--", f.name)) return &f;
    if (f.short_name && arg == absl::StrCat("-", std::string(1, f.short_name))) return &f;
  }
  return nullptr;
}

bool GlobalTakesValue(absl::string_view arg) {
  const FlagSpec* f = GlobalFlagNamed(arg);
  return f != nullptr && !f->value_name.empty();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::stringstream buffer;
  if (path == "-") {
    buffer << std::cin.rdbuf();
    return buffer.str();
  }
  absl::StatusOr<std::string> contents = ReadWholeFile(path);
  if (!contents.ok()) return LocalIoError(contents.status().message());
  return contents;
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  if (path == "-") {
    std::cout << contents;
    return absl::OkStatus();
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return LocalIoError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  out << contents;
  out.close();
  if (!out) return LocalIoError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

CliContext DefaultContext() {
  CliContext ctx;
  ctx.out = &std::cout;
  ctx.err = &std::cerr;
  ctx.read_file = ReadFile;
  ctx.write_file = WriteFile;
  return ctx;
}

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"server", 's', "ADDR",
       absl::StrCat("server address host:port (env HWNAS_SERVER; default ", kDefaultServer, ")")},
      {"token", 0, "TOKEN", "API token (env HWNAS_TOKEN)"},
      {"tls-ca", 0, "FILE", "use TLS, trusting this CA certificate (env HWNAS_TLS_CA)"},
      {"tls", 0, "", "use TLS with the system's root certificates"},
      {"config", 0, "FILE",
       "config file (env HWNAS_CONFIG; default $XDG_CONFIG_HOME/hwnas/config.yaml)"},
      {"timeout", 0, "DURATION", "deadline of each call, e.g. 30s (default 30s)"},
      {"output", 'o', "FORMAT", "output format: table (default), json or csv"},
  };
  return *flags;
}

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>{
      {"submit",
       "Submit a search spec; prints the new search's id.",
       {},
       {{"file", 'f', "FILE", "the search spec (YAML); '-' reads standard input"},
        {"watch", 'w', "", "then watch the search until it ends"},
        {"data-dir", 0, "DIR",
         "check the spec against the data here first (default: "
         "$HWNAS_SHARED_DATA or ../shared/data)"}},
       "The server validates the spec; errors name the field, e.g.\n"
       "\"objectives.constraints[0].metric: unknown metric 'latncy'\" (exit code 2).\n"
       "With hwnas-worker and the data set on this machine, the spec is first checked\n"
       "against the data (e.g. evaluation.folds over a class's samples; exit code 2).\n"
       "A random idempotency key is sent, so retries after a lost connection never\n"
       "start a second search. Table output prints only the id on stdout.",
       "  hwnas submit -f examples/fashion-mnist-mcu.yaml\n"
       "  ID=$(hwnas submit -f spec.yaml) && hwnas watch \"$ID\"\n"
       "  hwnas submit -f spec.yaml --watch\n"},
      {"ls",
       "List searches, newest first (yours; --all: everyone's, admins only).",
       {},
       {{"all", 'a', "", "every owner's searches (admins)"},
        {"state", 0, "STATE", "only RUNNING, COMPLETED, CANCELLED or FAILED"},
        {"limit", 'n', "N", "at most N searches"}},
       "",
       "  hwnas ls\n"
       "  hwnas ls --state RUNNING -o json\n"
       "  hwnas ls --all -o csv > searches.csv\n"},
      {"status",
       "Show one search: state, progress counts and the best trial.",
       {"ID"},
       {},
       "",
       "  hwnas status 12\n"
       "  hwnas status 12 -o json | jq .trials.finished\n"},
      {"cancel",
       "Cancel a search: pending trials are cancelled, running ones stopped.",
       {"ID"},
       {},
       "Cancelling a search that already ended changes nothing and says so (\"search\n"
       "12 had already ended: COMPLETED\").",
       "  hwnas cancel 12\n"},
      {"watch",
       "Follow a search live until it ends, then print a summary.",
       {"ID"},
       {},
       "On a terminal: a progress bar (finished/budget, running, failed, infeasible,\n"
       "best reward with its accuracy and costs, ETA). Otherwise (pipes, logs): one\n"
       "line per event. Exit code 0 when the search COMPLETED, 5 when it ended\n"
       "FAILED or CANCELLED or completed without a single successful trial, 130 on\n"
       "Ctrl-C (the search keeps running).",
       "  hwnas watch 12\n"
       "  hwnas watch 12 | tee search-12.log\n"},
      {"trials",
       "List the trials of a search.",
       {"ID"},
       {{"top", 'n', "N", "only the first N after sorting"},
        {"state", 0, "STATE", "only trials in this state (e.g. SUCCEEDED, INFEASIBLE)"},
        {"sort", 0, "METRIC",
         "number (default), reward, accuracy, latency_ms, or any metric (params, macs,\n"
         "                               flash_bytes, peak_memory_bytes, latency_ms@cortex-m7, "
         "...)"},
        {"reverse", 'r', "", "reverse the sort order"}},
       "reward and accuracy sort best first; costs sort smallest first. -o csv and -o json\n"
       "carry each trial's rung and its created, started and finished times (RFC 3339, UTC).",
       "  hwnas trials 12 --top 10 --sort reward\n"
       "  hwnas trials 12 --state INFEASIBLE\n"
       "  hwnas trials 12 --sort flash_bytes -o csv > trials.csv\n"},
      {"pareto",
       "Show the Pareto front (accuracy vs costs) as a table and a scatter plot.",
       {"ID"},
       {{"x", 'x', "METRIC", "x axis (default: the front's first cost metric)"},
        {"y", 'y', "METRIC", "y axis (default: accuracy)"}},
       "The plot shows the front (*), the other succeeded trials (.) and infeasible\n"
       "trials (x). JSON and CSV output carry the front's trials only.",
       "  hwnas pareto 12\n"
       "  hwnas pareto 12 --x flash_bytes\n"
       "  hwnas pareto 12 -o json\n"},
      {"trial",
       "Show one trial in full, with its per-epoch curve.",
       {"ID", "N"},
       {},
       "CSV output is one row per epoch. 'Estimate:' lines are the targets' estimates;\n"
       "'Measured:' lines (measured_*@T, int8_accuracy@T) were measured on the trained\n"
       "network's firmware in QEMU, for targets with `measure:` (hwnas-worker serve\n"
       "--measure-mcu).",
       "  hwnas trial 12 57\n"
       "  hwnas trial 12 57 -o json\n"},
      {"report",
       "Write a self-contained HTML report (plots, top architectures, trials).",
       {"ID"},
       {{"output", 'o', "FILE", "the HTML file (default: report-ID.html; '-' for stdout)"},
        {"svg", 0, "FILE", "also write one plot as an SVG file"},
        {"plot", 0, "NAME", "the plot for --svg: pareto (default), pareto:METRIC or reward"},
        {"top", 'n', "N", "architectures listed in full (default 10)"}},
       "The page needs no network access: CSS and SVG are inline, no scripts.\n"
       "Pareto plots are drawn for the cost metrics of the spec's objectives:\n"
       "section (pareto_metrics, else constraint and hard-limit metrics).",
       "  hwnas report 12 -o report.html\n"
       "  hwnas report 12 --svg front.svg --plot pareto:flash_bytes\n"},
      {"enqueue",
       "Queue architectures to run before the strategy's own proposals.",
       {"ID"},
       {{"arch", 'a', "ARCH",
         "an architecture in the search's space: its readable form (e.g. a\n"
         "                               NAS-Bench-201 arch string) or its comma-separated "
         "tokens;\n"
         "                               repeat for more"},
        {"file", 'f', "FILE",
         "one architecture per line, after any --arch ones ('#' comments and\n"
         "                               blank lines skipped; '-': standard input)"}},
       "Only the search's owner (or an admin) may enqueue, and only on a RUNNING search.\n"
       "Enqueued trials are leased before the strategy's pending proposals; their\n"
       "results are told to the strategy like its own, and they count against the\n"
       "budget (they run even when that takes the search past it). All or nothing: an\n"
       "architecture that does not decode in the space is refused, naming it and its\n"
       "position (--arch) or line (--file), and nothing of the request is stored\n"
       "(exit code 2). Table output lists the new trials.",
       "  hwnas enqueue 12 --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|"
       "skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'\n"
       "  hwnas enqueue 12 --arch 3,3,1,1,3,3\n"
       "  hwnas enqueue 12 --file known-good.txt\n"},
      {"import",
       "Import results evaluated elsewhere (CSV or JSON) as finished trials.",
       {"ID", "FILE"},
       {},
       "Each row is an architecture (readable form or tokens) with the metrics measured\n"
       "for it: `accuracy` (a fraction in [0, 1]) is required; loss, latency_ms,\n"
       "latency_p90_ms, params, macs, peak_memory_bytes, flash_bytes, train_seconds,\n"
       "balanced_accuracy, macro_f1 and METRIC@TARGET estimates are optional columns\n"
       "(CSV, header first) or keys (JSON: an array of objects). The rows are stored\n"
       "as trials of origin 'imported', judged by the search's objectives (SUCCEEDED,\n"
       "or INFEASIBLE over a hard limit), told to the strategy, counted in the Pareto\n"
       "front, the report and the budget, and never leased or re-run. Owner (or admin)\n"
       "only, on a RUNNING search. All or nothing: a row with a missing or non-numeric\n"
       "metric, an unknown column or an architecture outside the space is refused with\n"
       "its line number and nothing is imported (exit code 2).",
       "  hwnas import 12 results.csv\n"
       "  hwnas import 12 results.json -o json\n"
       "\n"
       "results.csv:\n"
       "  architecture,accuracy,latency_ms\n"
       "  |nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|"
       "nor_conv_3x3~2|,0.91,11.2\n"},
      ExportCommandSpec(),
      LocalCommandSpec(),
  };
  return *commands;
}

std::string MainHelp() {
  std::string out =
      "hwnas: the client of the hwnas hardware-aware neural architecture search server.\n\n"
      "Usage: hwnas COMMAND [ARGS] [flags]\n\nCommands:\n";
  for (const CommandSpec& c : Commands()) {
    absl::StrAppend(&out, absl::StrFormat("  %-8s %s\n", c.name, c.summary));
  }
  absl::StrAppend(&out, "\nGlobal flags:\n");
  for (const FlagSpec& f : GlobalFlags()) {
    std::string left = f.short_name
                           ? absl::StrCat("-", std::string(1, f.short_name), ", --", f.name)
                           : absl::StrCat("    --", f.name);
    if (!f.value_name.empty()) absl::StrAppend(&left, " ", f.value_name);
    absl::StrAppend(&out, absl::StrFormat("  %-28s %s\n", left, f.help));
  }
  absl::StrAppend(
      &out,
      "\nConnection and identity: flags, then HWNAS_SERVER / HWNAS_TOKEN / HWNAS_TLS_CA,\n"
      "then the config file ($HWNAS_CONFIG, $XDG_CONFIG_HOME/hwnas/config.yaml or\n"
      "~/.config/hwnas/config.yaml):\n"
      "  server: hwnas.lab.example.org:7470\n"
      "  token: <your API token>\n"
      "  tls: {ca: /etc/hwnas/ca.pem}\n\n",
      ExitCodeHelp(), "\nRun 'hwnas COMMAND --help' for a command's flags and examples.\n");
  return out;
}

absl::StatusOr<ConnectionConfig> ConnectionFromArgs(const ParsedArgs& args, const EnvLookup& env) {
  ConnectionFlags flags;
  flags.server = args.Get("server");
  flags.token = args.Get("token");
  flags.tls_ca = args.Get("tls-ca");
  flags.tls = args.Has("tls");
  if (auto t = args.Get("timeout")) {
    HWNAS_ASSIGN_OR_RETURN(absl::Duration d, ParseDurationFlag(*t));
    flags.timeout = d;
  }
  std::string path = args.Get("config").value_or(DefaultConfigPath(env));
  std::optional<FileConfig> file;
  if (args.Get("config")) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return LocalIoError(absl::StrCat("config file ", path, " does not exist"));
    }
  }
  HWNAS_ASSIGN_OR_RETURN(file, LoadConfigFile(path));
  HWNAS_ASSIGN_OR_RETURN(ConnectionConfig connection, ResolveConnection(flags, env, file));
  if (absl::Status s = CheckToken(connection.token, "API token"); !s.ok()) {
    return UsageError(absl::StrCat(s.message(), " (from --token, HWNAS_TOKEN or the config file)"));
  }
  if (absl::Status s = CheckHostPort(connection.server, 1, "server address"); !s.ok()) {
    return UsageError(
        absl::StrCat(s.message(), " (from --server, HWNAS_SERVER or the config file)"));
  }
  return connection;
}

int RunCli(const std::vector<std::string>& args, CliContext& ctx) {
  std::ostream& err = *ctx.err;
  // The command is the first bare word; global flags may come before it.
  size_t command_at = args.size();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.empty() || a[0] != '-') {
      command_at = i;
      break;
    }
    if (GlobalTakesValue(a)) ++i;
  }
  if (command_at == args.size()) {
    const bool help = std::find(args.begin(), args.end(), "--help") != args.end() ||
                      std::find(args.begin(), args.end(), "-h") != args.end() || args.empty();
    if (help) {
      *ctx.out << MainHelp();
      return args.empty() ? kExitUsage : kExitOk;
    }
    if (std::find(args.begin(), args.end(), "--version") != args.end()) {
      *ctx.out << "hwnas 0.1.0\n";
      return kExitOk;
    }
    // Flags only: an unknown one is the likelier mistake than a missing command.
    for (const std::string& a : args) {
      const std::string name = a.substr(0, a.find('='));
      const bool known = name == "--version" || GlobalFlagNamed(name) != nullptr;
      if (!known && absl::StartsWith(a, "-")) {
        err << "hwnas: error: unknown flag " << name << " (before any command)\n"
            << "Run 'hwnas --help' for usage.\n";
        return kExitUsage;
      }
    }
    err << "hwnas: error: no command given\nRun 'hwnas --help' for usage.\n";
    return kExitUsage;
  }
  std::string name = args[command_at];
  std::vector<std::string> rest(args.begin(), args.begin() + command_at);
  rest.insert(rest.end(), args.begin() + command_at + 1, args.end());
  if (name == "help") {
    if (rest.empty()) {
      *ctx.out << MainHelp();
      return kExitOk;
    }
    name = rest[0];
    rest = {"--help"};
  }
  const Entry* entry = FindCommand(name);
  if (entry == nullptr) {
    err << "hwnas: error: unknown command '" << name << "'\nRun 'hwnas --help' for usage.\n";
    return kExitUsage;
  }
  absl::StatusOr<ParsedArgs> parsed = ParseCommandArgs(*entry->spec, GlobalFlags(), rest);
  if (!parsed.ok()) {
    err << "hwnas: error: " << parsed.status().message() << "\nRun 'hwnas " << entry->spec->name
        << " --help' for usage.\n";
    return ExitCodeFor(parsed.status());
  }
  if (parsed->help) {
    *ctx.out << CommandHelp(*entry->spec, GlobalFlags());
    return kExitOk;
  }
  absl::StatusOr<int> result = [&]() -> absl::StatusOr<int> {
    if (entry->run_standalone != nullptr) return entry->run_standalone(*parsed, ctx);
    HWNAS_ASSIGN_OR_RETURN(ConnectionConfig connection, ConnectionFromArgs(*parsed, ctx.env));
    HWNAS_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ctx.connect(connection));
    return entry->run(*parsed, ctx, *client);
  }();
  if (result.ok()) return *result;
  err << "hwnas: error: " << result.status().message() << "\n";
  if (IsUsageError(result.status())) {
    err << "Run 'hwnas " << entry->spec->name << " --help' for usage.\n";
  }
  return ExitCodeFor(result.status());
}

}  // namespace hwnas::cli
