// `certificate_fallback`: the legacy quality preflight of the scene pipeline's runbook. When a
// scene has no quality gate report, downstream consumers fall back to the per-episode
// `quality_certificate.json` files: every one must say validation_passed == true and a
// recommended_use other than "testing". This check reads every certificate under the episodes
// folder (listing the episode folders one level deep, reading and scanning in parallel) and
// passes only on positive evidence from each of them.

#include <stagecheck/plugin.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "certificate_scan.hpp"

namespace stagecheck::certificate_fallback {
namespace {

constexpr std::string_view kCertificateName = "quality_certificate.json";
/// Failing certificates kept for details.failing (all are counted).
constexpr std::size_t kMaxFailuresKept = 1000;
/// Failing certificates named in the message.
constexpr std::size_t kMaxFailuresInMessage = 10;
/// Distinct recommended_use values counted by name; the rest are counted together, so that a
/// folder of hostile values cannot grow memory.
constexpr std::size_t kMaxDistinctUses = 64;
/// Paths handed to a worker at once: amortises the queue's locking over many small files.
constexpr std::size_t kBatchSize = 64;
/// Batches in flight per worker: bounds the memory of the pipeline whatever the folder's size.
constexpr std::size_t kBatchesPerWorker = 4;
/// Most threads one check uses, whatever --jobs says.
constexpr unsigned kMaxJobs = 64;
/// Longest value quoted in a message.
constexpr std::size_t kMaxShown = 80;

/// The top-level fields read from every certificate, in CertificateScanner order.
enum FieldIndex : std::size_t { kEpisodeId = 0, kSceneId, kValidationPassed, kRecommendedUse };

std::vector<std::string> field_names() {
  return {"episode_id", "scene_id", "validation_passed", "recommended_use"};
}

/// The length of the valid UTF-8 sequence starting text[at] (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF), or 0 if there is none.
std::size_t utf8_length(std::string_view text, std::size_t at) {
  const auto b0 = static_cast<unsigned char>(text[at]);
  if (b0 < 0x80) return 1;
  std::size_t length = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (text.size() - at < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    const auto b = static_cast<unsigned char>(text[at + i]);
    if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return 0;
  }
  return length;
}

/// Text for a message, which must stay valid UTF-8 (reports and failure markers are JSON) and
/// must not let a hostile folder name or value forge its surroundings: control bytes, quotes,
/// backslashes and bytes that are not UTF-8 escaped; cut after `max_chars` characters, never
/// inside one.
std::string printable(std::string_view text, std::size_t max_chars = kMaxShown) {
  std::string out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (chars++ == max_chars) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(text[i]);
    const std::size_t length = utf8_length(text, i);
    if (length == 0 || u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
      ++i;
      continue;
    }
    if (u == '"' || u == '\\') out += '\\';
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

/// `"text"`, printable.
std::string quote_value(std::string_view text) { return '"' + printable(text) + '"'; }

/// What a field held, for a message: `the string "true"`, `the number 1`, `null`, ...
std::string found(const ScannedField& field) {
  switch (field.kind) {
    case JsonKind::string:
      return "the string " + quote_value(field.text);
    case JsonKind::number:
      return "the number " + field.text;
    case JsonKind::boolean:
      return field.boolean ? "true" : "false";
    default:
      return describe(field.kind);
  }
}

/// One episode folder's certificate to read.
struct Item {
  std::uint64_t seq = 0;  ///< Position in the listing: orders failures whatever the timing.
  std::string path;       ///< `<episodes>/<episode>/quality_certificate.json`.
};

/// A certificate (or episode folder) that did not pass.
struct Failure {
  std::uint64_t seq = 0;
  std::string episode;  ///< The episode folder's name.
  std::string path;
  std::string reason;
  bool unreadable = false;  ///< Could not be evaluated (permission, I/O), rather than failed.
};

/// Counts kept by one thread and merged at the end: only numbers and the capped failure list,
/// never the documents.
struct Tally {
  std::uint64_t certificates = 0;
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;      ///< Certificates that failed the rules or could not be parsed.
  std::uint64_t unreadable = 0;  ///< Certificates that could not be read (permission, I/O).
  std::uint64_t duplicates = 0;  ///< Certificates claiming another folder's episode id.
  std::uint64_t folders_without_certificate = 0;
  std::map<std::string, std::uint64_t, std::less<>> by_use;
  std::uint64_t other_uses = 0;   ///< Certificates whose use fell outside the counted names.
  std::vector<Failure> failures;  ///< The kMaxFailuresKept with the lowest seq.
  std::uint64_t internal_errors = 0;
  std::string first_internal_error;

  /// Counts `count` certificates with a recommended_use. Keeps the kMaxDistinctUses
  /// lexicographically smallest names and counts the rest together: a name once pushed out
  /// can never be among the smallest again, so per-thread tallies merge to the same result
  /// however the certificates were split over threads.
  void count_use(const std::string& use, std::uint64_t count = 1) {
    auto it = by_use.find(use);
    if (it != by_use.end()) {
      it->second += count;
      return;
    }
    if (by_use.size() >= kMaxDistinctUses) {
      auto last = std::prev(by_use.end());
      if (use > last->first) {
        other_uses += count;
        return;
      }
      other_uses += last->second;
      by_use.erase(last);
    }
    by_use.emplace(use, count);
  }

  /// Adds a failure; a thread sees its items in increasing seq, so the first kept are the
  /// lowest.
  void add_failure(Failure failure) {
    if (failures.size() < kMaxFailuresKept) failures.push_back(std::move(failure));
  }

  void note_internal(const char* what) noexcept {
    ++internal_errors;
    try {
      if (first_internal_error.empty()) first_internal_error = what;
    } catch (...) {
    }
  }

  void merge(Tally& other) {
    certificates += other.certificates;
    passed += other.passed;
    failed += other.failed;
    unreadable += other.unreadable;
    duplicates += other.duplicates;
    folders_without_certificate += other.folders_without_certificate;
    other_uses += other.other_uses;
    for (const auto& [use, count] : other.by_use) count_use(use, count);
    failures.insert(failures.end(), std::make_move_iterator(other.failures.begin()),
                    std::make_move_iterator(other.failures.end()));
    internal_errors += other.internal_errors;
    if (first_internal_error.empty()) first_internal_error = other.first_internal_error;
  }
};

/// A bounded queue of batches between the listing thread and the workers.
class BatchQueue {
 public:
  explicit BatchQueue(std::size_t capacity) : capacity_(capacity) {}

  /// Blocks while full. Dropped if the queue was closed.
  void push(std::vector<Item> batch) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return batches_.size() < capacity_ || closed_; });
    if (closed_) return;
    batches_.push_back(std::move(batch));
    not_empty_.notify_one();
  }

