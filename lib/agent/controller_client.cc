#include "agent/controller_client.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <unistd.h>

#include <cstdio>

#include "agent/log.h"
#include "config/proto_translate.h"
#include "teredo/build_info.h"
#include "teredo/v1/agent.grpc.pb.h"

namespace teredo::agent {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed)
    : initial_(initial), max_(max < initial ? initial : max), rng_(seed) {}

std::chrono::milliseconds Backoff::next() {
  // initial * 2^attempt, capped; the shift is bounded so it never overflows.
  const uint32_t shift = attempt_ < 30 ? attempt_ : 30;
  const int64_t base = initial_.count() < 1 ? 1 : initial_.count();
  int64_t d = base << shift;
  if (d > max_.count() || d < base) {
    d = max_.count();
  }
  if (attempt_ < 64) {
    ++attempt_;
  }
  std::uniform_int_distribution<int64_t> jitter(d / 2, d);
  return std::chrono::milliseconds(jitter(rng_));
}

std::string randomUuid(std::mt19937_64& rng) {
  uint64_t hi = rng();
  uint64_t lo = rng();
  hi = (hi & ~0xf000ull) | 0x4000ull;              // version 4
  lo = (lo & ~(0xc0ull << 56)) | (0x80ull << 56);  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffull));
  return buf;
}

namespace {

uint64_t seedOf(uint64_t configured) {
  if (configured != 0) {
    return configured;
  }
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

ControllerClient::ControllerClient(ControllerClientOptions options, ControllerCallbacks callbacks,
                                   uint64_t appliedVersion)
    : options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      backoff_(options_.backoffInitial, options_.backoffMax, 0),
      appliedVersion_(appliedVersion) {
  std::mt19937_64 rng(seedOf(options_.seed));
  instanceUid_ = randomUuid(rng);
  backoff_ = Backoff(options_.backoffInitial, options_.backoffMax, rng());
}

ControllerClient::~ControllerClient() {
  stop();
}

void ControllerClient::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) {
    return;
  }
  thread_ = std::thread([this] { run(); });
}

void ControllerClient::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (active_ != nullptr) {
      active_->TryCancel();
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ControllerClient::setConnected(bool c) {
  connected_.store(c, std::memory_order_relaxed);
  if (options_.metrics) {
    options_.metrics->setControllerConnected(c);
  }
}

bool ControllerClient::sleepBackoff(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

void ControllerClient::run() {
  TEREDO_LOG(LogLevel::Info, "controller client started", {"address", options_.address},
             {"agent_id", options_.agentId}, {"instance_uid", instanceUid_},
             {"tls", !options_.caFile.empty()});
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        break;
      }
    }
    runOnce();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        break;
      }
    }
    const auto delay = backoff_.next();
    TEREDO_LOG(LogLevel::Info, "controller redial scheduled",
               {"delay_ms", static_cast<int64_t>(delay.count())});
    if (!sleepBackoff(delay)) {
      break;
    }
  }
  setConnected(false);
}

namespace {

bool readable(const std::string& path) {
  return ::access(path.c_str(), R_OK) == 0;
}

std::shared_ptr<grpc::Channel> makeChannel(const ControllerClientOptions& o, std::string* error) {
  grpc::ChannelArguments args;
  // Every dial gets a fresh channel with its own subchannels, so our backoff (not the one of a
  // globally shared subchannel) decides when we retry.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(o.keepalive.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  if (!o.serverName.empty()) {
    args.SetSslTargetNameOverride(o.serverName);
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (o.caFile.empty()) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    const bool identity = !o.certFile.empty() || !o.keyFile.empty();
    for (const std::string* f : {&o.caFile, &o.certFile, &o.keyFile}) {
      if ((f == &o.caFile || identity) && !readable(*f)) {
        *error = "controller.tls: cannot read \"" + *f + "\"";
        return nullptr;
      }
    }
    const unsigned refresh =
        static_cast<unsigned>(o.tlsRefresh.count() < 1 ? 1 : o.tlsRefresh.count());
    std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
    if (identity) {
      provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          o.keyFile, o.certFile, o.caFile, refresh);
    } else {
      provider =
          std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(o.caFile, refresh);
    }
    grpc::experimental::TlsChannelCredentialsOptions tls;
    tls.set_certificate_provider(provider);
    tls.watch_root_certs();
    if (identity) {
      tls.watch_identity_key_cert_pairs();
    }
    creds = grpc::experimental::TlsCredentials(tls);
  }
  return grpc::CreateCustomChannel(o.address, creds, args);
}

}  // namespace

