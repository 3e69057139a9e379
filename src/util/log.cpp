#include "tttmem/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

namespace tttmem::log {

namespace {
// The first failure to write a log record (a full disk under --log-file), reported by flush().
std::string first_write_error;
// Each line's origin when several processes share one terminal (set_prefix); they then log
// progress as lines instead of redrawing one.
std::string line_prefix;
std::string pattern() { return "[%H:%M:%S.%e] %^%l%$ " + line_prefix + "%v"; }

std::shared_ptr<spdlog::sinks::basic_file_sink_mt> open_log_file(const std::string& file) {
  // A FIFO would block the open until a reader appears; a folder cannot be appended to.
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0 && (S_ISDIR(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
    throw std::runtime_error("--log-file " + file + ": is " +
                             (S_ISDIR(st.st_mode) ? "a folder" : "a FIFO or socket") +
                             ", expected a file to append the log to");
  try {
    return std::make_shared<spdlog::sinks::basic_file_sink_mt>(file);
  } catch (const spdlog::spdlog_ex& e) {
    throw std::runtime_error("--log-file " + file + ": cannot open for appending: " + e.what());
  }
}

spdlog::level::level_enum to_spdlog(Level level) {
  return static_cast<spdlog::level::level_enum>(static_cast<int>(level) +
                                                (level == Level::off ? 1 : 0));
}
}  // namespace

void configure(const std::string& level, const std::string& file) {
  std::vector<spdlog::sink_ptr> sinks{std::make_shared<spdlog::sinks::stderr_color_sink_mt>()};
  if (!file.empty()) sinks.push_back(open_log_file(file));
  auto logger = std::make_shared<spdlog::logger>("tttmem", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::from_str(level));
  logger->set_pattern(pattern());
  logger->set_error_handler([](const std::string& message) {
    if (first_write_error.empty()) first_write_error = message;
  });
  spdlog::set_default_logger(logger);
}

void set_prefix(const std::string& prefix) {
  line_prefix = prefix;
  spdlog::default_logger_raw()->set_pattern(pattern());
}

std::string flush() {
  spdlog::default_logger_raw()->flush();
  return first_write_error;
}

bool enabled(Level level) { return spdlog::default_logger_raw()->should_log(to_spdlog(level)); }

void write(Level level, std::string_view message) {
  spdlog::default_logger_raw()->log(to_spdlog(level), "{}", message);
}

Progress::Progress(std::string label, std::int64_t total, std::string unit,
                   std::chrono::seconds log_every)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total),
      start_(std::chrono::steady_clock::now()), last_(start_), log_every_(log_every),
      tty_(::isatty(STDERR_FILENO) != 0 && enabled(Level::info) && line_prefix.empty()) {}

Progress::~Progress() { finish(); }

void Progress::advance(std::int64_t n) {
  done_ += n;
  const auto now = std::chrono::steady_clock::now();
  if (tty_ ? now - last_ >= std::chrono::milliseconds(200) : now - last_ >= log_every_) {
    last_ = now;
    report(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  report(true);
}

void Progress::report(bool final) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  char line[256];
  std::snprintf(line, sizeof line, "%s: %lld/%lld %s, %.1f %s/s, %s %.0f s", label_.c_str(),
                static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(),
                rate, unit_.c_str(), final ? "took" : "ETA", final ? secs : eta);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
    std::fflush(stderr);
  } else {
    info(line);
  }
}

}  // namespace tttmem::log
