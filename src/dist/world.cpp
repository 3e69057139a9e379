// dist: the launch environment, the rendezvous store and the process group (SPEC.md "Scale-out").
// Only c10d's out-of-line API is used: the Gloo headers come from Debian's libgloo-dev, not from
// the build torch was made with, so nothing here may depend on gloo's inline code.
#include "tttmem/dist.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef TTTMEM_HAVE_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <atomic>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "tttmem/log.h"

namespace tttmem::dist {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(100);

int whole_number(const char* name, const std::string& value, int min, int max) {
  std::size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || value.empty() || n < min || n > max)
    throw std::invalid_argument(std::string(name) + "=" + value + ": expected a whole number from " +
                                std::to_string(min) + " to " + std::to_string(max));
  return static_cast<int>(n);
}

std::string key_of(const std::string& stage, int rank) { return stage + "/" + std::to_string(rank); }

std::string to_string(const std::vector<std::uint8_t>& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

Launch Launch::from_environment(const std::function<const char*(const char*)>& get) {
  auto var = [&](const char* name) -> std::optional<std::string> {
    const char* value = get(name);
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
  struct Names {
    const char *launcher, *rank, *size, *local_rank;
  };
  // Slurm and MPI set their variables for any job step; only a launch that also names the store
  // (MASTER_ADDR) asks for a world.
  const bool store_named = var("MASTER_ADDR").has_value();
  Launch launch;
  for (const Names& names : {Names{"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
                             Names{"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
                             Names{"mpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                                   "OMPI_COMM_WORLD_LOCAL_RANK"}}) {
    const std::optional<std::string> size = var(names.size);
    if (!size || (std::string(names.launcher) != "torchrun" && !store_named)) continue;
    launch.launcher = names.launcher;
    launch.size = whole_number(names.size, *size, 1, std::numeric_limits<int>::max());
    const std::optional<std::string> rank = var(names.rank);
    if (!rank)
      throw std::invalid_argument(std::string(names.size) + " is set but " + names.rank +
                                  " is not: a launch sets both");
    launch.rank = whole_number(names.rank, *rank, 0, launch.size - 1);
    if (const std::optional<std::string> local = var(names.local_rank))
      launch.local_rank = whole_number(names.local_rank, *local, 0, launch.size - 1);
    break;
  }
  if (launch.launcher == "none") return launch;
  const std::optional<std::string> addr = var("MASTER_ADDR"), port = var("MASTER_PORT");
  if (!addr || addr->empty() || !port)
    throw std::invalid_argument(
        launch.launcher + "'s launch (" + std::to_string(launch.size) +
        " ranks) needs MASTER_ADDR and MASTER_PORT (the host and port of rank 0's store)");
  launch.master_addr = *addr;
  launch.master_port = whole_number("MASTER_PORT", *port, 1, 65535);
  launch.agent_store = var("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  if (const std::optional<std::string> restarts = var("TORCHELASTIC_RESTART_COUNT"))
    launch.attempt = whole_number("TORCHELASTIC_RESTART_COUNT", *restarts, 0,
                                  std::numeric_limits<int>::max());
  return launch;
}

struct World::Impl {
  c10::intrusive_ptr<c10d::Store> store;  // this job's keys
  c10::intrusive_ptr<c10d::Backend> group;
  std::string where;  // MASTER_ADDR:MASTER_PORT, for messages
  bool hosts_store = false;
  // NCCL reduces only CUDA tensors: host tensors (a step's loss sums) go through this device.
  std::optional<at::Device> staging;
  Clock::time_point last_check;
  // A beat every few seconds under "alive/<rank>": a rank whose beat stops is gone.
  std::thread heartbeat;
  std::mutex mutex;
  std::condition_variable stop_beating;
  bool stopping = false;

};

std::unique_ptr<World> World::connect(const Launch& launch, bool cuda,
                                      std::chrono::seconds timeout) {
  auto world = std::make_unique<World>();
  world->rank_ = launch.rank;
  world->size_ = launch.size;
  world->timeout_ = timeout;
  if (launch.launcher == "none") return world;
  auto impl = std::make_unique<Impl>();
  impl->where = launch.master_addr + ":" + std::to_string(launch.master_port);
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(launch.master_port);
  impl->hosts_store = launch.rank == 0 && !launch.agent_store;
  options.isServer = impl->hosts_store;
  // Every rank counts itself in; the host waits until all have.
  options.numWorkers = static_cast<std::size_t>(launch.size);
  options.waitWorkers = true;
  options.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> root;
  try {
    root = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, options);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(launch.rank) + " of " +
                             std::to_string(launch.size) + " could not meet the others at " +
                             impl->where + " within " + std::to_string(timeout.count()) +
                             " s (--dist-timeout): " + e.what());
  }
  const std::string job = "tttmem/attempt_" + std::to_string(launch.attempt);
  impl->store = c10::make_intrusive<c10d::PrefixStore>(job + "/keys", root);
  const auto group_store = c10::make_intrusive<c10d::PrefixStore>(job + "/group", root);
#ifdef TTTMEM_HAVE_NCCL
  if (cuda) {
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(launch.local_rank));
    auto nccl = c10d::ProcessGroupNCCL::Options::create();
    nccl->timeout = timeout;
    impl->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(group_store, launch.rank,
                                                               launch.size, nccl);
    impl->staging = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank));
    world->backend_ = "nccl";
  }
#else
  if (cuda)
    log::warn("dist: this tttmem was built without NCCL; CUDA tensors go through Gloo (host "
              "copies)");
#endif
  if (!impl->group) {
    impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        group_store, launch.rank, launch.size,
        c10d::ProcessGroupGloo::Options::create_default(timeout));
    world->backend_ = "gloo";
  }
  const std::string alive = key_of("alive", launch.rank);
  impl->store->set(alive, "0");
  const auto beat = std::chrono::milliseconds(std::clamp<std::int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count() / 4, 200, 5000));
  Impl* raw = impl.get();
  impl->heartbeat = std::thread([raw, beat, alive] {
    std::unique_lock lock(raw->mutex);
    for (std::int64_t n = 1; !raw->stop_beating.wait_for(lock, beat, [raw] { return raw->stopping; });
         ++n) {
      try {
        raw->store->set(alive, std::to_string(n));
      } catch (const std::exception&) {
        return;  // the store is gone; the waits say so
      }
    }
  });
  world->impl_ = std::move(impl);
  log::info("dist: rank ", launch.rank, " of ", launch.size, " (", launch.launcher,
            ", local rank ", launch.local_rank, "), ", world->backend_, " process group, store ",
            world->impl_->where);
  return world;
}