  /// Blocks while empty and open; false once closed and drained.
  bool pop(std::vector<Item>& out) {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !batches_.empty() || closed_; });
    if (batches_.empty()) return false;
    out = std::move(batches_.front());
    batches_.pop_front();
    not_full_.notify_one();
    return true;
  }

  void close() noexcept {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<std::vector<Item>> batches_;
  bool closed_ = false;
};

/// What every certificate must satisfy, fixed for one run.
struct Rules {
  std::string folder;  ///< The episodes folder, with a trailing '/'.
  std::vector<std::string> allowed_uses;
  std::optional<std::string> scene_id;  ///< Expected scene_id, when configured.
  std::string scene_id_var;
  std::uint64_t max_bytes = 0;
  int max_depth = 0;
};

/// Reads and judges certificates. One per thread: touches only the store (thread-safe) and
/// its own scanner and tally, never the CheckContext.
class Evaluator {
 public:
  Evaluator(const Store& store, const Rules& rules)
      : store_(store), rules_(rules), scanner_(field_names(), rules.max_depth) {}

  Tally& tally() { return tally_; }

  void evaluate(const Item& item) {
    const std::string_view rel = std::string_view(item.path).substr(rules_.folder.size());
    const std::string_view episode = rel.substr(0, rel.find('/'));
    Result<std::string> bytes = store_.read(item.path, rules_.max_bytes);
    if (!bytes && bytes.error().code == Errc::not_found) {
      no_certificate(item, episode);
      return;
    }
    ++tally_.certificates;
    if (!bytes) {
      const Error& error = bytes.error();
      const bool unreadable = status_for(error.code) == Status::error;
      std::string reason = error.code == Errc::too_large
                               ? fmt::format("too large: {}", error.message)
                               : fmt::format("could not be read: {}", error.message);
      if (unreadable) {
        ++tally_.unreadable;
      } else {
        ++tally_.failed;
      }
      fail(item, episode, std::move(reason), unreadable);
      return;
    }
    if (std::optional<ScanFailure> failure = scanner_.scan(*bytes)) {
      ++tally_.failed;
      fail(item, episode,
           fmt::format("malformed JSON at byte {}: {}", failure->byte, failure->reason), false);
      return;
    }
    if (scanner_.root_kind() != JsonKind::object) {
      ++tally_.failed;
      fail(item, episode,
           fmt::format("expected a JSON object, found {}", describe(scanner_.root_kind())), false);
      return;
    }
    std::vector<std::string> problems;
    const auto& fields = scanner_.fields();
    check_episode_id(fields[kEpisodeId], episode, problems);
    check_validation_passed(fields[kValidationPassed], problems);
    check_recommended_use(fields[kRecommendedUse], problems);
    if (rules_.scene_id) check_scene_id(fields[kSceneId], problems);
    if (problems.empty()) {
      ++tally_.passed;
      return;
    }
    ++tally_.failed;
    std::string reason;
    for (const std::string& problem : problems) {
      if (!reason.empty()) reason += "; ";
      reason += problem;
    }
    fail(item, episode, std::move(reason), false);
  }

