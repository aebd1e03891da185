// Tests of the checksums check, through specs run in-process with the in-tree plugins.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <stagecheck_test_support.hpp>

namespace {

using namespace stagecheck;
using namespace stagecheck::testing;

constexpr const char* kCheckId = "integrity.files";

/// SHA-256 of `data` as lower-case hex, computed independently of the plugin.
std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

/// A spec with one checksums check; `params` are extra lines under the check.
std::string spec(const std::string& manifest, const std::string& params = "") {
  std::string text = fmt::format(R"(version: 1
name: checksums-test
stages:
  - id: integrity
    checks:
      - id: files
        type: checksums
        manifest: {}
)",
                                 manifest);
  for (std::size_t start = 0; start < params.size();) {
    std::size_t end = params.find('\n', start);
    if (end == std::string::npos) end = params.size();
    text += "        " + params.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return text;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class ChecksumsTest : public ::testing::Test {
 protected:
  /// Writes data/<name> and remembers its digest and size.
  void put(const std::string& name, const std::string& body) {
    root_.write("data/" + name, body);
    files_.push_back({name, body});
  }

  void put_standard() {
    put("a.bin", "alpha\n");
    put("b.txt", "bravo bravo\n");
    put("sub/c.json", R"({"c": 3})");
  }

  std::string checksums_json() const {
    nlohmann::json files = nlohmann::json::object();
    for (const auto& [name, body] : files_) {
      files[name] = {{"sha256", sha256_hex(body)}, {"size_bytes", body.size()}};
    }
    return nlohmann::json{{"generated_at", "2026-01-01T00:00:00Z"},
                          {"root", "."},
                          {"algorithm", "sha256"},
                          {"files", files}}
        .dump(2);
  }

  std::string flat_json() const {
    nlohmann::json files = nlohmann::json::object();
    for (const auto& [name, body] : files_) files[name] = sha256_hex(body);
    return files.dump(2);
  }

  std::string sha256sum_text() const {
    std::string out;
    bool binary = false;
    for (const auto& [name, body] : files_) {
      out += sha256_hex(body) + (binary ? " *" : "  ") + name + "\n";
      binary = !binary;
    }
    return out;
  }

  CheckResult result(const std::string& spec_text, unsigned jobs = 0) const {
    RunOptions options;
    options.jobs = jobs;
    RunOutcome out = run_spec_text(spec_text, root_.path(), {}, options);
    EXPECT_TRUE(out.report.has_value()) << out.error;
    if (!out.report) return {};
    const CheckResult* r = find_result(*out.report, kCheckId);
    EXPECT_NE(r, nullptr);
    return r != nullptr ? *r : CheckResult{};
  }

  /// Writes `manifest_body` as data/checksums.json and runs the check on it.
  CheckResult run_json(const std::string& manifest_body, const std::string& params = "",
                       unsigned jobs = 0) {
    root_.write("data/checksums.json", manifest_body);
    return result(spec("data/checksums.json", params), jobs);
  }

  ScratchDir root_;
  std::vector<std::pair<std::string, std::string>> files_;
};

TEST_F(ChecksumsTest, ChecksumsJsonPasses) {
  put_standard();
  const CheckResult r = run_json(checksums_json());
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["files"], 3);
  EXPECT_EQ(r.observed["format"], "checksums_json");
  EXPECT_EQ(r.observed["bytes"], 6 + 12 + 8);
  EXPECT_EQ(r.message, "3 files verified (26 bytes) against data/checksums.json");
  EXPECT_TRUE(r.code.empty());
}

TEST_F(ChecksumsTest, FlatJsonPasses) {
  put_standard();
  root_.write("data/meta/checksums.json", flat_json());
  // LeRobot keeps the manifest in meta/: the root is the dataset folder.
  const CheckResult r = result(spec("data/meta/checksums.json", "root: data\nunlisted: tree"));
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["format"], "flat_json");
  EXPECT_EQ(r.observed["files"], 3);
}

TEST_F(ChecksumsTest, Sha256sumPassesWithBothMarkers) {
  put_standard();
  root_.write("data/SHA256SUMS.txt", "\n" + sha256sum_text() + "\n\n");
  const CheckResult r = result(spec("data/SHA256SUMS.txt"));
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["format"], "sha256sum");
  EXPECT_EQ(r.observed["files"], 3);
}

