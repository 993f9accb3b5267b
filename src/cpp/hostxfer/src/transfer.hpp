// Host-memory transfer between agents in separate processes, modelled on NIXL's agent API:
// an agent registers memory regions, hands out their metadata, and peers that load the
// metadata read from and write to those regions directly. Regions are POSIX shared memory,
// so a transfer is one memcpy between two processes' mappings, timed here in C++ so the
// figures do not include Python's overhead.
//
// This header and transfer.cpp are plain C++ (no Python); bindings.cpp exposes them to
// Python. Kept apart so that a change to the transfer code recompiles only transfer.cpp:
// the pybind11 translation unit, the slow one to compile, stays a compiler-cache hit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hostxfer {

// A mapping of one shared-memory object; the creator unlinks it when it goes away.
class Region {
 public:
  Region(std::string name, std::size_t size, bool create);
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  ~Region();

  const std::string& name() const { return name_; }
  std::size_t size() const { return size_; }
  std::uint8_t* data() { return data_; }

  // Deterministic content from a seed, so the other side can check what arrived.
  void fill(std::uint64_t seed);
  // FNV-1a over the whole region.
  std::uint64_t checksum() const;

 private:
  std::string name_;
  std::size_t size_;
  bool owner_;
  std::uint8_t* data_ = nullptr;
};

struct TransferStats {
  std::size_t bytes_per_op;
  std::size_t iterations;
  double total_seconds;
  std::vector<double> op_seconds;  // one entry per transfer
};

class Agent {
 public:
  explicit Agent(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }

  // Registers a new region this agent owns; returns its metadata for peers.
  std::shared_ptr<Region> register_region(const std::string& region_name, std::size_t size);
  static std::string metadata(const Region& region);
  // Maps a peer's region from its metadata.
  std::shared_ptr<Region> load_remote(const std::string& metadata);
  // WRITE copies local->remote, READ remote->local; `iterations` transfers of `bytes` each.
  // Touches no Python object: callers may release the GIL around it.
  TransferStats transfer(const std::string& op, Region& local, Region& remote, std::size_t bytes,
                         std::size_t iterations);

 private:
  std::string name_;
  std::vector<std::shared_ptr<Region>> local_;
};

}  // namespace hostxfer
