// RuntimeHolder<T>: how an agent's workers see the live part of its config.
//
// The main thread (reload, controller push) builds an immutable T from a validated config and
// store()s it; each worker load()s the current one at the start of a batch and so never sees a
// half-applied config. generation() lets a worker skip the load when nothing changed.
//
// Thread-safety: every method from any thread (an atomic shared_ptr and an atomic counter).
// Ownership: snapshots are shared; one stays alive while any worker still holds it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace teredo::agent {

template <class T>
class RuntimeHolder {
 public:
  explicit RuntimeHolder(std::shared_ptr<const T> initial) : current_(std::move(initial)) {}
  RuntimeHolder(const RuntimeHolder&) = delete;
  RuntimeHolder& operator=(const RuntimeHolder&) = delete;

  std::shared_ptr<const T> load() const { return current_.load(std::memory_order_acquire); }
  void store(std::shared_ptr<const T> next) {
    current_.store(std::move(next), std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }
  /// Bumped on every store(); cheaper to compare per batch than loading the pointer.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const T>> current_;
  std::atomic<uint64_t> generation_{1};
};

}  // namespace teredo::agent
