// `hwnas local`: the whole system on one machine. A private PostgreSQL in the
// state directory (kept between runs), `hwnas-server` on a free loopback port
// and N `hwnas-worker serve` processes as children; the spec is submitted (or
// the same unfinished search resumed), watched, and its results printed;
// everything is stopped on the way out, also on Ctrl-C.
//
// State directory layout (default ./.hwnas-local; as root where the postgres
// user cannot enter the current directory, /var/tmp/hwnas-local/<dir>-<hash>):
//   postgres/       the cluster (owned by `postgres` when run as root)
//   tokens.yaml     the admin and worker API tokens (0600)
//   config.yaml     a client config for `hwnas --config DIR/config.yaml ...` (0600)
//   searches.tsv    "<spec hash>\t<search id>" per submitted search
//   server.port     the server's port while it runs
//   logs/           server.log, worker-N.log
#ifndef HWNAS_CLI_LOCAL_H_
#define HWNAS_CLI_LOCAL_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/app.h"
#include "cli/args.h"
#include "cli/config.h"

namespace hwnas::cli {

// The command's spec (flags, help) for the command table.
CommandSpec LocalCommandSpec();

// Runs `hwnas local`. Needs no connection settings: it makes its own.
absl::StatusOr<int> RunLocal(const ParsedArgs& args, CliContext& ctx);

// Finds another hwnas program ("hwnas-server", "hwnas-worker"): the
// environment override ($HWNAS_SERVER_BIN / $HWNAS_WORKER_BIN), next to this
// executable, in the build tree's sibling folder (../server, ../worker), then
// PATH. Fails with NOT_FOUND naming every place tried.
absl::StatusOr<std::string> FindHwnasProgram(absl::string_view name, const EnvLookup& env);

// The shared data directory for workers: $HWNAS_SHARED_DATA, else
// ../shared/data from the current directory, else the one beside the source
// tree this binary was built in; nullopt when none exists.
std::optional<std::string> FindSharedDataDir(const EnvLookup& env);

// Runs `hwnas-worker check` on the spec with the data in `data_dir` (the
// worker's default when nullopt): OK when the spec fits its data set;
// INVALID_ARGUMENT when the spec is invalid; NOT_FOUND when the data set is
// not on this machine; OUT_OF_RANGE, naming the field, when the spec does not
// fit its data (e.g. more stratified folds than a class has samples). Errors
// name `spec_path`.
absl::Status CheckDataFirst(const std::string& worker_bin, const std::string& spec_path,
                            const std::string& spec, const std::optional<std::string>& data_dir);

// 16 hex digits of FNV-1a over the spec text: the key that maps a spec to its
// search in the state directory.
std::string SpecHash(absl::string_view spec_yaml);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_LOCAL_H_
