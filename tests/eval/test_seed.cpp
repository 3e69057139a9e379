// Reproduces the published condition-C numbers of the seed's report.json from its
// condition_c.json (both vendored byte for byte in tests/fixtures/seed/), and checks the
// degeneracy metrics and the bootstrap against the Python oracle and the published values.
#include <gtest/gtest.h>

#include <map>

#include "eval_test_util.h"
#include "tttmem/eval.h"
#include "tttmem/pycompat.h"

namespace tttmem::test {
namespace {

using OJ = nlohmann::ordered_json;

eval::ConditionResult seed_c() {
  const auto path = seed_fixture("seed_condition_c.json");
  eval::ConditionResult r =
      eval::parse_seed_json(io::read_file(path), path.string(), v1_benchmark());
  r.name = "c";
  return r;
}

OJ seed_report() { return OJ::parse(io::read_file(seed_fixture("seed_report.json"))); }

// Every {n, em, f1} of the published bucket, in the published key order.
void expect_same_buckets(const OJ& published, const OJ& ours, const std::string& where) {
  ASSERT_TRUE(ours.is_object()) << where;
  std::vector<std::string> published_keys, our_keys;
  for (const auto& [key, _] : published.items()) published_keys.push_back(key);
  for (const auto& [key, _] : ours.items()) our_keys.push_back(key);
  EXPECT_EQ(our_keys, published_keys) << where;
  for (const auto& [key, bucket] : published.items()) {
    SCOPED_TRACE(where + "." + key);
    ASSERT_TRUE(ours.contains(key));
    EXPECT_EQ(ours[key]["n"].get<std::int64_t>(), bucket["n"].get<std::int64_t>());
    EXPECT_NEAR(ours[key]["em"].get<double>(), bucket["em"].get<double>(), 1e-12);
    EXPECT_NEAR(ours[key]["f1"].get<double>(), bucket["f1"].get<double>(), 1e-12);
  }
}

TEST(EvalSeed, ReproducesThePublishedConditionC) {
  eval::Report report = eval::build_report({seed_c()}, v1_benchmark(), {0, 42});
  const OJ ours = report_json(report)["by_condition"]["c"];
  const OJ published = seed_report()["by_condition"]["c"];
  const OJ overall = OJ{{"overall", published["overall"]}};
  expect_same_buckets(overall, OJ{{"overall", ours["overall"]}}, "c");
  for (const char* breakdown : {"by_level", "by_category", "by_position"})
    expect_same_buckets(published[breakdown], ours[breakdown], std::string("c.") + breakdown);
  // The seed's keys come first, in its order; ours follow.
  std::vector<std::string> keys;
  for (const auto& [key, _] : ours.items()) keys.push_back(key);
  ASSERT_GE(keys.size(), 4u);
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.begin() + 4),
            (std::vector<std::string>{"overall", "by_level", "by_category", "by_position"}));
}

TEST(EvalSeed, PublishedHeadlineFromTheSeedsOwnValues) {
  // With only C present, every ratio needing A, B or D is null and says why.
  eval::Report report = eval::build_report({seed_c()}, v1_benchmark(), {0, 42});
  const OJ headline = report_json(report)["headline"];
  EXPECT_NEAR(headline["em_c_no_memory"].get<double>(),
              seed_report()["headline"]["em_c_no_memory"].get<double>(), 1e-12);
  for (const char* key : {"em_a_context_baseline", "em_b_ttt_memory", "memory_efficiency_ratio",
                          "lift_over_no_memory", "verdict", "em_b_level3", "em_d_with_distractor",
                          "distractor_decay_rate"})
    EXPECT_TRUE(headline[key].is_null()) << key;
  std::string warnings;
  for (const auto& w : report.warnings) warnings += w + "\n";
  EXPECT_NE(warnings.find("memory_efficiency_ratio and verdict are null: condition a is missing"),
            std::string::npos)
      << warnings;
  EXPECT_NE(warnings.find("lift_over_no_memory is null: condition b is missing"), std::string::npos)
      << warnings;
  // SPEC.md S9.1: the seed's C never saw the distractor, so L3 is a copy of L1.
  EXPECT_NE(warnings.find("condition c: level-3 predictions equal level 1's in 100 of 100 samples"),
            std::string::npos)
      << warnings;
}

