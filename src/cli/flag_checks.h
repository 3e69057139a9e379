// Checks shared by the subcommands: CLI11 validators, which run on a flag's text during parsing
// (a bad value is a usage error, exit 2, that names the flag), and size checks made before work.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace tttmem::cli {

// A whole number from `min` to `max`, written in decimal digits. CLI11's own conversion wraps
// 99999999999999999999 or 2^64 silently, and PositiveNumber states its range in 309 digits.
CLI::Validator whole_number(std::uint64_t min, std::uint64_t max);
// A file the command will write: io::check_output_path (non-empty, not a folder, device or FIFO,
// in a folder that exists or can be created, writable).
CLI::Validator output_file();
// A folder the command will write files into: non-empty, a folder if it exists, creatable if not.
CLI::Validator output_folder();

// --attention-window N on the subcommands that build a model: sliding-window attention on every
// layer, each query seeing the last N positions, itself included (SPEC.md `model`). `tokens`
// stays 0 when the flag is absent: config.json decides.
CLI::Option* add_attention_window(CLI::App& sub, std::int64_t& tokens);

// The number a flag's text spells, all of it, finite; else throws "FLAG: expected a finite
// number, got 'TEXT'" (kept as text by the flag, so that nan and inf are refused by name).
double finite_number(const std::string& text, const std::string& flag);

// This machine's physical memory in bytes, for refusing work that could never fit up front.
double physical_memory_bytes();

}  // namespace tttmem::cli
