// BagIt (RFC 8493) bags: built by hand in a scratch folder (the `bagit` Python tool is not
// available here), then verified through specs run in-process and through the driver.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "checksums_test_util.hpp"

namespace {

using namespace checksums_test;

/// Encodes a path as a BagIt manifest writes it (RFC 8493 2.1.3).
std::string bag_encode(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '%') {
      out += "%25";
    } else if (c == '\n') {
      out += "%0A";
    } else if (c == '\r') {
      out += "%0D";
    } else {
      out += c;
    }
  }
  return out;
}

class BagitTest : public ::testing::Test {
 protected:
  /// Adds a payload file (path under data/).
  void payload(const std::string& name, const std::string& body) {
    payload_.emplace_back("data/" + name, body);
  }

  void standard_payload() {
    payload("a.txt", "alpha\n");
    payload("sub/b.bin", std::string(1000, 'b'));
    payload("sub/deeper/c.json", R"({"c": 3})");
  }

  /// Writes the bag: payload, bagit.txt, manifests for `algorithms`, bag-info.txt with a
  /// Payload-Oxum, and a tagmanifest-sha256.txt over the tag files.
  void write_bag(const std::vector<std::string>& algorithms = {"sha256", "md5"},
                 const std::string& oxum = "") {
    std::uint64_t octets = 0;
    for (const auto& [path, body] : payload_) {
      bag_.write("x/bag/" + path, body);
      octets += body.size();
    }
    bag_.write("x/bag/bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n");
    bag_.write("x/bag/bag-info.txt",
               fmt::format("Source-Organization: stagecheck tests\n"
                           "Payload-Oxum: {}\n",
                           oxum.empty() ? fmt::format("{}.{}", octets, payload_.size()) : oxum));
    std::vector<std::string> tag_files = {"bagit.txt", "bag-info.txt"};
    for (const std::string& alg : algorithms) {
      std::string text;
      for (const auto& [path, body] : payload_) {
        if (alg == "md5" && path == omit_from_md5_) continue;
        text += digest(alg, body) + "  " + bag_encode(path) + "\n";
      }
      bag_.write("x/bag/manifest-" + alg + ".txt", text);
      tag_files.push_back("manifest-" + alg + ".txt");
    }
    std::string tags;
    for (const std::string& name : tag_files) {
      tags += sha256_hex(slurp(bag_ / ("x/bag/" + name))) + " " + name + "\n";
    }
    bag_.write("x/bag/tagmanifest-sha256.txt", tags);
  }

  static std::string digest(const std::string& alg, const std::string& body) {
    return alg == "sha256"   ? sha256_hex(body)
           : alg == "sha512" ? sha512_hex(body)
           : alg == "sha1"   ? sha1_hex(body)
                             : md5_hex(body);
  }

  CheckResult run(const std::string& params = "format: bagit") const {
    return run_check(make_spec("x/bag", params), bag_.path());
  }

  ScratchDir bag_;
  std::vector<std::pair<std::string, std::string>> payload_;
  std::string omit_from_md5_;  ///< A payload path left out of manifest-md5.txt.
};

TEST_F(BagitTest, ValidBagWithTwoAlgorithmsPasses) {
  standard_payload();
  write_bag();
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["format"], "bagit");
  // 3 payload files + 4 tag files (bagit.txt, bag-info.txt, two manifests).
  EXPECT_EQ(r.observed["files"], 7);
  EXPECT_EQ(r.observed["algorithms"], nlohmann::json({"md5", "sha256"}));
  EXPECT_EQ(r.observed["payload_oxum"], "1014.3");
  EXPECT_EQ(r.observed["payload"]["files"], 3);
  EXPECT_EQ(r.observed["bagit_version"], "1.0");
  EXPECT_EQ(r.observed["manifests"], nlohmann::json({"manifest-md5.txt", "manifest-sha256.txt"}));
}

TEST_F(BagitTest, FolderIsReadAsABagWithoutFormat) {
  standard_payload();
  write_bag({"sha512", "sha1"});
  const CheckResult r = run("");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["format"], "bagit");
  EXPECT_EQ(r.observed["algorithms"], nlohmann::json({"sha1", "sha256", "sha512"}));
}

TEST_F(BagitTest, TamperedPayloadFileIsNamedWithItsManifest) {
  standard_payload();
  write_bag();
  bag_.write("x/bag/data/a.txt", "ALPHA\n");  // same size: only hashing finds it
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksum_mismatch");
  EXPECT_TRUE(contains(r.message, "mismatch: data/a.txt (manifest-md5.txt: expected md5 " +
                                      md5_hex("alpha\n") + ", found " + md5_hex("ALPHA\n") + ")"))
      << r.message;
  EXPECT_EQ(r.observed["mismatches"], 1);
}

TEST_F(BagitTest, WrongPayloadOxumFails) {
  standard_payload();
  write_bag({"sha256", "md5"}, "1016.3");  // the tag manifest agrees with the wrong value
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_manifest_invalid");
  EXPECT_TRUE(contains(r.message,
                       "Payload-Oxum in bag-info.txt is 1016.3, but the payload holds "
                       "1014 bytes in 3 files"))
      << r.message;
  EXPECT_EQ(r.observed["files"], 7);  // every file verified: only the Oxum is wrong
}

