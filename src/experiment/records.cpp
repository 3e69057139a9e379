// experiment: result records (JSONL per probe, the seed's condition_<x>.json) and sha256 for
// run.json's provenance.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "tttmem/experiment.h"
#include "tttmem/io.h"
#include "tttmem/pycompat.h"

namespace tttmem::experiment {

nlohmann::ordered_json Record::to_json() const {
  return {{"sample_id", sample_id},   {"level", level},
          {"probe_id", probe_id},     {"question", question},
          {"gold", gold},             {"predicted", predicted},
          {"output_ids", output_ids}, {"prompt_tokens", prompt_tokens},
          {"generated_tokens", generated_tokens}, {"ingested_tokens", ingested_tokens},
          {"ingest_truncated_from", ingest_truncated_from}, {"stop_reason", stop_reason},
          {"seconds", seconds}, {"ingest_seconds", ingest_seconds}};
}

Record Record::from_json(const nlohmann::json& line, const std::string& where) {
  try {
    Record r;
    r.sample_id = line.at("sample_id").get<std::string>();
    r.level = line.at("level").get<int>();
    r.probe_id = line.at("probe_id").get<std::string>();
    r.question = line.at("question").get<std::string>();
    r.gold = line.at("gold").get<std::string>();
    r.predicted = line.at("predicted").get<std::string>();
    r.output_ids = line.at("output_ids").get<std::vector<std::int64_t>>();
    r.prompt_tokens = line.at("prompt_tokens").get<std::int64_t>();
    r.generated_tokens = line.at("generated_tokens").get<std::int64_t>();
    // Records written before these fields existed stay readable (--resume continues them).
    r.ingested_tokens = line.value("ingested_tokens", std::int64_t{0});
    r.ingest_truncated_from = line.value("ingest_truncated_from", std::int64_t{0});
    r.stop_reason = line.at("stop_reason").get<std::string>();
    r.seconds = line.at("seconds").get<double>();
    r.ingest_seconds = line.value("ingest_seconds", 0.0);
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(where + ": not a result record: " + e.what());
  }
}

std::vector<Record> parse_records(const std::string& text, const std::string& source) {
  std::vector<Record> records;
  std::map<std::pair<std::string, std::string>, std::size_t> seen;
  std::size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    ++line_no;
    const std::string where = source + ":" + std::to_string(line_no);
    nlohmann::json line;
    try {
      line = nlohmann::json::parse(text.substr(pos, nl - pos));
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(where + ": malformed JSON line: " + e.what());
    }
    Record record = Record::from_json(line, where);
    const auto key = std::make_pair(record.sample_id, record.probe_id);
    if (auto it = seen.find(key); it != seen.end())
      throw std::runtime_error(where + ": probe " + key.first + "/" + key.second +
                               " again (first on line " + std::to_string(it->second) + ")");
    seen[key] = line_no;
    records.push_back(std::move(record));
    pos = nl + 1;
  }
  return records;
}

std::vector<Record> read_records(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) return {};
  std::string text = io::read_file(file);
  // A line without its newline is one a killed writer left half written: cut it off.
  if (const std::size_t end = text.rfind('\n') + 1; end != text.size()) {
    std::filesystem::resize_file(file, end);
    text.resize(end);
  }
  return parse_records(text, file.string());
}

std::string jsonl_line(const Record& record) {
  return record.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

namespace {

// The records of `samples`' probes in benchmark order (samples in `samples` order, probes in
// their sample's order); throws naming `source` and the probe when one has no record.
std::vector<Record> benchmark_order(const std::vector<const bench::Sample*>& samples,
                                    const std::vector<Record>& records, const std::string& source) {
  std::map<std::pair<std::string, std::string>, const Record*> by_probe;
  for (const Record& r : records) by_probe[{r.sample_id, r.probe_id}] = &r;
  std::vector<Record> out;
  for (const bench::Sample* sample : samples)
    for (const bench::Probe& probe : sample->probes) {
      auto it = by_probe.find({sample->sample_id, probe.probe_id});
      if (it == by_probe.end())
        throw std::runtime_error(source + ": no record for probe " + sample->sample_id + "/" +
                                 probe.probe_id);
      out.push_back(*it->second);
    }
  return out;
}

// The seed's condition_<x>.json from records already in benchmark order.
std::string seed_format(const std::vector<const bench::Sample*>& samples,
                        const std::vector<Record>& ordered) {
  std::size_t next = 0;
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const bench::Sample* sample : samples) {
    nlohmann::ordered_json predictions = nlohmann::ordered_json::array();
    for (const bench::Probe& probe : sample->probes)
      predictions.push_back({{"probe_id", probe.probe_id},
                             {"question", probe.question},
                             {"gold", probe.gold_answer},
                             {"predicted", ordered[next++].predicted}});
    out.push_back({{"sample_id", sample->sample_id},
                   {"level", sample->level},
                   {"predictions", std::move(predictions)}});
  }
  return py::dumps(out, 2);
}

}  // namespace

void write_condition_files(const std::filesystem::path& dir, const std::string& condition,
                           const std::vector<const bench::Sample*>& samples,
                           const std::vector<Record>& records) {
  const std::filesystem::path jsonl = dir / ("condition_" + condition + ".jsonl");
  const std::vector<Record> ordered = benchmark_order(samples, records, jsonl.string());
  std::string lines;
  for (const Record& record : ordered) lines += jsonl_line(record);
  io::atomic_write_file(jsonl, lines);
  io::atomic_write_file(dir / ("condition_" + condition + ".json"), seed_format(samples, ordered));
}

// ---- sha256 (FIPS 180-4), small enough to keep rather than add a crypto dependency

namespace {

class Sha256 {
 public:
  void update(const unsigned char* data, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      block_[fill_++] = data[i];
      if (fill_ == 64) {
        compress();
        fill_ = 0;
      }
    }
    bits_ += 8ull * n;
  }
  std::string hex() {
    const std::uint64_t bits = bits_;
    const unsigned char one = 0x80, zero = 0;
    update(&one, 1);
    while (fill_ != 56) update(&zero, 1);
    unsigned char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
    update(length, 8);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::uint32_t word : h_)
      for (int shift = 28; shift >= 0; shift -= 4) out += digits[(word >> shift) & 0xf];
    return out;
  }

 private:
  static std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void compress() {
    static constexpr std::array<std::uint32_t, 64> k{
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = (std::uint32_t{block_[4 * i]} << 24) | (std::uint32_t{block_[4 * i + 1]} << 16) |
             (std::uint32_t{block_[4 * i + 2]} << 8) | std::uint32_t{block_[4 * i + 3]};
    for (int i = 16; i < 64; ++i) {
      const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6],
                  h = h_[7];
    for (int i = 0; i < 64; ++i) {
      const std::uint32_t t1 =
          h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    const std::uint32_t add[8] = {a, b, c, d, e, f, g, h};
    for (int i = 0; i < 8; ++i) h_[i] += add[i];
  }
  std::array<std::uint32_t, 8> h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  unsigned char block_[64]{};
  std::size_t fill_ = 0;
  std::uint64_t bits_ = 0;
};

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  Sha256 hash;
  hash.update(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return hash.hex();
}

std::string sha256_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("sha256: cannot read " + file.string());
  Sha256 hash;
  std::array<char, 1 << 16> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    hash.update(reinterpret_cast<const unsigned char*>(buffer.data()),
                static_cast<std::size_t>(in.gcount()));
  }
  return hash.hex();
}

}  // namespace tttmem::experiment
