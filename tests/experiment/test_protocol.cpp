// The protocol layer without a model: the condition table and what it builds under the seed
// and fixed protocols (DESIGN.md's table), the accepted --condition values, prompts, selection,
// scale suffixes and Python's strip.
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tttmem/bench.h"
#include "tttmem/protocol.h"
#include "tttmem/tokenizer.h"

namespace tttmem::protocol {
namespace {

// Every kind under the seed protocol, written out independently of the table (DESIGN.md "The
// experiment engine"; SPEC.md "run"), then what each fix flag changes: the distractor and the
// trained parameters reach A and C only, freezing reaches the conditions that ingested a memory.
TEST(Protocol, TableRowsGiveTheDesignedConditions) {
  struct Seed {
    std::string kind;
    bool conversation_in_prompt;
    Ingest ingest;
    Params params;
    bool level3_only, scrolls;
    bool strict = false;  // flushes and freezes whatever the protocol
  };
  const std::vector<Seed> seed{
      {"a", true, Ingest::nothing, Params::zero, false, false},
      {"b", false, Ingest::conversation, Params::trained, false, false},
      {"c", false, Ingest::nothing, Params::zero, false, false},
      {"d", false, Ingest::conversation_and_distractor, Params::trained, true, false},
      {"a_prime", false, Ingest::nothing, Params::zero, false, false},
      {"b_scaled", false, Ingest::conversation, Params::trained, false, false},
      {"ttt_paper", true, Ingest::nothing, Params::trained, false, false},
      {"scroll", false, Ingest::conversation, Params::trained, false, true},
      {"in_context", true, Ingest::nothing, Params::zero, false, false},
      {"ttt_strict", false, Ingest::conversation, Params::trained, false, false, true}};
  ASSERT_EQ(condition_kinds().size(), seed.size());
  ProtocolOptions flush_and_formats;  // options that change no condition
  flush_and_formats.flush_partial_chunk = flush_and_formats.chat_template =
      flush_and_formats.stop_at_newline = true;
  ProtocolOptions distractor, trained, freeze;
  distractor.distractor_in_a_c = trained.trained_ttt_in_a_c = freeze.freeze_while_answering = true;
  const ProtocolOptions fixed = ProtocolOptions::preset("fixed");
  for (std::size_t i = 0; i < seed.size(); ++i) {
    const Seed& want = seed[i];
    SCOPED_TRACE(want.kind);
    EXPECT_EQ(condition_kinds()[i].name, want.kind);  // the table's order is the reports' order
    const bool a_or_c = want.kind == "a" || want.kind == "c";
    const bool ingests = want.ingest != Ingest::nothing && !want.strict;
    for (const ProtocolOptions& options : {ProtocolOptions::preset("seed"), flush_and_formats,
                                           distractor, trained, freeze, fixed}) {
      const Condition got = make_condition(want.kind, options);
      EXPECT_EQ(got.name, want.kind);
      EXPECT_EQ(got.kind, want.kind);
      EXPECT_EQ(got.conversation_in_prompt, want.conversation_in_prompt);
      EXPECT_EQ(got.distractor_in_prompt, a_or_c && options.distractor_in_a_c);
      EXPECT_EQ(got.ingest, want.ingest);
      EXPECT_EQ(got.params,
                a_or_c && options.trained_ttt_in_a_c ? Params::trained : want.params);
      EXPECT_EQ(got.frozen, want.strict || (ingests && options.freeze_while_answering));
      EXPECT_EQ(got.flush_partial_chunk, want.strict || options.flush_partial_chunk);
      EXPECT_EQ(got.level3_only, want.level3_only);
      EXPECT_EQ(got.filler_until_out_of_window, want.scrolls);
      EXPECT_EQ(got.continue_stream, want.scrolls);
      EXPECT_EQ(got.alpha, 1.0);
      EXPECT_FALSE(got.noise_scale);
    }
  }
  EXPECT_THROW(make_condition("all", fixed), std::invalid_argument);  // a value, not a kind
  EXPECT_EQ(find_kind("e"), nullptr);
}

// `run --condition` accepts exactly the values it always has, in its help's order, and each
// builds conditions whose kind is a row of the table.
TEST(Protocol, EveryAcceptedConditionValueRoundTrips) {
  std::vector<std::string> names;
  for (const ConditionValue& value : condition_values()) names.push_back(value.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "all", "a_prime", "b_scaled",
                                             "ttt_paper", "scroll", "in_context", "ttt_strict"}));
  EXPECT_EQ(condition_values()[4].description, "a, b, c, d");
  const ProtocolOptions seed = ProtocolOptions::preset("seed");
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const std::vector<Condition> built = make_conditions(name, seed, {0.01, 0.5}, {0.1});
    ASSERT_FALSE(built.empty());
    for (const Condition& c : built) {
      const ConditionKind* kind = find_kind(c.kind);
      ASSERT_NE(kind, nullptr);
      EXPECT_EQ(kind->name, c.kind);
      if (kind->sweep == Sweep::none) {
        EXPECT_EQ(c.name, c.kind);
      } else {
        EXPECT_EQ(c.name.rfind(c.kind + "_", 0), 0u);
      }
    }
    if (name == "all") {
      ASSERT_EQ(built.size(), 4u);
      EXPECT_EQ(built[0].kind + built[1].kind + built[2].kind + built[3].kind, "abcd");
    } else {
      EXPECT_EQ(built[0].kind, name);
    }
  }
  try {
    make_conditions("e", seed, {}, {});
    ADD_FAILURE() << "no error for an unknown condition";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "--condition: expected a, b, c, d, all, a_prime, b_scaled, ttt_paper, scroll, "
                 "in_context or ttt_strict, got 'e'");
  }
}

