// The `hwnas` command line: subcommand dispatch, global flags, connection
// resolution and the commands themselves. Everything the process touches
// (streams, environment, files, clock, the gRPC client) goes through
// CliContext, so tests run commands in-process against any server.
#ifndef HWNAS_CLI_APP_H_
#define HWNAS_CLI_APP_H_

#include <atomic>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/args.h"
#include "cli/client.h"
#include "cli/config.h"

namespace hwnas::cli {

struct CliContext {
  std::ostream* out = nullptr;  // Results (tables, JSON, CSV, ids).
  std::ostream* err = nullptr;  // Errors, hints and progress notes.
  EnvLookup env = ProcessEnv();
  bool stdout_is_tty = false;  // Live progress bar instead of per-event lines.
  int terminal_width = 0;      // Columns of the terminal; 0: unknown.
  std::function<absl::Time()> now = [] { return absl::Now(); };
  // Builds the client for a resolved connection (default: Client::Connect).
  // Integration tests can point it at an in-process server's channel.
  std::function<absl::StatusOr<std::unique_ptr<Client>>(const ConnectionConfig&)> connect =
      [](const ConnectionConfig& c) { return Client::Connect(c); };
  std::function<std::string()> new_idempotency_key = [] { return NewIdempotencyKey(); };
  // Reads a file ("-": standard input) / writes one; errors are LocalIoError.
  std::function<absl::StatusOr<std::string>(const std::string& path)> read_file;
  std::function<absl::Status(const std::string& path, const std::string& contents)> write_file;
  // Set (e.g. by a SIGINT handler) to stop a running watch.
  const std::atomic<bool>* interrupted = nullptr;
};

// A CliContext on std::cout / std::cerr with real files and the process env.
CliContext DefaultContext();

// The global flags every command accepts (--server, --token, --tls-ca, --tls,
// --config, --timeout, -o/--output).
const std::vector<FlagSpec>& GlobalFlags();
// Every subcommand, in the order `hwnas --help` lists them.
const std::vector<CommandSpec>& Commands();
// `hwnas --help`.
std::string MainHelp();

// Runs the command line `args` (without argv[0]); returns the exit code (see
// errors.h). Errors are printed to ctx.err as "hwnas: error: ...".
int RunCli(const std::vector<std::string>& args, CliContext& ctx);

// The connection for a parsed command line: flags, then env, then the
// config file named by --config / $HWNAS_CONFIG / XDG.
absl::StatusOr<ConnectionConfig> ConnectionFromArgs(const ParsedArgs& args, const EnvLookup& env);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_APP_H_