 private:
  /// An episode folder without a certificate. One that holds files is an episode without
  /// evidence and fails; an empty one is no episode at all (as when the check walked every
  /// folder and only saw files). Looking inside costs a listing, but only for these folders,
  /// and it stops at the first object. A folder that cannot be listed could not be evaluated.
  void no_certificate(const Item& item, std::string_view episode) {
    const std::string folder = fmt::format("{}{}/", rules_.folder, episode);
    bool holds_objects = false;
    Result<void> listed = store_.list(folder, [&](const ObjectInfo&) {
      holds_objects = true;
      return false;
    });
    if (!listed && !holds_objects) {
      // Whether it is an empty folder or an episode without its certificate cannot be known.
      ++tally_.unreadable;
      fail(item, episode,
           fmt::format("no {}, and the episode folder could not be listed: {}", kCertificateName,
                       listed.error().message),
           true);
      return;
    }
    if (!holds_objects) return;
    ++tally_.folders_without_certificate;
    tally_.add_failure(Failure{item.seq, std::string(episode), folder,
                               fmt::format("no {} in the episode folder", kCertificateName),
                               false});
  }

  void fail(const Item& item, std::string_view episode, std::string reason, bool unreadable) {
    tally_.add_failure(
        Failure{item.seq, std::string(episode), item.path, std::move(reason), unreadable});
  }

  void check_episode_id(const ScannedField& field, std::string_view episode,
                        std::vector<std::string>& problems) {
    if (field.kind == JsonKind::absent) {
      problems.emplace_back("episode_id is missing");
      return;
    }
    if (field.kind != JsonKind::string) {
      problems.push_back(fmt::format("episode_id is {}, expected a string", found(field)));
      return;
    }
    if (field.text.empty()) {
      problems.emplace_back("episode_id is empty");
      return;
    }
    if (field.text == episode) return;
    std::string problem = fmt::format("episode_id {} does not match its folder {}",
                                      quote_value(field.text), quote_value(episode));
    // Folder names are unique, so two certificates claiming one id means one of them sits in
    // another episode's folder. Looking the claimed folder up costs one stat per mismatch and
    // no memory, where remembering every id seen would grow with the folder.
    if (field.text.find('/') == std::string::npos) {
      const std::string other = fmt::format("{}{}/{}", rules_.folder, field.text, kCertificateName);
      if (validate_store_path(other).ok() && store_.stat(other).ok()) {
        ++tally_.duplicates;
        problem += fmt::format(" (duplicate episode id: folder {} holds a certificate too)",
                               quote_value(field.text));
      }
    }
    problems.push_back(std::move(problem));
  }

