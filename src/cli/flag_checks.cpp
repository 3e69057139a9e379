#include "flag_checks.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <filesystem>

#include "tttmem/io.h"

namespace tttmem::cli {

CLI::Validator whole_number(std::uint64_t min, std::uint64_t max) {
  const std::string range = "from " + std::to_string(min) + " to " + std::to_string(max);
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        const bool digits = !text.empty() && end == text.data() + text.size() &&
                            text.find_first_not_of("0123456789") == std::string::npos;
        if (!digits || ec == std::errc::invalid_argument)
          return "expected a whole number " + range + ", got '" + text + "'";
        if (ec == std::errc::result_out_of_range || value < min || value > max)
          return "'" + text + "' is out of range: expected a whole number " + range;
        return {};
      },
      "in [" + std::to_string(min) + " - " + std::to_string(max) + "]");
}

CLI::Validator output_file() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          io::check_output_path(text);
        } catch (const io::IoError& e) {
          return e.what();
        }
        return {};
      },
      "FILE");
}

CLI::Validator output_folder() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text.empty()) return "the output folder is empty, expected a folder name";
        std::error_code ec;
        if (std::filesystem::is_directory(text, ec)) return {};
        if (std::filesystem::exists(text, ec)) return text + " exists and is not a folder";
        try {
          io::check_output_path(text);  // can the folder be created?
        } catch (const io::IoError& e) {
          return e.what();
        }
        return {};
      },
      "DIR");
}

CLI::Option* add_attention_window(CLI::App& sub, std::int64_t& tokens) {
  return sub.add_option("--attention-window", tokens,
                        "Sliding-window attention on every layer: each token attends to the last N "
                        "positions, itself included (default: config.json's sliding window, if any)")
      ->check(whole_number(1, 1 << 24));
}

double finite_number(const std::string& text, const std::string& flag) {
  std::size_t used = 0;
  double value = NAN;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !std::isfinite(value))
    throw std::invalid_argument(flag + ": expected a finite number, got '" + text + "'");
  return value;
}

double physical_memory_bytes() {
  return static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGE_SIZE));
}

}  // namespace tttmem::cli
