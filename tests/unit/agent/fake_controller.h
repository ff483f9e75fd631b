// A tiny in-test controller (teredo.v1.AgentService): records what agents send and lets a test
// push ControllerMessages on the current stream. Shared by the controller client and agent
// host tests.
//
// Thread-safety: every method from any thread (one mutex). Ownership: values only.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "teredo/v1/agent.grpc.pb.h"

namespace teredo::agent {

constexpr auto kWait = std::chrono::seconds(20);

// Records everything agents send; lets the test push ControllerMessages on the current stream.
class FakeController final : public v1::AgentService::Service {
 public:
  grpc::Status Connect(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::ControllerMessage, v1::AgentMessage>* stream) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& cn : ctx->auth_context()->FindPropertyValues("x509_common_name")) {
        peerNames_.emplace_back(cn.data(), cn.size());
      }
      stream_ = stream;
      ++streams_;
      for (const auto& m : onConnect_) {
        stream->Write(m);
      }
    }
    cv_.notify_all();
    v1::AgentMessage m;
    while (stream->Read(&m)) {
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back(m);
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = nullptr;
    cv_.notify_all();
    return grpc::Status::OK;
  }

  /// Messages written at the start of every stream (like the real controller's Settings/Drain).
  void sendOnConnect(v1::ControllerMessage m) {
    std::lock_guard<std::mutex> lock(mu_);
    onConnect_.push_back(std::move(m));
  }

  bool waitForStreams(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return streams_ >= n && stream_ != nullptr; });
  }

  bool send(const v1::ControllerMessage& m) {
    std::lock_guard<std::mutex> lock(mu_);
    return stream_ != nullptr && stream_->Write(m);
  }

  /// Waits for the first received message (after `from`) matching `pred`; returns its index.
  template <class Pred>
  std::optional<v1::AgentMessage> waitFor(Pred pred, size_t* index = nullptr, size_t from = 0) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<v1::AgentMessage> found;
    cv_.wait_for(lock, kWait, [&] {
      for (size_t i = from; i < received_.size(); ++i) {
        if (pred(received_[i])) {
          found = received_[i];
          if (index != nullptr) {
            *index = i;
          }
          return true;
        }
      }
      return false;
    });
    return found;
  }

  std::vector<std::string> peerNames() {
    std::lock_guard<std::mutex> lock(mu_);
    return peerNames_;
  }

  size_t count(v1::AgentMessage::KindCase k) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& m : received_) {
      n += m.kind_case() == k ? 1 : 0;
    }
    return n;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  grpc::ServerReaderWriter<v1::ControllerMessage, v1::AgentMessage>* stream_ = nullptr;
  int streams_ = 0;
  std::deque<v1::AgentMessage> received_;
  std::vector<v1::ControllerMessage> onConnect_;
  std::vector<std::string> peerNames_;
};

}  // namespace teredo::agent