TEST_F(ChecksumsTest, Sha256sumEscapedNameIsUnescaped) {
  put("new\nline.bin", "odd name\n");
  // What coreutils writes for a name with a newline: a leading backslash, "\n" in the name.
  root_.write("data/SHA256SUMS", "\\" + sha256_hex("odd name\n") + "  new\\nline.bin\n");
  const CheckResult r = result(spec("data/SHA256SUMS"));
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["files"], 1);
}

TEST_F(ChecksumsTest, UppercaseDigestAccepted) {
  put("a.bin", "alpha\n");
  std::string digest = sha256_hex("alpha\n");
  for (char& c : digest) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const CheckResult r = run_json(nlohmann::json{{"a.bin", digest}}.dump(), "format: flat_json");
  EXPECT_EQ(r.status, Status::pass) << r.message;
}

TEST_F(ChecksumsTest, TamperedFileIsNamedWithDigests) {
  put_standard();
  const std::string manifest = checksums_json();
  root_.write("data/b.txt", "bravo BRAVO\n");  // same size, other bytes
  const CheckResult r = run_json(manifest);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksum_mismatch");
  EXPECT_TRUE(contains(r.message, "mismatch: b.txt (expected sha256 " +
                                      sha256_hex("bravo bravo\n") + ", found " +
                                      sha256_hex("bravo BRAVO\n") + ")"))
      << r.message;
  EXPECT_EQ(r.observed["mismatches"], 1);
  EXPECT_EQ(r.observed["files"], 2);
  ASSERT_EQ(r.details["mismatched"].size(), 1u);
  EXPECT_EQ(r.details["mismatched"][0]["path"], "b.txt");
}

TEST_F(ChecksumsTest, RemovedFileIsMissing) {
  put_standard();
  const std::string manifest = checksums_json();
  std::filesystem::remove(root_ / "data/sub/c.json");
  const CheckResult r = run_json(manifest);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_missing_files");
  EXPECT_TRUE(contains(r.message, "missing: sub/c.json")) << r.message;
  EXPECT_EQ(r.observed["missing"], 1);
}

TEST_F(ChecksumsTest, SizeMismatchIsNamedWithoutHashing) {
  put_standard();
  const std::string manifest = checksums_json();
  root_.write("data/a.bin", "alpha, longer\n");
  const CheckResult r = run_json(manifest);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksum_mismatch");
  EXPECT_TRUE(contains(r.message, "size mismatch: a.bin (expected 6 bytes, found 14)"))
      << r.message;
  EXPECT_EQ(r.observed["size_mismatches"], 1);
  EXPECT_EQ(r.observed["mismatches"], 0);
}

TEST_F(ChecksumsTest, UnlistedFileInListedFolderFails) {
  put_standard();
  const std::string manifest = checksums_json();
  root_.write("data/sub/extra.bin", "extra");
  root_.write("data/deeper/not_a_listed_folder.bin", "ignored in folders mode");
  const CheckResult r = run_json(manifest);
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_unlisted_files");
  EXPECT_TRUE(contains(r.message, "unlisted: sub/extra.bin")) << r.message;
  EXPECT_EQ(r.observed["unlisted"], 1);
  EXPECT_FALSE(contains(r.message, "unlisted: checksums.json")) << r.message;
}

TEST_F(ChecksumsTest, ExcludePatternsHideUnlistedFiles) {
  put_standard();
  const std::string manifest = checksums_json();
  root_.write("data/sub/extra.tmp", "x");
  root_.write("data/scratch.tmp", "x");
  root_.write("data/sub/.DS_Store", "x");
  const CheckResult r = run_json(manifest, "exclude: [\"*.tmp\", \"*/.DS_Store\"]");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  const CheckResult none = run_json(manifest, "unlisted: none");
  EXPECT_EQ(none.status, Status::pass) << none.message;
}

TEST_F(ChecksumsTest, TreeModeFindsDeepUnlistedFiles) {
  put_standard();
  const std::string manifest = checksums_json();
  root_.write("data/deeper/deepest/stray.bin", "stray");
  EXPECT_EQ(run_json(manifest).status, Status::pass);
  const CheckResult r = run_json(manifest, "unlisted: tree");
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_unlisted_files");
  EXPECT_TRUE(contains(r.message, "unlisted: deeper/deepest/stray.bin")) << r.message;
}

