// A small factorized space for strategy tests: `decisions` decisions with
// `choices` choices each, every token list valid. Lowering is not needed.
#ifndef HWNAS_TESTS_CONTROLLER_TOY_SPACE_H_
#define HWNAS_TESTS_CONTROLLER_TOY_SPACE_H_

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "space/search_space.h"

namespace hwnas::controller::testing {

class ToySpace : public space::SearchSpace {
 public:
  ToySpace(int decisions, int choices) : SearchSpace(space::DataShape{{1, 8, 8}, 2}) {
    for (int d = 0; d < decisions; ++d) {
      space::Decision decision;
      decision.name = absl::StrCat("d", d);
      for (int c = 0; c < choices; ++c) decision.choices.push_back(absl::StrCat(c));
      decisions_.push_back(std::move(decision));
    }
  }
  absl::string_view name() const override { return "toy"; }
  int version() const override { return 1; }
  const std::vector<space::Decision>& decisions() const override { return decisions_; }
  std::string Readable(absl::Span<const int> tokens) const override {
    return absl::StrJoin(tokens, ",");
  }
  absl::StatusOr<space::NetworkPlan> Lower(absl::Span<const int>) const override {
    return absl::UnimplementedError("toy space has no networks");
  }

 protected:
  absl::StatusOr<std::vector<int>> ParseReadable(absl::string_view text) const override {
    return absl::InvalidArgumentError(absl::StrCat("toy space cannot parse '", text, "'"));
  }

 private:
  std::vector<space::Decision> decisions_;
};

}  // namespace hwnas::controller::testing

#endif  // HWNAS_TESTS_CONTROLLER_TOY_SPACE_H_
