// sanity: the gate a TTT checkpoint passes before any run (`tttmem sanity`, SPEC.md "sanity").
// Part of the experiment module: the seed's five checks (SPEC.md S5) with thresholds that can
// fail, every TTT layer inspected, plus checks of the graft's own contracts (SPEC.md T2, T3.6,
// T3.7) on the model at hand, and a retrieval signal that is reported, not required.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "tttmem/model.h"
#include "tttmem/tokenizer.h"
#include "tttmem/ttt.h"

namespace tttmem::experiment {

struct SanityCheck {
  std::string name;         // stable id, e.g. "trained_vs_zero_logits"
  std::string description;  // what it measures, one line
  bool required = true;     // a failing required check fails the run
  bool passed = false;
  double value = 0;         // the measured value (NaN when the check could not measure it)
  std::string relation;     // how value is compared with threshold: ">=", ">", "<=", "=="
  double threshold = 0;
  std::vector<std::string> details;  // further measurements; on failure, why
  double seconds = 0;                 // wall time of the check
  nlohmann::ordered_json to_json() const;
};

struct SanityReport {
  std::vector<SanityCheck> checks;
  bool passed() const;  // every required check passed
  nlohmann::ordered_json to_json() const;
};

// `value` for a line compared with `threshold`: 6 significant digits, or as many more as it takes
// for the printed number to lie on the same side of the threshold as the value (0.00999999 is not
// shown as "0.01" beside ">= 0.01"), so a FAIL never prints a number that passes, nor a PASS one
// that fails.
std::string format_value(double value, double threshold);

// The seed's helper text D(n) (SPEC.md S5): its sentence and one space, repeated until the
// accumulated text has at least n tokens.
std::string sanity_text(const tokenizer::Tokenizer& tokenizer, std::int64_t n);

// Runs every check on `model` with the graft `config` + `params` (not modified: zeroed variants
// are copies). Each check's exception is caught and reported as its failure.
SanityReport run_sanity(model::Decoder& model, const tokenizer::Tokenizer& tokenizer,
                        const ttt::TTTConfig& config, const ttt::TTTParams& params);

}  // namespace tttmem::experiment
