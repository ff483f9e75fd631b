// A fixed-capacity, set-associative map for per-source state on the packet path (rate limiter
// buckets, NAT observations). All memory is allocated once at construction; lookups never
// allocate. When a set is full, the least recently touched entry of that set is replaced, so an
// attacker who sprays sources (spoofed or not) recycles entries instead of growing memory.
//
// Why not Judy here: JudyL allocates inside inserts, which the data-path rule forbids, and its
// memory grows with the number of sources seen. This table's size is a config value.
// The slots come zeroed from calloc, so the kernel backs a page only once a source lands in it:
// an idle server with a large table costs no resident memory for it.
//
// Thread-safety: none; one owner (one worker, or a shard guarded by the caller's lock).
// Ownership: owns its entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

namespace teredo {

template <class Value, size_t Ways = 4>
class BoundedTable {
 public:
  /// `capacity` is rounded up to a power-of-two number of sets of `Ways` entries (minimum 1 set).
  explicit BoundedTable(size_t capacity) {
    size_t sets = 1;
    while (sets * Ways < capacity) {
      sets <<= 1;
    }
    sets_ = sets;
    // An all-zero Slot is a valid empty slot (aggregates are implicit-lifetime types).
    static_assert(std::is_aggregate_v<Slot> && std::is_trivially_copyable_v<Slot>);
    slots_.reset(static_cast<Slot*>(std::calloc(sets * Ways, sizeof(Slot))));
    if (!slots_) {
      throw std::bad_alloc();  // at construction (start-up or reload), never per packet
    }
  }

  size_t capacity() const { return sets_ * Ways; }
  size_t size() const { return used_; }
  uint64_t evictions() const { return evictions_; }

  /// Finds `key`; `now` marks it as recently used. nullptr when absent.
  Value* find(uint64_t key, uint64_t now) {
    Slot* set = setOf(key);
    for (size_t i = 0; i < Ways; ++i) {
      if (set[i].used && set[i].key == key) {
        set[i].touched = now;
        return &set[i].value;
      }
    }
    return nullptr;
  }

  /// Finds `key` or makes room for it (replacing the set's least recently used entry). `fresh`
  /// is set when the returned value was just default-initialised.
  Value& findOrInsert(uint64_t key, uint64_t now, bool& fresh) {
    Slot* set = setOf(key);
    Slot* victim = nullptr;
    for (size_t i = 0; i < Ways; ++i) {
      Slot& s = set[i];
      if (s.used && s.key == key) {
        s.touched = now;
        fresh = false;
        return s.value;
      }
      if (!s.used) {
        if (victim == nullptr || victim->used) {
          victim = &s;
        }
      } else if (victim == nullptr || (victim->used && s.touched < victim->touched)) {
        victim = &s;
      }
    }
    if (victim->used) {
      ++evictions_;
    } else {
      ++used_;
    }
    victim->used = true;
    victim->key = key;
    victim->touched = now;
    victim->value = Value{};
    fresh = true;
    return victim->value;
  }

  /// Visits every entry: fn(key, value&, touched). Returning true from fn erases the entry.
  template <class Fn>
  void sweep(Fn&& fn) {
    for (size_t i = 0; i < sets_ * Ways; ++i) {
      Slot& s = slots_[i];
      if (s.used && fn(s.key, s.value, s.touched)) {
        s.used = false;
        --used_;
      }
    }
  }

  /// Bytes of memory held, for the published per-entry cost.
  size_t memoryBytes() const { return sizeof(*this) + sets_ * Ways * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t key = 0;
    uint64_t touched = 0;
    Value value{};
    bool used = false;
  };

  Slot* setOf(uint64_t key) {
    // Multiplicative hashing (Fibonacci) spreads adjacent addresses over sets.
    const uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return &slots_[((h >> 32) & (sets_ - 1)) * Ways];
  }

  size_t sets_ = 1;
  size_t used_ = 0;
  uint64_t evictions_ = 0;
  struct Free {
    void operator()(Slot* p) const { std::free(p); }
  };
  std::unique_ptr<Slot[], Free> slots_;
};

}  // namespace teredo
