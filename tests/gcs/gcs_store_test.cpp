// The GCS JSON-API store against our GCS test server on loopback (tests/support/
// gcs_test_server.py, started once per suite; no GCS emulator runs here): the bucket store
// contract (tests/support/bucket_store_contract.hpp, also through the fault-injecting proxy),
// tokens sent and refused, the access-token chain with a fake gcloud and a fake metadata
// server, then the driver with `--root gs://...`: exit codes, messages, and tokens that never
// appear.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <stagecheck/digest.hpp>
#include <stagecheck/embed.hpp>
#include <stagecheck/gcs_store.hpp>
#include <stagecheck/open_store.hpp>

#include "bucket_store_contract.hpp"
#include "gcs/token.hpp"
#include "gcs_test_server.hpp"
#include "http_target.hpp"
#include "stagecheck_test_support.hpp"

namespace stagecheck {
namespace {

namespace st = stagecheck::testing;
using Fault = st::FaultProxy::Fault;
using namespace std::chrono_literals;

constexpr const char* kToken = "ya29.GCS-SECRET-9f86d081884c7d65";
constexpr const char* kWrongToken = "ya29.WRONG-SECRET-2c26b46b68ffc68f";

/// An environment for EnvLookup: exactly these variables.
EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

/// Options for a GCS test server at `endpoint`: no token, fast retries, a short idle timeout.
GcsOptions test_server_options(const std::string& endpoint, const std::string& prefix) {
  GcsOptions o;
  o.bucket = st::GcsTestServer::kBucket;
  o.prefix = prefix;
  o.endpoint = endpoint;
  o.anonymous = true;
  o.retry.initial_backoff = 5ms;
  o.retry.max_backoff = 40ms;
  o.idle_timeout = 1s;
  o.connect_timeout = 2000ms;
  return o;
}

/// Opens a store, failing the test if it cannot.
std::unique_ptr<Store> open_or_fail(const GcsOptions& o) {
  Result<std::unique_ptr<Store>> store = open_gcs_store(o);
  EXPECT_TRUE(store.ok()) << store.error().message;
  return store ? std::move(*store) : nullptr;
}

/// The contract's backend: gs://testbucket on a GCS test server of its own.
struct GcsBackend {
  static constexpr const char* kNoVersionPinning = nullptr;  // ifGenerationMatch is honoured
  static inline std::unique_ptr<st::GcsTestServer> server;
  static bool start(std::string& why) {
    return (server = st::GcsTestServer::start(why)) != nullptr;
  }
  static void stop() { server.reset(); }
  static int port() { return server->port(); }
  static std::string root(const std::string& prefix) { return "gs://testbucket/" + prefix; }
  static std::unique_ptr<Store> open(const st::BucketSettings& s) {
    GcsOptions o =
        test_server_options(s.endpoint.empty() ? server->endpoint() : s.endpoint, s.prefix);
    if (!s.bucket.empty()) o.bucket = s.bucket;
    o.list_page_keys = s.page_keys;
    o.retry.max_retries = s.max_retries;
    return open_or_fail(o);
  }
  static std::string driver_env(const std::string& endpoint) {
    return "STORAGE_EMULATOR_HOST=" + (endpoint.empty() ? server->endpoint() : endpoint);
  }
};

}  // namespace
}  // namespace stagecheck

namespace stagecheck::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Gcs, BucketStoreContract, stagecheck::GcsBackend);
}  // namespace stagecheck::testing

namespace stagecheck {
namespace {

class GcsStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = st::GcsTestServer::start(why_).release();
    if (server_ != nullptr) {
      secured_ = st::GcsTestServer::start(why_, kToken, kWrongToken).release();
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    delete secured_;
    server_ = secured_ = nullptr;
  }
  void SetUp() override {
    STAGECHECK_REQUIRE_GCS_SERVER(server_, why_);
    STAGECHECK_REQUIRE_GCS_SERVER(secured_, why_);
  }

  /// Options for the open test server (or `endpoint`), with fast retries.
  static GcsOptions options(const std::string& prefix, const std::string& endpoint = "") {
    return test_server_options(endpoint.empty() ? server_->endpoint() : endpoint, prefix);
  }
  static std::unique_ptr<Store> open(const GcsOptions& o) { return open_or_fail(o); }
  static std::string test_prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string("t/") + info->test_suite_name() + "/" + info->name();
  }