TEST_F(ChecksumsTest, ParentAndAbsoluteEntriesFailAndAreNeverRead) {
  put_standard();
  root_.write("outside.bin", "secret");
  nlohmann::json doc = nlohmann::json::parse(checksums_json());
  doc["files"]["../outside.bin"] = {{"sha256", sha256_hex("secret")}, {"size_bytes", 6}};
  doc["files"]["/etc/hostname"] = {{"sha256", std::string(64, 'a')}};
  const CheckResult r = run_json(doc.dump());
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_manifest_invalid");
  EXPECT_TRUE(contains(r.message, "files[\"../outside.bin\"]")) << r.message;
  EXPECT_TRUE(contains(r.message, "files[\"/etc/hostname\"]")) << r.message;
  EXPECT_EQ(r.observed["invalid_entries"], 2);
  EXPECT_EQ(r.observed["files"], 3);
  EXPECT_EQ(r.observed["bytes"], 26);  // nothing but the three valid files was hashed
  for (const auto& a : r.artifacts) EXPECT_FALSE(contains(a, "outside")) << a;
}

TEST_F(ChecksumsTest, SymlinkOutOfRootFails) {
  put_standard();
  ScratchDir elsewhere;
  elsewhere.write("target.bin", "outside");
  std::filesystem::create_symlink(elsewhere / "target.bin", root_ / "data/link.bin");
  files_.push_back({"link.bin", "outside"});
  const CheckResult r = run_json(checksums_json());
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_missing_files");
  EXPECT_TRUE(contains(r.message, "outside the root: link.bin")) << r.message;
  EXPECT_EQ(r.observed["files"], 3);
}

TEST_F(ChecksumsTest, EmptyAndShortDigestsFailNamingTheEntry) {
  put_standard();
  nlohmann::json doc = nlohmann::json::parse(checksums_json());
  doc["files"]["a.bin"]["sha256"] = "";
  doc["files"]["b.txt"]["sha256"] = "abc123";
  doc["files"]["sub/c.json"]["sha256"] = std::string(63, 'a') + "g";
  const CheckResult r = run_json(doc.dump());
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_manifest_invalid");
  EXPECT_TRUE(contains(r.message, "files[\"a.bin\"]: an empty digest")) << r.message;
  EXPECT_TRUE(contains(r.message, "files[\"b.txt\"]: a digest of 6 characters")) << r.message;
  EXPECT_TRUE(contains(r.message, "files[\"sub/c.json\"]: a digest with non-hex")) << r.message;
  EXPECT_EQ(r.observed["invalid_entries"], 3);
}

TEST_F(ChecksumsTest, BadSizeBytesFails) {
  put("a.bin", "alpha\n");
  const CheckResult r = run_json(nlohmann::json{
      {"files", {{"a.bin", {{"sha256", sha256_hex("alpha\n")}, {"size_bytes", -6}}}}}}
                                     .dump());
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "expected a non-negative integer")) << r.message;
}

TEST_F(ChecksumsTest, UnsupportedAlgorithmFails) {
  put("a.bin", "alpha\n");
  nlohmann::json doc = nlohmann::json::parse(checksums_json());
  doc["algorithm"] = "crc32";
  const CheckResult r = run_json(doc.dump());
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_manifest_invalid");
  EXPECT_TRUE(contains(r.message, "algorithm \"crc32\" is not supported")) << r.message;
}

TEST_F(ChecksumsTest, MalformedSha256sumLineNamesLineNumber) {
  put_standard();
  std::string text = sha256sum_text();
  text += "\n" + sha256_hex("x") + " nospacemarker\n";
  root_.write("data/SHA256SUMS", text);
  const CheckResult r = result(spec("data/SHA256SUMS", "format: sha256sum"));
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_manifest_invalid");
  EXPECT_TRUE(contains(r.message, "invalid entry line 5: malformed line")) << r.message;
}

TEST_F(ChecksumsTest, DuplicateEntriesFail) {
  put_standard();
  std::string text = sha256sum_text() + sha256_hex("alpha\n") + "  ./a.bin\n";
  root_.write("data/SHA256SUMS", text);
  const CheckResult r = result(spec("data/SHA256SUMS"));
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "line 4: duplicate entry for \"a.bin\"")) << r.message;
  // In JSON, an exact duplicate key is refused by the strict parser.
  const CheckResult j = run_json(R"({"a.bin": ")" + sha256_hex("alpha\n") + R"(", "a.bin": ")" +
                                 sha256_hex("alpha\n") + "\"}");
  EXPECT_EQ(j.status, Status::fail);
  EXPECT_EQ(j.code, "checksums_manifest_invalid");
}

