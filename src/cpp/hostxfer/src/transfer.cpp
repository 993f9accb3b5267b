// The transfer code (see transfer.hpp); no Python here.
#include "transfer.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace hostxfer {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

Region::Region(std::string name, std::size_t size, bool create)
    : name_(std::move(name)), size_(size), owner_(create) {
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

Region::~Region() {
  munmap(data_, size_);
  if (owner_) shm_unlink(name_.c_str());
}

void Region::fill(std::uint64_t seed) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::size_t i = 0; i < size_; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    data_[i] = static_cast<std::uint8_t>(x);
  }
}

std::uint64_t Region::checksum() const {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < size_; ++i) { h ^= data_[i]; h *= 0x100000001b3ull; }
  return h;
}

std::shared_ptr<Region> Agent::register_region(const std::string& region_name, std::size_t size) {
  auto region = std::make_shared<Region>(region_name, size, true);
  local_.push_back(region);
  return region;
}

std::string Agent::metadata(const Region& region) {
  return "hostxfer1 " + region.name() + " " + std::to_string(region.size());
}

std::shared_ptr<Region> Agent::load_remote(const std::string& metadata) {
  const std::string prefix = "hostxfer1 ";
  auto space = metadata.rfind(' ');
  if (metadata.rfind(prefix, 0) != 0 || space == std::string::npos || space < prefix.size())
    throw std::invalid_argument("not hostxfer metadata: '" + metadata + "'");
  std::string region_name = metadata.substr(prefix.size(), space - prefix.size());
  std::size_t size = std::stoull(metadata.substr(space + 1));
  return std::make_shared<Region>(region_name, size, false);
}

TransferStats Agent::transfer(const std::string& op, Region& local, Region& remote,
                              std::size_t bytes, std::size_t iterations) {
  if (op != "WRITE" && op != "READ") throw std::invalid_argument("op must be 'WRITE' or 'READ'");
  if (bytes == 0 || bytes > local.size() || bytes > remote.size())
    throw std::invalid_argument("transfer of " + std::to_string(bytes) + " bytes does not fit the regions");
  if (iterations == 0) throw std::invalid_argument("iterations must be positive");
  std::uint8_t* dst = op == "WRITE" ? remote.data() : local.data();
  const std::uint8_t* src = op == "WRITE" ? local.data() : remote.data();
  TransferStats stats{bytes, iterations, 0.0, {}};
  stats.op_seconds.reserve(iterations);
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

}  // namespace hostxfer