  static void check_validation_passed(const ScannedField& field,
                                      std::vector<std::string>& problems) {
    if (field.kind == JsonKind::boolean && field.boolean) return;
    if (field.kind == JsonKind::absent) {
      problems.emplace_back("validation_passed is missing");
    } else if (field.kind == JsonKind::boolean) {
      problems.emplace_back("validation_passed is false");
    } else {
      problems.push_back(
          fmt::format("validation_passed is {}, expected the boolean true", found(field)));
    }
  }

  void check_recommended_use(const ScannedField& field, std::vector<std::string>& problems) {
    if (field.kind == JsonKind::absent) {
      problems.emplace_back("recommended_use is missing");
      return;
    }
    if (field.kind != JsonKind::string) {
      problems.push_back(fmt::format("recommended_use is {}, expected a string", found(field)));
      return;
    }
    tally_.count_use(printable(field.text));
    if (std::find(rules_.allowed_uses.begin(), rules_.allowed_uses.end(), field.text) ==
        rules_.allowed_uses.end()) {
      problems.push_back(fmt::format("recommended_use {} is not allowed", quote_value(field.text)));
    }
  }

  void check_scene_id(const ScannedField& field, std::vector<std::string>& problems) const {
    if (field.kind == JsonKind::absent) {
      problems.emplace_back("scene_id is missing");
    } else if (field.kind != JsonKind::string) {
      problems.push_back(fmt::format("scene_id is {}, expected the string {}", found(field),
                                     quote_value(*rules_.scene_id)));
    } else if (field.text != *rules_.scene_id) {
      problems.push_back(fmt::format("scene_id {} does not match the expected {} (variable {})",
                                     quote_value(field.text), quote_value(*rules_.scene_id),
                                     rules_.scene_id_var));
    }
  }

  const Store& store_;
  const Rules& rules_;
  CertificateScanner scanner_;
  Tally tally_;
};

/// Runs one evaluator over batches until the queue closes. Never throws: an exception while
/// evaluating one certificate is counted, and the worker keeps draining the queue so that the
/// listing thread can never block on it.
void work(Evaluator& evaluator, BatchQueue& queue, const std::atomic<bool>& stop) noexcept {
  std::vector<Item> batch;
  for (;;) {
    try {
      if (!queue.pop(batch)) return;
    } catch (...) {
      evaluator.tally().note_internal("the work queue failed");
      return;
    }
    for (const Item& item : batch) {
      if (stop.load(std::memory_order_relaxed)) break;
      try {
        evaluator.evaluate(item);
      } catch (const std::exception& e) {
        evaluator.tally().note_internal(e.what());
      } catch (...) {
        evaluator.tally().note_internal("a non-standard exception");
      }
    }
  }
}

/// The listing side: numbers the episode folders and hands their certificates to the
/// evaluators (inline with one job, else through the bounded queue). Calling thread only.
class Dispatcher {
 public:
  Dispatcher(CheckContext& ctx, const Rules& rules) : ctx_(ctx), rules_(rules) {}

  ~Dispatcher() { shutdown(); }

  /// With `jobs` > 1, starts `jobs` workers; with one job, or if no worker can start,
  /// certificates are evaluated inline while listing. The listing thread is not counted: it
  /// reads one folder's names (list_level, a few getdents64 calls for 100,000 episodes) and
  /// then only waits on the bounded queue, so a worker per job keeps every core reading.
  void start(unsigned jobs) {
    const unsigned workers = jobs > 1 ? jobs : 0;
    for (unsigned i = 0; i < std::max(workers, 1u); ++i) {
      evaluators_.push_back(std::make_unique<Evaluator>(ctx_.store(), rules_));
    }
    if (workers == 0) return;
    queue_ = std::make_unique<BatchQueue>(kBatchesPerWorker * workers);
    try {
      for (unsigned i = 0; i < workers; ++i) {
        Evaluator* evaluator = evaluators_[i].get();
        threads_.emplace_back([this, evaluator] { work(*evaluator, *queue_, stop_); });
      }
    } catch (const std::system_error&) {
      // Fewer threads than asked for: the ones that started share the work.
    }
    if (threads_.empty()) queue_.reset();
  }