TEST(EvalSeed, DegeneracyMatchesOracleAndPublishedFindings) {
  const eval::ConditionScores c = eval::score_condition(seed_c(), v1_benchmark());
  const auto& ref = eval_reference().at("seed_c");
  const auto& d = ref.at("degeneracy");
  EXPECT_EQ(c.degeneracy.n, d.at("n").get<std::int64_t>());
  for (const auto& [name, value] : {std::pair{"exact_em", c.degeneracy.exact_em},
                                    {"gold_in_pred", c.degeneracy.gold_in_pred},
                                    {"degenerate", c.degeneracy.degenerate},
                                    {"mean_chars", c.degeneracy.mean_chars},
                                    {"median_chars", c.degeneracy.median_chars}})
    EXPECT_NEAR(value, d.at(name).get<double>(), 1e-12) << name;
  // The seed's FINDINGS for C: 11.6 % degenerate, 46.8 mean characters, 1.64 % gold-in-pred.
  EXPECT_NEAR(100 * c.degeneracy.degenerate, 11.6, 0.05);
  EXPECT_NEAR(c.degeneracy.mean_chars, 46.8, 0.05);
  EXPECT_NEAR(100 * c.degeneracy.gold_in_pred, 1.64, 0.005);
  EXPECT_EQ(c.degeneracy.exact_em, 0.0);
  ASSERT_EQ(c.degeneracy.examples.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(c.degeneracy.examples[i].sample_id, ref.at("examples")[i][0].get<std::string>());
    EXPECT_EQ(c.degeneracy.examples[i].probe_id, ref.at("examples")[i][1].get<std::string>());
  }
  EXPECT_NEAR(c.overall.strict_em(), ref.at("strict_em").get<double>(), 1e-15);
}

// Both units against the oracle's draws: samples (the seed's), and conversations (benchmark_v1's
// 300 samples are 100 conversations at three levels).
TEST(EvalSeed, BootstrapMatchesTheOracle) {
  const eval::ConditionScores c = eval::score_condition(seed_c(), v1_benchmark());
  EXPECT_EQ(c.n_samples, 300u);
  EXPECT_EQ(c.n_conversations, 100u);
  EXPECT_EQ(eval_reference().at("seed_c").at("bootstrap_conversation").at("n_conversations"), 100);
  std::map<eval::CiUnit, eval::BucketIntervals> cis;
  for (const auto& [unit, key] : {std::pair{eval::CiUnit::sample, "bootstrap"},
                                  {eval::CiUnit::conversation, "bootstrap_conversation"}}) {
    const auto& ref = eval_reference().at("seed_c").at(key);
    const eval::BucketIntervals ci = eval::bootstrap(
        c.overall, {ref.at("resamples").get<int>(), ref.at("seed").get<std::uint64_t>(), unit});
    for (const auto& [name, got] :
         {std::pair{"em_ci95", ci.em}, {"f1_ci95", ci.f1}, {"strict_em_ci95", ci.strict_em}}) {
      EXPECT_NEAR(got.lo, ref.at(name)[0].get<double>(), 1e-12) << key << " " << name;
      EXPECT_NEAR(got.hi, ref.at(name)[1].get<double>(), 1e-12) << key << " " << name;
    }
    EXPECT_LT(ci.f1.lo, c.overall.f1());
    EXPECT_GT(ci.f1.hi, c.overall.f1());
    cis[unit] = ci;
  }
  // Three samples of one conversation move together, so resampling them as one unit widens
  // the intervals.
  const auto width = [](const eval::Interval& i) { return i.hi - i.lo; };
  const eval::BucketIntervals &by_conversation = cis.at(eval::CiUnit::conversation),
                              &by_sample = cis.at(eval::CiUnit::sample);
  EXPECT_GT(width(by_conversation.em), width(by_sample.em));
  EXPECT_GT(width(by_conversation.f1), width(by_sample.f1));
}