TEST_F(BagitTest, MalformedPayloadOxumFails) {
  standard_payload();
  write_bag({"sha256"}, "1014");
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "Payload-Oxum \"1014\" is malformed")) << r.message;
}

TEST_F(BagitTest, UnlistedPayloadFileFails) {
  standard_payload();
  write_bag();
  bag_.write("x/bag/data/sub/deeper/extra.bin", "");  // empty: the Oxum still counts it
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_unlisted_files");
  EXPECT_TRUE(contains(r.message, "unlisted: data/sub/deeper/extra.bin")) << r.message;
  EXPECT_TRUE(contains(r.message, "1014 bytes in 4 files")) << r.message;
}

TEST_F(BagitTest, FileMissingFromOnePayloadManifestFails) {
  standard_payload();
  omit_from_md5_ = "data/sub/b.bin";
  write_bag({"sha256", "md5"});
  const CheckResult r = run("format: bagit");
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_unlisted_files");
  EXPECT_TRUE(contains(r.message,
                       "not in every payload manifest: data/sub/b.bin (absent from "
                       "manifest-md5.txt)"))
      << r.message;
  EXPECT_EQ(r.observed["not_in_every_manifest"], 1);
}

TEST_F(BagitTest, RemovedPayloadFileIsMissing) {
  standard_payload();
  write_bag();
  std::filesystem::remove(bag_ / "x/bag/data/sub/b.bin");
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_missing_files");
  EXPECT_TRUE(contains(r.message, "missing: data/sub/b.bin")) << r.message;
  EXPECT_TRUE(contains(r.message, "Payload-Oxum")) << r.message;
}

TEST_F(BagitTest, ChangedTagFileFailsThroughTheTagManifest) {
  standard_payload();
  write_bag();
  bag_.write("x/bag/bag-info.txt", "Source-Organization: someone else\nPayload-Oxum: 1014.3\n");
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "size mismatch: bag-info.txt") ||
              contains(r.message, "mismatch: bag-info.txt (tagmanifest-sha256.txt"))
      << r.message;
}

TEST_F(BagitTest, PercentEncodedNamesAreDecoded) {
  payload("50%off.txt", "percent\n");
  payload("line\nbreak.txt", "newline\n");
  payload("carriage\rreturn.txt", "cr\n");
  write_bag({"sha256"});
  EXPECT_TRUE(contains(slurp(bag_ / "x/bag/manifest-sha256.txt"), "data/50%25off.txt"));
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["payload"]["files"], 3);
}

TEST_F(BagitTest, BarePercentAndPathsOutsideDataFail) {
  payload("a.txt", "alpha\n");
  write_bag({"sha256"});
  std::string text = slurp(bag_ / "x/bag/manifest-sha256.txt");
  text += sha256_hex("x") + "  data/50%off.txt\n";
  text += sha256_hex("x") + "  other/file.txt\n";
  text += sha256_hex("x") + "  data/../../escape.txt\n";
  text += "  data/empty-digest.txt\n";
  bag_.write("x/bag/manifest-sha256.txt", text);
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  // (The tag manifest's digest of manifest-sha256.txt no longer matches either.)
  EXPECT_TRUE(contains(r.message, "manifest-sha256.txt line 2: path \"data/50%off.txt\" has a '%'"))
      << r.message;
  EXPECT_TRUE(contains(r.message, "line 3: payload path \"other/file.txt\" does not start with"))
      << r.message;
  EXPECT_TRUE(contains(r.message, "line 4: path \"data/../../escape.txt\" is not a valid"))
      << r.message;
  EXPECT_TRUE(contains(r.message, "line 5: an empty digest")) << r.message;
  EXPECT_EQ(r.observed["invalid_entries"], 4);
}

TEST_F(BagitTest, DuplicateAfterNfcNormalisationFails) {
  payload("caf\xc3\xa9.txt", "precomposed\n");
  write_bag({"sha256"});
  std::string text = slurp(bag_ / "x/bag/manifest-sha256.txt");
  text += sha256_hex("decomposed\n") + "  data/cafe\xcc\x81.txt\n";  // e + combining acute
  bag_.write("x/bag/manifest-sha256.txt", text);
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "after Unicode NFC normalisation")) << r.message;
}

TEST_F(BagitTest, BadBagitTxtFails) {
  standard_payload();
  write_bag();
  for (const auto& [body, expected] : std::vector<std::pair<std::string, std::string>>{
           {"Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n", "expected exactly"},
           {"BagIt-Version: 1.0\nTag-File-Character-Encoding: ISO-8859-1\n", "ISO-8859-1"},
           {"BagIt-Version: 7\nTag-File-Character-Encoding: UTF-8\n", "is not supported"},
           {"BagIt-Version 1.0\n", "expected \"Label: value\""},
           {"\xef\xbb\xbf"
            "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
            "byte-order mark"}}) {
    bag_.write("x/bag/bagit.txt", body);
    const CheckResult r = run();
    EXPECT_EQ(r.status, Status::fail) << body;
    EXPECT_EQ(r.code, "checksums_manifest_invalid") << body;
    EXPECT_TRUE(contains(r.message, expected)) << r.message;
  }
}

