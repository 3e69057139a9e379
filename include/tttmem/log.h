// Logging and progress reporting. spdlog stays inside src/util/log.cpp because libtorch bundles
// its own, newer fmt that clashes with the one Debian's spdlog is built against; callers pass
// pieces that are joined with operator<<.
#pragma once

#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

namespace tttmem::log {

enum class Level { trace, debug, info, warn, error, off };

// level: trace|debug|info|warn|error|off; file: also append to it when non-empty. Throws
// std::runtime_error naming --log-file when the file cannot be opened for appending.
void configure(const std::string& level, const std::string& file);
// Flushes the log; returns the first write error since configure() (empty when none), so a full
// disk under --log-file is reported instead of cutting the log silently.
std::string flush();
// Starts every line with `prefix` (a rank's "rank 1/4 "); progress is then logged as lines, since
// several processes share the terminal.
void set_prefix(const std::string& prefix);
bool enabled(Level level);
void write(Level level, std::string_view message);

template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return std::move(out).str();
}
template <class... P> void trace(const P&... p) { if (enabled(Level::trace)) write(Level::trace, concat(p...)); }
template <class... P> void debug(const P&... p) { if (enabled(Level::debug)) write(Level::debug, concat(p...)); }
template <class... P> void info(const P&... p) { if (enabled(Level::info)) write(Level::info, concat(p...)); }
template <class... P> void warn(const P&... p) { if (enabled(Level::warn)) write(Level::warn, concat(p...)); }
template <class... P> void error(const P&... p) { if (enabled(Level::error)) write(Level::error, concat(p...)); }

// done/total, rate and ETA for long work: redrawn in place on a terminal, logged at most every
// `log_every` otherwise (CI logs, files).
class Progress {
 public:
  Progress(std::string label, std::int64_t total, std::string unit = "items",
           std::chrono::seconds log_every = std::chrono::seconds(10));
  ~Progress();
  void advance(std::int64_t n = 1);
  void finish();

 private:
  void report(bool final);
  std::string label_, unit_;
  std::int64_t total_, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
  std::chrono::seconds log_every_;
  bool tty_, finished_ = false;
};

}  // namespace tttmem::log