  /// The list_level() visitor: every sub-folder of the episodes folder is an episode whose
  /// certificate is read directly (a folder without one is found by that read).
  bool visit(const ListEntry& entry) {
    if (ctx_.cancelled()) {
      cancelled_ = true;
      stop_.store(true, std::memory_order_relaxed);
      return false;
    }
    if (!entry.is_folder) {
      ++ignored_;  // A file directly in the episodes folder is no episode's certificate.
      return true;
    }
    dispatch(Item{seq_++, fmt::format("{}{}/{}", rules_.folder, entry.name, kCertificateName)});
    return true;
  }

  /// After the listing: flushes the last batch, waits for the workers, merges their counts.
  Tally finish() {
    if (queue_ && !batch_.empty()) queue_->push(std::move(batch_));
    shutdown();
    Tally total;
    for (auto& evaluator : evaluators_) total.merge(evaluator->tally());
    std::sort(total.failures.begin(), total.failures.end(),
              [](const Failure& a, const Failure& b) { return a.seq < b.seq; });
    if (total.failures.size() > kMaxFailuresKept) total.failures.resize(kMaxFailuresKept);
    return total;
  }

  bool cancelled() const { return cancelled_; }
  std::uint64_t ignored() const { return ignored_; }

 private:
  void dispatch(Item item) {
    if (!queue_) {
      evaluators_.front()->evaluate(item);
      return;
    }
    batch_.push_back(std::move(item));
    if (batch_.size() >= kBatchSize) {
      queue_->push(std::move(batch_));
      batch_ = {};
      batch_.reserve(kBatchSize);
    }
  }

  void shutdown() noexcept {
    if (queue_) queue_->close();
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    threads_.clear();
  }

  CheckContext& ctx_;
  const Rules& rules_;
  std::vector<std::unique_ptr<Evaluator>> evaluators_;
  std::unique_ptr<BatchQueue> queue_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::vector<Item> batch_;
  std::uint64_t seq_ = 0;
  std::uint64_t ignored_ = 0;
  bool cancelled_ = false;
};

class CertificateFallback final : public Check {
 public:
  CertificateFallback(ArtifactRef gate, PathTemplate episodes, std::vector<std::string> allowed,
                      std::int64_t min_certificates, std::string scene_id_var)
      : gate_(std::move(gate)),
        episodes_(std::move(episodes)),
        allowed_(std::move(allowed)),
        min_certificates_(min_certificates),
        scene_id_var_(std::move(scene_id_var)) {}

  CheckOutcome run(CheckContext& ctx) const override {
    try {
      return evaluate(ctx);
    } catch (const std::exception& e) {
      return CheckOutcome::error(
          fmt::format("certificate_fallback: unexpected error: {}", e.what()));
    } catch (...) {
      return CheckOutcome::error("certificate_fallback: unexpected non-standard exception");
    }
  }

