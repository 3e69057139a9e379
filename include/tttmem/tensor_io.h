// io, torch side: safetensors tensors as at::Tensor and back.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tttmem/io.h"

namespace tttmem::io {

at::ScalarType to_scalar_type(DType dtype);
DType from_scalar_type(at::ScalarType type);  // throws IoError for types safetensors lacks

// Zero-copy CPU tensor over the mapped bytes (read-only: never write through it). The owner of
// the view (Checkpoint / SafetensorsFile) must outlive the tensor.
at::Tensor as_tensor(const TensorView& view);

// A copy on `device` in `dtype`; GPU copies go through pinned staging buffers in large chunks.
// A floating `dtype` needs a floating view: integer or BOOL bytes are an IoError, not converted.
at::Tensor load_tensor(const TensorView& view, const at::Device& device, at::ScalarType dtype);

// Named tensors, in the order they are written. Tensors are made contiguous on the CPU first.
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
void save_tensors(const std::filesystem::path& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata = {});
void save_checkpoint(const std::filesystem::path& dir, const NamedTensors& tensors, const ShardSplit& split,
                     const std::map<std::string, std::string>& metadata = {});
NamedTensors load_tensors(const std::filesystem::path& file, const at::Device& device);

}  // namespace tttmem::io
