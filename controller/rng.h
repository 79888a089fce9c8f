// A small, fast pseudo-random generator whose whole state is four 64-bit
// words, so strategies can checkpoint it exactly and continue bit-for-bit
// after a restore (std::mt19937_64 with std:: distributions is neither
// compact nor portable across standard libraries).
#ifndef HWNAS_CONTROLLER_RNG_H_
#define HWNAS_CONTROLLER_RNG_H_

#include <array>
#include <cstdint>

namespace hwnas::controller {

// xoshiro256++ seeded through splitmix64. Not thread-safe: one owner.
class Rng {
 public:
  using State = std::array<uint64_t, 4>;

  explicit Rng(uint64_t seed = 0) { Seed(seed); }

  void Seed(uint64_t seed);
  uint64_t Next();
  // Uniform integer in [0, n), n > 0, without modulo bias.
  uint64_t Uniform(uint64_t n);
  // Uniform double in [0, 1) with 53 random bits.
  double UniformDouble();
  // True with probability p.
  bool Bernoulli(double p) { return UniformDouble() < p; }

  const State& state() const { return state_; }
  void set_state(const State& state) { state_ = state; }

 private:
  State state_{};
};

// Output number n (from 0) of splitmix64 seeded with `seed`, computed
// directly: independent, reproducible values keyed by (seed, n), such as a
// trial's training seed from its search's seed and trial number.
uint64_t SplitMix64At(uint64_t seed, uint64_t n);

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_RNG_H_
