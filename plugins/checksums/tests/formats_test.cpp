// Digest algorithms, the BSD --tag text form, Unicode normalisation, the import manifest's
// checksums block (with its self-entry), and cancellation.

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "checksums_test_util.hpp"

namespace {

using namespace checksums_test;

class FormatsTest : public ::testing::Test {
 protected:
  CheckResult run(const std::string& manifest, const std::string& params = "") const {
    return run_check(make_spec(manifest, params), root_.path());
  }
  ScratchDir root_;
};

TEST_F(FormatsTest, Sha512TextManifestWithAlgorithmParam) {
  root_.write("d/a.bin", "alpha\n");
  root_.write("d/b.bin", "bravo\n");
  root_.write("d/SHA512SUMS",
              sha512_hex("alpha\n") + "  a.bin\n" + sha512_hex("bravo\n") + " *b.bin\n");
  const CheckResult r = run("d/SHA512SUMS", "algorithm: sha512");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["algorithms"], nlohmann::json({"sha512"}));
  // The default (sha256) refuses 128-character digests, naming the line.
  const CheckResult d = run("d/SHA512SUMS");
  EXPECT_EQ(d.status, Status::fail);
  EXPECT_TRUE(contains(d.message, "line 1: a digest of 128 characters")) << d.message;
  EXPECT_TRUE(contains(d.message, "expected 64 hex characters for sha256")) << d.message;
}

TEST_F(FormatsTest, AutoAlgorithmInfersFromLength) {
  root_.write("d/a.bin", "alpha\n");
  root_.write("d/b.bin", "bravo\n");
  root_.write("d/sums", md5_hex("alpha\n") + "  a.bin\n" + sha1_hex("bravo\n") + "  b.bin\n");
  const CheckResult r = run("d/sums", "algorithm: auto");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["algorithms"], nlohmann::json({"md5", "sha1"}));
  root_.write("d/b.bin", "BRAVO\n");
  const CheckResult t = run("d/sums", "algorithm: auto");
  EXPECT_EQ(t.status, Status::fail);
  EXPECT_TRUE(contains(t.message, "mismatch: b.bin (expected sha1 " + sha1_hex("bravo\n")))
      << t.message;
  // A length that is no algorithm's fails.
  root_.write("d/sums", std::string(50, 'a') + "  a.bin\n");
  const CheckResult b = run("d/sums", "algorithm: auto");
  EXPECT_EQ(b.status, Status::fail);
  EXPECT_TRUE(contains(b.message, "expected 64, 128, 40 or 32 hex characters")) << b.message;
}

TEST_F(FormatsTest, BsdTagFormIsRead) {
  root_.write("d/a b.bin", "alpha\n");
  root_.write("d/c.bin", "charlie\n");
  root_.write("d/CHECKSUMS", "SHA256 (a b.bin) = " + sha256_hex("alpha\n") +
                                 "\nMD5 (c.bin) = " + md5_hex("charlie\n") + "\n");
  const CheckResult r = run("d/CHECKSUMS", "algorithm: auto");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["files"], 2);
  // With an explicit algorithm, a line naming another fails.
  const CheckResult f = run("d/CHECKSUMS", "algorithm: sha256");
  EXPECT_EQ(f.status, Status::fail);
  EXPECT_TRUE(contains(f.message, "line 2: the line names md5, but the spec expects sha256"))
      << f.message;
  root_.write("d/CHECKSUMS", "CRC32 (c.bin) = 1234abcd\n");
  const CheckResult u = run("d/CHECKSUMS");
  EXPECT_EQ(u.status, Status::fail);
  EXPECT_TRUE(contains(u.message, "algorithm \"CRC32\" is not supported")) << u.message;
}

TEST_F(FormatsTest, ChecksumsJsonNamesItsAlgorithm) {
  root_.write("d/a.bin", "alpha\n");
  const nlohmann::json doc = {
      {"algorithm", "sha512"},
      {"files", {{"a.bin", {{"sha512", sha512_hex("alpha\n")}, {"size_bytes", 6}}}}}};
  root_.write("d/checksums.json", doc.dump());
  const CheckResult r = run("d/checksums.json");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["algorithms"], nlohmann::json({"sha512"}));
  const CheckResult c = run("d/checksums.json", "algorithm: sha256");
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_TRUE(contains(c.message, "\"algorithm\" is \"sha512\", but the spec expects sha256"))
      << c.message;
  // The entry key follows the algorithm: a "sha256" key is not a sha512 digest.
  root_.write("d/checksums.json",
              nlohmann::json{{"algorithm", "sha512"},
                             {"files", {{"a.bin", {{"sha256", sha256_hex("alpha\n")}}}}}}
                  .dump());
  const CheckResult k = run("d/checksums.json");
  EXPECT_EQ(k.status, Status::fail);
  EXPECT_TRUE(contains(k.message, "no \"sha512\" string")) << k.message;
}