void ControllerClient::runOnce() {
  std::string error;
  auto channel = makeChannel(options_, &error);
  if (!channel) {
    TEREDO_LOG(LogLevel::Error, "controller dial failed", {"error", error});
    return;
  }
  auto stub = v1::AgentService::NewStub(channel);
  grpc::ClientContext ctx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return;
    }
    active_ = &ctx;
  }
  auto stream = stub->Connect(&ctx);
  std::mutex writeMu;

  {
    v1::AgentMessage m;
    v1::Hello* h = m.mutable_hello();
    h->set_agent_id(options_.agentId);
    h->set_instance_uid(instanceUid_);
    h->set_role(options_.role);
    h->set_build_version(std::string(build::kVersion) + "+" + build::kCommit);
    for (const auto& c : options_.capabilities) {
      h->add_capabilities(c);
    }
    for (const auto& a : options_.addresses) {
      h->add_addresses(a);
    }
    h->set_applied_version(appliedVersion());
    std::lock_guard<std::mutex> lock(writeMu);
    stream->Write(m);  // a failure shows up as the end of the Read loop below
  }

  // Stats sender: one per stream, woken by interval changes and by the end of the stream.
  std::mutex statsMu;
  std::condition_variable statsCv;
  bool streamDone = false;                // guarded by statsMu
  bool intervalChanged = false;           // guarded by statsMu
  std::chrono::milliseconds interval{0};  // guarded by statsMu
  std::thread statsThread([&] {
    std::unique_lock<std::mutex> lock(statsMu);
    while (!streamDone) {
      const auto wake = [&] { return streamDone || intervalChanged; };
      if (interval.count() <= 0 || !callbacks_.fillStats) {
        statsCv.wait(lock, wake);
      } else if (statsCv.wait_for(lock, interval, wake)) {
        intervalChanged = false;
        continue;
      } else {
        lock.unlock();
        v1::AgentMessage m;
        v1::StatsReport* r = m.mutable_stats();
        callbacks_.fillStats(r);
        r->set_agent_id(options_.agentId);
        r->set_instance_uid(instanceUid_);
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
        r->mutable_timestamp()->set_seconds(ns / 1000000000);
        r->mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
        {
          std::lock_guard<std::mutex> w(writeMu);
          stream->Write(m);
        }
        lock.lock();
      }
      intervalChanged = false;
    }
  });

  v1::ControllerMessage msg;
  bool first = true;
  while (stream->Read(&msg)) {
    if (first) {
      first = false;
      sessions_.fetch_add(1, std::memory_order_relaxed);
      backoff_.reset();
      setConnected(true);
      TEREDO_LOG(LogLevel::Info, "controller stream up", {"address", options_.address},
                 {"applied_version", appliedVersion()});
    }
    switch (msg.kind_case()) {
      case v1::ControllerMessage::kSnapshot: {
        v1::AgentMessage reply;
        handleSnapshot(msg.snapshot(), &reply);
        std::lock_guard<std::mutex> lock(writeMu);
        stream->Write(reply);
        break;
      }
      case v1::ControllerMessage::kSettings: {
        const auto& d = msg.settings().stats_interval();
        const auto ms = std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1000000);
        {
          std::lock_guard<std::mutex> lock(statsMu);
          interval = ms.count() > 0 ? ms : std::chrono::milliseconds(0);
          intervalChanged = true;
        }
        statsCv.notify_all();
        TEREDO_LOG(LogLevel::Info, "controller settings",
                   {"stats_interval_ms", static_cast<int64_t>(ms.count())});
        break;
      }
      case v1::ControllerMessage::kDrain: {
        const bool d = msg.drain().draining();
        if (draining_.exchange(d) != d) {
          TEREDO_LOG(LogLevel::Info, d ? "draining" : "drain cleared");
        }
        if (options_.readiness) {
          options_.readiness->setDraining(d);
        }
        if (callbacks_.onDrain) {
          callbacks_.onDrain(d);
        }
        break;
      }
      default:
        break;  // unknown future message kinds are ignored
    }
  }

  {
    std::lock_guard<std::mutex> lock(statsMu);
    streamDone = true;
  }
  statsCv.notify_all();
  statsThread.join();
  const grpc::Status status = stream->Finish();
  bool stopping = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_ = nullptr;
    stopping = stopping_;
  }
  setConnected(false);
  TEREDO_LOG(stopping ? LogLevel::Info : LogLevel::Warn, "controller stream down",
             {"address", options_.address}, {"code", static_cast<int>(status.error_code())},
             {"error", status.error_message()});
}

void ControllerClient::handleSnapshot(const v1::ConfigSnapshot& snapshot, v1::AgentMessage* reply) {
  const uint64_t version = snapshot.version();
  v1::ConfigError error;
  bool ok = true;
  const auto& cfg = snapshot.config();
  const bool roleMatches =
      (options_.role == v1::ROLE_SERVER && cfg.has_server()) ||
      (options_.role == v1::ROLE_RELAY && cfg.has_relay()) ||
      (options_.role == v1::ROLE_UNSPECIFIED && cfg.role_case() != v1::AgentConfig::ROLE_NOT_SET);
  if (!roleMatches) {
    ok = false;
    error.set_message(
        std::string("snapshot has no config for role ").append(config::roleName(options_.role)));
  } else if (version != 0 && version == appliedVersion()) {
    // Already running it (e.g. restored from last-known-good): acknowledge, do not re-apply.
  } else if (callbacks_.validate && !callbacks_.validate(cfg, &error)) {
    ok = false;
  } else if (callbacks_.apply && !callbacks_.apply(cfg, version, &error)) {
    ok = false;
  } else {
    appliedVersion_.store(version, std::memory_order_relaxed);
    if (options_.metrics) {
      options_.metrics->setAppliedConfig(version, unixNowSeconds());
    }
    if (options_.lkg) {
      if (const teredo::Status saved = options_.lkg->save({version, cfg.SerializeAsString()});
          !saved.ok()) {
        TEREDO_LOG(LogLevel::Warn, "last-known-good not saved", {"error", saved.message()});
      }
    }
    TEREDO_LOG(LogLevel::Info, "config applied", {"version", version});
  }

  if (ok) {
    v1::Ack* a = reply->mutable_ack();
    a->set_version(version);
    a->set_nonce(snapshot.nonce());
    if (options_.metrics) {
      options_.metrics->countConfigAck();
    }
    return;
  }
  if (error.message().empty()) {
    error.set_message("rejected");
  }
  TEREDO_LOG(LogLevel::Warn, "config rejected", {"version", version},
             {"applied_version", appliedVersion()}, {"error", error.message()});
  v1::Nack* n = reply->mutable_nack();
  n->set_version(version);
  n->set_nonce(snapshot.nonce());
  n->set_applied_version(appliedVersion());
  *n->mutable_error_detail() = error;
  if (options_.metrics) {
    options_.metrics->countConfigNack();
  }
}

}  // namespace teredo::agent