  static st::GcsTestServer* server_;
  /// Requires "Bearer kToken": kWrongToken is 403 (no access), any other token 401.
  static st::GcsTestServer* secured_;
  static std::string why_;
};

st::GcsTestServer* GcsStoreTest::server_ = nullptr;
st::GcsTestServer* GcsStoreTest::secured_ = nullptr;
std::string GcsStoreTest::why_;

TEST_F(GcsStoreTest, TokensAreSentAndAWrongOrMissingOneIsPermissionDenied) {
  GcsOptions o = options(test_prefix(), secured_->endpoint());
  o.anonymous = false;
  o.access_token = kToken;
  auto good = open(o);
  ASSERT_TRUE(good);
  st::put_object(*good, "a.json", "{}");
  EXPECT_EQ(*good->read("a.json", 10), "{}");

  o.access_token = kWrongToken;
  auto wrong = open(o);
  ASSERT_TRUE(wrong);
  Result<ObjectInfo> info = wrong->stat("a.json");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Errc::permission_denied) << info.error().message;
  EXPECT_NE(info.error().message.find("HTTP 403"), std::string::npos) << info.error().message;
  EXPECT_NE(info.error().message.find("the access token option"), std::string::npos);
  // A missing object behind a refusal is not "absent".
  Result<bool> exists = wrong->exists("missing.json");
  ASSERT_FALSE(exists.ok());
  EXPECT_EQ(exists.error().code, Errc::permission_denied);
  Result<void> listed = wrong->list("", [](const ObjectInfo&) { return true; });
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, Errc::permission_denied);
  Result<void> written = wrong->write_atomic("m/.failed", "{}");
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().code, Errc::permission_denied);
  for (const std::string& m : {info.error().message, exists.error().message, listed.error().message,
                               written.error().message}) {
    EXPECT_EQ(m.find(kWrongToken), std::string::npos) << m;
    EXPECT_EQ(m.find("WRONG-SECRET"), std::string::npos) << m;
  }

  o.access_token.clear();
  o.anonymous = true;
  auto anonymous = open(o);
  ASSERT_TRUE(anonymous);
  Result<std::string> body = anonymous->read("a.json", 10);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.error().code, Errc::permission_denied) << body.error().message;
  EXPECT_NE(body.error().message.find("HTTP 401"), std::string::npos) << body.error().message;
}

TEST(GcsUri, ParsesAndRefuses) {
  Result<GcsLocation> l = parse_gs_uri("gs://my_bucket.example/runs/2026/");
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->bucket, "my_bucket.example");
  EXPECT_EQ(l->prefix, "runs/2026");
  for (const char* bad :
       {"s3://bucket", "gs://", "gs://Bucket", "gs://b", "gs://bucket/a/../b", "gs://bucket//x"}) {
    Result<GcsLocation> r = parse_gs_uri(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
    }
  }
  StoreOptions so;
  so.gcs = GcsOptions();
  so.gcs.anonymous = true;
  Result<std::unique_ptr<Store>> store = open_store("gs://bucket-a/p", so);
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ((*store)->describe(), "gs://bucket-a/p");
  so.gcs_api = GcsApi::s3;
  so.s3.access_key_id = "GOOG1EKEY";
  so.s3.secret_access_key = "secret";
  store = open_store("gs://bucket-a/p", so);
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ((*store)->describe(), "gs://bucket-a/p");
}

// A 404 for an object is "absent" only once a listing has shown the bucket exists: when that
// listing is refused, the 404 is no verdict. (A scripted server: GET 404, the listing 403.)
TEST(GcsBucketConfirmation, A404IsAbsentOnlyWhenTheBucketIsConfirmed) {
  st::HttpTarget fake;
  const std::string not_found =
      "{\"error\":{\"code\":404,\"message\":\"No such object: testbucket/p/x\","
      "\"errors\":[{\"reason\":\"notFound\"}]}}";
  fake.json("/storage/v1/b/testbucket/o/p%2Fx", not_found, 404);
  fake.json("/storage/v1/b/testbucket/o",
            "{\"error\":{\"code\":403,\"message\":\"caller does not have "
            "storage.objects.list access\",\"errors\":[{\"reason\":\"forbidden\"}]}}",
            403);
  GcsOptions o;
  o.bucket = "testbucket";
  o.prefix = "p";
  o.endpoint = fake.url("");
  o.anonymous = true;
  Result<std::unique_ptr<Store>> store = open_gcs_store(o);
  ASSERT_TRUE(store.ok()) << store.error().message;
  Result<bool> exists = (*store)->exists("x");
  ASSERT_FALSE(exists.ok()) << "a 404 was taken for absent without knowing the bucket exists";
  EXPECT_EQ(exists.error().code, Errc::permission_denied) << exists.error().message;
  EXPECT_NE(exists.error().message.find("cannot be told from a missing bucket"), std::string::npos)
      << exists.error().message;
  EXPECT_EQ(fake.count("/storage/v1/b/testbucket/o"), 1u);

  fake.json("/storage/v1/b/testbucket/o", "{\"kind\":\"storage#objects\"}", 200);
  exists = (*store)->exists("x");
  ASSERT_TRUE(exists.ok()) << exists.error().message;
  EXPECT_FALSE(*exists);
  // Confirmed once per store.
  EXPECT_FALSE(*(*store)->exists("x"));
  EXPECT_EQ(fake.count("/storage/v1/b/testbucket/o"), 2u);
}

