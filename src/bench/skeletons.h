// The generator's fixed data (SPEC.md S1.3-S1.5): value pools, the five
// conversation skeletons with their slot fill orders, fact/probe rows and composed (L2) specs.
// Order matters everywhere: it is the order of the RNG draws.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tttmem::bench::data {

enum class Pool {
  Pronoun,
  Person,
  Role,
  Department,
  Project,
  Spatial,
  Preference,
  Numeric,
  Date,
  Temporal
};

struct SlotDef {
  std::string_view name;
  Pool pool;
};
struct RowDef {  // one registered slot: fact F<k> and probe P<k>
  std::string_view slot, category, fact, question;
};
struct ComposedDef {  // one L2 probe C<j>
  std::string_view slot_a, slot_b, question, gold;
};
struct SkeletonDef {
  std::string_view id;
  std::vector<std::string_view> lines;
  std::vector<SlotDef> slots;  // fill order
  std::vector<RowDef> rows;
  std::vector<ComposedDef> composed;
};

extern const std::vector<std::string_view> kNames, kRoles, kDepartments, kProjects, kLocations,
    kPreferences, kWeekdays, kDayparts, kHours;
extern const std::vector<std::pair<std::string_view, std::string_view>> kPronounPairs;
extern const std::vector<int> kHeadcounts;
extern const std::vector<SkeletonDef> kSkeletons;  // SK-1..SK-5 as published (v1)
// v2's held-out templates SK-6..SK-8: their question phrasings occur in no SK-1..SK-5 row.
extern const std::vector<SkeletonDef> kTestSkeletons;

// v2's distractor prose: passage `index` of an unbounded family, built from word lists that
// share no value with the slot pools (tested), so a distractor never states a gold.
std::string distractor_passage(std::uint64_t index);

// Preferences that are about food or drink: the only ones a "dietary preference" question fits.
bool is_dietary(std::string_view preference);

}  // namespace tttmem::bench::data
