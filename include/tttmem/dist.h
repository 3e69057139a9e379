// dist: tttmem as a torch.distributed program (SPEC.md "Scale-out"). A launcher (torchrun, srun,
// mpirun) starts one process per GPU or CPU slot; each reads where it sits from the environment,
// meets the others through a c10d TCPStore, and talks through a c10d process group: NCCL for
// CUDA tensors, Gloo on the CPU. Without a launcher's variables a process is a world of one and
// nothing here opens a socket.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace c10d {
class Work;
}

namespace tttmem::dist {

// Where this process sits in a launch. torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK) come
// first, then Slurm's (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID) and Open MPI's
// (OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK), these two only beside MASTER_ADDR; a launch needs
// MASTER_ADDR and MASTER_PORT (the store's host, rank 0's machine), even for one rank.
struct Launch {
  int rank = 0, size = 1, local_rank = 0;
  std::string launcher = "none";  // none | torchrun | slurm | mpi
  std::string master_addr;
  int master_port = 0;
  // torchrun's agent already serves a store at MASTER_ADDR:MASTER_PORT (every rank a client).
  bool agent_store = false;
  // Restarts of the same job by torchrun: keys of an earlier attempt are not read again.
  int attempt = 0;
  // Throws std::invalid_argument naming the variable and what was expected.
  static Launch from_environment(
      const std::function<const char*(const char*)>& get = [](const char* name) {
        return std::getenv(name);
      });
};

// Another rank failed (its message), or went away: thrown on every rank that learns of it.
class PeerFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class World {
 public:
  // A process without a launcher: collectives return their input, nothing is published.
  World();
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;
  // Meets the other ranks (blocking until all arrive, at most `timeout`) and opens the process
  // group: NCCL when `cuda` (if built with it), Gloo otherwise; a launch of one rank too (the
  // same code path), no launch not at all. Collectives and waits on the
  // store give up after `timeout`.
  static std::unique_ptr<World> connect(const Launch& launch, bool cuda,
                                        std::chrono::seconds timeout);

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1; }
  bool leader() const { return rank_ == 0; }
  std::string backend() const { return backend_; }  // "" (one process) | gloo | nccl
  std::chrono::seconds timeout() const { return timeout_; }

  // In place on every rank: the element-wise sum over ranks.
  void allreduce_sum(std::vector<at::Tensor>& tensors);
  // In place: the mean over ranks of each tensor's gradient (an undefined gradient counts as
  // zeros), reduced in flat buckets of at most `bucket_bytes` per dtype and device.
  void average_gradients(const std::vector<at::Tensor>& params,
                         std::int64_t bucket_bytes = 25 << 20);
  // In place: every rank gets rank `root`'s values.
  void broadcast(std::vector<at::Tensor>& tensors, int root = 0);

  // The leader's collection point of a stage: every rank calls it with its `value`; the leader
  // gets every rank's value in rank order once all have arrived (others get {}), then every rank
  // leaves together. A failed peer ends the wait at once with a PeerFailure naming it; ranks that
  // never arrive (killed, stuck) are named after the timeout.
  std::vector<std::string> gather_at_leader(const std::string& stage, const std::string& value);
  // Tells the other ranks that this one failed (`what`: its error). Never throws.
  void fail(const std::string& what) noexcept;
  // Throws a PeerFailure if another rank reported a failure; asks the store at most once a
  // second, so it can be called after every unit of work.
  void check_peers();

 private:
  struct Impl;
  // The failure another rank published, acknowledged, as this rank's error ("rank K failed: ...
  // (rank R stopped <during>)"); none when no rank failed.
  std::optional<PeerFailure> reported_failure(const std::string& during) const;
  PeerFailure explain(const std::string& during, const std::string& seen) const;
  // Runs `op` on each tensor in turn (through the NCCL device for host tensors), waiting at most
  // the timeout; a failure becomes a PeerFailure saying what went wrong where.
  void collective(const char* what, std::vector<at::Tensor>& tensors,
                  const std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)>& op);
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, size_ = 1;
  std::string backend_;
  std::chrono::seconds timeout_{0};
};

}  // namespace tttmem::dist
