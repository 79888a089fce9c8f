#include "cli/args.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/errors.h"

namespace hwnas::cli {
namespace {

const FlagSpec* FindLong(const CommandSpec& command, const std::vector<FlagSpec>& globals,
                         absl::string_view name) {
  for (const FlagSpec& f : command.flags) {
    if (f.name == name) return &f;
  }
  for (const FlagSpec& f : globals) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const FlagSpec* FindShort(const CommandSpec& command, const std::vector<FlagSpec>& globals,
                          char c) {
  for (const FlagSpec& f : command.flags) {
    if (f.short_name == c) return &f;
  }
  for (const FlagSpec& f : globals) {
    if (f.short_name == c) return &f;
  }
  return nullptr;
}

std::string FlagLine(const FlagSpec& f) {
  std::string left = f.short_name ? absl::StrCat("-", std::string(1, f.short_name), ", --", f.name)
                                  : absl::StrCat("    --", f.name);
  if (!f.value_name.empty()) absl::StrAppend(&left, " ", f.value_name);
  return absl::StrFormat("  %-28s %s\n", left, f.help);
}

}  // namespace

bool ParsedArgs::Has(absl::string_view name) const {
  return bools.count(std::string(name)) > 0 || values.count(std::string(name)) > 0;
}

std::optional<std::string> ParsedArgs::Get(absl::string_view name) const {
  auto it = values.find(std::string(name));
  if (it == values.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ParsedArgs> ParseCommandArgs(const CommandSpec& command,
                                            const std::vector<FlagSpec>& globals,
                                            const std::vector<std::string>& args) {
  ParsedArgs parsed;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg == "-" || arg.empty() || arg[0] != '-') {
      parsed.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string shown = arg;
    if (absl::StartsWith(arg, "--")) {
      std::string name = arg.substr(2);
      if (size_t eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
        shown = absl::StrCat("--", name);
      }
      spec = FindLong(command, globals, name);
    } else if (arg.size() == 2) {
      spec = FindShort(command, globals, arg[1]);
    } else {
      // Negative numbers are positionals; "-ojson" is -o json.
      double number;
      if (absl::SimpleAtod(arg, &number)) {
        parsed.positionals.push_back(arg);
        continue;
      }
      spec = FindShort(command, globals, arg[1]);
      if (spec != nullptr && !spec->value_name.empty())
        inline_value = arg.substr(2);
      else
        spec = nullptr;
    }
    if (spec == nullptr) {
      return UsageError(absl::StrCat("unknown flag ", shown, " for 'hwnas ", command.name, "'"));
    }
    if (spec->value_name.empty()) {
      if (inline_value && *inline_value != "true" && *inline_value != "false") {
        return UsageError(absl::StrCat("--", spec->name, " takes no value"));
      }
      if (!inline_value || *inline_value == "true") {
        parsed.bools.insert(spec->name);
      } else {
        parsed.bools.erase(spec->name);
      }
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        return UsageError(absl::StrCat(shown, " needs a value (", spec->value_name, ")"));
      }
      inline_value = args[++i];
    }
    parsed.values[spec->name] = *inline_value;
  }
  if (parsed.help) return parsed;
  if (parsed.positionals.size() != command.positionals.size()) {
    if (parsed.positionals.size() < command.positionals.size()) {
      return UsageError(
          absl::StrCat("'hwnas ", command.name, "' needs ",
                       absl::StrJoin(command.positionals.begin() + parsed.positionals.size(),
                                     command.positionals.end(), " "),
                       ""));
    }
    return UsageError(absl::StrCat("unexpected argument '",
                                   parsed.positionals[command.positionals.size()], "' for 'hwnas ",
                                   command.name, "'"));
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
    for (const FlagSpec& f : command.flags) absl::StrAppend(&out, FlagLine(f));
  }
  absl::StrAppend(&out, "\nGlobal flags:\n");
  for (const FlagSpec& g : globals) {
    bool shadowed = false;
    for (const FlagSpec& f : command.flags) {
      if (f.name == g.name || (g.short_name && f.short_name == g.short_name)) shadowed = true;
    }
    if (!shadowed) absl::StrAppend(&out, FlagLine(g));
  }
  absl::StrAppend(&out, FlagLine(FlagSpec{"help", 'h', "", "show this help"}));
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
