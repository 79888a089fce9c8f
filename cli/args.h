// A small subcommand-aware argument parser with per-command --help. Flags
// may come before or after positionals: `--name value`, `--name=value`,
// `-n value`; boolean flags take no value (`--watch`); `--` ends flags.
#ifndef HWNAS_CLI_ARGS_H_
#define HWNAS_CLI_ARGS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwnas::cli {

struct FlagSpec {
  std::string name;        // Long name without dashes: "server".
  char short_name = 0;     // 'o' for -o; 0 for none.
  std::string value_name;  // Empty: a boolean flag.
  std::string help;
};

struct CommandSpec {
  std::string name;                      // "trials"
  std::string summary;                   // One line for `hwnas --help`.
  std::vector<std::string> positionals;  // Required, in order: {"ID"}.
  std::vector<FlagSpec> flags;           // Command flags (shadow global ones).
  std::string description;               // Paragraph(s) for `hwnas CMD --help`.
  std::string examples;                  // Lines of example invocations.
};

struct ParsedArgs {
  std::map<std::string, std::string> values;  // Flags with values (last one wins).
  std::set<std::string> bools;                // Boolean flags given.
  std::vector<std::string> positionals;
  bool help = false;

  bool Has(absl::string_view name) const;
  std::optional<std::string> Get(absl::string_view name) const;
};

// Parses the arguments after the command name against the command's flags
// and `globals`. Unknown flags, missing values and a wrong number of
// positionals are usage errors (exit code 1). With -h/--help nothing else is
// checked.
absl::StatusOr<ParsedArgs> ParseCommandArgs(const CommandSpec& command,
                                            const std::vector<FlagSpec>& globals,
                                            const std::vector<std::string>& args);

// `hwnas CMD --help`.
std::string CommandHelp(const CommandSpec& command, const std::vector<FlagSpec>& globals);

// Parses a positive integer such as a search id; names `what` on error.
absl::StatusOr<int64_t> ParsePositiveInt(absl::string_view text, absl::string_view what);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_ARGS_H_
