// Host-memory transfer between agents in separate processes, modelled on NIXL's agent API:
// an agent registers memory regions, hands out their metadata, and peers that load the
// metadata read from and write to those regions directly. Regions are POSIX shared memory,
// so a transfer is one memcpy between two processes' mappings, timed here in C++ so the
// figures do not include Python's overhead.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// A mapping of one shared-memory object; the creator unlinks it when it goes away.
class Region {
 public:
  Region(std::string name, std::size_t size, bool create) : name_(std::move(name)), size_(size), owner_(create) {
    if (name_.empty() || name_[0] != '/' || name_.find('/', 1) != std::string::npos)
      throw std::invalid_argument("region name must look like '/name', got '" + name_ + "'");
    if (size_ == 0) throw std::invalid_argument("region size must be positive");
    int fd = shm_open(name_.c_str(), create ? (O_CREAT | O_EXCL | O_RDWR) : O_RDWR, 0600);
    if (fd < 0) fail("shm_open " + name_);
    if (create && ftruncate(fd, static_cast<off_t>(size_)) != 0) {
      int saved = errno;
      close(fd);
      shm_unlink(name_.c_str());
      errno = saved;
      fail("ftruncate " + name_ + " (is /dev/shm large enough?)");
    }
    struct stat st {};
    if (fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < size_) {
      close(fd);
      throw std::runtime_error("region " + name_ + " is smaller than " + std::to_string(size_) + " bytes");
    }
    void* addr = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (addr == MAP_FAILED) fail("mmap " + name_);
    data_ = static_cast<std::uint8_t*>(addr);
  }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  ~Region() {
    munmap(data_, size_);
    if (owner_) shm_unlink(name_.c_str());
  }

  const std::string& name() const { return name_; }
  std::size_t size() const { return size_; }
  std::uint8_t* data() { return data_; }

  // Deterministic content from a seed, so the other side can check what arrived.
  void fill(std::uint64_t seed) {
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (std::size_t i = 0; i < size_; ++i) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      data_[i] = static_cast<std::uint8_t>(x);
    }
  }

  // FNV-1a over the whole region.
  std::uint64_t checksum() const {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < size_; ++i) { h ^= data_[i]; h *= 0x100000001b3ull; }
    return h;
  }

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
  std::shared_ptr<Region> register_region(const std::string& region_name, std::size_t size) {
    auto region = std::make_shared<Region>(region_name, size, true);
    local_.push_back(region);
    return region;
  }

  static std::string metadata(const Region& region) {
    return "hostxfer1 " + region.name() + " " + std::to_string(region.size());
  }

  // Maps a peer's region from its metadata.
  std::shared_ptr<Region> load_remote(const std::string& metadata) {
    const std::string prefix = "hostxfer1 ";
    auto space = metadata.rfind(' ');
    if (metadata.rfind(prefix, 0) != 0 || space == std::string::npos || space < prefix.size())
      throw std::invalid_argument("not hostxfer metadata: '" + metadata + "'");
    std::string region_name = metadata.substr(prefix.size(), space - prefix.size());
    std::size_t size = std::stoull(metadata.substr(space + 1));
    return std::make_shared<Region>(region_name, size, false);
  }

  // WRITE copies local→remote, READ remote→local; `iterations` transfers of `bytes` each.
  TransferStats transfer(const std::string& op, Region& local, Region& remote, std::size_t bytes,
                         std::size_t iterations) {
    if (op != "WRITE" && op != "READ") throw std::invalid_argument("op must be 'WRITE' or 'READ'");
    if (bytes == 0 || bytes > local.size() || bytes > remote.size())
      throw std::invalid_argument("transfer of " + std::to_string(bytes) + " bytes does not fit the regions");
    if (iterations == 0) throw std::invalid_argument("iterations must be positive");
    std::uint8_t* dst = op == "WRITE" ? remote.data() : local.data();
    const std::uint8_t* src = op == "WRITE" ? local.data() : remote.data();
    TransferStats stats{bytes, iterations, 0.0, {}};
    stats.op_seconds.reserve(iterations);
    py::gil_scoped_release release;
    auto begin = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < iterations; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      std::memcpy(dst, src, bytes);
      std::atomic_thread_fence(std::memory_order_release);
      stats.op_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    stats.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    return stats;
  }

 private:
  std::string name_;
  std::vector<std::shared_ptr<Region>> local_;
};

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "Host-memory transfers between agents in separate processes (shared memory).";
  py::class_<Region, std::shared_ptr<Region>>(m, "Region")
      .def_property_readonly("name", &Region::name)
      .def_property_readonly("size", &Region::size)
      .def("fill", &Region::fill, py::arg("seed"))
      .def("checksum", &Region::checksum);
  py::class_<TransferStats>(m, "TransferStats")
      .def_readonly("bytes_per_op", &TransferStats::bytes_per_op)
      .def_readonly("iterations", &TransferStats::iterations)
      .def_readonly("total_seconds", &TransferStats::total_seconds)
      .def_readonly("op_seconds", &TransferStats::op_seconds);
  py::class_<Agent>(m, "Agent")
      .def(py::init<std::string>(), py::arg("name"))
      .def_property_readonly("name", &Agent::name)
      .def("register_region", &Agent::register_region, py::arg("region_name"), py::arg("size"))
      .def_static("metadata", &Agent::metadata, py::arg("region"))
      .def("load_remote", &Agent::load_remote, py::arg("metadata"))
      .def("transfer", &Agent::transfer, py::arg("op"), py::arg("local"), py::arg("remote"),
           py::arg("bytes"), py::arg("iterations") = 1);
}
