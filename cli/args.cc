#include "cli/args.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/errors.h"

namespace hwnas::cli {

absl::StatusOr<ParsedArgs> ParseCommandArgs(const CommandSpec& command,
                                            const std::vector<FlagSpec>& globals,
                                            const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseFlags(command.flags, globals, args, absl::StrCat("hwnas ", command.name));
  if (!parsed.ok()) return UsageError(parsed.status().message());
  if (parsed->help) return parsed;
  const std::vector<std::string>& given = parsed->positionals;
  if (given.size() < command.positionals.size()) {
    return UsageError(absl::StrCat(
        "'hwnas ", command.name, "' needs ",
        absl::StrJoin(command.positionals.begin() + given.size(), command.positionals.end(), " ")));
  }
  if (given.size() > command.positionals.size()) {
    return UsageError(absl::StrCat("unexpected argument '", given[command.positionals.size()],
                                   "' for 'hwnas ", command.name, "'"));
  }
  return parsed;
}

std::string CommandHelp(const CommandSpec& command, const std::vector<FlagSpec>& globals) {
  std::string out = absl::StrCat("Usage: hwnas ", command.name);
  for (const std::string& p : command.positionals) absl::StrAppend(&out, " ", p);
  absl::StrAppend(&out, " [flags]\n\n", command.summary, "\n");
  if (!command.description.empty()) absl::StrAppend(&out, "\n", command.description, "\n");
  if (!command.flags.empty()) {
    absl::StrAppend(&out, "\nFlags:\n");
    for (const FlagSpec& f : command.flags) absl::StrAppend(&out, FlagHelpLine(f));
  }
  absl::StrAppend(&out, "\nGlobal flags:\n");
  for (const FlagSpec& g : globals) {
    bool shadowed = false;
    for (const FlagSpec& f : command.flags) {
      if (f.name == g.name || (g.short_name && f.short_name == g.short_name)) shadowed = true;
    }
    if (!shadowed) absl::StrAppend(&out, FlagHelpLine(g));
  }
  absl::StrAppend(&out, FlagHelpLine(FlagSpec{"help", 'h', "", "show this help"}));
  if (!command.examples.empty()) absl::StrAppend(&out, "\nExamples:\n", command.examples);
  return out;
}

absl::StatusOr<int64_t> ParsePositiveInt(absl::string_view text, absl::string_view what) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v <= 0) {
    return UsageError(absl::StrCat(what, " must be a positive integer, got '", text, "'"));
  }
  return v;
}

}  // namespace hwnas::cli