TEST_F(ChecksumsTest, DotSlashDuplicateInJsonFails) {
  put("a.bin", "alpha\n");
  const std::string digest = sha256_hex("alpha\n");
  const CheckResult r = run_json(nlohmann::json{{"a.bin", digest}, {"./a.bin", digest}}.dump());
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_manifest_invalid");
  EXPECT_TRUE(contains(r.message, "duplicate entry for \"a.bin\"")) << r.message;
}

TEST_F(ChecksumsTest, FractionalSizeAndWrongShapesFail) {
  put("a.bin", "alpha\n");
  const std::string digest = sha256_hex("alpha\n");
  const CheckResult f = run_json(
      nlohmann::json{{"files", {{"a.bin", {{"sha256", digest}, {"size_bytes", 6.5}}}}}}.dump());
  EXPECT_EQ(f.status, Status::fail);
  EXPECT_TRUE(contains(f.message, "expected a non-negative integer")) << f.message;
  const CheckResult arr = run_json("[1, 2]", "format: checksums_json");
  EXPECT_EQ(arr.status, Status::fail);
  EXPECT_EQ(arr.code, "checksums_manifest_invalid");
  EXPECT_TRUE(contains(arr.message, "expected an object")) << arr.message;
  const CheckResult files = run_json(R"({"files": ["a.bin"]})");
  EXPECT_EQ(files.status, Status::fail);
  EXPECT_TRUE(contains(files.message, "\"files\" is array, expected an object")) << files.message;
  const CheckResult flat = run_json(R"({"a.bin": 42})");
  EXPECT_EQ(flat.status, Status::fail);
  EXPECT_TRUE(contains(flat.message, "expected a hex digest string")) << flat.message;
}

TEST_F(ChecksumsTest, SymlinkInsideRootIsHashedAsItsTarget) {
  put_standard();
  std::filesystem::create_symlink("a.bin", root_ / "data/alias.bin");
  files_.push_back({"alias.bin", "alpha\n"});
  const CheckResult r = run_json(checksums_json());
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["files"], 4);
}

TEST_F(ChecksumsTest, EmptyManifestFails) {
  put_standard();
  for (const std::string body : {"{}", R"({"files": {}})", ""}) {
    const CheckResult r = run_json(body);
    EXPECT_EQ(r.status, Status::fail) << body;
    EXPECT_EQ(r.code, "checksums_manifest_invalid");
    EXPECT_TRUE(contains(r.message, "lists no files")) << r.message;
  }
}

TEST_F(ChecksumsTest, MissingManifestFailsOrSkipsWhenOptional) {
  put_standard();
  const CheckResult r = result(spec("data/checksums.json"));
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "data/checksums.json")) << r.message;
  EXPECT_EQ(r.code, "checksums_manifest_missing");
  const CheckResult o = result(spec("data/checksums.json", "optional_manifest: true"));
  EXPECT_EQ(o.status, Status::skipped) << o.message;
}

TEST_F(ChecksumsTest, ThreeMebibyteFileHashedCorrectly) {
  std::mt19937_64 rng(42);
  std::string big(3u << 20, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  put("big.bin", big);
  const std::string expected = sha256_hex(big);
  // Cross-check the test's own digest with coreutils when it is there.
  if (FILE* p = popen(("sha256sum '" + (root_ / "data/big.bin").string() + "' 2>/dev/null").c_str(),
                      "r")) {
    char buf[65] = {};
    const std::size_t n = fread(buf, 1, 64, p);
    pclose(p);
    if (n == 64) {
      EXPECT_EQ(std::string(buf, 64), expected);
    }
  }
  const std::string manifest = checksums_json();
  const CheckResult r = run_json(manifest);
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["bytes"], 3u << 20);
  // The last byte changed (past the first 1 MiB blocks): found.
  big.back() = static_cast<char>(big.back() ^ 1);
  root_.write("data/big.bin", big);
  const CheckResult t = run_json(manifest);
  EXPECT_EQ(t.status, Status::fail);
  EXPECT_TRUE(contains(t.message, "found " + sha256_hex(big))) << t.message;
}