// ---- the access-token chain -------------------------------------------------------------------

class GcsTokenTest : public ::testing::Test {
 protected:
  GcsTokenTest() {
    // A machine that is not GCE, whatever this one is.
    dir_.write("product_name", "Standard PC (Q35 + ICH9, 2009)\n");
    base_.dmi_product_name = dir_ / "product_name";
    base_.metadata_host = "127.0.0.1:" + std::to_string(metadata_.port());
    base_.retry.initial_backoff = 5ms;
    base_.retry.max_backoff = 20ms;
    metadata_.json("/computeMetadata/v1/instance/service-accounts/default/token",
                   "{\"access_token\":\"ya29.FROM-METADATA\",\"expires_in\":3599,"
                   "\"token_type\":\"Bearer\"}");
  }
  /// A fake gcloud in bin/ that prints `token` (or fails with `error`), counting its runs.
  std::string fake_gcloud(const std::string& token, const std::string& error = "",
                          int sleep_seconds = 0) {
    const std::string count = (dir_ / "gcloud-runs").string();
    std::string script = "#!/bin/sh\necho run >> '" + count + "'\n";
    // A grandchild, as gcloud's Python is: the kill on timeout must reach it too.
    if (sleep_seconds > 0) {
      script += "sleep " + std::to_string(sleep_seconds) + " & echo $! > '" +
                (dir_ / "sleep-pid").string() + "'\nwait\n";
    }
    script += "[ \"$1 $2\" = 'auth print-access-token' ] || { echo bad args >&2; exit 2; }\n";
    script += error.empty() ? "echo '" + token + "'\n" : "echo '" + error + "' >&2\nexit 1\n";
    dir_.write("bin/gcloud", script);
    ::chmod((dir_ / "bin/gcloud").c_str(), 0755);
    return (dir_ / "bin").string();
  }
  int gcloud_runs() const {
    const std::string text = st::slurp(dir_ / "gcloud-runs");
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  }
  Result<std::string> token_with(std::map<std::string, std::string> env,
                                 std::string* source = nullptr) {
    GcsOptions o = base_;
    o.env = env_of(std::move(env));
    Result<std::unique_ptr<gcs::TokenProvider>> p = gcs::TokenProvider::create(o, false);
    if (!p) return std::move(p).error();
    Result<std::string> token = (*p)->token();
    if (source != nullptr) *source = (*p)->source();
    return token;
  }

  st::ScratchDir dir_;
  st::HttpTarget metadata_;
  GcsOptions base_;
};

