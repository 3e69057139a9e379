// Hostile outputs (issue 9): destructive targets, crashes and silent loss. Every case must end
// with a message naming the flag or file, exit 1 or 2, and nothing destroyed or half written.
#include "hostile_util.h"
#include "tttmem/io.h"

namespace tttmem::test {
namespace {

// Destructive: the atomic writer renamed its temp file over whatever --out named (forward --out
// /dev/null replaced the device node). A FIFO stands in for the device here: same file type
// check, and a failure cannot damage the machine running the tests.
TEST(HostileDestructive, OutputNamingASpecialFileIsRefusedAndKept) {
  const ScratchDir dir;
  const auto fifo = make_fifo(dir / "out.json");
  const CommandResult r = run_tttmem_within(60, "build-benchmark --samples-per-level 1 --out '" +
                                                    fifo.string() + "'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--out")) << r.output;
  EXPECT_TRUE(contains(r.output, "a FIFO, expected a regular file")) << r.output;
  EXPECT_TRUE(std::filesystem::is_fifo(fifo)) << "the FIFO was replaced";
}

TEST(HostileDestructive, AtomicWriterNeverReplacesASpecialFileOrFolder) {
  const ScratchDir dir;
  const auto fifo = make_fifo(dir / "fifo");
  std::filesystem::create_directory(dir / "folder");
  for (const auto& target : {fifo, dir / "folder"}) {
    try {
      io::atomic_write_file(target, "x");
      ADD_FAILURE() << target << " was written";
    } catch (const io::IoError& e) {
      EXPECT_TRUE(contains(e.what(), target.string())) << e.what();
    }
  }
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "folder"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 2) << "temp file left";
}

// Crash: spdlog threw before main's try block (abort, exit 134).
TEST(HostileCrash, LogFileUnderAFileOrNamingAFolderIsAnError) {
  const ScratchDir dir;
  write_text(dir / "file", "x");
  for (const auto& log : {dir / "file" / "log.txt", dir.path()}) {
    const CommandResult r = run_tttmem("--log-file '" + log.string() + "' build-benchmark --out '" +
                                       (dir / "b.json").string() + "' --samples-per-level 1");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, "--log-file " + log.string())) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir / "b.json"));
  }
}

// Silent loss: output cut by a full disk exited 0.
TEST(HostileSilentLoss, FullStandardOutputIsAnError) {
  const ScratchDir dir;
  const auto model = make_tiny_model(dir);
  const auto ranks = write_byte_ranks(dir / "bytes.tiktoken");
  for (const std::string& args :
       {"info --model '" + model.string() + "'", "info --json --model '" + model.string() + "'",
        "tokenize --tokenizer '" + ranks.string() + "' --text hello"}) {
    // Only stdout goes to /dev/full; the braces keep stderr for the message.
    const CommandResult r = run_command("{ '" TTTMEM_BINARY "' " + args + " >/dev/full; }");
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, "writing to standard output failed")) << r.output;
  }
}

TEST(HostileSilentLoss, FullLogFileIsAnError) {
  const ScratchDir dir;
  write_text(dir / "tiny.json", tiny_config_json());
  const CommandResult r = run_tttmem("--log-file /dev/full init-model --config '" +
                                     (dir / "tiny.json").string() + "' --out '" +
                                     (dir / "model").string() + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "--log-file /dev/full")) << r.output;
}

TEST(HostileSilentLoss, InitModelChecksConfigJsonBeforeWritingWeights) {
  const ScratchDir dir;
  write_text(dir / "tiny.json", tiny_config_json());
  std::filesystem::create_directories(dir / "model" / "config.json");
  const CommandResult r = run_tttmem("init-model --config '" + (dir / "tiny.json").string() +
                                     "' --out '" + (dir / "model").string() + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "config.json is a folder, expected a regular file")) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "model" / "model.safetensors")) << "weights without config";
}

TEST(HostileSilentLoss, ForwardChecksEveryOutputBeforeWritingAny) {
  const ScratchDir dir;
  const auto model = make_tiny_model(dir);
  write_text(dir / "file", "x");
  const CommandResult r = run_tttmem(
      "forward --model '" + model.string() + "' --ids 1,2,3 --out '" + (dir / "logits.safetensors").string() +
      "' --ttt '" + model.string() + "' --ttt-layers 0 --ttt-init dense --ttt-state-out '" +
      (dir / "file" / "state.safetensors").string() + "'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "--ttt-state-out")) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "logits.safetensors")) << "logits written anyway";
}

}  // namespace
}  // namespace tttmem::test
