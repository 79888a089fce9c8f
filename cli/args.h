// The `hwnas` subcommands' arguments: common/flags.h's parser plus the
// commands' positionals and per-command --help.
#ifndef HWNAS_CLI_ARGS_H_
#define HWNAS_CLI_ARGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/flags.h"

namespace hwnas::cli {

using FlagSpec = ::hwnas::FlagSpec;
using ParsedArgs = ::hwnas::ParsedFlags;

struct CommandSpec {
  std::string name;                      // "trials"
  std::string summary;                   // One line for `hwnas --help`.
  std::vector<std::string> positionals;  // Required, in order: {"ID"}.
  std::vector<FlagSpec> flags;           // Command flags (shadow global ones).
  std::string description;               // Paragraph(s) for `hwnas CMD --help`.
  std::string examples;                  // Lines of example invocations.
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