 private:
  CheckOutcome evaluate(CheckContext& ctx) const {
    Rules rules;
    rules.allowed_uses = allowed_;
    rules.max_bytes = ctx.limits().max_bytes;
    rules.max_depth = ctx.limits().max_depth;
    if (!scene_id_var_.empty()) {
      // A misconfigured expectation is reported even when the gate report makes the fallback
      // moot: it would hide the next time the fallback is needed.
      const nlohmann::json* value = ctx.var(scene_id_var_);
      if (value == nullptr || value->is_null()) {
        return CheckOutcome::error(
            fmt::format("expected_scene_id_var: variable '{}' is not declared or has no value; "
                        "cannot check the certificates' scene_id (give a variable's name, e.g. "
                        "scene_id: a plain $scene_id is replaced by its value)",
                        scene_id_var_));
      }
      if (!value->is_string() || value->get_ref<const std::string&>().empty()) {
        return CheckOutcome::error(fmt::format(
            "expected_scene_id_var: variable '{}' holds {}, expected a non-empty string",
            scene_id_var_, value->is_string() ? "an empty string" : value->type_name()));
      }
      rules.scene_id = value->get<std::string>();
      rules.scene_id_var = scene_id_var_;
    }

    Result<Artifact> gate = ctx.artifact(gate_);
    if (!gate) return CheckOutcome::from(gate.error());
    const std::string gate_path = gate->path();
    Result<ObjectInfo> gate_info = gate->stat();
    if (gate_info) {
      CheckOutcome out;
      out.status = Status::skipped;
      out.message = fmt::format("gate report '{}' is present; the certificate fallback is not used",
                                gate_path);
      out.observed = {{"gate_report", {{"path", gate_path}, {"exists", true}}}};
      return out;
    }
    if (gate_info.error().code != Errc::not_found) {
      // Only a gate report known to be absent triggers the fallback: one that exists but
      // cannot be examined is no reason to read certificates instead.
      CheckOutcome out = CheckOutcome::from(gate_info.error());
      out.message = fmt::format(
          "gate report '{}' could not be examined, so whether the certificate fallback applies "
          "is unknown: {}",
          gate_path, gate_info.error().message);
      out.observed = {
          {"gate_report",
           {{"path", gate_path}, {"error", std::string(to_string(gate_info.error().code))}}}};
      return out;
    }

    Result<std::string> folder = ctx.resolve(episodes_);
    if (!folder) return CheckOutcome::from(folder.error());
    rules.folder = *folder + "/";
    ctx.record_artifact(rules.folder);

    Dispatcher dispatcher(ctx, rules);
    dispatcher.start(std::min(std::max(ctx.jobs(), 1u), kMaxJobs));
    // One level: the episode folders' names, not their contents (which the old recursive
    // listing walked at about ten system calls per episode, the critical path of the check).
    Result<void> listed = ctx.store().list_level(
        *folder, [&](const ListEntry& entry) { return dispatcher.visit(entry); });
    Tally tally = dispatcher.finish();
    for (const Failure& failure : tally.failures) ctx.record_artifact(failure.path);
    return conclude(rules, gate_path, tally, dispatcher, listed);
  }