TEST_F(GcsTokenTest, OptionBeatsEnvBeatsFileBeatsGcloud) {
  dir_.write("token", "  ya29.FROM-FILE\n");
  const std::string bin = fake_gcloud("ya29.FROM-GCLOUD");
  std::map<std::string, std::string> env = {
      {"GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.FROM-ENV"},
      {"GOOGLE_OAUTH_ACCESS_TOKEN_FILE", (dir_ / "token").string()},
      {"PATH", bin},
      {"GCE_METADATA_HOST", base_.metadata_host}};
  base_.access_token = "ya29.FROM-OPTION";
  std::string source;
  EXPECT_EQ(*token_with(env, &source), "ya29.FROM-OPTION");
  base_.access_token.clear();
  EXPECT_EQ(*token_with(env, &source), "ya29.FROM-ENV");
  EXPECT_EQ(source, "the token in GOOGLE_OAUTH_ACCESS_TOKEN");
  env.erase("GOOGLE_OAUTH_ACCESS_TOKEN");
  EXPECT_EQ(*token_with(env, &source), "ya29.FROM-FILE");
  EXPECT_NE(source.find("GOOGLE_OAUTH_ACCESS_TOKEN_FILE"), std::string::npos) << source;
  EXPECT_EQ(gcloud_runs(), 0);  // never run while a file has the token
  env.erase("GOOGLE_OAUTH_ACCESS_TOKEN_FILE");
  EXPECT_EQ(*token_with(env, &source), "ya29.FROM-GCLOUD");
  EXPECT_NE(source.find("gcloud"), std::string::npos) << source;
  EXPECT_EQ(gcloud_runs(), 1);
  EXPECT_EQ(metadata_.seen().size(), 0u);  // gcloud answered: the metadata server is not asked
  env.erase("PATH");
  EXPECT_EQ(*token_with(env, &source), "ya29.FROM-METADATA");
  EXPECT_NE(source.find("GCE_METADATA_HOST"), std::string::npos) << source;
  ASSERT_EQ(metadata_.seen().size(), 1u);
  EXPECT_EQ(metadata_.seen()[0].headers["metadata-flavor"], "Google");
}

TEST_F(GcsTokenTest, TheOptionFileBeatsTheEnvironmentsFileAndANamedFileMustBeReadable) {
  dir_.write("a", "ya29.A\n");
  dir_.write("b", "ya29.B\n");
  base_.token_file = dir_ / "a";
  EXPECT_EQ(*token_with({{"GOOGLE_OAUTH_ACCESS_TOKEN_FILE", (dir_ / "b").string()}}), "ya29.A");
  base_.token_file = dir_ / "missing";
  Result<std::string> missing = token_with({});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found) << missing.error().message;
  EXPECT_NE(missing.error().message.find("token file"), std::string::npos);
  // A broken token is refused without being quoted.
  dir_.write("broken", "ya29.SECRET PART\nsecond line\n");
  base_.token_file = dir_ / "broken";
  Result<std::string> broken = token_with({});
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().message.find("SECRET"), std::string::npos) << broken.error().message;
  dir_.write("empty", "\n");
  base_.token_file = dir_ / "empty";
  EXPECT_FALSE(token_with({}).ok());
}

TEST_F(GcsTokenTest, TheMetadataServerIsNeverProbedUnlessNamedOrOnGce) {
  // Not GCE, no GCE_METADATA_HOST, no gcloud: nothing to try, and nothing contacted.
  const auto start = std::chrono::steady_clock::now();
  Result<std::string> none = token_with({{"PATH", (dir_ / "nowhere").string()}});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Errc::permission_denied);
  const std::string& m = none.error().message;
  for (const char* tried : {"GOOGLE_OAUTH_ACCESS_TOKEN (not set)", "a token file",
                            "gcloud (not on PATH)", "not asked: GCE_METADATA_HOST is not set"}) {
    EXPECT_NE(m.find(tried), std::string::npos) << tried << " in " << m;
  }
  EXPECT_EQ(metadata_.seen().size(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  // A failing gcloud does not make the chain probe a metadata server it may not ask.
  const std::string bin = fake_gcloud("",
                                      "ERROR: (gcloud.auth.print-access-token) You do not "
                                      "currently have an active account selected.");
  Result<std::string> failed = token_with({{"PATH", bin}});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, Errc::permission_denied);
  EXPECT_NE(failed.error().message.find("active account"), std::string::npos)
      << failed.error().message;
  EXPECT_NE(failed.error().message.find("not asked"), std::string::npos);
  EXPECT_EQ(metadata_.seen().size(), 0u);
  // The same machine saying it is GCE: the default metadata host is asked (here the fake).
  dir_.write("product_name", "Google Compute Engine\n");
  std::string source;
  EXPECT_EQ(*token_with({}, &source), "ya29.FROM-METADATA");
  EXPECT_NE(source.find("Google Compute Engine"), std::string::npos) << source;
  EXPECT_EQ(metadata_.seen().size(), 1u);
}

