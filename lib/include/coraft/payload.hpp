// coraft/payload.hpp — immutable, shared bytes: the data of a log entry.
//
// A command is copied once, when proposed; every later copy of the entry
// (the leader's log, each follower's AppendEntries, storage, the applier)
// shares the same bytes through a reference count. This keeps the hot path
// free of per-copy allocations and the memory of a log at one copy per node.
// Invariant: the bytes never change after construction. Copies may be used
// from different threads (the count is atomic).
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace coraft {

class payload {
 public:
  payload() noexcept = default;
  payload(std::string_view bytes) {  // NOLINT: implicit, like std::string
    if (bytes.empty()) return;
    void* mem = ::operator new(sizeof(block) + bytes.size());
    block_ = new (mem) block{{1}, bytes.size()};
    std::memcpy(block_->bytes(), bytes.data(), bytes.size());
  }
  payload(const std::string& s) : payload(std::string_view(s)) {}  // NOLINT
  payload(const char* s) : payload(std::string_view(s)) {}         // NOLINT
  payload(const payload& o) noexcept : block_(o.block_) {
    if (block_ != nullptr) block_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  payload(payload&& o) noexcept : block_(std::exchange(o.block_, nullptr)) {}
  payload& operator=(payload o) noexcept {
    std::swap(block_, o.block_);
    return *this;
  }
  ~payload() { release(); }

  const char* data() const noexcept { return block_ != nullptr ? block_->bytes() : ""; }
  std::size_t size() const noexcept { return block_ != nullptr ? block_->size : 0; }
  bool empty() const noexcept { return size() == 0; }
  std::string_view view() const noexcept { return {data(), size()}; }
  operator std::string_view() const noexcept { return view(); }  // NOLINT
  std::string str() const { return std::string(view()); }
  explicit operator std::string() const { return str(); }

  friend bool operator==(const payload& a, const payload& b) noexcept {
    return a.block_ == b.block_ || a.view() == b.view();
  }
  template <class T>
  requires(std::convertible_to<const T&, std::string_view> && !std::same_as<T, payload>) friend bool operator==(
      const payload& a, const T& b) noexcept {
    return a.view() == std::string_view(b);
  }

 private:
  struct block {
    std::atomic<std::uint32_t> refs;
    std::size_t size;
    char* bytes() noexcept { return reinterpret_cast<char*>(this + 1); }
  };
  void release() noexcept {
    if (block_ != nullptr && block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      block_->~block();
      ::operator delete(block_);
    }
    block_ = nullptr;
  }
  block* block_ = nullptr;
};

}  // namespace coraft
