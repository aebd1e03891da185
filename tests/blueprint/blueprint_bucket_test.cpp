// The production spec and the preflight against a bucket, once over the S3 API (s3rver on
// loopback) and once over the GCS JSON API (our GCS test server on loopback): the good scene and
// every derived failure are uploaded, and each must get the same verdict, check by check, as its
// local folder. The preflight writes its .failed marker into the bucket.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <stagecheck/gcs_store.hpp>
#include <stagecheck/s3_store.hpp>

#include "gcs_test_server.hpp"
#include "s3rver.hpp"
#include "stagecheck_test_support.hpp"

namespace st = stagecheck::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kSource = STAGECHECK_SOURCE_DIR;
const std::string kSpec = kSource + "/examples/blueprint/production_e2e.yaml";
const std::string kScene = kSource + "/examples/blueprint/scene";
const std::string kMarker = "scenes/kitchen_001/training/.failed";

std::string q(const std::string& s) { return "'" + s + "'"; }

/// The verdict of one run: the exit code and every check's status.
struct Verdict {
  int code = -1;
  std::map<std::string, std::string> statuses;
  std::map<std::string, std::string> messages;
};

Verdict verdict_of(const st::DriverRun& r) {
  Verdict v;
  v.code = r.code;
  const json report = json::parse(r.out, nullptr, false);
  if (report.is_discarded()) return v;
  for (const json& result : report["results"]) {
    v.statuses[result["id"]] = result["status"];
    v.messages[result["id"]] = result["message"];
  }
  return v;
}

/// s3://testbucket on s3rver, through the AWS SDK-style environment.
struct S3Backend {
  std::unique_ptr<st::S3rver> server;
  bool start(std::string& why) { return (server = st::S3rver::start(why)) != nullptr; }
  static std::string root(const std::string& prefix) { return "s3://testbucket/" + prefix; }
  stagecheck::Result<std::unique_ptr<stagecheck::Store>> open(const std::string& prefix,
                                                              unsigned io_concurrency = 32) const {
    stagecheck::S3Options o;
    o.bucket = st::S3rver::kBucket;
    o.prefix = prefix;
    o.endpoint = server->endpoint();
    o.access_key_id = st::S3rver::kKey;
    o.secret_access_key = "S3RVER";
    o.io_concurrency = io_concurrency;
    return stagecheck::open_s3_store(o);
  }
  std::string env() const {
    return "AWS_ENDPOINT_URL=" + server->endpoint() +
           " AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER";
  }
};

/// gs://testbucket on our GCS test server, named by STORAGE_EMULATOR_HOST.
struct GcsBackend {
  std::unique_ptr<st::GcsTestServer> server;
  bool start(std::string& why) { return (server = st::GcsTestServer::start(why)) != nullptr; }
  static std::string root(const std::string& prefix) { return "gs://testbucket/" + prefix; }
  stagecheck::Result<std::unique_ptr<stagecheck::Store>> open(const std::string& prefix,
                                                              unsigned io_concurrency = 32) const {
    stagecheck::GcsOptions o;
    o.bucket = st::GcsTestServer::kBucket;
    o.prefix = prefix;
    o.endpoint = server->endpoint();
    o.anonymous = true;
    o.io_concurrency = io_concurrency;
    return stagecheck::open_gcs_store(o);
  }
  std::string env() const { return "STORAGE_EMULATOR_HOST=" + server->endpoint(); }
};

