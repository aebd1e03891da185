// http_load: a bounded load probe over curl's multi interface, judged on k6-style thresholds.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "http_checks.hpp"
#include "load_stats.hpp"

namespace stagecheck::http {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

/// Hard limits on one probe: requests, concurrency, threads and wall time.
constexpr std::int64_t kMaxRequests = 5'000'000;
constexpr std::int64_t kMaxConcurrency = 1000;
constexpr std::int64_t kMaxThreads = 16;
constexpr std::int64_t kMaxProbeUs = 600'000'000;
/// max_duration when only `requests` is given.
constexpr std::int64_t kDefaultMaxDurationUs = 60'000'000;

struct Settings {
  RequestSpec request;
  StatusSet status;
  std::int64_t requests = 0;     ///< 0: no count limit but kMaxRequests.
  std::int64_t duration_us = 0;  ///< 0: run until `requests` finished.
  std::int64_t max_duration_us = 0;
  std::int64_t concurrency = 10;
  std::int64_t threads = 1;
  std::vector<Threshold> thresholds;
  bool implicit_error_rate = false;
};

/// What every worker shares.
struct Shared {
  const Settings* s = nullptr;
  curl_slist* headers = nullptr;
  Clock::time_point start;
  Clock::time_point stop_starting;  ///< duration's end (or far future)
  std::atomic<std::int64_t> budget{0};
  std::atomic<bool> stop{false};
};

/// One transport failure kind, with a sample message.
struct TransportErrors {
  std::int64_t count = 0;
  std::string sample;
};

/// One worker's tallies.
struct Tally {
  std::vector<double> latencies_us;
  std::int64_t finished = 0;
  std::int64_t unexpected_status = 0;
  std::int64_t transport_errors = 0;
  std::int64_t aborted = 0;
  std::map<long, std::int64_t> statuses;
  std::map<int, TransportErrors> transport;
  Clock::time_point last_done;
};

std::size_t discard_body(char*, std::size_t size, std::size_t n, void* user) {
  auto* left = static_cast<std::int64_t*>(user);
  auto bytes = static_cast<std::int64_t>(size * n);
  if (bytes > *left) return 0;  // CURLE_WRITE_ERROR: counted as a transport error
  *left -= bytes;
  return size * n;
}

struct Slot {
  CURL* easy = nullptr;
  std::int64_t body_left = 0;
  bool busy = false;
  std::array<char, CURL_ERROR_SIZE> errbuf{};
};

/// Runs `slots` concurrent transfers on one multi handle until the budget or time runs out.
void worker(Shared& sh, std::int64_t slots, Tally& tally) {
  const Settings& s = *sh.s;
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return;
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(slots));
  std::vector<Slot> pool(static_cast<std::size_t>(slots));
  for (auto& slot : pool) {
    slot.easy = curl_easy_init();
    if (slot.easy == nullptr) continue;
    configure_easy(slot.easy, s.request, sh.headers);
    curl_easy_setopt(slot.easy, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(slot.easy, CURLOPT_WRITEDATA, &slot.body_left);
    curl_easy_setopt(slot.easy, CURLOPT_ERRORBUFFER, slot.errbuf.data());
    curl_easy_setopt(slot.easy, CURLOPT_PRIVATE, &slot);
  }
  auto may_start = [&]() {
    if (sh.stop.load(std::memory_order_relaxed)) return false;
    if (s.duration_us > 0 && Clock::now() >= sh.stop_starting) return false;
    return sh.budget.fetch_sub(1, std::memory_order_relaxed) > 0;
  };
  auto start = [&](Slot& slot) {
    slot.body_left = s.request.max_body_bytes;
    slot.errbuf[0] = '\0';
    slot.busy = curl_multi_add_handle(multi, slot.easy) == CURLM_OK;
  };
  int running = 0;
  for (auto& slot : pool) {
    if (slot.easy != nullptr && may_start()) start(slot);
  }
  while (std::any_of(pool.begin(), pool.end(), [](const Slot& x) { return x.busy; })) {
    if (sh.stop.load(std::memory_order_relaxed)) break;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      CURLcode rc = msg->data.result;
      Slot* slot = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&slot));
      ++tally.finished;
      if (rc == CURLE_OK) {
        long status = 0;
        curl_off_t total_us = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
        tally.latencies_us.push_back(static_cast<double>(total_us));
        ++tally.statuses[status];
        if (!s.status.contains(status)) ++tally.unexpected_status;
      } else {
        ++tally.transport_errors;
        TransportErrors& te = tally.transport[static_cast<int>(rc)];
        if (te.count++ == 0) {
          te.sample = slot->errbuf[0] != '\0' ? std::string(slot->errbuf.data())
                                              : std::string(curl_easy_strerror(rc));
          if (rc == CURLE_WRITE_ERROR) {
            te.sample = fmt::format("response body larger than max_body_bytes ({})",
                                    s.request.max_body_bytes);
          }
        }
      }
      tally.last_done = Clock::now();
      curl_multi_remove_handle(multi, easy);
      slot->busy = false;
      if (may_start()) start(*slot);
    }
    if (std::none_of(pool.begin(), pool.end(), [](const Slot& x) { return x.busy; })) break;
    curl_multi_poll(multi, nullptr, 0, 50, nullptr);
  }
  for (auto& slot : pool) {
    if (slot.busy) {
      ++tally.aborted;
      curl_multi_remove_handle(multi, slot.easy);
    }
    if (slot.easy != nullptr) curl_easy_cleanup(slot.easy);
  }
  curl_multi_cleanup(multi);
}

