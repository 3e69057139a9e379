// py::Random and py::dumps against CPython. Every expected value below was printed by CPython
// 3.11.7's `random` and `json` modules (python3 on the dev machine), not computed by tttmem.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "tttmem/pycompat.h"

namespace {

using tttmem::py::Random;

struct SeedCase {
  std::uint64_t seed;
  std::vector<double> random;         // random.Random(seed).random() x3
  std::vector<std::uint32_t> bits32;  // getrandbits(32) x4
  std::vector<std::int64_t> randint;  // randint(1000, 9999) x5
  std::vector<int> shuffle;           // shuffle(list(range(10)))
  std::string choice;                 // choice("abcdefg") x6
};

// From CPython 3.11.7's random module.
const std::vector<SeedCase> kCases = {
    {0,
     {0.8444218515250481, 0.7579544029403025, 0.420571580830845},
     {3626764237u, 1654615998u, 3255389356u, 3823568514u},
     {7311, 7890, 1663, 5242, 9376},
     {7, 8, 1, 5, 3, 4, 2, 0, 9, 6},
     "gdgdac"},
    {1,
     {0.13436424411240122, 0.8474337369372327, 0.763774618976614},
     {577090037u, 2444712010u, 3639700191u, 3445702192u},
     {3201, 2033, 5179, 2931, 9117},
     {6, 8, 9, 7, 5, 3, 0, 4, 1, 2},
     "beggga"},
    {42,
     {0.6394267984578837, 0.025010755222666936, 0.27502931836911926},
     {2746317213u, 478163327u, 107420369u, 3184935163u},
     {2824, 1409, 5506, 5012, 4657},
     {7, 3, 2, 8, 5, 6, 9, 4, 0, 1},
     "faafcb"},
    {1099511640121ull,  // 2^40 + 12345: a two-word init_by_array key
     {0.31036222241287226, 0.1148930862836336, 0.5335990945925775},
     {1332995613u, 1500173691u, 493462063u, 16738666u},
     {6084, 6722, 2882, 1063, 9742},
     {3, 2, 6, 8, 7, 9, 0, 1, 5, 4},
     "ccaaeb"},
};

TEST(PyRandom, MatchesCPythonForSeveralSeeds) {
  for (const SeedCase& c : kCases) {
    SCOPED_TRACE("seed " + std::to_string(c.seed));
    Random r1(c.seed);
    for (double want : c.random) EXPECT_EQ(r1.random(), want);  // bit-exact, not approximate
    Random r2(c.seed);
    for (std::uint32_t want : c.bits32) EXPECT_EQ(r2.getrandbits(32), want);
    Random r3(c.seed);
    for (std::int64_t want : c.randint) EXPECT_EQ(r3.randint(1000, 9999), want);
    Random r4(c.seed);
    std::vector<int> items(10);
    std::iota(items.begin(), items.end(), 0);
    r4.shuffle(items);
    EXPECT_EQ(items, c.shuffle);
    Random r5(c.seed);
    const std::vector<char> letters{'a', 'b', 'c', 'd', 'e', 'f', 'g'};
    std::string picked;
    for (std::size_t i = 0; i < c.choice.size(); ++i) picked += r5.choice(letters);
    EXPECT_EQ(picked, c.choice);
  }
}

TEST(PyRandom, SmallGetrandbitsAndRejection) {
  // From CPython 3.11.7: Random(42).getrandbits(5) x6.
  Random r(42);
  for (std::uint32_t want : {20u, 3u, 0u, 23u, 8u, 7u}) EXPECT_EQ(r.getrandbits(5), want);
  // From CPython 3.11.7: Random(7).randint(0, 2) x10 (randbelow(3) rejects 3 from 2-bit draws).
  Random r7(7);
  for (std::int64_t want : {1, 0, 1, 2, 0, 0, 2, 0, 1, 2}) EXPECT_EQ(r7.randint(0, 2), want);
  // From CPython 3.11.7: Random(2**64 - 1): random() x2 then randint(1, 6).
  Random rmax(std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(rmax.random(), 0.021825695401270107);
  EXPECT_EQ(rmax.random(), 0.3380953268613758);
  EXPECT_EQ(rmax.randint(1, 6), 2);
}

TEST(PyRandom, RejectsInvalidArguments) {
  Random r(1);
  EXPECT_THROW(r.getrandbits(0), std::invalid_argument);
  EXPECT_THROW(r.getrandbits(33), std::invalid_argument);
  EXPECT_THROW(r.randbelow(0), std::invalid_argument);
  EXPECT_THROW(r.randint(5, 4), std::invalid_argument);
  EXPECT_THROW(r.choice(std::vector<int>{}), std::invalid_argument);
}

TEST(PyDumps, MatchesCPythonJsonDumpsIndent2) {
  using J = nlohmann::ordered_json;
  // Each expected string is repr(json.dumps(obj, indent=2, ensure_ascii=False)) from
  // CPython 3.11.7.
  J strings = J::object();
  strings["a"] = "q\"uote\\back/slash";
  strings["ctl"] = std::string("\x00\x01\x08\t\n\x0c\r\x1f\x7f", 9);
  strings["zh"] = "你好：";
  strings["emoji"] = "😀𝄞";
  strings["ls"] = "\u2028\u2029";
  EXPECT_EQ(tttmem::py::dumps(strings),
            "{\n  \"a\": \"q\\\"uote\\\\back/slash\",\n"
            "  \"ctl\": \"\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\x7f\",\n"
            "  \"zh\": \"你好：\",\n  \"emoji\": \"😀𝄞\",\n  \"ls\": \"\u2028\u2029\"\n}");

  J mixed = J::object();
  mixed["empty"] = J::array();
  mixed["eobj"] = J::object();
  mixed["n"] = nullptr;
  mixed["i"] = -12;
  mixed["big"] = 12345678901LL;
  mixed["list"] = J::array({"x", 1, nullptr, J::array()});
  mixed["nested"] = J::object({{"k", J::array({"v"})}});
  EXPECT_EQ(tttmem::py::dumps(mixed),
            "{\n  \"empty\": [],\n  \"eobj\": {},\n  \"n\": null,\n  \"i\": -12,\n"
            "  \"big\": 12345678901,\n  \"list\": [\n    \"x\",\n    1,\n    null,\n    []\n"
            "  ],\n  \"nested\": {\n    \"k\": [\n      \"v\"\n    ]\n  }\n}");
  EXPECT_EQ(tttmem::py::dumps(J::array()), "[]");
  EXPECT_EQ(tttmem::py::dumps(J("plain")), "\"plain\"");

  J floats = J::object();
  floats["x"] = J::array({std::nan(""), HUGE_VAL, -HUGE_VAL, 0.5});
  EXPECT_EQ(tttmem::py::dumps(floats),
            "{\n  \"x\": [\n    NaN,\n    Infinity,\n    -Infinity,\n    0.5\n  ]\n}");
}

TEST(PyDumps, FloatReprMatchesCPython) {
  // repr(x) from CPython 3.11.7.
  const std::vector<std::pair<double, std::string>> cases = {
      {0.1, "0.1"},
      {1.0, "1.0"},
      {-2.5, "-2.5"},
      {1e16, "1e+16"},
      {1e-05, "1e-05"},
      {0.0001, "0.0001"},
      {123456789012345.6, "123456789012345.6"},
      {1.5e300, "1.5e+300"},
      {0.928926, "0.928926"},
      {5e-324, "5e-324"},
      {-0.0, "-0.0"},
      {1e15, "1000000000000000.0"},
      {12345678901234567.0, "1.2345678901234568e+16"}};
  for (const auto& [value, want] : cases) EXPECT_EQ(tttmem::py::float_repr(value), want);
}

}  // namespace