TEST_F(FormatsTest, NfcDuplicatesAndInvalidUtf8Fail) {
  root_.write("d/caf\xc3\xa9.txt", "x");
  const std::string d = sha256_hex("x");
  // Precomposed and decomposed "café": one name after NFC normalisation.
  root_.write("d/checksums.json",
              "{\"caf\xc3\xa9.txt\": \"" + d + "\", \"cafe\xcc\x81.txt\": \"" + d + "\"}");
  const CheckResult r = run("d/checksums.json");
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "after Unicode NFC normalisation")) << r.message;
  EXPECT_EQ(r.observed["invalid_entries"], 1);
  root_.write("d/SUMS", d + "  bad\xff.txt\n");
  const CheckResult u = run("d/SUMS");
  EXPECT_EQ(u.status, Status::fail);
  EXPECT_TRUE(contains(u.message, "line 1: path \"bad\\xff.txt\" is not valid UTF-8")) << u.message;
}

TEST_F(FormatsTest, OptionalParamSkipsAMissingManifest) {
  const CheckResult r = run("d/checksums.json", "optional: true");
  EXPECT_EQ(r.status, Status::skipped) << r.message;
  EXPECT_EQ(r.observed["exists"], false);
  const CheckResult f = run("d/checksums.json");
  EXPECT_EQ(f.status, Status::fail);
  EXPECT_EQ(f.code, "checksums_manifest_missing");
}

TEST_F(FormatsTest, RootDotIsTheStoreRoot) {
  root_.write("data/a.bin", "alpha\n");
  root_.write("meta/checksums.json", nlohmann::json{{"data/a.bin", sha256_hex("alpha\n")}}.dump());
  const CheckResult r = run("meta/checksums.json", "root: .\nunlisted: tree");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  root_.write("stray.txt", "x");
  const CheckResult u = run("meta/checksums.json", "root: .\nunlisted: tree");
  EXPECT_EQ(u.status, Status::fail);
  EXPECT_TRUE(contains(u.message, "unlisted: stray.txt")) << u.message;
}

// --- Import manifest (reference section 7 B) ---------------------------------------------------

/// An import manifest whose self-entry was computed with Python 3.11:
/// json.dumps(doc_without_entry, sort_keys=True, separators=(",", ":")), then sha256. It holds
/// the value types that make canonical JSON hard: floats in both notations, -0.0, subnormals,
/// big integers, non-ASCII (BMP and astral) and control characters, DEL, unsorted keys.
const char* kImportManifest = R"({
  "schema_version": "1.3",
  "scene_id": "caf\u00e9 \u65e5\u672c \ud83d\ude00",
  "weird": "tab\there \"quoted\" back\\slash \u0001 del\u007f",
  "numbers": [0.1, 1e-05, 0.0001, 1e16, 1e15, 123456789.125, -0.0, 2.5e-310, 1.7976931348623157e308, 3.0, 100, -7, 12345678901234567890, 0.30000000000000004, 1e22, 5e-324],
  "flags": {"b": true, "a": false, "n": null, "Z": [], "é": {}},
  "checksums": {
    "metadata": {
      "lerobot/meta/info.json": {"sha256": "a1c50e3f27aade3e9a80a5bb80fcae0722e3d7408bcb37f597d67f000a490e13", "size_bytes": 14},
      "import_manifest.json": {"sha256": "99b47e3bba208e8e91ecf789b4112f45173a264e5d0840a9915b3f6196ffd127"}
    },
    "bundle_files": {
      "lerobot/data/episode_000000.parquet": {"sha256": "39f039539578bea103f73bb9018e0285ba31cdcc6ed24463d60a87c4d6916a92", "size_bytes": 9},
      "lerobot/meta/info.json": "a1c50e3f27aade3e9a80a5bb80fcae0722e3d7408bcb37f597d67f000a490e13"
    },
    "episodes": [{"episode_id": "episode_000000", "file_name": "episode_000000.parquet", "sha256": "39f039539578bea103f73bb9018e0285ba31cdcc6ed24463d60a87c4d6916a92"}]
  }
})";

class ImportManifestTest : public FormatsTest {
 protected:
  void SetUp() override {
    root_.write("job/lerobot/meta/info.json", "{\"fps\": 30.0}\n");
    root_.write("job/lerobot/data/episode_000000.parquet", "PAR1data!");
    root_.write("job/import_manifest.json", kImportManifest);
  }
};

TEST_F(ImportManifestTest, MetadataBundleFilesAndSelfEntryVerify) {
  ASSERT_EQ(sha256_hex("{\"fps\": 30.0}\n"),
            "a1c50e3f27aade3e9a80a5bb80fcae0722e3d7408bcb37f597d67f000a490e13");
  const CheckResult r = run("job/import_manifest.json", "unlisted: tree");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["format"], "import_manifest");
  EXPECT_EQ(r.observed["files"], 2);  // info.json is listed twice, hashed once
}