  CheckOutcome conclude(const Rules& rules, const std::string& gate_path, const Tally& tally,
                        const Dispatcher& dispatcher, const Result<void>& listed) const {
    const std::string& folder = rules.folder;
    nlohmann::json by_use = nlohmann::json::object();
    for (const auto& [use, count] : tally.by_use) by_use[use] = count;
    nlohmann::json observed = {
        {"certificates", tally.certificates},
        {"passed", tally.passed},
        {"failed", tally.failed},
        {"by_recommended_use", std::move(by_use)},
        {"folders_without_certificate", tally.folders_without_certificate},
        {"ignored_objects", dispatcher.ignored()},
    };
    if (tally.other_uses > 0) observed["other_recommended_use"] = tally.other_uses;
    if (tally.unreadable > 0) observed["unreadable"] = tally.unreadable;
    nlohmann::json expected = {
        {"validation_passed", true},
        {"recommended_use", allowed_},
        {"min_certificates", min_certificates_},
    };
    if (rules.scene_id) expected["scene_id"] = *rules.scene_id;
    nlohmann::json failing = nlohmann::json::array();
    for (const Failure& f : tally.failures) {
      nlohmann::json entry = {{"episode", f.episode}, {"path", f.path}, {"reason", f.reason}};
      if (f.unreadable) entry["unreadable"] = true;
      failing.push_back(std::move(entry));
    }
    const std::uint64_t failing_total =
        tally.failed + tally.unreadable + tally.folders_without_certificate;
    nlohmann::json details = {
        {"folder", folder},
        {"gate_report", {{"path", gate_path}, {"exists", false}}},
        {"failing", std::move(failing)},
        {"failing_total", failing_total},
        {"failing_truncated", failing_total > tally.failures.size()},
        {"duplicate_episode_ids", tally.duplicates},
    };
    auto finish = [&](CheckOutcome out) {
      out.observed = observed;
      out.expected = expected;
      out.details = details;
      return out;
    };
    const std::string no_gate = fmt::format("no gate report at '{}'", gate_path);

    if (dispatcher.cancelled()) {
      return finish(CheckOutcome::error(fmt::format(
          "interrupted after {} quality certificates under '{}'", tally.certificates, folder)));
    }
    if (tally.internal_errors > 0) {
      return finish(CheckOutcome::error(
          fmt::format("{} quality certificates under '{}' could not be evaluated: {}",
                      tally.internal_errors, folder, tally.first_internal_error)));
    }
    if (!listed) {
      // E.g. a certificate that is a symbolic link out of the root, or a folder that cannot
      // be read: the listing stops there, so the set of certificates is not known.
      const Error& error = listed.error();
      CheckOutcome out = CheckOutcome::from(error);
      out.message = fmt::format("listing '{}' stopped after {} quality certificates ({}): {}",
                                folder, tally.certificates, no_gate, error.message);
      if (!tally.failures.empty()) out.message += "; also " + failure_summary(tally, failing_total);
      if (out.status == Status::fail) out.code = "certificates_failed";
      out = finish(std::move(out));
      out.details["listing_error"] = {{"code", std::string(to_string(error.code))},
                                      {"message", error.message}};
      return out;
    }
    if (tally.certificates == 0) {
      CheckOutcome out = CheckOutcome::fail(
          fmt::format("no quality certificates under '{}' and {}", folder, no_gate));
      if (tally.folders_without_certificate > 0) {
        out.message += fmt::format(" ({} episode folders hold other files but no {})",
                                   tally.folders_without_certificate, kCertificateName);
      }
      out.code = "quality_artifacts_missing";
      return finish(std::move(out));
    }
    const bool too_few = tally.certificates < static_cast<std::uint64_t>(min_certificates_);
    const std::string too_few_text =
        fmt::format("{} quality certificates under '{}', expected at least {} (min_certificates)",
                    tally.certificates, folder, min_certificates_);
    if (failing_total > 0) {
      std::vector<std::string> what;
      if (tally.failed > 0) {
        what.push_back(fmt::format("{} of {} quality certificates fail the fallback rules",
                                   tally.failed, tally.certificates));
      }
      if (tally.unreadable > 0) {
        what.push_back(fmt::format("{} of {} quality certificates could not be read",
                                   tally.unreadable, tally.certificates));
      }
      if (tally.folders_without_certificate > 0) {
        what.push_back(fmt::format("{} episode folders have no {}",
                                   tally.folders_without_certificate, kCertificateName));
      }
      std::string head;
      for (const std::string& part : what) head += (head.empty() ? "" : ", ") + part;
      const std::string text = fmt::format("{} under '{}' ({}): {}", head, folder, no_gate,
                                           failure_summary(tally, failing_total));
      // Unreadable certificates alone leave the verdict open; anything else is a failure.
      const bool definite = tally.failed + tally.folders_without_certificate > 0;
      CheckOutcome out = definite ? CheckOutcome::fail(text) : CheckOutcome::error(text);
      if (definite) {
        if (too_few) out.message += "; and only " + too_few_text;
        out.code = "certificates_failed";
      }
      return finish(std::move(out));
    }
    if (too_few) {
      CheckOutcome out = CheckOutcome::fail(fmt::format("only {} ({})", too_few_text, no_gate));
      out.code = "too_few_certificates";
      return finish(std::move(out));
    }
    std::string uses;
    for (const auto& [use, count] : tally.by_use) {
      uses += fmt::format("{}{} {}", uses.empty() ? "" : ", ", use, count);
    }
    return finish(CheckOutcome::pass(fmt::format(
        "all {} quality certificates under '{}' pass (validation_passed true; recommended_use: "
        "{}); {}, so the fallback applies",
        tally.certificates, folder, uses, no_gate)));
  }

  /// "ep1: reason; ep2: reason; ... and N more (details.failing)".
  static std::string failure_summary(const Tally& tally, std::uint64_t total) {
    std::string text;
    std::size_t shown = 0;
    for (const Failure& f : tally.failures) {
      if (shown == kMaxFailuresInMessage) break;
      if (!text.empty()) text += "; ";
      text += fmt::format("{}: {}", printable(f.episode), f.reason);
      ++shown;
    }
    if (total > shown) text += fmt::format("; and {} more (details.failing)", total - shown);
    return text;
  }

  ArtifactRef gate_;
  PathTemplate episodes_;
  std::vector<std::string> allowed_;
  std::int64_t min_certificates_;
  std::string scene_id_var_;
};