World::World() = default;

World::~World() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->stop_beating.notify_all();
  impl_->heartbeat.join();
}

// What went wrong when a collective or the store failed under this rank: a peer's own report if
// it left one, else what this rank saw.
std::optional<PeerFailure> World::reported_failure(const std::string& during) const {
  if (!impl_->store->check({"failure"})) return std::nullopt;
  const std::string failure = to_string(impl_->store->get("failure"));
  impl_->store->add("failure_seen", 1);  // read: rank 0 need not wait for this rank any longer
  return PeerFailure(failure + " (rank " + std::to_string(rank_) + " stopped" +
                     (during.empty() ? "" : " " + during) + ")");
}

PeerFailure World::explain(const std::string& during, const std::string& seen) const {
  const std::string me = "rank " + std::to_string(rank_);
  try {
    if (std::optional<PeerFailure> failure = reported_failure(during)) return *failure;
  } catch (const std::exception&) {
    return PeerFailure(me + " lost the store at " + impl_->where + " " + during +
                       " (rank 0 stopped?): " + seen);
  }
  return PeerFailure(me + ": " + during + " failed: " + seen +
                     " (a rank went away, or did not arrive within --dist-timeout " +
                     std::to_string(timeout_.count()) + " s)");
}

void World::collective(const char* what, std::vector<at::Tensor>& tensors,
                       const std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)>& op) {
  if (!impl_) return;
  for (at::Tensor& tensor : tensors) {
    const bool staged = impl_->staging && tensor.device() != *impl_->staging;
    std::vector<at::Tensor> one{staged ? tensor.to(*impl_->staging) : tensor};
    try {
      op(one)->wait(std::chrono::duration_cast<std::chrono::milliseconds>(timeout_));
    } catch (const std::exception& e) {
      throw explain(std::string("in ") + what, e.what());
    }
    if (staged) tensor.copy_(one[0]);
  }
}

void World::allreduce_sum(std::vector<at::Tensor>& tensors) {
  collective("an all-reduce", tensors,
             [this](std::vector<at::Tensor>& one) { return impl_->group->allreduce(one); });
}

void World::broadcast(std::vector<at::Tensor>& tensors, int root) {
  c10d::BroadcastOptions options;
  options.rootRank = root;
  collective("a broadcast", tensors, [this, options](std::vector<at::Tensor>& one) {
    return impl_->group->broadcast(one, options);
  });
}

