// The seed's four figures (SPEC.md S6.6), drawn by gnuplot from generated scripts that keep
// their data inline, so figures/<name>.gp re-renders <name>.png and <name>.svg on its own.
// Differences from the seed: 95% CI error bars, and the position plot shows every main condition.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "tttmem/eval.h"
#include "tttmem/io.h"
#include "tttmem/log.h"
#include "tttmem/protocol.h"

namespace tttmem::eval {

namespace {

struct Figure {
  std::string name;   // file stem
  int width, height;  // pixels at the seed's 120 dpi
  std::string body;   // data blocks and plot commands
};

std::string label(const std::string& name) {
  return name.size() == 1 ? "Cond " + std::string(1, static_cast<char>(name[0] - 'a' + 'A')) : name;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// value, CI low, CI high (the value itself when there is no interval).
std::string with_errors(const Bucket* b) {
  if (!b) return "0 0 0";
  const Interval ci = b->ci ? b->ci->em : Interval{b->em(), b->em()};
  return num(b->em()) + " " + num(ci.lo) + " " + num(ci.hi);
}

std::vector<const ConditionScores*> main_conditions(const Report& r) {
  std::vector<const ConditionScores*> out;
  for (const std::string& name : main_condition_names())
    for (const ConditionScores& c : r.conditions)
      if (c.name == name) out.push_back(&c);
  return out;
}

// A gnuplot single-quoted string ('' stands for ').
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::optional<Figure> em_by_condition_level(const Report& r) {
  const auto conds = main_conditions(r);
  if (conds.empty()) return std::nullopt;
  std::ostringstream s;
  s << "$data << EOD\n";
  for (const char* level : {"1", "2", "3"}) {
    s << "L" << level;
    for (const ConditionScores* c : conds) s << " " << with_errors(find_bucket(c->by_level, level));
    s << "\n";
  }
  s << "EOD\n"
    << "set title 'EM by Condition × Level'\nset ylabel 'Exact Match'\nset yrange [0:1]\n"
    << "set grid ytics lc rgb '#dddddd'\nset key top right\nset style data histogram\n"
    << "set style histogram errorbars gap 1 lw 1\nset style fill solid 0.85 border -1\n"
    << "set boxwidth 0.9\nset xtics nomirror\n";
  s << "plot ";
  for (std::size_t i = 0; i < conds.size(); ++i) {
    const std::size_t col = 2 + 3 * i;
    s << (i ? ", \\\n     '' " : "$data ") << "using " << col << ":" << col + 1 << ":" << col + 2
      << (i ? "" : ":xtic(1)") << " title " << quoted(label(conds[i]->name));
  }
  s << "\n";
  return Figure{"fig1_em_by_condition_level", 1320, 720, s.str()};
}

std::optional<Figure> em_heatmap(const Report& r) {
  std::vector<std::string> categories;
  for (const ConditionScores& c : r.conditions)
    for (const auto& [key, _] : c.by_category)
      if (std::find(categories.begin(), categories.end(), key) == categories.end())
        categories.push_back(key);
  if (categories.empty()) return std::nullopt;
  std::sort(categories.begin(), categories.end());
  const std::size_t rows = r.conditions.size();
  // Every cell in $cells (NaN, drawn blank, where a condition has no probe of a category);
  // only the measured ones in $values, which labels them.
  std::ostringstream cells, values;
  for (std::size_t y = 0; y < rows; ++y)
    for (std::size_t x = 0; x < categories.size(); ++x) {
      const Bucket* b = find_bucket(r.conditions[y].by_category, categories[x]);
      const std::string at = std::to_string(x) + " " + std::to_string(rows - 1 - y) + " ";
      cells << at << (b ? num(b->em()) : "NaN") << "\n";
      if (b) values << at << num(b->em()) << "\n";
    }
  std::ostringstream s;
  s << "$cells << EOD\n"
    << cells.str() << "EOD\n$values << EOD\n"
    << values.str() << "EOD\n"
    << "set title 'EM by Condition × Fact Category'\nset cbrange [0:1]\nset cblabel 'EM'\n"
    << "set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', "
       "1 '#fde725')\n"
    << "set xrange [-0.5:" << categories.size() - 0.5 << "]\nset yrange [-0.5:" << rows - 0.5
    << "]\nset tics nomirror out\nunset key\nset xtics (";
  for (std::size_t x = 0; x < categories.size(); ++x)
    s << (x ? ", " : "") << quoted(categories[x]) << " " << x;
  s << ")\nset ytics (";
  for (std::size_t y = 0; y < rows; ++y)
    s << (y ? ", " : "") << quoted(label(r.conditions[y].name)) << " " << rows - 1 - y;
  s << ")\n"
    << "plot $cells using 1:2:3 with image, \\\n"
    << "     $values using 1:2:(sprintf('%.2f', $3)):($3 < 0.6 ? 0xffffff : 0x000000) "
       "with labels tc rgb variable\n";
  const int width = static_cast<int>(120 * std::max(10.0, 1.2 * categories.size()));
  const int height = static_cast<int>(120 * (1 + 0.7 * rows)) + 120;
  return Figure{"fig2_em_heatmap", width, height, s.str()};
}

std::optional<Figure> position_decay(const Report& r) {
  std::vector<const ConditionScores*> conds;
  for (const ConditionScores* c : main_conditions(r))
    if (!c->by_position.empty()) conds.push_back(c);
  if (conds.empty()) return std::nullopt;
  std::ostringstream s;
  s << "$data << EOD\n";
  int x = 0;
  for (const char* pos : {"front", "middle", "back"}) {
    s << x++ << " " << pos;
    for (const ConditionScores* c : conds)
      s << " " << with_errors(find_bucket(c->by_position, pos));
    s << "\n";
  }
  s << "EOD\n"
    << "set title \"Fact recall by position in the conversation (probe index, L1+L3)\\n"
       "(does TTT have a forgetting gradient?)\"\n"
    << "set xlabel 'Position in conversation'\nset ylabel 'Exact Match'\nset yrange [0:1]\n"
    << "set xrange [-0.3:2.3]\nset grid ytics lc rgb '#dddddd'\nset key outside right top\n";
  s << "plot ";
  for (std::size_t i = 0; i < conds.size(); ++i) {
    const std::size_t col = 3 + 3 * i;
    s << (i ? ", \\\n     " : "") << "$data using 1:" << col << ":" << col + 1 << ":" << col + 2
      << (i ? "" : ":xtic(2)") << " with yerrorlines pt 7 title " << quoted(label(conds[i]->name));
  }
  s << "\n";
  return Figure{"fig3_position_decay", 960, 600, s.str()};
}

std::optional<Figure> distractor_effect(const Report& r) {
  const ConditionScores *b = nullptr, *d = nullptr;
  for (const ConditionScores& c : r.conditions) {
    if (c.name == protocol::kMemory) b = &c;
    if (c.name == protocol::kDistracted) d = &c;
  }
  if (!b || !d) return std::nullopt;
  std::ostringstream s;
  s << "$data << EOD\n"
    << "0 \"B (no distractor)\" " << with_errors(find_bucket(b->by_level, "3")) << "\n"
    << "1 \"D (with distractor)\" " << with_errors(&d->overall) << "\n"
    << "EOD\n"
    << "set title 'Distractor effect on TTT memory'\nset ylabel 'Exact Match (Level 3 samples)'\n"
    << "set yrange [0:1]\nset xrange [-0.6:1.6]\nset boxwidth 0.6\n"
    << "set style fill solid 0.85 border -1\nunset key\nset grid ytics lc rgb '#dddddd'\n"
    << "plot $data using 1:3:xtic(2) with boxes lc rgb '#4c72b0', \\\n"
    << "     '' using 1:3:4:5 with yerrorbars lc rgb 'black' ps 0, \\\n"
    << "     '' using 1:($5 + 0.03):(sprintf('%.3f', $3)) with labels\n";
  return Figure{"fig4_distractor_effect", 840, 600, s.str()};
}

// v2 benchmarks with several L3 distractor lengths: EM per length for every condition that has
// them (not in the seed, whose distractors had one random length).
std::optional<Figure> distractor_decay(const Report& r) {
  std::vector<const ConditionScores*> conds;
  for (const ConditionScores& c : r.conditions)
    if (c.by_distractor_length.size() >= 2) conds.push_back(&c);
  if (conds.empty()) return std::nullopt;
  std::vector<std::string> lengths;
  for (const ConditionScores* c : conds)
    for (const auto& [key, _] : c->by_distractor_length)
      if (std::find(lengths.begin(), lengths.end(), key) == lengths.end()) lengths.push_back(key);
  std::sort(lengths.begin(), lengths.end(), [](const std::string& x, const std::string& y) {
    return std::stoll(x) < std::stoll(y);
  });
  std::ostringstream s;
  s << "$data << EOD\n";
  for (std::size_t x = 0; x < lengths.size(); ++x) {
    s << x << " " << lengths[x];
    for (const ConditionScores* c : conds)
      s << " " << with_errors(find_bucket(c->by_distractor_length, lengths[x]));
    s << "\n";
  }
  s << "EOD\n"
    << "set title 'EM by distractor length (level 3)'\nset xlabel 'Distractor length ("
    << (r.distractor_unit.empty() ? "chars" : r.distractor_unit) << ")'\n"
    << "set ylabel 'Exact Match'\nset yrange [0:1]\nset xrange [-0.3:" << lengths.size() - 0.7
    << "]\nset grid ytics lc rgb '#dddddd'\nset key outside right top\n";
  s << "plot ";
  for (std::size_t i = 0; i < conds.size(); ++i) {
    const std::size_t col = 3 + 3 * i;
    s << (i ? ", \\\n     " : "") << "$data using 1:" << col << ":" << col + 1 << ":" << col + 2
      << (i ? "" : ":xtic(2)") << " with yerrorlines pt 7 title " << quoted(label(conds[i]->name));
  }
  s << "\n";
  return Figure{"fig5_distractor_decay", 960, 600, s.str()};
}

std::string script(const Figure& f) {
  std::ostringstream s;
  s << "# Written by `tttmem evaluate`; run `gnuplot " << f.name << ".gp` in this folder to\n"
    << "# redraw " << f.name << ".png and .svg.\n"
    << "set encoding utf8\n"
    << "set terminal pngcairo size " << f.width << "," << f.height << " font 'sans,11'\n"
    << "set output '" << f.name << ".png'\n"
    << f.body << "set terminal svg size " << f.width << "," << f.height
    << " font 'sans,11' background rgb 'white'\n"
    << "set output '" << f.name << ".svg'\nreplot\nunset output\n";
  return s.str();
}

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

// Renders `figures` into figures_dir with gnuplot (see write_figures).
bool render(const std::vector<Figure>& figures, const std::filesystem::path& figures_dir) {
  if (!have_gnuplot()) {
    log::warn(
        "gnuplot is not installed: no figures written (report.json and results.md are "
        "complete; install gnuplot-nox, see scripts/setup.sh)");
    return false;
  }
  // Render in a scratch folder next to the target, then move the finished files in, so a failed
  // gnuplot leaves no half-written figure set behind.
  std::filesystem::create_directories(figures_dir);
  const auto scratch = figures_dir.parent_path() /
                       (figures_dir.filename().string() + ".tmp-" + std::to_string(::getpid()));
  std::filesystem::remove_all(scratch);
  std::filesystem::create_directories(scratch);
  try {
    for (const Figure& f : figures) {
      io::atomic_write_file(scratch / (f.name + ".gp"), script(f));
      const std::string command = "cd " + shell_quoted(scratch.string()) + " && gnuplot " +
                                  shell_quoted(f.name + ".gp") + " 2>&1";
      std::string output;
      FILE* pipe = ::popen(command.c_str(), "r");
      if (!pipe) throw EvalError("cannot start gnuplot for " + f.name);
      char buf[512];
      while (std::fgets(buf, sizeof buf, pipe)) output += buf;
      if (::pclose(pipe) != 0)
        throw EvalError("gnuplot failed on " + (figures_dir / (f.name + ".gp")).string() + ":\n" +
                        output);
    }
    for (const Figure& f : figures)
      for (const char* ext : {".gp", ".png", ".svg"})
        std::filesystem::rename(scratch / (f.name + ext), figures_dir / (f.name + ext));
  } catch (...) {
    std::filesystem::remove_all(scratch);
    throw;
  }
  std::filesystem::remove_all(scratch);
  return true;
}

}  // namespace

bool write_figures(const Report& report, const std::filesystem::path& figures_dir) {
  std::vector<Figure> figures;
  for (auto make :
       {em_by_condition_level, em_heatmap, position_decay, distractor_effect, distractor_decay})
    if (auto f = make(report)) figures.push_back(std::move(*f));
  return render(figures, figures_dir);
}

bool write_ruler_figures(const std::vector<RulerCell>& cells,
                         const std::filesystem::path& figures_dir) {
  std::vector<std::string> tasks, conditions;
  std::vector<std::int64_t> lengths;
  for (const RulerCell& c : cells) {
    if (std::find(tasks.begin(), tasks.end(), c.task) == tasks.end()) tasks.push_back(c.task);
    if (std::find(conditions.begin(), conditions.end(), c.condition) == conditions.end())
      conditions.push_back(c.condition);
    if (std::find(lengths.begin(), lengths.end(), c.length) == lengths.end())
      lengths.push_back(c.length);
  }
  std::sort(lengths.begin(), lengths.end());
  auto find = [&](const std::string& task, std::int64_t length, const std::string& condition) {
    for (const RulerCell& c : cells)
      if (c.task == task && c.length == length && c.condition == condition) return &c;
    return static_cast<const RulerCell*>(nullptr);
  };
  auto plot_lines = [&](std::size_t columns_per_condition, const char* style) {
    std::ostringstream s;
    s << "plot ";
    for (std::size_t i = 0; i < conditions.size(); ++i) {
      const std::size_t col = 2 + columns_per_condition * i;
      s << (i ? ", \\\n     " : "") << "$data using 1:" << col;
      if (columns_per_condition == 3) s << ":" << col + 1 << ":" << col + 2;
      s << " with " << style << " pt 7 title " << quoted(label(conditions[i]));
    }
    return s.str() + "\n";
  };
  std::vector<Figure> figures;
  for (const std::string& task : tasks) {
    std::ostringstream s;
    s << "$data << EOD\n";  // length, then any-of and its interval per condition (NaN: no cell)
    for (std::int64_t length : lengths) {
      s << length;
      for (const std::string& condition : conditions) {
        const RulerCell* c = find(task, length, condition);
        if (c == nullptr) {
          s << " NaN NaN NaN";
        } else {
          const Interval ci = c->any_of_ci.value_or(Interval{c->any_of, c->any_of});
          s << " " << num(c->any_of) << " " << num(ci.lo) << " " << num(ci.hi);
        }
      }
      s << "\n";
    }
    s << "EOD\nset title " << quoted("RULER " + task + ": accuracy (any-of) vs context")
      << "\nset xlabel 'Context length (tokens)'\nset ylabel 'Accuracy'\nset logscale x 2\n"
      << "set yrange [0:1]\nset grid ytics lc rgb '#dddddd'\nset key outside right top\n"
      << plot_lines(3, "yerrorlines");
    figures.push_back(Figure{"accuracy_vs_context__" + task, 960, 600, s.str()});
  }
  std::ostringstream s;
  s << "$data << EOD\n";  // length, then mean seconds per condition over the tasks
  for (std::int64_t length : lengths) {
    s << length;
    for (const std::string& condition : conditions) {
      double sum = 0;
      int count = 0;
      for (const std::string& task : tasks)
        if (const RulerCell* c = find(task, length, condition); c && c->mean_seconds) {
          sum += *c->mean_seconds;
          ++count;
        }
      s << " " << (count ? num(sum / count) : std::string("NaN"));
    }
    s << "\n";
  }
  s << "EOD\nset title 'RULER: seconds per example vs context (mean over tasks)'\n"
    << "set xlabel 'Context length (tokens)'\nset ylabel 'Seconds'\nset logscale xy 2\n"
    << "set grid ytics lc rgb '#dddddd'\nset key outside right top\n"
    << plot_lines(1, "linespoints");
  figures.push_back(Figure{"latency_vs_context", 960, 600, s.str()});
  return render(figures, figures_dir);
}

}  // namespace tttmem::eval
