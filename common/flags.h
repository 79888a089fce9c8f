// Command-line flags shared by hwnas, hwnas-server and hwnas-worker. Each
// command declares the flags it takes; anything else is an error that names
// it (a typo must not silently leave a default in place).
//
// Accepted: `--name value`, `--name=value`, `-n value`, `-nVALUE`; a boolean
// flag takes no value (`--json`, or `--json=true|false`); `-h`/`--help`
// sets `help`; `--` ends the flags; a lone `-` and negative numbers are
// positionals. Flags and positionals may come in any order.
#ifndef HWNAS_COMMON_FLAGS_H_
#define HWNAS_COMMON_FLAGS_H_

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwnas {

struct FlagSpec {
  std::string name;        // Long name without dashes: "server".
  char short_name = 0;     // 'o' for -o; 0 for none.
  std::string value_name;  // Empty: a boolean flag.
  std::string help;
};

struct ParsedFlags {
  std::map<std::string, std::string> values;  // Flags with values (last one wins).
  // Every value of each flag, in order (`hwnas enqueue --arch A --arch B`).
  std::map<std::string, std::vector<std::string>> repeated;
  std::set<std::string> bools;  // Boolean flags given.
  std::vector<std::string> positionals;
  bool help = false;

  bool Has(absl::string_view name) const;
  std::optional<std::string> Get(absl::string_view name) const;
  std::string GetOr(absl::string_view name, absl::string_view fallback) const;
  // An integer flag of at least `min`; nullopt when absent; InvalidArgument
  // naming the flag and the bad value otherwise.
  absl::StatusOr<std::optional<int64_t>> Int(absl::string_view name, int64_t min) const;
  // A floating-point flag; nullopt when absent; InvalidArgument naming the
  // flag and the bad value otherwise.
  absl::StatusOr<std::optional<double>> Double(absl::string_view name) const;
  // InvalidArgument "--NAME is required" for the first of `names` that is
  // absent or empty.
  absl::Status Require(std::initializer_list<absl::string_view> names) const;
};

// Parses `args` against `flags`, then `globals` (a command flag shadows a
// global one of the same name). Errors are InvalidArgument and name the flag
// and `context`, the command as the user typed it ("hwnas trials"). With
// -h/--help the rest is still parsed, but callers usually print help first.
absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<FlagSpec>& flags,
                                       const std::vector<FlagSpec>& globals,
                                       const std::vector<std::string>& args,
                                       absl::string_view context);

// One help line: "  -o, --output FORMAT          what it does\n".
std::string FlagHelpLine(const FlagSpec& flag);

// A program without subcommands (the benchmarks): its name, its usage text
// and its flags.
struct MainFlagsSpec {
  std::string program;  // "worker_train_bench": the error prefix and parse context.
  std::string usage;    // --help prints this, then one FlagHelpLine per flag.
  std::vector<FlagSpec> flags;
  size_t max_positionals = 0;
};

// `usage`, the flag lines and the -h/--help line.
std::string MainFlagsHelp(const MainFlagsSpec& spec);

// Parses main's argv[1..] against `spec`. nullopt means main returns
// *exit_code at once: 0 after -h/--help (the help went to `out`), 2 after a
// bad flag or too many positionals ("PROGRAM: ERROR" and a hint went to
// `err`).
std::optional<ParsedFlags> ParseMainFlags(const MainFlagsSpec& spec, int argc, char** argv,
                                          std::ostream& out, std::ostream& err, int* exit_code);

// Checks a gRPC address given as HOST:PORT (or [IPv6]:PORT): the port must
// be a number from `min_port` (0 lets a server pick one) to 65535; gRPC
// would otherwise wrap 99999 to 34463 or read "abc" as 0. Addresses with a
// scheme (unix:PATH, dns:///HOST:PORT, ...) are left to gRPC. `what` names
// the flag or setting in the error, e.g. "--listen".
absl::Status CheckHostPort(absl::string_view address, int min_port, absl::string_view what);

// Checks an API token before it goes into the `authorization` header: only
// printable ASCII without spaces (gRPC aborts the process on a header value
// with a newline or a non-ASCII byte, e.g. from a YAML block scalar).
absl::Status CheckToken(absl::string_view token, absl::string_view what);

}  // namespace hwnas

#endif  // HWNAS_COMMON_FLAGS_H_
