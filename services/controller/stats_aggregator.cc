#include "stats_aggregator.h"

#include <cmath>
#include <set>
#include <string_view>

#include <google/protobuf/message.h>

#include "teredo/drop_reason.h"

namespace teredo::controller {

using teredo::v1::Role;

namespace {

// ----- Counter arithmetic over StatsCounters (reflection: every scalar is a uint64 counter) ---

const std::set<std::string_view>& knownDropLabels() {
  static const std::set<std::string_view> labels = [] {
    std::set<std::string_view> s;
    for (size_t i = 0; i < kDropReasonCount; ++i) {
      s.insert(dropReasonLabel(static_cast<DropReason>(i)));
    }
    return s;
  }();
  return labels;
}

bool anyDecrease(const google::protobuf::Message& now, const google::protobuf::Message& before) {
  const auto* desc = now.GetDescriptor();
  const auto* rn = now.GetReflection();
  const auto* rb = before.GetReflection();
  for (int i = 0; i < desc->field_count(); ++i) {
    const auto* f = desc->field(i);
    if (f->is_map() || f->is_repeated()) {
      continue;  // drops: handled by the caller
    }
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (anyDecrease(rn->GetMessage(now, f), rb->GetMessage(before, f))) {
        return true;
      }
    } else if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_UINT64) {
      if (rn->GetUInt64(now, f) < rb->GetUInt64(before, f)) {
        return true;
      }
    }
  }
  return false;
}

// acc += now - base, field by field (caller guarantees now >= base).
void addDiff(google::protobuf::Message* acc, const google::protobuf::Message& now,
             const google::protobuf::Message* base) {
  const auto* desc = now.GetDescriptor();
  const auto* ra = acc->GetReflection();
  const auto* rn = now.GetReflection();
  for (int i = 0; i < desc->field_count(); ++i) {
    const auto* f = desc->field(i);
    if (f->is_map() || f->is_repeated()) {
      continue;
    }
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (!rn->HasField(now, f)) {
        continue;
      }
      const google::protobuf::Message* b =
          base != nullptr ? &base->GetReflection()->GetMessage(*base, f) : nullptr;
      addDiff(ra->MutableMessage(acc, f), rn->GetMessage(now, f), b);
    } else if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_UINT64) {
      const uint64_t b = base != nullptr ? base->GetReflection()->GetUInt64(*base, f) : 0;
      ra->SetUInt64(acc, f, ra->GetUInt64(*acc, f) + (rn->GetUInt64(now, f) - b));
    }
  }
}

void addCounters(teredo::v1::StatsCounters* acc, const teredo::v1::StatsCounters& now,
                 const teredo::v1::StatsCounters* base) {
  addDiff(acc, now, base);
  for (const auto& [label, value] : now.drops()) {
    if (knownDropLabels().count(label) == 0) {
      continue;  // bounded labels only: unknown reasons are not aggregated
    }
    uint64_t b = 0;
    if (base != nullptr) {
      const auto it = base->drops().find(label);
      b = it != base->drops().end() ? it->second : 0;
    }
    (*acc->mutable_drops())[label] += value - b;
  }
}

bool dropsDecrease(const teredo::v1::StatsCounters& now, const teredo::v1::StatsCounters& before) {
  for (const auto& [label, value] : before.drops()) {
    const auto it = now.drops().find(label);
    if (it == now.drops().end() || it->second < value) {
      return true;
    }
  }
  return false;
}

}  // namespace

uint64_t totalDrops(const teredo::v1::StatsCounters& c) {
  uint64_t sum = 0;
  for (const auto& [label, value] : c.drops()) {
    sum += value;
  }
  return sum;
}

// ----- StatsAggregator --------------------------------------------------------------------------

StatsAggregator::PerRole& StatsAggregator::perRole(Role role) {
  return roles_[role];
}

const StatsAggregator::PerRole* StatsAggregator::findRole(Role role) const {
  const auto it = roles_.find(role);
  return it == roles_.end() ? nullptr : &it->second;
}

void StatsAggregator::addReport(const std::string& agentId, Role role,
                                const teredo::v1::StatsReport& report) {
  auto [it, inserted] = agents_.try_emplace(agentId);
  PerAgent& agent = it->second;
  const bool restart = inserted || agent.last.instance_uid() != report.instance_uid() ||
                       anyDecrease(report.counters(), agent.last.counters()) ||
                       dropsDecrease(report.counters(), agent.last.counters());
  if (restart && !inserted) {
    ++restarts_;
  }
  const teredo::v1::StatsCounters* base = restart ? nullptr : &agent.last.counters();
  for (Role r : {role, teredo::v1::ROLE_UNSPECIFIED}) {
    PerRole& pr = perRole(r);
    addCounters(&pr.counters, report.counters(), base);
    if (report.has_distinct_clients()) {
      pr.hll.merge(report.distinct_clients().precision(),
                   registerBytes(report.distinct_clients().registers()));
    }
  }
  agent.udpPps = 0;
  if (!restart) {
    const int64_t dtNanos =
        (report.timestamp().seconds() - agent.last.timestamp().seconds()) * 1000000000LL +
        (report.timestamp().nanos() - agent.last.timestamp().nanos());
    if (dtNanos > 0) {
      const uint64_t packets = report.counters().traffic().udp_received().packets() -
                               agent.last.counters().traffic().udp_received().packets();
      agent.udpPps = static_cast<double>(packets) * 1e9 / static_cast<double>(dtNanos);
    }
  }
  agent.role = role;
  agent.last = report;
  agent.connected = true;
}

void StatsAggregator::disconnect(const std::string& agentId) {
  const auto it = agents_.find(agentId);
  if (it != agents_.end()) {
    it->second.connected = false;
    it->second.udpPps = 0;
  }
}

teredo::v1::RoleStats StatsAggregator::roleStats(Role role) const {
  teredo::v1::RoleStats out;
  out.set_role(role);
  if (const PerRole* pr = findRole(role)) {
    *out.mutable_counters() = pr->counters;
    out.set_distinct_clients(static_cast<uint64_t>(std::llround(pr->hll.estimate())));
  }
  for (const auto& [id, agent] : agents_) {
    if (role != teredo::v1::ROLE_UNSPECIFIED && agent.role != role) {
      continue;
    }
    out.set_agents_total(out.agents_total() + 1);
    if (agent.connected) {
      out.set_agents_connected(out.agents_connected() + 1);
      addDiff(out.mutable_gauges(), agent.last.gauges(), nullptr);
    }
  }
  return out;
}

const Hll& StatsAggregator::sketch(Role role) const {
  static const Hll kEmpty;
  const PerRole* pr = findRole(role);
  return pr != nullptr ? pr->hll : kEmpty;
}

const teredo::v1::StatsReport* StatsAggregator::lastReport(const std::string& agentId) const {
  const auto it = agents_.find(agentId);
  return it == agents_.end() ? nullptr : &it->second.last;
}

double StatsAggregator::udpPacketsPerSecond(const std::string& agentId) const {
  const auto it = agents_.find(agentId);
  return it == agents_.end() ? 0 : it->second.udpPps;
}

}  // namespace teredo::controller