template <class Backend>
class BlueprintOnBucket : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = new Backend();
    if (!backend_->start(why_)) {
      delete backend_;
      backend_ = nullptr;
      return;
    }
    variants_dir_ = new st::ScratchDir();
    home_ = new st::ScratchDir();
    const std::string cmd = "python3 " + q(kSource + "/examples/blueprint/derive_failures.py") +
                            " " + q(kScene) + " " + q(variants_dir_->path().string()) +
                            " >/dev/null";
    if (std::system(cmd.c_str()) != 0) {
      why_ = "derive_failures.py failed (is python3 installed?)";
      return;
    }
    variants_ = json::parse(st::slurp(*variants_dir_ / "variants.json"));
    std::vector<std::pair<fs::path, std::string>> uploads;  // local root, key prefix
    uploads.emplace_back(kScene, "scene");
    for (const json& v : variants_) {
      const std::string name = v["name"];
      bool has_link = false;
      for (const auto& e : fs::recursive_directory_iterator(v["root"].get<std::string>())) {
        has_link = has_link || e.is_symlink();
      }
      // A bucket has no symbolic links: such a variant has no bucket counterpart.
      if (has_link) {
        not_in_bucket_.insert(name);
        continue;
      }
      uploads.emplace_back(v["root"].get<std::string>(), "variants/" + name);
    }
    // A fleet of generated scenes for the batch test.
    const std::string fleet = "python3 " + q(kSource + "/tests/support/make_scenes.py") + " " +
                              q((variants_dir_->path() / "fleet").string()) +
                              " --scenes 6 --episodes 10 --fail-fraction 0.34 --seed 2 >/dev/null";
    if (std::system(fleet.c_str()) != 0) {
      why_ = "make_scenes.py failed";
      return;
    }
    uploads.emplace_back(variants_dir_->path() / "fleet", "fleet");
    for (const char* name :
         {"good", "gate_blocked", "no_gate_certificates_ok", "no_gate_certificate_testing"}) {
      uploads.emplace_back(variants_dir_->path() / name, std::string("preflight/") + name);
    }
    upload_all(uploads);
  }

  /// Uploads every regular file under each root to its prefix, on 8 threads.
  static void upload_all(const std::vector<std::pair<fs::path, std::string>>& uploads) {
    auto store = backend_->open("", 8);
    if (!store) {
      why_ = store.error().message;
      return;
    }
    std::vector<std::pair<fs::path, std::string>> files;
    for (const auto& [root, prefix] : uploads) {
      for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file() || e.is_symlink()) continue;
        files.emplace_back(e.path(), prefix + "/" + fs::relative(e.path(), root).string());
      }
    }
    std::atomic<std::size_t> next{0};
    std::mutex mutex;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (std::size_t i = next++; i < files.size(); i = next++) {
          auto ok = (*store)->write_atomic(files[i].second, st::slurp(files[i].first));
          if (!ok) {
            std::lock_guard lock(mutex);
            why_ = "upload failed: " + ok.error().message;
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    uploaded_ = files.size();
  }

  static void TearDownTestSuite() {
    delete backend_;
    delete variants_dir_;
    delete home_;
    backend_ = nullptr;
    variants_dir_ = home_ = nullptr;
  }

  void SetUp() override {
    if (backend_ == nullptr) {
      if (st::in_ci()) FAIL() << "the test server is required in CI: " << why_;
      GTEST_SKIP() << "test server unavailable: " << why_;
    }
    if (!why_.empty()) FAIL() << why_;
  }

  /// The driver with only the bucket's SDK-style environment, and nothing else.
  static st::DriverRun run_bucket(const std::string& args) {
    return st::run_driver(args, "env -i HOME=" + q(home_->path().string()) + " " + backend_->env());
  }

  static Backend* backend_;
  static std::string why_;
  static st::ScratchDir* variants_dir_;
  static st::ScratchDir* home_;
  static json variants_;
  static std::set<std::string> not_in_bucket_;
  static std::size_t uploaded_;
};

template <class B>
B* BlueprintOnBucket<B>::backend_ = nullptr;
template <class B>
std::string BlueprintOnBucket<B>::why_;
template <class B>
st::ScratchDir* BlueprintOnBucket<B>::variants_dir_ = nullptr;
template <class B>
st::ScratchDir* BlueprintOnBucket<B>::home_ = nullptr;
template <class B>
json BlueprintOnBucket<B>::variants_;
template <class B>
std::set<std::string> BlueprintOnBucket<B>::not_in_bucket_;
template <class B>
std::size_t BlueprintOnBucket<B>::uploaded_ = 0;

