// KVCache: preallocated per-layer keys/values plus which slots hold real tokens.
#include <ATen/ATen.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>

#include "tttmem/model.h"

namespace tttmem::model {

KVCache::KVCache(std::int64_t num_layers, std::int64_t batch, std::int64_t kv_heads,
                 std::int64_t capacity, std::int64_t head_dim, at::ScalarType dtype,
                 at::Device device)
    : batch_(batch), capacity_(capacity) {
  if (num_layers <= 0 || batch <= 0 || kv_heads <= 0 || capacity <= 0 || head_dim <= 0)
    throw std::invalid_argument("KVCache: layers, batch, kv_heads, capacity and head_dim must be "
                                "positive, got capacity " + std::to_string(capacity) +
                                " and batch " + std::to_string(batch));
  const auto options = at::TensorOptions().dtype(dtype).device(device);
  // Zeros, not empty: a masked slot still enters P V with weight 0, and 0 x NaN (uninitialised
  // memory) is NaN. Slots a row never wrote are read as padding after assign_row.
  for (std::int64_t i = 0; i < num_layers; ++i) {
    keys_.push_back(at::zeros({batch, kv_heads, capacity, head_dim}, options));
    values_.push_back(at::zeros({batch, kv_heads, capacity, head_dim}, options));
  }
  valid_ = at::zeros({batch, capacity}, options.dtype(at::kBool));
  valid_host_ = at::zeros({batch, capacity}, at::TensorOptions().dtype(at::kBool));
  real_counts_ = at::zeros({batch}, options.dtype(at::kLong));
}

std::pair<at::Tensor, at::Tensor> KVCache::write(std::int64_t layer, const at::Tensor& k,
                                                 const at::Tensor& v) {
  const std::int64_t L = k.size(2);
  if (layer < 0 || layer >= num_layers())
    throw std::out_of_range("KVCache::write: layer " + std::to_string(layer) + " of " +
                            std::to_string(num_layers()));
  if (length_ + L > capacity_)
    throw std::length_error("KVCache::write: " + std::to_string(length_) + " cached + " +
                            std::to_string(L) + " new tokens exceed the capacity " +
                            std::to_string(capacity_));
  at::Tensor& keys = keys_[static_cast<std::size_t>(layer)];
  at::Tensor& values = values_[static_cast<std::size_t>(layer)];
  if (out_of_place_) {
    const std::int64_t after = capacity_ - length_ - L;
    auto splice = [&](const at::Tensor& buffer, const at::Tensor& fresh) {
      return at::cat({buffer.narrow(2, 0, length_), fresh.to(buffer.scalar_type()),
                      buffer.narrow(2, length_ + L, after)}, 2);
    };
    keys = splice(keys, k);
    values = splice(values, v);
    std::pair<at::Tensor, at::Tensor> filled{keys.narrow(2, 0, length_ + L),
                                             values.narrow(2, 0, length_ + L)};
    if (!keep_graph_) {
      keys = keys.detach();
      values = values.detach();
    }
    return filled;
  }
  keys.narrow(2, length_, L).copy_(k);
  values.narrow(2, length_, L).copy_(v);
  return {keys.narrow(2, 0, length_ + L), values.narrow(2, 0, length_ + L)};
}

void KVCache::advance(const at::Tensor& new_valid_host) {
  const std::int64_t L = new_valid_host.size(1);
  if (length_ + L > capacity_)
    throw std::length_error("KVCache::advance: past the capacity " + std::to_string(capacity_));
  valid_host_.narrow(1, length_, L).copy_(new_valid_host);
  const at::Tensor slots = valid_.narrow(1, length_, L);
  const bool all_real = new_valid_host.all().item<bool>();  // host tensor
  // A decode step's slots are all real: filled on the device, since an upload from pageable
  // host memory waits for the GPU's queue.
  if (all_real)
    slots.fill_(true);
  else
    slots.copy_(new_valid_host, /*non_blocking=*/true);
  real_counts_ += slots.sum(1);
  if (!all_real) padded_ = true;
  length_ += L;
}

std::pair<at::Tensor, at::Tensor> KVCache::slots(std::int64_t layer, std::int64_t from,
                                                 std::int64_t count) const {
  if (layer < 0 || layer >= num_layers() || from < 0 || count < 0 || from + count > length_)
    throw std::out_of_range("KVCache::slots: layer " + std::to_string(layer) + " slots [" +
                            std::to_string(from) + ", " + std::to_string(from + count) +
                            ") of " + std::to_string(num_layers()) + " layers and " +
                            std::to_string(length_) + " filled slots");
  return {keys_[static_cast<std::size_t>(layer)].narrow(2, from, count),
          values_[static_cast<std::size_t>(layer)].narrow(2, from, count)};
}

bool KVCache::host_padded() const {
  return length_ > 0 && !valid_host_.narrow(1, 0, length_).all().item<bool>();  // host tensor
}

void KVCache::crop(std::int64_t length) {
  if (length < 0 || length > length_)
    throw std::out_of_range("KVCache::crop: length " + std::to_string(length) +
                            " outside [0, " + std::to_string(length_) + "]");
  length_ = length;
  valid_.narrow(1, length_, capacity_ - length_).fill_(false);
  valid_host_.narrow(1, length_, capacity_ - length_).fill_(false);
  real_counts_ = valid_.sum(1);
  padded_ = host_padded();
}

void KVCache::assign_row(std::int64_t row, const KVCache& source, std::int64_t source_row) {
  const std::int64_t n = source.length_;
  if (row < 0 || row >= batch_ || source_row < 0 || source_row >= source.batch_)
    throw std::out_of_range("KVCache::assign_row: row " + std::to_string(row) + " of " +
                            std::to_string(batch_) + " from row " + std::to_string(source_row) +
                            " of " + std::to_string(source.batch_));
  if (n > capacity_ || source.num_layers() != num_layers())
    throw std::length_error("KVCache::assign_row: " + std::to_string(n) + " slots of " +
                            std::to_string(source.num_layers()) + " layers into a cache of " +
                            "capacity " + std::to_string(capacity_) + " and " +
                            std::to_string(num_layers()) + " layers");
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    keys_[i][row].narrow(1, 0, n).copy_(source.keys_[i][source_row].narrow(1, 0, n));
    values_[i][row].narrow(1, 0, n).copy_(source.values_[i][source_row].narrow(1, 0, n));
  }
  valid_[row].fill_(false);
  valid_[row].narrow(0, 0, n).copy_(source.valid_[source_row].narrow(0, 0, n));
  valid_host_[row].fill_(false);
  valid_host_[row].narrow(0, 0, n).copy_(source.valid_host_[source_row].narrow(0, 0, n));
  real_counts_[row].copy_(source.real_counts_[source_row]);
  length_ = std::max(length_, n);
  padded_ = host_padded();
}

