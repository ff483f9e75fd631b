// decideAnnounce (lib/agent/announce.h): every input alone and the precedence of reasons.
#include "agent/announce.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace teredo::agent {
namespace {

struct Row {
  const char* name;
  AnnounceInputs in;
  AnnounceDecision want;
};

constexpr AnnounceInputs kHealthy{
    .enabled = true, .stopping = false, .draining = false, .workersFresh = true, .ready = true};

AnnounceInputs with(void (*edit)(AnnounceInputs&)) {
  AnnounceInputs in = kHealthy;
  edit(in);
  return in;
}

TEST(DecideAnnounce, EveryConditionAloneAndTheirPrecedence) {
  const Row rows[] = {
      {"healthy announces", kHealthy, {true, AnnounceReason::Ready}},
      {"disabled",
       with([](AnnounceInputs& i) { i.enabled = false; }),
       {false, AnnounceReason::Disabled}},
      {"stopping",
       with([](AnnounceInputs& i) { i.stopping = true; }),
       {false, AnnounceReason::Stopping}},
      {"draining",
       with([](AnnounceInputs& i) { i.draining = true; }),
       {false, AnnounceReason::Draining}},
      {"worker stalled",
       with([](AnnounceInputs& i) { i.workersFresh = false; }),
       {false, AnnounceReason::WorkerStalled}},
      {"not ready",
       with([](AnnounceInputs& i) { i.ready = false; }),
       {false, AnnounceReason::NotReady}},
      // Precedence: the first failing condition in the documented order names the reason.
      {"disabled beats everything", AnnounceInputs{}, {false, AnnounceReason::Disabled}},
      {"stopping beats draining",
       with([](AnnounceInputs& i) {
         i.stopping = true;
         i.draining = true;
         i.ready = false;
       }),
       {false, AnnounceReason::Stopping}},
      {"draining beats a stall",
       with([](AnnounceInputs& i) {
         i.draining = true;
         i.workersFresh = false;
       }),
       {false, AnnounceReason::Draining}},
      {"a stall beats not ready",
       with([](AnnounceInputs& i) {
         i.workersFresh = false;
         i.ready = false;
       }),
       {false, AnnounceReason::WorkerStalled}},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(decideAnnounce(r.in), r.want) << r.name;
  }
}

TEST(DecideAnnounce, OnlyTheHealthyStateAnnounces) {
  int announcing = 0;
  for (int bits = 0; bits < 32; ++bits) {
    const AnnounceInputs in{.enabled = (bits & 1) != 0,
                            .stopping = (bits & 2) != 0,
                            .draining = (bits & 4) != 0,
                            .workersFresh = (bits & 8) != 0,
                            .ready = (bits & 16) != 0};
    const AnnounceDecision d = decideAnnounce(in);
    EXPECT_EQ(d.announce, d.reason == AnnounceReason::Ready) << bits;
    announcing += d.announce ? 1 : 0;
  }
  EXPECT_EQ(announcing, 1);
}

TEST(DecideAnnounce, LabelsAreDistinctAndStable) {
  std::set<std::string> labels;
  for (size_t i = 0; i < kAnnounceReasonCount; ++i) {
    labels.insert(std::string(announceReasonLabel(static_cast<AnnounceReason>(i))));
  }
  EXPECT_EQ(labels.size(), kAnnounceReasonCount);
  EXPECT_EQ(announceReasonLabel(AnnounceReason::WorkerStalled), "worker_stalled");
  EXPECT_EQ(announceReasonLabel(AnnounceReason::Ready), "ready");
}

}  // namespace
}  // namespace teredo::agent