TEST_F(BagitTest, MissingBagFailsOrSkipsWhenOptional) {
  standard_payload();
  write_bag();
  // A folder with content but no bagit.txt is not a bag: it fails, optional or not.
  std::filesystem::remove(bag_ / "x/bag/bagit.txt");
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_EQ(r.code, "checksums_manifest_invalid");
  EXPECT_TRUE(contains(r.message, "x/bag/bagit.txt")) << r.message;
  EXPECT_TRUE(contains(r.message, "is not a bag")) << r.message;
  EXPECT_EQ(run("format: bagit\noptional: true").status, Status::fail);
  // No bag at all: missing, or skipped when optional.
  std::filesystem::remove_all(bag_ / "x/bag");
  const CheckResult m = run();
  EXPECT_EQ(m.status, Status::fail);
  EXPECT_EQ(m.code, "checksums_manifest_missing");
  const CheckResult o = run("format: bagit\noptional: true");
  EXPECT_EQ(o.status, Status::skipped) << o.message;
}

TEST_F(BagitTest, NoPayloadManifestOrUnsupportedAlgorithmFails) {
  standard_payload();
  write_bag({"sha256"});
  bag_.write("x/bag/manifest-sha3.txt", "");
  const CheckResult u = run();
  EXPECT_EQ(u.status, Status::fail);
  EXPECT_TRUE(contains(u.message, "manifest-sha3.txt: algorithm not supported")) << u.message;
  std::filesystem::remove(bag_ / "x/bag/manifest-sha3.txt");
  std::filesystem::remove(bag_ / "x/bag/manifest-sha256.txt");
  const CheckResult n = run();
  EXPECT_EQ(n.status, Status::fail);
  EXPECT_TRUE(contains(n.message, "no payload manifest")) << n.message;
}

TEST_F(BagitTest, FetchTxtFails) {
  standard_payload();
  write_bag();
  bag_.write("x/bag/fetch.txt", "https://example.org/x 12 data/x\n");
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "fetch.txt is present")) << r.message;
}

TEST_F(BagitTest, SymlinkOutOfTheRootFails) {
  standard_payload();
  write_bag({"sha256"});
  ScratchDir elsewhere;
  elsewhere.write("secret.txt", "secret\n");
  std::filesystem::create_symlink(elsewhere / "secret.txt", bag_ / "x/bag/data/link.txt");
  std::string text = slurp(bag_ / "x/bag/manifest-sha256.txt");
  bag_.write("x/bag/manifest-sha256.txt", text + sha256_hex("secret\n") + "  data/link.txt\n");
  const CheckResult r = run();
  EXPECT_EQ(r.status, Status::fail);
  EXPECT_TRUE(contains(r.message, "outside the root: data/link.txt")) << r.message;
  EXPECT_EQ(r.observed["missing"], 1);
}

TEST_F(BagitTest, UnlistedAndExcludeAreRefusedForBagit) {
  EXPECT_TRUE(contains(spec_error(make_spec("x/bag", "format: bagit\nunlisted: none"), bag_.path()),
                       "not allowed for bagit"));
  EXPECT_TRUE(
      contains(spec_error(make_spec("x/bag", "format: bagit\nexclude: [\"*.tmp\"]"), bag_.path()),
               "not allowed for bagit"));
  EXPECT_TRUE(contains(spec_error(make_spec("x/bag", "format: bagit\nalgorithm: md5"), bag_.path()),
                       "not allowed for bagit"));
}

TEST_F(BagitTest, ExampleBagVerifiesThroughTheDriver) {
  const std::filesystem::path example = STAGECHECK_SOURCE_DIR "/examples/dataset";
  ASSERT_TRUE(std::filesystem::exists(example / "bag/bagit.txt"));
  ASSERT_TRUE(std::filesystem::exists(example / "checksums-bag.yaml"));
  bag_.copy_tree(example / "bag", "bag");
  const std::string args = "run '" + (example / "checksums-bag.yaml").string() + "' --root '" +
                           bag_.path().string() + "' -q";
  const DriverRun ok = run_driver(args);
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  // Corrupt one payload byte: exit 1, the file named.
  const std::filesystem::path victim = bag_ / "bag/data/episodes/episode_000001.json";
  std::string body = slurp(victim);
  ASSERT_FALSE(body.empty());
  body[body.size() / 2] = body[body.size() / 2] == 'x' ? 'y' : 'x';
  bag_.write("bag/data/episodes/episode_000001.json", body);
  const DriverRun bad = run_driver(args);
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  EXPECT_TRUE(contains(bad.out, "data/episodes/episode_000001.json")) << bad.out;
}

}  // namespace
