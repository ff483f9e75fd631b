// Stats declared once per component: one list gives each metric its name, help and labels.
//
// A component lists its counters and gauges ONCE in an X-macro:
/*
  #define TEREDO_SERVER_STATS(COUNTER, GAUGE, LABELED)                                  \
    COUNTER(rsReceived, "teredo_server_router_solicitations_received_total",          \
            "Router Solicitations accepted for processing.")                          \
    GAUGE(clientsTracked, "teredo_server_nat_clients_tracked",                        \
          "Clients in the NAT sketch, summed over workers.")                          \
    LABELED(dropped, "teredo_server_packets_dropped_total",                           \
            "Packets dropped, by reason; see drop_reason.h.", "reason",               \
            ::teredo::DropReason, ::teredo::kDropReasonCount, ::teredo::dropReasonLabel)
  TEREDO_STATS_STRUCT(ServerStats, TEREDO_SERVER_STATS);
*/
// which generates `struct alignas(64) ServerStats` with one field per entry (StatCounter,
// StatGauge, LabeledStatCounter<Enum, N>). A StatsCollectable<ServerStats> owns one instance per
// worker and, at scrape time, emits one Prometheus family per entry with the values summed over
// all workers. Labeled counters emit one series per enumerator (zeros included), labelled
// `labelName="labelFn(e)"`; labels are therefore bounded by construction. Never put an address in
// a label.
//
// Thread-safety: each per-worker struct is written by exactly one thread (its worker), with
// relaxed atomic load+store (no read-modify-write, so no lock prefix on x86). Readers (the scrape,
// the stats report) load with relaxed order: they may see a value that is a few increments old,
// never a torn one. Collect() may run concurrently with the writers.
// Ownership: StatsCollectable owns the per-worker structs; references returned by worker() stay
// valid for the collectable's lifetime.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace teredo::agent {

