// Bit-exact emulations of the two pieces of CPython the published benchmark depends on:
// `random.Random` (MT19937 with CPython's seeding and draw algorithms) and
// `json.dumps(obj, indent=N, ensure_ascii=False)`. Regenerating the seed experiment's files byte
// for byte needs both; anything else should use <random> and nlohmann::json directly.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tttmem::py {

// CPython's random.Random, for the methods the benchmark generator calls. The call sequence of
// these methods is what must match the Python program; each one consumes MT19937 outputs exactly
// as CPython 3.11 does.
class Random {
 public:
  // random.Random(seed): init_by_array over the little-endian 32-bit words of the seed
  // (0 -> key [0]).
  explicit Random(std::uint64_t seed);

  std::uint32_t next_u32();          // one raw MT19937 output (genrand_uint32)
  std::uint32_t getrandbits(int k);  // 1 <= k <= 32: next_u32() >> (32 - k)
  std::uint32_t randbelow(
      std::uint64_t n);  // 1 <= n < 2^32: rejection on getrandbits(bit_length(n))
  double random();       // 53-bit float in [0, 1)
  std::int64_t randint(std::int64_t a, std::int64_t b);  // a + randbelow(b - a + 1)

  template <class T>
  const T& choice(const std::vector<T>& items) {
    if (items.empty()) throw std::invalid_argument("py::Random::choice: empty sequence");
    return items[randbelow(items.size())];
  }
  template <class T, std::size_t N>
  const T& choice(const std::array<T, N>& items) {
    static_assert(N > 0);
    return items[randbelow(N)];
  }
  // random.sample(range(n), k) by CPython's pool method: k distinct indices below n in draw
  // order. Throws std::invalid_argument when k > n.
  std::vector<std::size_t> sample_pool(std::size_t n, std::size_t k);
  // Fisher-Yates from the back, j = randbelow(i + 1), as random.shuffle does.
  template <class T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i-- > 1;) std::swap(items[i], items[randbelow(i + 1)]);
  }

 private:
  void twist();
  std::array<std::uint32_t, 624> state_{};
  std::size_t index_ = 624;
};

// json.dumps(value, indent=indent, ensure_ascii=False): keys in insertion order, ", " / ": "
// separators, every element on its own line, "[]" / "{}" when empty, raw UTF-8, escapes only for
// '"', '\\' and control characters below 0x20, floats as Python's repr (NaN, Infinity), no
// trailing newline.
std::string dumps(const nlohmann::ordered_json& value, int indent = 2);

// Python's repr(float): the shortest digits that round-trip, exponent form outside [1e-4, 1e16).
std::string float_repr(double value);

}  // namespace tttmem::py