TEST_F(GcsTokenTest, AFailingGcloudIsAskedOnceAndASlowOneIsKilled) {
  const std::string bin = fake_gcloud("", "ERROR: not logged in");
  GcsOptions o = base_;
  o.env = env_of({{"PATH", bin}});
  Result<std::unique_ptr<gcs::TokenProvider>> p = gcs::TokenProvider::create(o, false);
  ASSERT_TRUE(p.ok()) << p.error().message;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE((*p)->token().ok());
  EXPECT_EQ(gcloud_runs(), 1);

  fake_gcloud("ya29.SLOW", "", 20);
  o.gcloud_timeout = 1s;
  p = gcs::TokenProvider::create(o, false);
  ASSERT_TRUE(p.ok());
  const auto start = std::chrono::steady_clock::now();
  Result<std::string> slow = (*p)->token();
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().code, Errc::unavailable) << slow.error().message;
  EXPECT_NE(slow.error().message.find("did not finish within 1 s"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // Nothing of it is left running (a zombie awaiting init is dead).
  const std::string sleeper = "/proc/" + st::slurp(dir_ / "sleep-pid");
  std::string state;
  for (int i = 0; i < 100; ++i) {
    std::ifstream stat(sleeper.substr(0, sleeper.find('\n')) + "/stat");
    std::string pid, comm;
    state.clear();
    if (!(stat >> pid >> comm >> state) || state == "Z") break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(state.empty() || state == "Z") << "the grandchild is still " << state;
}

TEST_F(GcsTokenTest, AnUnreachableMetadataServerIsUnavailable) {
  Result<std::string> token =
      token_with({{"GCE_METADATA_HOST", "127.0.0.1:" + std::to_string(st::free_port())}});
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().code, Errc::unavailable) << token.error().message;
  metadata_.json("/computeMetadata/v1/instance/service-accounts/default/token", "{}", 200);
  token = token_with({{"GCE_METADATA_HOST", base_.metadata_host}});
  ASSERT_FALSE(token.ok());
  EXPECT_NE(token.error().message.find("no access_token"), std::string::npos);
}

TEST_F(GcsTokenTest, ATestServerNeedsNoToken) {
  GcsOptions o = base_;
  o.env = env_of(
      {{"STORAGE_EMULATOR_HOST", "127.0.0.1:4443"}, {"GCE_METADATA_HOST", base_.metadata_host}});
  Result<gcs::Endpoint> endpoint = gcs::resolve_endpoint(o);
  ASSERT_TRUE(endpoint.ok());
  EXPECT_EQ(endpoint->url, "http://127.0.0.1:4443");
  EXPECT_TRUE(endpoint->emulator);
  Result<std::unique_ptr<gcs::TokenProvider>> p = gcs::TokenProvider::create(o, true);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*(*p)->token(), "");
  EXPECT_EQ(metadata_.seen().size(), 0u);
  o.env = env_of({});
  endpoint = gcs::resolve_endpoint(o);
  EXPECT_EQ(endpoint->url, "https://storage.googleapis.com");
  o.endpoint = "ftp://x";
  EXPECT_FALSE(gcs::resolve_endpoint(o).ok());
}

// The chain end to end: the token a fake gcloud prints is what the server receives.
TEST_F(GcsStoreTest, TheTokenFromGcloudReachesTheServer) {
  st::ScratchDir bin;
  bin.write("gcloud", std::string("#!/bin/sh\necho ") + kToken + "\n");
  ::chmod((bin / "gcloud").c_str(), 0755);
  st::ScratchDir dmi;
  dmi.write("product_name", "Standard PC\n");
  GcsOptions o = options(test_prefix(), secured_->endpoint());
  o.anonymous = false;
  o.dmi_product_name = dmi / "product_name";
  o.env = env_of({{"PATH", bin.path().string()}});
  auto store = open(o);
  ASSERT_TRUE(store);
  st::put_object(*store, "via-gcloud.json", "{}");
  EXPECT_TRUE(*store->exists("via-gcloud.json"));
}