TEST_F(ImportManifestTest, EditedManifestFailsItsSelfChecksum) {
  std::string text = kImportManifest;
  text.replace(text.find("\"1.3\""), 5, "\"1.4\"");
  root_.write("job/import_manifest.json", text);
  const CheckResult r = run("job/import_manifest.json", "format: import_manifest");
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_manifest_invalid");
  EXPECT_TRUE(contains(r.message,
                       "checksums.metadata[\"import_manifest.json\"]: self-checksum "
                       "mismatch in job/import_manifest.json (expected sha256 "
                       "99b47e3bba208e8e91ecf789b4112f45173a264e5d0840a9915b3f6196ffd127"))
      << r.message;
  // A reformatted but equal document keeps its self-checksum: only the value counts.
  root_.write("job/import_manifest.json", nlohmann::json::parse(kImportManifest).dump(4));
  const CheckResult same = run("job/import_manifest.json");
  EXPECT_EQ(same.status, Status::pass) << same.message;
}

TEST_F(ImportManifestTest, TamperedBundleFileFails) {
  root_.write("job/lerobot/data/episode_000000.parquet", "PAR1DATA!");
  const CheckResult r = run("job/import_manifest.json");
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksum_mismatch");
  EXPECT_TRUE(contains(r.message, "mismatch: lerobot/data/episode_000000.parquet")) << r.message;
}

TEST_F(ImportManifestTest, MalformedChecksumsBlockFails) {
  root_.write("job/import_manifest.json", R"({"checksums": {"episodes": []}})");
  const CheckResult r = run("job/import_manifest.json");
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "has no \"metadata\", \"bundle_files\" or \"files\""))
      << r.message;
  root_.write("job/import_manifest.json", R"({"checksums": {"bundle_files": {"a": 3}}})");
  const CheckResult e = run("job/import_manifest.json");
  EXPECT_EQ(e.status, Status::fail);
  EXPECT_TRUE(contains(e.message, "checksums.bundle_files[\"a\"]: entry is number")) << e.message;
  root_.write("job/import_manifest.json", R"({"checksums": 7})");
  const CheckResult n = run("job/import_manifest.json", "format: import_manifest");
  EXPECT_EQ(n.status, Status::fail);
  EXPECT_TRUE(contains(n.message, "\"checksums\" is number, expected an object")) << n.message;
}

TEST_F(FormatsTest, CancelStopsHashingPromptly) {
  // A 64 GiB sparse file: hashing it whole would take half a minute or more; the run is
  // cancelled while it hashes and must end as interrupted, not with a verdict.
  const std::filesystem::path big = root_ / "d/huge.bin";
  root_.write("d/huge.bin", "");
  ASSERT_EQ(truncate(big.c_str(), 64ll << 30), 0);
  root_.write("d/checksums.json",
              nlohmann::json{{"files", {{"huge.bin", {{"sha256", std::string(64, 'a')}}}}}}.dump());
  std::atomic<bool> cancel{false};
  RunOptions options;
  options.cancel = &cancel;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  const CheckResult r = run_check(make_spec("d/checksums.json"), root_.path(), {}, options);
  stopper.join();
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_TRUE(contains(r.message, "interrupted while hashing")) << r.message;
}

}  // namespace

namespace {

TEST(ChecksumsExamples, ChecksumsJsonSpecVerifiesTheGoldenFixtureThroughTheDriver) {
  const std::filesystem::path fixture = STAGECHECK_SOURCE_DIR
      "/../shared/fixtures/pipeline-golden/dataset_regression/baseline_dataset";
  if (!std::filesystem::exists(fixture / "checksums.json")) {
    GTEST_SKIP() << "fixture absent: " << fixture.string();
  }
  const std::string spec = STAGECHECK_SOURCE_DIR "/examples/dataset/checksums.yaml";
  const DriverRun ok = run_driver("run '" + spec + "' --root '" + fixture.string() + "' -q");
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  // The same spec on a dataset of our own (the fixture is only ever read in place) with one
  // changed recording: exit 1, the file named.
  ScratchDir mine;
  mine.write("recordings/episode_000001.json", "{\"episode\": 1}\n");
  mine.write(
      "checksums.json",
      nlohmann::json{{"files",
                      {{"recordings/episode_000001.json",
                        {{"sha256", sha256_hex("{\"episode\": 1}\n")}, {"size_bytes", 15}}}}}}
          .dump());
  EXPECT_EQ(run_driver("run '" + spec + "' --root '" + mine.path().string() + "' -q").code, 0);
  mine.write("recordings/episode_000001.json", "{\"episode\": 2}\n");
  const DriverRun bad = run_driver("run '" + spec + "' --root '" + mine.path().string() + "' -q");
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  EXPECT_TRUE(contains(bad.out, "mismatch: recordings/episode_000001.json")) << bad.out;
}

}  // namespace