using Backends = ::testing::Types<S3Backend, GcsBackend>;
TYPED_TEST_SUITE(BlueprintOnBucket, Backends);

TYPED_TEST(BlueprintOnBucket, GoodSceneWithJobEnvPasses) {
  st::DriverRun r = this->run_bucket("run " + q(kSpec) + " --root " + TypeParam::root("scene") +
                                     " " + "--var scene_id=kitchen_001 --var job_env=" +
                                     q(kSource + "/examples/blueprint/job.env") + " --format json");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const json report = json::parse(r.out);
  EXPECT_EQ(report["summary"]["fail"], 0);
  EXPECT_EQ(report["summary"]["error"], 0);
  EXPECT_EQ(report["summary"]["warn"], 0);
}

// Every variant of derive_failures.py, on the bucket and on the local folder: the same exit
// code and the same status for every check; and the expectation derive_failures.py states.
TYPED_TEST(BlueprintOnBucket, DerivedFailuresGetTheSameVerdictsAsTheLocalFolder) {
  ASSERT_GE(this->variants_.size(), 40u);
  EXPECT_EQ(this->not_in_bucket_, std::set<std::string>{"symlink_out_of_root"});
  int compared = 0;
  for (const json& v : this->variants_) {
    const std::string name = v["name"];
    if (this->not_in_bucket_.count(name) != 0) continue;
    SCOPED_TRACE(name + ": " + v["description"].get<std::string>());
    std::string args = "run " + q(kSpec) + " --var scene_id=kitchen_001 --format json";
    for (const auto& [k, val] : v["vars"].items())
      args += " --var " + q(k + "=" + val.template get<std::string>());
    const Verdict local = verdict_of(st::run_driver(args + " --root " + q(v["root"])));
    const st::DriverRun r =
        this->run_bucket(args + " --root " + TypeParam::root("variants/" + name));
    Verdict remote = verdict_of(r);
    EXPECT_EQ(remote.code, v["exit_code"].get<int>()) << r.err;
    EXPECT_EQ(remote.code, local.code);
    EXPECT_EQ(remote.statuses, local.statuses);
    const std::string check = v["check"];
    EXPECT_EQ(remote.statuses[check], v["status"]) << remote.messages[check];
    EXPECT_NE(remote.messages[check].find(v["needle"].get<std::string>()), std::string::npos)
        << remote.messages[check];
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(this->variants_.size()) - 1);
}

TYPED_TEST(BlueprintOnBucket, PreflightDecidesOnTheBucketAndWritesItsMarkerThere) {
  struct Case {
    const char* variant;
    int code;
    const char* marker_code;  // nullptr: no marker
  };
  for (const Case& c : {Case{"good", 0, nullptr}, Case{"no_gate_certificates_ok", 0, nullptr},
                        Case{"gate_blocked", 1, "quality_gate_blocked"},
                        Case{"no_gate_certificate_testing", 1, "certificates_failed"}}) {
    SCOPED_TRACE(c.variant);
    const std::string prefix = std::string("preflight/") + c.variant;
    st::DriverRun r = this->run_bucket("preflight --root " + TypeParam::root(prefix) +
                                       " --scene-id kitchen_001 --consumer training");
    EXPECT_EQ(r.code, c.code) << r.out << r.err;
    auto store = this->backend_->open(prefix);
    ASSERT_TRUE(store.ok());
    auto marker = (*store)->read(kMarker, 100000);
    if (c.marker_code == nullptr) {
      ASSERT_FALSE(marker.ok());
      EXPECT_EQ(marker.error().code, stagecheck::Errc::not_found);
      continue;
    }
    ASSERT_TRUE(marker.ok()) << marker.error().message;
    EXPECT_NE(r.out.find("Wrote failure marker " + kMarker), std::string::npos) << r.out;
    const json m = json::parse(*marker);
    EXPECT_EQ(m["error"]["code"], c.marker_code);
    EXPECT_EQ(m["scene_id"], "kitchen_001");
    EXPECT_EQ(m["consumer"], "training");
  }
  // A marker left in the bucket by the blocked run: a later passing run warns about it.
  auto store = this->backend_->open("preflight/good");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->write_atomic(kMarker, "{\"status\": \"failed\"}\n").ok());
  st::DriverRun r = this->run_bucket("preflight --root " + TypeParam::root("preflight/good") +
                                     " --scene-id "
                                     "kitchen_001 --consumer training --format json");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(verdict_of(r).statuses["preflight.no_stale_failed_marker"], "warn");
}