bool is_var_name(std::string_view name) {
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<std::unique_ptr<Check>> make(const CheckConfig& config) {
  const ArtifactRef* gate = config.get_artifact("gate_report");
  if (gate == nullptr) return config.error("gate_report", "missing");
  const auto& episodes = config.get_paths("episodes");
  if (episodes.size() != 1) return config.error("episodes", "expected one folder");
  std::vector<std::string> allowed;
  for (std::string& use : config.get_string_list("allowed_uses")) {
    if (use.empty()) return config.error("allowed_uses", "an entry is empty");
    if (use == "testing") {
      return config.error("allowed_uses",
                          "'testing' can never be allowed: the fallback rule is that "
                          "recommended_use is not \"testing\"");
    }
    if (std::find(allowed.begin(), allowed.end(), use) == allowed.end()) {
      allowed.push_back(std::move(use));
    }
  }
  if (allowed.empty()) return config.error("allowed_uses", "must name at least one use");
  const std::int64_t min_certificates = config.get_int("min_certificates");
  if (min_certificates < 1) {
    return config.error("min_certificates", "must be at least 1: the fallback needs evidence");
  }
  std::string scene_var;
  if (config.has("expected_scene_id_var")) {
    scene_var = config.get_string("expected_scene_id_var");
    if (!is_var_name(scene_var)) {
      return config.error(
          "expected_scene_id_var",
          fmt::format("'{}' is not a variable name (write the name without '$')", scene_var));
    }
  }
  return std::unique_ptr<Check>(std::make_unique<CertificateFallback>(
      *gate, episodes.front(), std::move(allowed), min_certificates, std::move(scene_var)));
}

CheckInfo info() {
  CheckInfo i;
  i.type = "certificate_fallback";
  i.category = "quality";
  i.summary =
      "Without a quality gate report, every per-episode quality_certificate.json must pass.";
  i.description =
      "The legacy quality preflight: when `gate_report` is absent, reads every "
      "`<episodes>/<episode_id>/quality_certificate.json` (one-level listing of the episode "
      "folders, parallel reads on "
      "--jobs threads, strict JSON) and passes only if there are at least `min_certificates` "
      "and each one is a JSON object with episode_id equal to its folder name, "
      "validation_passed exactly true (the string \"true\" fails), recommended_use one of "
      "`allowed_uses`, and (with `expected_scene_id_var`) scene_id equal to that variable. "
      "Malformed, truncated, oversized or out-of-root certificates fail, as do an episode folder "
      "with files but no certificate and two folders claiming one episode id. A present gate "
      "report skips the check (the quality gate check judges it); one that cannot be examined "
      "(permission, I/O) is an error. No certificates at all fails with code "
      "quality_artifacts_missing; failing certificates with code certificates_failed (all "
      "named in details.failing, up to 1000). Observed counts by recommended_use.";
  i.params = {
      {"gate_report",
       ParamType::artifact,
       true,
       nullptr,
       "The quality gate report whose absence triggers the fallback (declare it optional).",
       {}},
      {"episodes",
       ParamType::path,
       true,
       nullptr,
       "The folder holding <episode_id>/quality_certificate.json.",
       {}},
      {"allowed_uses",
       ParamType::string_list,
       false,
       nlohmann::json::array({"production_training", "fine_tuning"}),
       "Accepted recommended_use values (never testing).",
       {}},
      {"min_certificates",
       ParamType::integer,
       false,
       1,
       "The fewest certificates accepted (at least 1).",
       {}},
      {"expected_scene_id_var",
       ParamType::string,
       false,
       nullptr,
       "Name of a spec variable every certificate's scene_id must equal, e.g. scene_id.",
       {}},
  };
  i.example =
      "# artifacts: {quality_gate_report: {path: \"scenes/${scene_id}/episode-generation-job/"
      "quality_gate_report.json\", optional: true}}\n"
      "- id: certificate_fallback\n  type: certificate_fallback\n"
      "  gate_report: quality_gate_report\n"
      "  episodes: scenes/${scene_id}/episodes/quality/episodes\n"
      "  expected_scene_id_var: scene_id";
  return i;
}

void register_checks(PluginRegistrar& registrar) { registrar.add(info(), make); }

}  // namespace
}  // namespace stagecheck::certificate_fallback

STAGECHECK_PLUGIN("certificate_fallback", "1.0.0",
                  stagecheck::certificate_fallback::register_checks)