// gcloud prints its cached token, which may expire during a run: a 401 asks again, once.
TEST_F(GcsStoreTest, A401WithAGcloudTokenAsksGcloudAgainOnce) {
  st::ScratchDir bin;
  const std::string runs = (bin / "runs").string();
  bin.write("gcloud", "#!/bin/sh\necho run >> '" + runs + "'\n[ \"$(wc -l < '" + runs +
                          "')\" -eq 1 ] && echo ya29.EXPIRED || echo " + kToken + "\n");
  ::chmod((bin / "gcloud").c_str(), 0755);
  st::ScratchDir dmi;
  dmi.write("product_name", "Standard PC\n");
  GcsOptions o = options(test_prefix(), secured_->endpoint());
  o.anonymous = false;
  o.dmi_product_name = dmi / "product_name";
  o.env = env_of({{"PATH", bin.path().string()}});
  auto store = open(o);
  ASSERT_TRUE(store);
  st::put_object(*store, "a.json", "{}");  // 401 with the expired token, then the new one
  EXPECT_EQ(*store->read("a.json", 10), "{}");
  EXPECT_EQ(st::slurp(bin / "runs"), "run\nrun\n");

  // A token that is refused whatever gcloud says: one more ask, then "could not be evaluated".
  bin.write("gcloud", "#!/bin/sh\necho run >> '" + runs + "'\necho ya29.ALWAYS-EXPIRED\n");
  auto refused = open(o);
  Result<ObjectInfo> info = refused->stat("a.json");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Errc::permission_denied) << info.error().message;
  EXPECT_NE(info.error().message.find("HTTP 401"), std::string::npos) << info.error().message;
  EXPECT_EQ(st::slurp(bin / "runs"), "run\nrun\nrun\nrun\n");
  EXPECT_EQ(info.error().message.find("ALWAYS-EXPIRED"), std::string::npos);

  // A token of the caller's own is not asked for again.
  o.env = env_of({{"GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.UNKNOWN"}});
  auto fixed = open(o);
  info = fixed->stat("a.json");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Errc::permission_denied);
  EXPECT_NE(info.error().message.find("GOOGLE_OAUTH_ACCESS_TOKEN"), std::string::npos);
}

// ---- the driver -------------------------------------------------------------------------------

class GcsDriverTest : public GcsStoreTest {
 protected:
  st::DriverRun run(const std::string& args, const std::string& env) {
    return st::run_driver(args, "env -i HOME='" + home_.path().string() + "' " + env);
  }
  static std::string emulator(const st::GcsTestServer* server) {
    return "STORAGE_EMULATOR_HOST=127.0.0.1:" + std::to_string(server->port());
  }
  st::ScratchDir home_;
};

TEST_F(GcsDriverTest, ForbiddenBucketIsExit3AndNoSecretAnywhere) {
  st::ScratchDir out;
  const std::string report = (out / "report.json").string();
  st::DriverRun r = run("preflight --root gs://testbucket/" + test_prefix() +
                            " --scene-id kitchen_001 --consumer training --report-json '" + report +
                            "' --junit '" + (out / "junit.xml").string() + "'",
                        emulator(secured_) + " GOOGLE_OAUTH_ACCESS_TOKEN=" + kWrongToken);
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("refused: HTTP 403"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GOOGLE_OAUTH_ACCESS_TOKEN"), std::string::npos) << r.out;
  EXPECT_FALSE(st::slurp(report).empty());
  for (const std::string& text : {r.out, r.err, st::slurp(report), st::slurp(out / "junit.xml")}) {
    EXPECT_EQ(text.find("WRONG-SECRET"), std::string::npos);
  }
}

TEST_F(GcsDriverTest, ATokenFileOptionIsUsed) {
  home_.write("token", std::string(kToken) + "\n");
  st::DriverRun r = run("preflight --root gs://testbucket/" + test_prefix() +
                            " --scene-id kitchen_001 --consumer training --gcs-token-file '" +
                            (home_ / "token").string() + "'",
                        emulator(secured_));
  EXPECT_EQ(r.code, 1) << r.out << r.err;  // nothing there: blocked, marker written
  EXPECT_NE(r.out.find("Wrote failure marker"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("GCS-SECRET"), std::string::npos);
}

TEST_F(GcsDriverTest, UsageErrorsAreExit2) {
  // Google's endpoint and no token source at all: refused before anything runs.
  st::DriverRun r = run("preflight --root gs://testbucket/x --scene-id s --consumer training", "");
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("no GCS access token: tried"), std::string::npos) << r.err;
  r = run("preflight --root gs://Bad_Bucket --scene-id s --consumer training", emulator(server_));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("not a valid bucket name"), std::string::npos) << r.err;
  r = run("preflight --root gs://testbucket --scene-id s --consumer training --gcs-api xml",
          emulator(server_));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--gcs-api must be json or s3"), std::string::npos) << r.err;
  r =
      run("preflight --root gs://testbucket --scene-id s --consumer training --gcs-token-file "
          "/nonexistent/token",
          "");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/nonexistent/token"), std::string::npos) << r.err;
  r = run("run --help", "");
  EXPECT_NE(r.out.find("--gcs-api"), std::string::npos);
  EXPECT_NE(r.out.find("gs://BUCKET"), std::string::npos);
}

}  // namespace
}  // namespace stagecheck