TEST_F(ChecksumsTest, JobsDoNotChangeTheResult) {
  for (int i = 0; i < 200; ++i) put(fmt::format("f/{:04d}.bin", i), std::string(i * 37, 'x'));
  const std::string manifest = checksums_json();
  for (int i = 0; i < 200; i += 17) root_.write(fmt::format("data/f/{:04d}.bin", i), "changed");
  for (int i = 5; i < 200; i += 23) {
    std::string body(i * 37, 'x');
    body[0] = 'y';
    root_.write(fmt::format("data/f/{:04d}.bin", i), body);
  }
  root_.write("data/f/zz_extra.bin", "extra");
  const CheckResult one = run_json(manifest, "", 1);
  const CheckResult four = run_json(manifest, "", 4);
  EXPECT_EQ(one.status, Status::fail);
  EXPECT_EQ(one.code, "checksum_mismatch");
  EXPECT_EQ(one.message, four.message);
  EXPECT_EQ(one.observed, four.observed);
  EXPECT_EQ(one.details, four.details);
  EXPECT_GT(one.observed["mismatches"].get<int>(), 0);
  EXPECT_GT(one.observed["size_mismatches"].get<int>(), 0);
  EXPECT_EQ(one.observed["unlisted"], 1);
}

TEST_F(ChecksumsTest, UnreadableFileIsAnError) {
  put_standard();
  run_json(checksums_json());
  std::filesystem::permissions(root_ / "data/b.txt", std::filesystem::perms::none);
  bool dropped = false;
  if (geteuid() == 0) {
    // Root reads files whatever their mode: read as 'nobody', with everything but b.txt
    // readable and every folder traversable, whatever the umask (group bits too: the
    // effective group stays root's).
    namespace fs = std::filesystem;
    const auto readable = fs::perms::others_read | fs::perms::group_read;
    const auto traversable = fs::perms::others_exec | fs::perms::group_exec;
    fs::permissions(root_.path(), readable | traversable, fs::perm_options::add);
    for (const auto& e : fs::recursive_directory_iterator(root_.path())) {
      if (e.path().filename() == "b.txt") continue;
      fs::permissions(e.path(), e.is_directory() ? readable | traversable : readable,
                      fs::perm_options::add);
    }
    ASSERT_EQ(seteuid(65534), 0);
    dropped = true;
  }
  const CheckResult r = result(spec("data/checksums.json"));
  if (dropped) {
    ASSERT_EQ(seteuid(0), 0);
  }
  EXPECT_EQ(r.status, Status::error) << r.message;
  EXPECT_EQ(r.code, "checksums_unreadable");
  EXPECT_TRUE(contains(r.message, "unreadable: b.txt")) << r.message;
  EXPECT_EQ(r.observed["unreadable"], 1);
  EXPECT_EQ(r.observed["files"], 2);
}

TEST_F(ChecksumsTest, DriverExitsOneOnMismatchAndZeroOnPass) {
  put_standard();
  root_.write("data/checksums.json", checksums_json());
  ScratchDir specs;
  specs.write("spec.yaml", spec("data/checksums.json"));
  const std::string args =
      "run '" + (specs / "spec.yaml").string() + "' --root '" + root_.path().string() + "' -q";
  const DriverRun ok = run_driver(args);
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  root_.write("data/a.bin", "ALPHA\n");
  const DriverRun bad = run_driver(args);
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  EXPECT_TRUE(contains(bad.out, "mismatch: a.bin")) << bad.out;
}

TEST_F(ChecksumsTest, GoldenRegressionFixturePassesInPlace) {
  const std::filesystem::path folder = STAGECHECK_SOURCE_DIR
      "/../shared/fixtures/pipeline-golden/dataset_regression/"
      "baseline_dataset";
  if (!std::filesystem::exists(folder / "checksums.json")) {
    GTEST_SKIP() << "fixture absent: " << folder.string() << "/checksums.json";
  }
  RunOutcome out = run_spec_text(spec("checksums.json"), folder);
  ASSERT_TRUE(out.report.has_value()) << out.error;
  const CheckResult* r = find_result(*out.report, kCheckId);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->status, Status::pass) << r->message;
  EXPECT_EQ(r->observed["files"], 2);
  EXPECT_EQ(r->observed["format"], "checksums_json");
}

}  // namespace
