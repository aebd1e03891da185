// HMAC-SHA256 signatures of the import checksums.json (reference section 7 A).

#include <openssl/hmac.h>

#include <string>

#include "checksums_test_util.hpp"

namespace {

using namespace checksums_test;

constexpr const char* kKey = "supersecret";

/// A signed checksums.json; the signature was computed with Python 3.11:
/// hmac.new(b"supersecret", json.dumps(payload, sort_keys=True, separators=(",", ":"))
/// .encode(), hashlib.sha256).hexdigest(), where payload is the document without "signature".
const char* kSigned = R"({
  "generated_at": "2026-01-01T00:00:00Z",
  "root": ".",
  "algorithm": "sha256",
  "files": {
    "a.bin": {"sha256": "b6a98d9ce9a2d9149288fa3df42d377c3e42737afdcdaf714e33c0a100b51060", "size_bytes": 6},
    "sub/c\u00e9.json": {"sha256": "67e2e87c01983e4a5fa011e64437723a6778a733ac54ed2ef2ca4bd7b7afee2b", "size_bytes": 8}
  },
  "signature": {"alg": "HMAC-SHA256", "value": "659addb321f2d5e34615396508bcad698ec4bf6bde9a2fa8cbd6a3163bd2ffc7", "key_id": "unit-test"}
})";

const char* kVars = "key: {type: local_path, secret: true}";

class SignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.write("d/a.bin", "alpha\n");
    root_.write("d/sub/c\xc3\xa9.json", R"({"c": 3})");
    root_.write("d/checksums.json", kSigned);
    keys_.write("good.key", std::string(kKey) + "\n");
    keys_.write("wrong.key", "notthekey");
  }

  CheckResult run(const std::string& params, const std::string& key_file = "good.key") const {
    return run_check(make_spec("d/checksums.json", params, kVars), root_.path(),
                     {{"key", (keys_ / key_file).string()}});
  }

  /// Fails the test if the key shows anywhere in the result.
  static void expect_no_key(const CheckResult& r) {
    for (const std::string& text :
         {r.message, r.observed.dump(), r.expected.dump(), r.details.dump()}) {
      EXPECT_FALSE(contains(text, kKey)) << text;
    }
  }

  ScratchDir root_;
  ScratchDir keys_;
};

TEST_F(SignatureTest, GoodSignaturePasses) {
  const CheckResult r = run("hmac_key_file: $key");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["signature"], "verified (key_id \"unit-test\")");
  EXPECT_EQ(r.observed["files"], 2);
  expect_no_key(r);
}

TEST_F(SignatureTest, TamperedManifestFails) {
  // The attacker changes a file and its digest in the manifest, but cannot re-sign.
  root_.write("d/a.bin", "ALPHA\n");
  std::string text = kSigned;
  text.replace(text.find("b6a98d9c"), 64, sha256_hex("ALPHA\n"));
  root_.write("d/checksums.json", text);
  const CheckResult r = run("hmac_key_file: $key");
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_signature_invalid");
  EXPECT_TRUE(contains(r.message,
                       "does not match the HMAC-SHA256 of the manifest (key_id "
                       "\"unit-test\")"))
      << r.message;
  expect_no_key(r);
  // Without a key the same manifest is verified by digest only (and passes): the signature is
  // reported as not verified.
  const CheckResult n = run_check(make_spec("d/checksums.json"), root_.path());
  EXPECT_EQ(n.status, Status::pass) << n.message;
  EXPECT_EQ(n.observed["signature"], "present, not verified (no key configured)");
}

TEST_F(SignatureTest, WrongKeyFails) {
  const CheckResult r = run("hmac_key_file: $key", "wrong.key");
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_signature_invalid");
  EXPECT_FALSE(contains(r.message, "notthekey")) << r.message;
}

TEST_F(SignatureTest, MissingSignatureWithKeyFailsUnlessOptional) {
  nlohmann::json doc = nlohmann::json::parse(kSigned);
  doc.erase("signature");
  root_.write("d/checksums.json", doc.dump(2));
  const CheckResult r = run("hmac_key_file: $key");
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_signature_invalid");
  EXPECT_TRUE(contains(r.message, "no \"signature\"")) << r.message;
  const CheckResult o = run("hmac_key_file: $key\nsignature: optional");
  EXPECT_EQ(o.status, Status::pass) << o.message;
  EXPECT_EQ(o.observed["signature"], "absent (optional)");
}