void World::average_gradients(const std::vector<at::Tensor>& params, std::int64_t bucket_bytes) {
  if (!impl_) return;
  at::NoGradGuard no_grad;
  // Buckets of gradients sharing a dtype and device, in parameter order (the same on every rank).
  std::vector<std::vector<at::Tensor>> buckets;
  std::int64_t filled = 0;
  for (const at::Tensor& param : params) {
    at::Tensor& grad = const_cast<at::Tensor&>(param).mutable_grad();
    if (!grad.defined()) grad = at::zeros_like(param);
    const std::int64_t bytes = grad.numel() * static_cast<std::int64_t>(grad.element_size());
    const bool fits = !buckets.empty() && filled + bytes <= bucket_bytes &&
                      buckets.back().front().scalar_type() == grad.scalar_type() &&
                      buckets.back().front().device() == grad.device();
    if (!fits) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().push_back(grad);
    filled += bytes;
  }
  for (std::vector<at::Tensor>& bucket : buckets) {
    std::vector<at::Tensor> flat{at::cat([&] {
      std::vector<at::Tensor> views;
      for (const at::Tensor& g : bucket) views.push_back(g.reshape(-1));
      return views;
    }())};
    allreduce_sum(flat);
    flat[0].div_(size_);
    std::int64_t offset = 0;
    for (at::Tensor& g : bucket) {
      g.copy_(flat[0].narrow(0, offset, g.numel()).view_as(g));
      offset += g.numel();
    }
  }
}

std::vector<std::string> World::gather_at_leader(const std::string& stage, const std::string& value) {
  if (!impl_) return {value};
  Impl& impl = *impl_;
  const std::string done = stage + "/done", acks = stage + "/acks";
  try {
    impl.store->set(key_of(stage, rank_), value);
    // Each peer's last beat and when it changed: a rank silent for the timeout is gone.
    std::map<int, std::pair<std::string, Clock::time_point>> beats;
    auto silent = [&](int peer) {
      const std::string key = key_of("alive", peer);
      const std::string beat = impl.store->check({key}) ? to_string(impl.store->get(key)) : "";
      auto [it, added] = beats.try_emplace(peer, beat, Clock::now());
      if (!added && it->second.first != beat) it->second = {beat, Clock::now()};
      return Clock::now() - it->second.second > timeout_;
    };
    while (true) {
      if (std::optional<PeerFailure> failure = reported_failure("waiting at " + stage))
        throw *failure;
      if (!leader()) {
        if (impl.store->check({done})) {
          impl.store->add(acks, 1);
          return {};
        }
        if (silent(0))
          throw PeerFailure("rank 0 has not finished " + stage + " and sent no sign of life for " +
                            std::to_string(timeout_.count()) + " s (--dist-timeout): killed or stuck?");
      } else {
        std::vector<std::string> missing;
        std::string gone;
        for (int peer = 1; peer < size_; ++peer)
          if (!impl.store->check({key_of(stage, peer)})) {
            missing.push_back(key_of(stage, peer));
            if (silent(peer)) gone += (gone.empty() ? "" : ", ") + std::to_string(peer);
          }
        if (!gone.empty())
          throw PeerFailure("rank(s) " + gone + " did not reach " + stage +
                            " and sent no sign of life for " + std::to_string(timeout_.count()) +
                            " s (--dist-timeout): killed or stuck? See their logs");
        if (missing.empty()) break;
      }
      std::this_thread::sleep_for(kPoll);
    }
    std::vector<std::string> values;
    for (int peer = 0; peer < size_; ++peer) values.push_back(to_string(impl.store->get(key_of(stage, peer))));
    impl.store->set(done, "1");
    // The store lives in this process: the others read `done` before it exits.
    const auto until = Clock::now() + std::min<std::chrono::seconds>(timeout_, std::chrono::seconds(30));
    while (impl.store->add(acks, 0) < size_ - 1 && Clock::now() < until) std::this_thread::sleep_for(kPoll);
    return values;
  } catch (const PeerFailure&) {
    throw;
  } catch (const std::exception& e) {
    throw explain("at " + stage, e.what());
  }
}

void World::check_peers() {
  if (!impl_) return;
  const auto now = Clock::now();
  if (now - impl_->last_check < std::chrono::seconds(1)) return;
  impl_->last_check = now;
  std::optional<PeerFailure> failure;
  try {
    failure = reported_failure("");
  } catch (const std::exception& e) {
    throw explain("while working", e.what());
  }
  if (failure) throw *failure;
}

void World::fail(const std::string& what) noexcept {
  if (!impl_) return;
  try {
    const std::string mine = "rank " + std::to_string(rank_) + " failed: " + what;
    if (impl_->store->compareSet("failure", std::string(), mine) != mine)
      return;  // another rank's failure came first
    if (!impl_->hosts_store) return;
    // The store lives in this process: give the others a moment to read why.
    const auto until = Clock::now() + std::chrono::seconds(5);
    while (impl_->store->add("failure_seen", 0) < size_ - 1 && Clock::now() < until)
      std::this_thread::sleep_for(kPoll);
  } catch (...) {
  }
}

}  // namespace tttmem::dist