void KVCache::compact() {
  if (!padded_) return;
  // A stable sort of "not valid" puts each row's real slots first, in their order; computed
  // from the host mirror, so nothing is read back from the device.
  const at::Tensor order_host = std::get<1>(valid_host_.logical_not().to(at::kInt).sort(
      std::optional<bool>(true), /*dim=*/1, /*descending=*/false));
  const std::int64_t longest = valid_host_.sum(1).max().item<std::int64_t>();  // host tensor
  const at::Tensor order = order_host.to(valid_.device(), /*non_blocking=*/true);
  for (auto* list : {&keys_, &values_})
    for (at::Tensor& t : *list) {
      const at::Tensor index = order.view({batch_, 1, capacity_, 1}).expand_as(t);
      t = t.gather(2, index);
    }
  valid_ = valid_.gather(1, order);
  valid_host_ = valid_host_.gather(1, order_host);
  length_ = longest;
  padded_ = host_padded();
}

void KVCache::set_out_of_place(bool keep_graph) {
  out_of_place_ = true;
  keep_graph_ = keep_graph;
}

KVCache KVCache::clone() const {
  KVCache copy;
  for (const at::Tensor& k : keys_) copy.keys_.push_back(k.clone());
  for (const at::Tensor& v : values_) copy.values_.push_back(v.clone());
  copy.valid_ = valid_.clone();
  copy.valid_host_ = valid_host_.clone();
  copy.real_counts_ = real_counts_.clone();
  copy.batch_ = batch_;
  copy.capacity_ = capacity_;
  copy.length_ = length_;
  copy.padded_ = padded_;
  copy.out_of_place_ = out_of_place_;
  copy.keep_graph_ = keep_graph_;
  return copy;
}

void KVCache::reset() { crop(0); }

void KVCache::release() {
  *this = KVCache();
}

}  // namespace tttmem::model
