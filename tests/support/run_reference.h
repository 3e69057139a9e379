// The `run` reference's comparison (tests/python/make_run_reference.py), shared by the CPU suite
// (tests/experiment) and the same checks on a GPU (tests/gpu).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"
#include "tttmem/io.h"

namespace tttmem::test {

namespace run_reference {

namespace fs = std::filesystem;
using nlohmann::json;

inline std::vector<json> read_jsonl(const fs::path& file) {
  std::vector<json> records;
  std::istringstream lines(io::read_file(file));
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (line.empty()) continue;
    try {
      records.push_back(json::parse(line));
    } catch (const json::exception& e) {
      ADD_FAILURE() << file << " line " << number << ": " << e.what();
    }
  }
  return records;
}

inline std::string probe_key(const json& record) {
  return record.at("sample_id").get<std::string>() + "/" + record.at("probe_id").get<std::string>();
}

// The engine's condition_<x>.jsonl (completion order) and condition_<x>.json (the seed's format,
// benchmark order) against the reference's expected_<x>.jsonl (benchmark order). A probe whose
// reference has a near-tie (tie_at: the first generated position where the top two logits are
// closer than the reference's margin) is compared up to that position only.
inline void expect_condition_matches(const fs::path& expected_file, const fs::path& out,
                              const std::string& condition) {
  SCOPED_TRACE("condition " + condition);
  const std::vector<json> expected = read_jsonl(expected_file);
  ASSERT_FALSE(expected.empty()) << expected_file;
  std::map<std::string, json> actual;
  for (json& record : read_jsonl(out / ("condition_" + condition + ".jsonl"))) {
    const std::string key = probe_key(record);
    EXPECT_TRUE(actual.emplace(key, std::move(record)).second) << "duplicate probe " << key;
  }
  ASSERT_EQ(actual.size(), expected.size());

  for (const json& want : expected) {
    const std::string key = probe_key(want);
    SCOPED_TRACE(key);
    auto found = actual.find(key);
    ASSERT_NE(found, actual.end()) << "missing probe";
    const json& got = found->second;
    for (const char* field : {"level", "question", "gold", "prompt_tokens"})
      EXPECT_EQ(got.at(field), want.at(field)) << field;
    const auto want_ids = want.at("output_ids").get<std::vector<std::int64_t>>();
    const auto got_ids = got.at("output_ids").get<std::vector<std::int64_t>>();
    if (want.at("tie_at").is_null()) {
      EXPECT_EQ(got_ids, want_ids);
      for (const char* field : {"generated_tokens", "stop_reason", "predicted"})
        EXPECT_EQ(got.at(field), want.at(field)) << field;
    } else {
      const auto exact = want.at("tie_at").get<std::size_t>();
      ASSERT_GT(got_ids.size(), exact);
      EXPECT_EQ(std::vector<std::int64_t>(got_ids.begin(), got_ids.begin() + exact),
                std::vector<std::int64_t>(want_ids.begin(), want_ids.begin() + exact));
    }
  }

  // The seed's format: [{sample_id, level, predictions: [{probe_id, question, gold, predicted}]}].
  const json seed = json::parse(io::read_file(out / ("condition_" + condition + ".json")));
  std::size_t next = 0;
  for (const json& sample : seed) {
    for (const json& prediction : sample.at("predictions")) {
      ASSERT_LT(next, expected.size());
      const json& want = expected[next++];
      EXPECT_EQ(sample.at("sample_id"), want.at("sample_id"));
      EXPECT_EQ(prediction.at("probe_id"), want.at("probe_id"));
      if (want.at("tie_at").is_null()) {
        EXPECT_EQ(prediction.at("predicted"), want.at("predicted")) << probe_key(want);
      }
    }
  }
  EXPECT_EQ(next, expected.size());
}

// `run` on the fixture in fp32 on `device`.
inline std::string run_args(const fs::path& dir, const std::string& condition, const fs::path& out,
                            const std::string& device = "cpu") {
  return "run --model '" + (dir / "model").string() + "' --benchmark '" +
         (dir / "benchmark.json").string() + "' --condition " + condition + " --tokenizer '" +
         (test::source_dir() / "configs" / "tokenizers" / "qwen3").string() +
         "' --dtype fp32 --device " + device + " --out '" + out.string() + "'";
}

}  // namespace run_reference
}  // namespace tttmem::test