TEST_F(SignatureTest, MalformedSignatureFails) {
  nlohmann::json doc = nlohmann::json::parse(kSigned);
  for (const nlohmann::json& sig :
       {nlohmann::json("abc"),
        nlohmann::json{{"alg", "HMAC-SHA1"}, {"value", std::string(64, 'a')}},
        nlohmann::json{{"alg", "HMAC-SHA256"}, {"value", ""}},
        nlohmann::json{{"alg", "HMAC-SHA256"}, {"value", std::string(64, 'a')}, {"key_id", 3}}}) {
    doc["signature"] = sig;
    root_.write("d/checksums.json", doc.dump());
    const CheckResult r = run("hmac_key_file: $key");
    EXPECT_EQ(r.status, Status::fail) << sig.dump();
    EXPECT_EQ(r.code, "checksums_signature_invalid") << r.message;
  }
}

TEST_F(SignatureTest, SignatureComputedHereMatchesAnyDocumentOrder) {
  // Sign a document with another key order and spacing: the canonical form decides.
  const std::string body =
      R"({"files":{"a.bin":{"size_bytes":6,"sha256":"b6a98d9ce9a2d9149288fa3df42d377c3e42737afdcdaf714e33c0a100b51060"}},"algorithm":"sha256"})";
  const std::string canonical =
      R"({"algorithm":"sha256","files":{"a.bin":{"sha256":"b6a98d9ce9a2d9149288fa3df42d377c3e42737afdcdaf714e33c0a100b51060","size_bytes":6}}})";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), kKey, 11, reinterpret_cast<const unsigned char*>(canonical.data()),
       canonical.size(), mac, &length);
  std::string hex;
  for (unsigned i = 0; i < length; ++i) hex += fmt::format("{:02x}", mac[i]);
  root_.write("d/checksums.json", body.substr(0, body.size() - 1) +
                                      R"(, "signature": {"value": ")" + hex +
                                      R"(", "alg": "HMAC-SHA256"}})");
  const CheckResult r = run("hmac_key_file: $key\nunlisted: none");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["signature"], "verified");
}

TEST_F(SignatureTest, KeyFromEnvironmentIsRefusedOutsideAnEmbeddingJob) {
  const CheckResult r =
      run_check(make_spec("d/checksums.json", "hmac_key_env: CHECKSUMS_HMAC_KEY"), root_.path());
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_TRUE(contains(r.message, "only allowed when embedded")) << r.message;
}

TEST_F(SignatureTest, KeyFromEnvironmentWhenAllowed) {
  ASSERT_EQ(setenv("STAGECHECK_TEST_HMAC_KEY", kKey, 1), 0);
  RunOptions options;
  options.allow_process_env = true;
  const CheckResult r =
      run_check(make_spec("d/checksums.json", "hmac_key_env: STAGECHECK_TEST_HMAC_KEY"),
                root_.path(), {}, options);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  ASSERT_EQ(setenv("STAGECHECK_TEST_HMAC_KEY", "other", 1), 0);
  const CheckResult w =
      run_check(make_spec("d/checksums.json", "hmac_key_env: STAGECHECK_TEST_HMAC_KEY"),
                root_.path(), {}, options);
  EXPECT_EQ(w.status, Status::fail);
  unsetenv("STAGECHECK_TEST_HMAC_KEY");
  const CheckResult u =
      run_check(make_spec("d/checksums.json", "hmac_key_env: STAGECHECK_TEST_HMAC_KEY"),
                root_.path(), {}, options);
  EXPECT_EQ(u.status, Status::error) << u.message;
  EXPECT_TRUE(contains(u.message, "is not set")) << u.message;
}

TEST_F(SignatureTest, SpecErrorsForInconsistentSignatureParams) {
  EXPECT_TRUE(
      contains(spec_error(make_spec("d/checksums.json", "signature: required"), root_.path()),
               "needs a key"));
  EXPECT_TRUE(contains(
      spec_error(make_spec("d/checksums.json", "hmac_key_env: K\nformat: flat_json"), root_.path()),
      "checksums_json manifests only"));
}

TEST_F(SignatureTest, DriverExitCodes) {
  ScratchDir specs;
  specs.write("spec.yaml", make_spec("d/checksums.json", "hmac_key_file: $key", kVars));
  const std::string base = "run '" + (specs / "spec.yaml").string() + "' --root '" +
                           root_.path().string() + "' -q --var key=";
  const DriverRun ok = run_driver(base + "'" + (keys_ / "good.key").string() + "'");
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  const DriverRun bad = run_driver(base + "'" + (keys_ / "wrong.key").string() + "'");
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  EXPECT_FALSE(contains(bad.out + bad.err, kKey));
}

}  // namespace