/// A monotonically increasing counter with one writer thread.
class StatCounter {
 public:
  /// Adds `n`. Only the owning worker thread may call this.
  void inc(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  /// Any thread.
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

/// A gauge with one writer thread; values of all workers are summed when scraped.
class StatGauge {
 public:
  void set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void add(int64_t d) {
    v_.store(v_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

/// A counter per enumerator of a bounded enum `E` with `N` enumerators 0..N-1. An enumerator at
/// or past N is not a label (e.g. DropReason::None, "no drop"): inc() ignores it and value()
/// reports 0 for it.
template <class E, size_t N>
class LabeledStatCounter {
 public:
  static constexpr size_t kSize = N;
  void inc(E e, uint64_t n = 1) {
    const auto i = static_cast<size_t>(e);
    if (i < N) {
      slots_[i].inc(n);
    }
  }
  uint64_t value(E e) const {
    const auto i = static_cast<size_t>(e);
    return i < N ? slots_[i].value() : 0;
  }
  uint64_t valueAt(size_t i) const { return slots_[i].value(); }

 private:
  std::array<StatCounter, N> slots_{};
};

/// Maps an enumerator index to its label value.
using StatLabelFn = std::string_view (*)(size_t index);

// ---- generators -------------------------------------------------------------------------

#define TEREDO_STATS_FIELD_COUNTER_(field, name, help) ::teredo::agent::StatCounter field;
#define TEREDO_STATS_FIELD_GAUGE_(field, name, help) ::teredo::agent::StatGauge field;
#define TEREDO_STATS_FIELD_LABELED_(field, name, help, labelName, Enum, count, labelFn) \
  ::teredo::agent::LabeledStatCounter<Enum, count> field;

#define TEREDO_STATS_VISIT_COUNTER_(field, name, help) v.counter(name, help, &Self::field);
#define TEREDO_STATS_VISIT_GAUGE_(field, name, help) v.gauge(name, help, &Self::field);
#define TEREDO_STATS_VISIT_LABELED_(field, name, help, labelName, Enum, count, labelFn) \
  v.labeled(                                                                            \
      name, help, labelName,                                                            \
      +[](size_t i) -> std::string_view { return labelFn(static_cast<Enum>(i)); }, &Self::field);

/// Generates `struct alignas(64) StructName` from the X-macro `LIST(COUNTER, GAUGE, LABELED)`.
/// The struct also gets `template <class V> static void visitFields(V& v)`, which calls
/// v.counter(name, help, memberPtr), v.gauge(...) or v.labeled(name, help, labelName, labelFn,
/// memberPtr) for each entry, in list order.
#define TEREDO_STATS_STRUCT(StructName, LIST)                                                   \
  struct alignas(64) StructName {                                                               \
    using Self = StructName;                                                                    \
    LIST(TEREDO_STATS_FIELD_COUNTER_, TEREDO_STATS_FIELD_GAUGE_, TEREDO_STATS_FIELD_LABELED_)   \
    template <class V>                                                                          \
    static void visitFields(V& v) {                                                             \
      LIST(TEREDO_STATS_VISIT_COUNTER_, TEREDO_STATS_VISIT_GAUGE_, TEREDO_STATS_VISIT_LABELED_) \
    }                                                                                           \
  }

// ---- collection ------------------------------------------------------------------------

/// Owns one `Stats` per worker and exposes their sums to Prometheus.
///
/// Thread-safety: worker(i) references are used by worker i only; sum*() and Collect() may be
/// called from any thread at any time. Construction is not thread-safe.
/// Ownership: owns the per-worker structs (heap, 64-byte aligned, never moved).
template <class Stats>
class StatsCollectable : public prometheus::Collectable {
 public:
  /// `workers` >= 1 instances. `constLabels` (bounded values only, e.g. {"role","relay"}) are
  /// added to every series.
  explicit StatsCollectable(size_t workers,
                            std::vector<prometheus::ClientMetric::Label> constLabels = {})
      : constLabels_(std::move(constLabels)) {
    assert(workers >= 1);
    workers_.reserve(workers);
    for (size_t i = 0; i < workers; ++i) {
      workers_.push_back(std::make_unique<Stats>());
    }
  }

  size_t workerCount() const { return workers_.size(); }
  Stats& worker(size_t i) { return *workers_[i]; }
  const Stats& worker(size_t i) const { return *workers_[i]; }

  uint64_t sum(StatCounter Stats::*m) const {
    uint64_t s = 0;
    for (const auto& w : workers_) {
      s += ((*w).*m).value();
    }
    return s;
  }
  int64_t sum(StatGauge Stats::*m) const {
    int64_t s = 0;
    for (const auto& w : workers_) {
      s += ((*w).*m).value();
    }
    return s;
  }
  template <class E, size_t N>
  uint64_t sum(LabeledStatCounter<E, N> Stats::*m, E e) const {
    uint64_t s = 0;
    for (const auto& w : workers_) {
      s += ((*w).*m).value(e);
    }
    return s;
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    Collector c{*this, {}};
    Stats::visitFields(c);
    return std::move(c.out);
  }

 private:
  struct Collector {
    const StatsCollectable& self;
    std::vector<prometheus::MetricFamily> out;

    prometheus::MetricFamily& family(const char* name, const char* help,
                                     prometheus::MetricType type) {
      out.push_back(prometheus::MetricFamily{name, help, type, {}});
      return out.back();
    }
    prometheus::ClientMetric metric() const {
      prometheus::ClientMetric m;
      m.label = self.constLabels_;
      return m;
    }
    void counter(const char* name, const char* help, StatCounter Stats::*m) {
      auto& f = family(name, help, prometheus::MetricType::Counter);
      auto cm = metric();
      cm.counter.value = static_cast<double>(self.sum(m));
      f.metric.push_back(std::move(cm));
    }
    void gauge(const char* name, const char* help, StatGauge Stats::*m) {
      auto& f = family(name, help, prometheus::MetricType::Gauge);
      auto cm = metric();
      cm.gauge.value = static_cast<double>(self.sum(m));
      f.metric.push_back(std::move(cm));
    }
    template <class E, size_t N>
    void labeled(const char* name, const char* help, const char* labelName, StatLabelFn fn,
                 LabeledStatCounter<E, N> Stats::*m) {
      auto& f = family(name, help, prometheus::MetricType::Counter);
      f.metric.reserve(N);
      for (size_t i = 0; i < N; ++i) {
        uint64_t s = 0;
        for (const auto& w : self.workers_) {
          s += ((*w).*m).valueAt(i);
        }
        auto cm = metric();
        cm.label.push_back({labelName, std::string(fn(i))});
        cm.counter.value = static_cast<double>(s);
        f.metric.push_back(std::move(cm));
      }
    }
  };

  std::vector<std::unique_ptr<Stats>> workers_;
  std::vector<prometheus::ClientMetric::Label> constLabels_;
};

}  // namespace teredo::agent
