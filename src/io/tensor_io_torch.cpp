// safetensors <-> at::Tensor: zero-copy CPU views, owned copies (GPU via pinned staging), saving.
#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <sys/mman.h>

#include <array>
#include <cstring>

#include "tttmem/tensor_io.h"

namespace tttmem::io {

namespace {

// Large enough that per-copy overhead vanishes against PCIe time, small enough that two
// buffers (double buffering) stay a negligible share of host memory.
constexpr std::size_t kStagingBytes = std::size_t{64} << 20;

std::string describe(const TensorView& view) {
  return view.file.string() + ": tensor '" + view.name + "'";
}

// An owned host copy of mapped bytes. Page faults, not the copy, dominate a naive memcpy into a
// fresh allocation: the destination is asked for transparent huge pages (512x fewer faults) and
// the source's page-table entries are filled in one call instead of one fault per 64 KiB.
// Both are hints: when the kernel declines, the copy is merely slower.
// Large tensors are split across torch's intra-op threads, which fault and zero in parallel too.
void copy_to_host(void* dst, const std::byte* src, std::size_t nbytes) {
  constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20, kPage = 4096;
  const auto d = reinterpret_cast<std::uintptr_t>(dst);
  const std::uintptr_t huge_begin = (d + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t huge_end = (d + nbytes) & ~(kHugePage - 1);
  if (huge_end > huge_begin)
    ::madvise(reinterpret_cast<void*>(huge_begin), huge_end - huge_begin, MADV_HUGEPAGE);
  constexpr std::int64_t kSlice = std::int64_t{8} << 20;  // bytes per parallel work item
  const auto slices = static_cast<std::int64_t>((nbytes + kSlice - 1) / kSlice);
  at::parallel_for(0, slices, 1, [&](std::int64_t first, std::int64_t last) {
    const std::size_t begin = static_cast<std::size_t>(first * kSlice);
    const std::size_t end = std::min(nbytes, static_cast<std::size_t>(last * kSlice));
#ifdef MADV_POPULATE_READ
    const auto s = reinterpret_cast<std::uintptr_t>(src + begin);
    const std::uintptr_t src_begin = s & ~(kPage - 1);
    ::madvise(reinterpret_cast<void*>(src_begin), s + (end - begin) - src_begin, MADV_POPULATE_READ);
#endif
    std::memcpy(static_cast<char*>(dst) + begin, src + begin, end - begin);
  });
}

// Host -> device through two pinned buffers: the memcpy into one overlaps the DMA of the other.
void copy_to_cuda(const TensorView& view, void* device_ptr, const at::Device& device) {
  const auto byte_opts = at::TensorOptions().dtype(at::kByte);
  const std::size_t chunk = std::min(kStagingBytes, view.nbytes);
  const at::Tensor dst = at::from_blob(device_ptr, {static_cast<std::int64_t>(view.nbytes)},
                                       byte_opts.device(device));
  std::array<at::Tensor, 2> pinned;
  for (auto& p : pinned) p = at::empty({static_cast<std::int64_t>(chunk)}, byte_opts.pinned_memory(true));
  const c10::Stream stream = c10::impl::VirtualGuardImpl(c10::DeviceType::CUDA).getStream(device);
  std::array<c10::Event, 2> done{c10::Event(c10::DeviceType::CUDA), c10::Event(c10::DeviceType::CUDA)};
  std::array<bool, 2> in_flight{false, false};
  std::size_t k = 0;
  for (std::size_t off = 0; off < view.nbytes; off += chunk, k ^= 1) {
    const std::size_t len = std::min(chunk, view.nbytes - off);
    if (in_flight[k]) done[k].synchronize();
    std::memcpy(pinned[k].data_ptr(), view.data + off, len);
    const auto n = static_cast<std::int64_t>(len);
    dst.narrow(0, static_cast<std::int64_t>(off), n).copy_(pinned[k].narrow(0, 0, n), /*non_blocking=*/true);
    done[k].record(stream);
    in_flight[k] = true;
  }
  for (std::size_t i = 0; i < 2; ++i)
    if (in_flight[i]) done[i].synchronize();
}

}  // namespace

at::Tensor as_tensor(const TensorView& view) {
  // from_blob wants a mutable pointer; the mapping is PROT_READ, so a write would fault rather
  // than corrupt the file.
  return at::from_blob(const_cast<std::byte*>(view.data), view.shape,
                       at::TensorOptions().dtype(to_scalar_type(view.dtype)));
}

at::Tensor load_tensor(const TensorView& view, const at::Device& device, at::ScalarType dtype) {
  // Integer or BOOL bytes read as weights would be converted to meaningless floats.
  const bool float_view = view.dtype == DType::BF16 || view.dtype == DType::F16 ||
                          view.dtype == DType::F32 || view.dtype == DType::F64;
  if (at::isFloatingType(dtype) && !float_view)
    throw IoError(describe(view) + " is " + std::string(dtype_name(view.dtype)) +
                  ", expected a floating-point tensor (BF16, F16, F32 or F64)");
  const auto opts = at::TensorOptions().dtype(to_scalar_type(view.dtype));
  at::Tensor out;
  if (device.is_cpu()) {
    out = at::empty(view.shape, opts);
    if (view.nbytes > 0) copy_to_host(out.data_ptr(), view.data, view.nbytes);
  } else if (device.is_cuda()) {
    if (!at::hasCUDA())
      throw IoError(describe(view) + ": cannot load to " + device.str() + ": no CUDA device");
    const c10::DeviceGuard guard(device);
    out = at::empty(view.shape, opts.device(device));
    if (view.nbytes > 0) copy_to_cuda(view, out.data_ptr(), out.device());
  } else {
    throw IoError(describe(view) + ": cannot load to device " + device.str() +
                  " (expected cpu or cuda)");
  }
  return out.scalar_type() == dtype ? out : out.to(dtype);
}

namespace {

// Contiguous CPU copies (kept alive by the caller) and the byte views the writer takes.
struct Prepared {
  std::vector<at::Tensor> keep;
  std::vector<TensorBytes> bytes;
  std::map<std::string, std::string> metadata;
};

Prepared prepare(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  Prepared p;
  p.keep.reserve(tensors.size());
  p.bytes.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) throw IoError("tensor '" + name + "' is undefined");
    const at::Tensor& t = p.keep.emplace_back(tensor.to(at::kCPU).contiguous());
    p.bytes.push_back(TensorBytes{name, from_scalar_type(t.scalar_type()),
                                  std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end()),
                                  t.data_ptr(), t.nbytes()});
  }
  // transformers refuses safetensors files without a known "format".
  p.metadata = metadata;
  p.metadata.emplace("format", "pt");
  return p;
}

}  // namespace

void save_tensors(const std::filesystem::path& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata) {
  const Prepared p = prepare(tensors, metadata);
  write_safetensors(path, p.bytes, p.metadata);
}

void save_checkpoint(const std::filesystem::path& dir, const NamedTensors& tensors,
                     const ShardSplit& split, const std::map<std::string, std::string>& metadata) {
  const Prepared p = prepare(tensors, metadata);
  write_checkpoint(dir, p.bytes, split, p.metadata);
}

NamedTensors load_tensors(const std::filesystem::path& file, const at::Device& device) {
  const auto st = SafetensorsFile::open(file);
  NamedTensors out;
  out.reserve(st->tensors().size());
  for (const auto& view : st->tensors())
    out.emplace_back(view.name, load_tensor(view, device, to_scalar_type(view.dtype)));
  return out;
}

}  // namespace tttmem::io