// Samples with conversations of their own (here C's level-1 samples) are their own units: both
// units draw the same and give the same intervals.
TEST(EvalSeed, DistinctConversationsMakeBothUnitsAgree) {
  eval::ConditionResult r = seed_c();
  std::erase_if(r.samples, [](const eval::SampleResult& s) {
    return v1_benchmark().samples[s.sample_index].level != 1;
  });
  const eval::ConditionScores c = eval::score_condition(r, v1_benchmark());
  EXPECT_EQ(c.n_samples, 100u);
  EXPECT_EQ(c.n_conversations, 100u);
  const eval::BucketIntervals by_conversation =
      eval::bootstrap(c.overall, {200, 42, eval::CiUnit::conversation});
  const eval::BucketIntervals by_sample =
      eval::bootstrap(c.overall, {200, 42, eval::CiUnit::sample});
  EXPECT_EQ(by_conversation.f1.lo, by_sample.f1.lo);
  EXPECT_EQ(by_conversation.f1.hi, by_sample.f1.hi);
  EXPECT_LT(by_sample.f1.lo, by_sample.f1.hi);
}

TEST(EvalSeed, PairedDifferenceOfAConditionWithItselfIsZero) {
  const eval::ConditionScores c = eval::score_condition(seed_c(), v1_benchmark());
  const auto d = eval::paired_difference(c, c, {500, 7});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->n_samples, 300u);
  EXPECT_EQ(d->n_conversations, 100u);
  EXPECT_EQ(d->diff, 0.0);
  EXPECT_EQ(d->ci.lo, 0.0);
  EXPECT_EQ(d->ci.hi, 0.0);
  EXPECT_EQ(d->ratio_ci.lo, 1.0);
  EXPECT_EQ(d->ratio_ci.hi, 1.0);
}

// A difference and a ratio against the oracle's draws: x is C with its level-2 samples answered
// by their golds, so each conversation unit mixes a changed sample with unchanged ones, and only
// drawing the same conversations for both sides reproduces the oracle's intervals.
TEST(EvalSeed, PairedConversationDrawsMatchTheOracle) {
  const auto& ref = eval_reference().at("seed_c").at("paired_conversation");
  eval::ConditionResult x = seed_c();
  x.name = "x";
  for (eval::SampleResult& s : x.samples)
    if (v1_benchmark().samples[s.sample_index].level == 2)
      for (eval::Prediction& p : s.predictions) p.predicted = p.gold;
  const auto d = eval::paired_difference(
      eval::score_condition(x, v1_benchmark()), eval::score_condition(seed_c(), v1_benchmark()),
      {ref.at("resamples").get<int>(), ref.at("seed").get<std::uint64_t>()});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->n_samples, ref.at("n_samples").get<std::size_t>());
  EXPECT_EQ(d->n_conversations, ref.at("n_conversations").get<std::size_t>());
  EXPECT_NEAR(d->diff, ref.at("diff").get<double>(), 1e-12);
  EXPECT_GT(d->diff, 0.0);
  for (const auto& [name, got] : {std::pair{"ci95", d->ci}, {"ratio_ci95", d->ratio_ci}}) {
    EXPECT_NEAR(got.lo, ref.at(name)[0].get<double>(), 1e-12) << name;
    EXPECT_NEAR(got.hi, ref.at(name)[1].get<double>(), 1e-12) << name;
  }
  EXPECT_LT(d->ci.lo, d->diff);
  EXPECT_GT(d->ci.hi, d->diff);
  EXPECT_LT(d->ratio_ci.lo, d->ratio);
  EXPECT_GT(d->ratio_ci.hi, d->ratio);
}

TEST(EvalSeed, ExamplesOfASmallFileUsePythonsPoolAlgorithm) {
  // One sample of 10 probes: random.sample takes its small-population path.
  eval::ConditionResult r = seed_c();
  r.samples.resize(1);
  ASSERT_EQ(r.samples[0].predictions.size(), 10u);
  const eval::ConditionScores c = eval::score_condition(r, v1_benchmark());
  const auto& expected = eval_reference().at("sample_10");
  ASSERT_EQ(c.degeneracy.examples.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i)
    EXPECT_EQ(c.degeneracy.examples[i].probe_id,
              r.samples[0].predictions[expected[i].get<std::size_t>()].probe_id);
}

}  // namespace
}  // namespace tttmem::test