std::string transport_summary(const std::map<int, TransportErrors>& t) {
  std::string out;
  for (const auto& [code, te] : t) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{} x {} ({})", te.count, curl_easy_strerror(static_cast<CURLcode>(code)),
                       te.sample);
  }
  return out;
}

class HttpLoadCheck final : public Check {
 public:
  explicit HttpLoadCheck(Settings s) : s_(std::move(s)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    ensure_curl_global();
    const std::string what = describe_request(s_.request);
    auto headers = build_headers(s_.request, ctx);
    if (!headers) return CheckOutcome::fail(fmt::format("{}: {}", what, headers.error().message));
    // Chaos: one draw for the whole probe. A fault inside the load would count as the
    // service's error rate and blame the service, so the probe cannot be evaluated instead.
    if (auto fault = ctx.probe_fault("http_load", s_.request.target.url)) {
      CheckOutcome out = CheckOutcome::error(fmt::format("{}: {}", what, fault->message));
      out.code = "http_unreachable";
      return out;
    }

    Shared sh;
    sh.s = &s_;
    sh.headers = headers->get();
    sh.budget = s_.requests > 0 ? s_.requests : kMaxRequests;
    sh.start = Clock::now();
    sh.stop_starting = sh.start + std::chrono::microseconds(s_.duration_us);
    const auto hard_stop = sh.start + std::chrono::microseconds(s_.max_duration_us);

    std::int64_t threads = std::min(s_.threads, s_.concurrency);
    std::vector<Tally> tallies(static_cast<std::size_t>(threads));
    std::vector<std::thread> pool;
    std::atomic<std::int64_t> running{threads};
    for (std::int64_t i = 0; i < threads; ++i) {
      std::int64_t slots = s_.concurrency / threads + (i < s_.concurrency % threads ? 1 : 0);
      pool.emplace_back([&, i, slots] {
        worker(sh, slots, tallies[static_cast<std::size_t>(i)]);
        running.fetch_sub(1);
      });
    }
    // This thread owns the context: it watches for cancellation and the hard time bound.
    bool cancelled = false, hit_bound = false;
    while (running.load() > 0) {
      if (ctx.cancelled()) {
        cancelled = true;
        sh.stop = true;
      } else if (Clock::now() >= hard_stop) {
        hit_bound = true;
        sh.stop = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (auto& t : pool) t.join();
    Clock::time_point end = sh.start;
    for (const auto& t : tallies) end = std::max(end, t.last_done);

    // Merge.
    std::vector<double> lat;
    std::int64_t finished = 0, unexpected = 0, transport = 0, aborted = 0;
    std::map<long, std::int64_t> statuses;
    std::map<int, TransportErrors> terr;
    for (auto& t : tallies) {
      lat.insert(lat.end(), t.latencies_us.begin(), t.latencies_us.end());
      finished += t.finished;
      unexpected += t.unexpected_status;
      transport += t.transport_errors;
      aborted += t.aborted;
      for (const auto& [k, v] : t.statuses) statuses[k] += v;
      for (const auto& [k, v] : t.transport) {
        auto& m = terr[k];
        if (m.count == 0) m.sample = v.sample;
        m.count += v.count;
      }
    }
    double elapsed_s = std::chrono::duration<double>(end - sh.start).count();
    LoadStats st = make_stats(std::move(lat), static_cast<std::uint64_t>(finished),
                              static_cast<std::uint64_t>(unexpected + transport), elapsed_s);

    json status_counts = json::object();
    for (const auto& [k, v] : statuses) status_counts[std::to_string(k)] = v;
    auto ms = [](double us) { return std::round(us) / 1000.0; };
    json observed = {{"url", s_.request.target.url},
                     {"method", s_.request.method},
                     {"concurrency", s_.concurrency},
                     {"threads", threads},
                     {"requests", finished},
                     {"responses", st.responses},
                     {"errors", st.errors},
                     {"unexpected_status", unexpected},
                     {"transport_errors", transport},
                     {"aborted_in_flight", aborted},
                     {"error_rate", st.error_rate()},
                     {"rps", st.rps()},
                     {"elapsed_s", elapsed_s},
                     {"statuses", status_counts},
                     {"latency_ms",
                      {{"min", ms(st.min_us)},
                       {"avg", ms(st.avg_us)},
                       {"med", ms(st.percentile(50))},
                       {"p90", ms(st.percentile(90))},
                       {"p95", ms(st.percentile(95))},
                       {"p99", ms(st.percentile(99))},
                       {"max", ms(st.max_us)}}}};
    json terr_json = json::array();
    for (const auto& [k, v] : terr) {
      terr_json.push_back({{"curl_code", k},
                           {"error", curl_easy_strerror(static_cast<CURLcode>(k))},
                           {"count", v.count},
                           {"sample", v.sample}});
    }
    if (st.responses == 0) observed["latency_ms"] = nullptr;  // no response: no latency
    CheckOutcome out;
    out.observed = std::move(observed);
    out.expected = expected_json();
    out.details = {{"transport_errors", terr_json}, {"thresholds", json::array()}};

    if (cancelled) {
      out.status = Status::error;
      out.code = "http_interrupted";
      out.message = fmt::format("{}: load probe interrupted after {} request(s)", what, finished);
      return out;
    }
    if (st.responses == 0) {
      out.status = Status::error;
      out.code = "http_unreachable";
      out.message = fmt::format(
          "{}: could not be evaluated: no request completed ({} transport error(s){}{})", what,
          transport, transport > 0 ? ": " : "", transport_summary(terr));
      if (hit_bound) out.message += fmt::format("; stopped at max_duration");
      return out;
    }

    std::vector<std::string> failed;
    std::string figures = fmt::format(
        "{} requests at concurrency {} in {:.3g} s ({:.1f} req/s): min {}, avg {}, med {}, "
        "p(95) {}, p(99) {}, max {}, error_rate {:.4g} ({} unexpected status, {} transport)",
        finished, s_.concurrency, elapsed_s, st.rps(), format_duration_us(st.min_us),
        format_duration_us(st.avg_us), format_duration_us(st.percentile(50)),
        format_duration_us(st.percentile(95)), format_duration_us(st.percentile(99)),
        format_duration_us(st.max_us), st.error_rate(), unexpected, transport);
    for (const Threshold& t : s_.thresholds) {
      double v = metric_value(t, st);
      bool ok = holds(t, v);
      out.details["thresholds"].push_back({{"threshold", t.text},
                                           {"metric", t.metric_name()},
                                           {"observed", v},
                                           {"observed_text", format_metric(t, v)},
                                           {"pass", ok}});
      if (!ok) {
        failed.push_back(
            fmt::format("{} (found {} = {})", t.text, t.metric_name(), format_metric(t, v)));
      }
    }
    if (hit_bound && s_.duration_us == 0) {
      failed.push_back(fmt::format("only {} of {} requests finished within max_duration {}",
                                   finished, s_.requests,
                                   format_duration_us(static_cast<double>(s_.max_duration_us))));
    }
    if (!terr.empty()) figures += "; transport errors: " + transport_summary(terr);
    if (failed.empty()) {
      out.status = Status::pass;
      out.message =
          fmt::format("{}: all {} threshold(s) hold; {}", what, s_.thresholds.size(), figures);
      return out;
    }
    out.status = Status::fail;
    out.code = "http_thresholds_failed";
    std::string joined;
    for (std::size_t i = 0; i < failed.size(); ++i) joined += (i == 0 ? "" : "; ") + failed[i];
    out.message = fmt::format("{}: {} of {} threshold(s) failed: {}; {}", what, failed.size(),
                              s_.thresholds.size() + (hit_bound && s_.duration_us == 0 ? 1 : 0),
                              joined, figures);
    return out;
  }

 private:
  json expected_json() const {
    json th = json::array();
    for (const auto& t : s_.thresholds) th.push_back(t.text);
    json e = {{"status", s_.status.text}, {"thresholds", th}};
    if (s_.implicit_error_rate) e["implicit"] = "error_rate == 0 (no error_rate threshold given)";
    if (s_.requests > 0) e["requests"] = s_.requests;
    if (s_.duration_us > 0) e["duration_s"] = static_cast<double>(s_.duration_us) / 1e6;
    e["max_duration_s"] = static_cast<double>(s_.max_duration_us) / 1e6;
    return e;
  }

  Settings s_;
};

Result<std::unique_ptr<Check>> make(const CheckConfig& config) {
  Settings s;
  auto req = read_request_spec(config);
  if (!req) return req.error();
  s.request = std::move(*req);
  auto status = parse_status_set(config.get_json("expected_status"));
  if (!status) return config.error("expected_status", status.error().message);
  s.status = std::move(*status);

  if (!config.has("requests") && !config.has("duration")) {
    return config.error("requests",
                        "give requests (a count), duration, or both: the probe must "
                        "be bounded");
  }
  if (config.has("requests")) {
    s.requests = config.get_int("requests");
    if (s.requests < 1 || s.requests > kMaxRequests) {
      return config.error("requests",
                          fmt::format("expected 1..{}, found {}", kMaxRequests, s.requests));
    }
  }
  auto duration_param = [&](std::string_view name, std::int64_t& out) -> Result<void> {
    auto us = parse_duration_us(config.get_string(name));
    if (!us) return config.error(name, us.error().message);
    if (*us < 1000 || *us > kMaxProbeUs) {
      return config.error(name, fmt::format("expected a duration between 1ms and 10m, found \"{}\"",
                                            config.get_string(name)));
    }
    out = *us;
    return {};
  };
  if (config.has("duration")) {
    if (auto r = duration_param("duration", s.duration_us); !r) return r.error();
  }
  if (config.has("max_duration")) {
    if (auto r = duration_param("max_duration", s.max_duration_us); !r) return r.error();
    if (s.duration_us > s.max_duration_us) {
      return config.error("max_duration", "is shorter than duration");
    }
  } else if (s.duration_us > 0) {
    s.max_duration_us = std::min(kMaxProbeUs, s.duration_us + s.request.timeout_us);
  } else {
    s.max_duration_us = kDefaultMaxDurationUs;
  }
  s.concurrency = config.get_int("concurrency");
  if (s.concurrency < 1 || s.concurrency > kMaxConcurrency) {
    return config.error("concurrency",
                        fmt::format("expected 1..{}, found {}", kMaxConcurrency, s.concurrency));
  }
  s.threads = config.get_int("threads");
  if (s.threads < 1 || s.threads > kMaxThreads) {
    return config.error("threads", fmt::format("expected 1..{}, found {}", kMaxThreads, s.threads));
  }
  std::vector<std::string> texts = config.get_string_list("thresholds");
  if (texts.empty()) {
    return config.error("thresholds", "give at least one threshold, e.g. \"p(95) < 500ms\"");
  }
  bool has_error_rate = false;
  for (const auto& text : texts) {
    auto t = parse_threshold(text);
    if (!t) return config.error("thresholds", t.error().message);
    has_error_rate = has_error_rate || t->metric == Threshold::Metric::error_rate;
    s.thresholds.push_back(std::move(*t));
  }
  if (!has_error_rate) {
    // Fail closed: fast answers are no evidence if they are errors.
    auto t = parse_threshold("error_rate == 0");
    s.thresholds.push_back(std::move(*t));
    s.implicit_error_rate = true;
  }
  return std::unique_ptr<Check>(std::make_unique<HttpLoadCheck>(std::move(s)));
}

CheckInfo info() {
  CheckInfo i;
  i.type = "http_load";
  i.category = "service";
  i.summary =
      "A bounded load probe: N requests at concurrency C (or for a duration), judged on k6-style "
      "thresholds on latency (min, avg, med, p(N), max), error_rate and rps.";
  i.description =
      "Sends the request `requests` times and/or for `duration`, keeping `concurrency` "
      "transfers in flight over reused connections (curl multi interface, `threads` event "
      "loops). Latency is each response's total time (CURLINFO_TOTAL_TIME_T); figures cover "
      "every request that got a complete response, whatever its status. A request is an error "
      "if its status is not expected_status or it got no response (refused, reset, timeout, "
      "oversized body); error_rate = errors / finished requests; rps = responses / elapsed "
      "time. Percentiles interpolate linearly between closest ranks (rank p/100*(n-1)), as "
      "k6's TrendSink did before its HDR histograms. Every threshold is evaluated and the "
      "failing ones are named with the value found; all figures are in `observed`. Without an "
      "error_rate threshold, `error_rate == 0` applies. No completed request at all is `error` "
      "(could not be evaluated). Bounded: at most 5,000,000 requests, concurrency 1000, and "
      "max_duration (default: duration + timeout, or 60s with requests only; at most 10m); with "
      "requests only, not finishing them within max_duration fails.";
  i.params = request_params("10s");
  i.params.push_back({"requests",
                      ParamType::integer,
                      false,
                      nullptr,
                      "How many requests to send (1..5000000).",
                      {}});
  i.params.push_back({"duration",
                      ParamType::string,
                      false,
                      nullptr,
                      "How long to keep starting requests, e.g. \"30s\" (at most 10m); with "
                      "requests, whichever ends first.",
                      {}});
  i.params.push_back({"max_duration",
                      ParamType::string,
                      false,
                      nullptr,
                      "Hard wall-time bound; in-flight requests are abandoned there.",
                      {}});
  i.params.push_back({"concurrency",
                      ParamType::integer,
                      false,
                      10,
                      "Requests kept in flight at once (1..1000).",
                      {}});
  i.params.push_back({"threads",
                      ParamType::integer,
                      false,
                      1,
                      "Event-loop threads sharing the concurrency (1..16).",
                      {}});
  i.params.push_back({"expected_status",
                      ParamType::any,
                      false,
                      "2xx",
                      "Statuses that count as success: 200, \"2xx\", \"200-299\", or a list.",
                      {}});
  i.params.push_back({"thresholds",
                      ParamType::string_list,
                      true,
                      nullptr,
                      "k6-style thresholds, all must hold: METRIC OP VALUE with METRIC avg, min, "
                      "max, med, p(N) (0 < N <= 100), error_rate or rps; OP < <= > >= == !=; "
                      "latency VALUE with unit us, ms, s or m (bare: ms); error_rate a fraction "
                      "or percentage; rps a number.",
                      {}});
  i.example =
      "- id: api_under_load\n  type: http_load\n  url: http://127.0.0.1:8080/api/items\n"
      "  requests: 2000\n  concurrency: 50\n  timeout: 5s\n"
      "  thresholds: [\"p(95) < 3s\", \"avg < 500ms\", \"max < 2000ms\", \"error_rate < 0.10\"]";
  return i;
}

}  // namespace

CheckInfo http_load_info() { return info(); }
Result<std::unique_ptr<Check>> make_http_load(const CheckConfig& config) { return make(config); }

}  // namespace stagecheck::http