// A RULER sample takes the Gemma3 adapter study's prompts (its benchmark/eval/predictor.py):
// the document in the prompt for in_context and ttt_paper, the strict answer prompt otherwise;
// its document is ingested whole.
TEST(Protocol, RulerSamplesTakeTheStudysPrompts) {
  bench::Sample sample;
  sample.sample_id = "vt_1024_0000";
  sample.task = "vt";
  sample.context_length = 1024;
  sample.conversation = std::string(20000, 'x');
  const bench::Probe probe{"Q", "Question: Find all variables. Answer: they are:", "AB", {}, {"AB"}};
  const ProtocolOptions seed = ProtocolOptions::preset("seed");
  const std::string with = "You are given a document and a question. Answer with just the value, "
                           "no explanation.\n\nDocument:\n" + sample.conversation +
                           "\n\nQuestion: " + probe.question + "\nAnswer:";
  const std::string without = "Answer the following question with just the value, no "
                              "explanation.\n\nQuestion: " + probe.question + "\nAnswer:";
  EXPECT_EQ(probe_prompt(make_condition("in_context", seed), seed, sample, probe), with);
  EXPECT_EQ(probe_prompt(make_condition("ttt_paper", seed), seed, sample, probe), with);
  EXPECT_EQ(probe_prompt(make_condition("ttt_strict", seed), seed, sample, probe), without);
  EXPECT_EQ(*ingest_text(make_condition("ttt_strict", seed), sample), sample.conversation);
  EXPECT_EQ(ingest_limit(Ingest::conversation, sample), std::numeric_limits<std::size_t>::max());
  sample.task.clear();  // a conversation: the seed's 4096-token cut
  EXPECT_EQ(ingest_limit(Ingest::conversation, sample), 4096u);
}

TEST(Protocol, ScaleSuffixIsPythonReprWithP) {
  EXPECT_EQ(scale_suffix(0.01), "0p01");
  EXPECT_EQ(scale_suffix(0.2), "0p2");
  EXPECT_EQ(scale_suffix(1.0), "1p0");
  EXPECT_EQ(scale_suffix(1.0235), "1p0235");
}

TEST(Protocol, PythonStripRemovesUnicodeWhitespaceOnly) {
  EXPECT_EQ(python_strip(" \t\n答案\u3000\u00a0\n"), "答案");
  EXPECT_EQ(python_strip("\u3000 a b \u2003"), "a b");
  EXPECT_EQ(python_strip("\u200b答\u200b"), "\u200b答\u200b");  // zero-width space is not space
  EXPECT_EQ(python_strip("   "), "");
}