// A batch over the bucket: scenes found by listing scenes/ on S3, the same per-scene results as
// the local folder, and two shards that merge into the same verdict.
TYPED_TEST(BlueprintOnBucket, BatchOverTheBucketEqualsTheLocalFolder) {
  auto strip = [](json scenes) {
    for (auto& sc : scenes) sc.erase("duration_ms");
    return scenes;
  };
  const fs::path local = this->variants_dir_->path() / "fleet";
  const std::string fleet = TypeParam::root("fleet");
  st::DriverRun here = st::run_driver("run " + q(kSpec) + " --root " + q(local.string()) +
                                      " --scenes all --format json");
  st::DriverRun there =
      this->run_bucket("run " + q(kSpec) + " --root " + fleet + " --scenes all --format json");
  ASSERT_EQ(here.code, 1) << here.err;
  EXPECT_EQ(there.code, here.code) << there.err;
  const json a = json::parse(here.out), b = json::parse(there.out, nullptr, false);
  ASSERT_FALSE(b.is_discarded()) << there.out << there.err;
  EXPECT_EQ(b["summary"]["scenes"], 6);
  EXPECT_EQ(strip(b["scenes"]), strip(a["scenes"]));
  EXPECT_EQ(b["failing_scenes"], json::parse(st::slurp(local / "expected.json"))["failing"]);
  std::string shards;
  for (int i = 0; i < 2; ++i) {
    const std::string f = (this->home_->path() / ("shard" + std::to_string(i) + ".json")).string();
    this->run_bucket("run " + q(kSpec) + " --root " + fleet + " --scenes all --quiet --shard " +
                     std::to_string(i) + "/2 --report-json " + q(f));
    shards += " " + q(f);
  }
  st::DriverRun merged = st::run_driver("merge" + shards + " --format json");
  EXPECT_EQ(merged.code, here.code) << merged.out;
  EXPECT_EQ(strip(json::parse(merged.out)["scenes"]), strip(a["scenes"]));

  // The shards write their reports into the bucket, and the merge reads them from its prefix.
  const std::string reports = TypeParam::root("reports");
  for (int i = 0; i < 2; ++i) {
    st::DriverRun shard =
        this->run_bucket("run " + q(kSpec) + " --root " + fleet + " --scenes all --quiet --shard " +
                         std::to_string(i) + "/2 --report-json " + reports + "/shard-" +
                         std::to_string(i) + ".json");
    EXPECT_TRUE(shard.code == 0 || shard.code == 1) << shard.err;
  }
  st::DriverRun from_bucket = this->run_bucket("merge " + reports + " --format json");
  EXPECT_EQ(from_bucket.code, here.code) << from_bucket.err << from_bucket.out;
  const json mb = json::parse(from_bucket.out, nullptr, false);
  ASSERT_FALSE(mb.is_discarded()) << from_bucket.out << from_bucket.err;
  EXPECT_EQ(strip(mb["scenes"]), strip(a["scenes"]));
  // One shard's object alone is a missing shard: no verdict.
  st::DriverRun half = this->run_bucket("merge " + reports + "/shard-0.json --format json");
  EXPECT_EQ(half.code, 3) << half.out;
  // A prefix that holds no reports gives no verdict either.
  EXPECT_EQ(this->run_bucket("merge " + TypeParam::root("no-such-reports") + " --format json").code,
            3);
}

}  // namespace