TEST(Protocol, ConditionsAreDataAsTheSeedDefinedThem) {
  const ProtocolOptions seed = ProtocolOptions::preset("seed");
  const auto all = make_conditions("all", seed, {}, {});
  ASSERT_EQ(all.size(), 4u);
  EXPECT_TRUE(all[0].conversation_in_prompt);
  EXPECT_EQ(all[0].params, Params::zero);
  EXPECT_EQ(all[1].ingest, Ingest::conversation);
  EXPECT_EQ(all[1].params, Params::trained);
  EXPECT_FALSE(all[1].frozen);  // the probe-time leak of SPEC.md S2.8
  EXPECT_FALSE(all[2].conversation_in_prompt);
  EXPECT_EQ(all[3].ingest, Ingest::conversation_and_distractor);
  EXPECT_TRUE(all[3].level3_only);
  const auto fixed = make_conditions("all", ProtocolOptions::preset("fixed"), {}, {});
  EXPECT_TRUE(fixed[1].frozen);
  EXPECT_TRUE(fixed[0].distractor_in_prompt);
  EXPECT_TRUE(fixed[2].distractor_in_prompt);
  EXPECT_EQ(fixed[0].params, Params::trained);  // one model in every condition
  EXPECT_EQ(fixed[2].params, Params::trained);
  EXPECT_FALSE(fixed[0].frozen);  // nothing ingested: the fast weights run as in training
  EXPECT_EQ(all[2].params, Params::zero);
  const auto noise = make_conditions("a_prime", seed, {0.01, 0.5}, {});
  ASSERT_EQ(noise.size(), 2u);
  EXPECT_EQ(noise[1].name, "a_prime_0p5");
  EXPECT_EQ(*noise[1].noise_scale, 0.5);
  const auto scaled = make_conditions("b_scaled", seed, {}, {0.1});
  EXPECT_EQ(scaled[0].name, "b_scaled_0p1");
  EXPECT_EQ(scaled[0].alpha, 0.1);
  EXPECT_THROW(make_conditions("e", seed, {}, {}), std::invalid_argument);
}

TEST(Protocol, SeedPromptsAndSelection) {
  bench::GenerateOptions options;
  options.samples_per_level = 3;
  const bench::Benchmark benchmark = bench::generate(options);
  const auto limited = select_samples(benchmark, {}, 2, false);
  ASSERT_EQ(limited.size(), 6u);
  EXPECT_EQ(limited[0]->sample_id, "L1-0000");
  EXPECT_EQ(limited[2]->sample_id, "L2-0000");
  EXPECT_EQ(select_samples(benchmark, {}, std::nullopt, true).size(), 3u);
  EXPECT_THROW(select_samples(benchmark, {"nope"}, std::nullopt, false), std::invalid_argument);

  const ProtocolOptions seed = ProtocolOptions::preset("seed");
  const auto all = make_conditions("all", seed, {}, {});
  const bench::Sample& l3 = benchmark.samples.back();
  ASSERT_EQ(l3.level, 3);
  const bench::Probe& probe = l3.probes.front();
  // Spec 2.7: A puts only the conversation in context, never the distractor.
  EXPECT_EQ(probe_prompt(all[0], seed, l3, probe),
            tokenizer::seed_prompt_with_conversation(l3.conversation, probe.question));
  EXPECT_EQ(probe_prompt(all[1], seed, l3, probe),
            tokenizer::seed_prompt_without_conversation(probe.question));
  EXPECT_EQ(*ingest_text(all[3], l3), l3.conversation + "\n\n" + *l3.distractor);
  EXPECT_FALSE(ingest_text(all[2], l3));
  const auto fixed = make_conditions("all", ProtocolOptions::preset("fixed"), {}, {});
  EXPECT_EQ(probe_prompt(fixed[0], seed, l3, probe),
            tokenizer::seed_prompt_with_conversation(l3.conversation + "\n\n" + *l3.distractor,
                                                     probe.question));
  ProtocolOptions chat = seed;
  chat.chat_template = true;
  const std::string rendered = probe_prompt(all[2], chat, l3, probe);
  EXPECT_EQ(rendered.rfind("<|im_start|>system\n", 0), 0u);
  EXPECT_NE(rendered.find("<think>\n\n</think>\n\n"), std::string::npos);
}

}  // namespace
}  // namespace tttmem::protocol
