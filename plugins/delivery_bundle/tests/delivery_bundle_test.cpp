// Tests of the delivery_bundle check: specs run in-process with the in-tree plugins on archives
// built in memory with libarchive's writer (so that names, links and file types a careful
// archiver would refuse can be written), plus the built driver on the bundled example.

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <clocale>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <stagecheck_test_support.hpp>

namespace {

using namespace stagecheck;
using namespace stagecheck::testing;
namespace fs = std::filesystem;

constexpr const char* kCheckId = "delivery.bundle";
constexpr const char* kBundle = "lerobot_bundle_gsjob-7f3a21.tar.gz";

/// SHA-256 of `data` as lower-case hex, computed independently of the plugin.
std::string sha256_hex(const std::string& data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// One archive member to write.
struct Member {
  enum class Type { file, dir, symlink, hardlink, fifo } type = Type::file;
  std::string name;
  std::string data;         ///< For files.
  std::string target;       ///< For links.
  std::uint64_t zeros = 0;  ///< For files: this many zero bytes after `data`, written in blocks.
};

Member file(std::string name, std::string data) {
  return {Member::Type::file, std::move(name), std::move(data), {}};
}
Member dir(std::string name) { return {Member::Type::dir, std::move(name), {}, {}}; }
Member symlink(std::string name, std::string target) {
  return {Member::Type::symlink, std::move(name), {}, std::move(target)};
}
Member hardlink(std::string name, std::string target) {
  return {Member::Type::hardlink, std::move(name), {}, std::move(target)};
}

enum class Packing { tar_gz, tar, tar_gz_gz, zip };

la_ssize_t append_to_string(struct archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

/// Writes `members` into an archive in memory. Under C.UTF-8 (this thread only), so that pax
/// stores non-ASCII names as they are: the test process runs in the "C" locale.
std::string pack(const std::vector<Member>& members, Packing packing = Packing::tar_gz) {
  const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr);
  EXPECT_NE(utf8, nullptr);
  const locale_t previous = uselocale(utf8);
  std::string out;
  struct archive* a = archive_write_new();
  if (packing == Packing::zip) {
    archive_write_set_format_zip(a);
  } else {
    archive_write_set_format_pax_restricted(a);
    if (packing != Packing::tar) archive_write_add_filter_gzip(a);
    if (packing == Packing::tar_gz_gz) archive_write_add_filter_gzip(a);
  }
  archive_write_set_bytes_in_last_block(a, 1);
  EXPECT_EQ(archive_write_open(a, &out, nullptr, append_to_string, nullptr), ARCHIVE_OK)
      << archive_error_string(a);
  for (const Member& m : members) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.name.c_str());
    archive_entry_set_mtime(e, 1700000000, 0);
    switch (m.type) {
      case Member::Type::file:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, static_cast<la_int64_t>(m.data.size() + m.zeros));
        break;
      case Member::Type::dir:
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        break;
      case Member::Type::symlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_perm(e, 0777);
        archive_entry_set_symlink(e, m.target.c_str());
        break;
      case Member::Type::hardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_hardlink(e, m.target.c_str());
        archive_entry_set_size(e, 0);
        break;
      case Member::Type::fifo:
        archive_entry_set_filetype(e, AE_IFIFO);
        archive_entry_set_perm(e, 0644);
        break;
    }
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << m.name << ": " << archive_error_string(a);
    if (m.type == Member::Type::file && !m.data.empty()) {
      EXPECT_EQ(archive_write_data(a, m.data.data(), m.data.size()),
                static_cast<la_ssize_t>(m.data.size()));
    }
    const std::string block(1u << 20, '\0');
    for (std::uint64_t left = m.zeros; left > 0;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size()));
      EXPECT_EQ(archive_write_data(a, block.data(), n), static_cast<la_ssize_t>(n));
      left -= n;
    }
    archive_entry_free(e);
  }
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
  uselocale(previous);
  freelocale(utf8);
  return out;
}

/// A .npy file: the v1 header for `descr` and shape (n,), then `payload`.
std::string npy(const std::string& descr, const std::string& payload, int n) {
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({},), }}", descr, n);
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + payload;
}

/// pickle.dumps of a call to os.system("id"), protocol 2: what np.load/torch.load would run.
std::string pickle2() {
  using namespace std::string_literals;
  return "\x80\x02"
         "cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."s;
}
/// The same call as a protocol 0 pickle.
std::string pickle0() { return "cos\nsystem\n(S'id'\ntR."; }

/// The members of a good bundle: LeRobot metadata, episodes, a float .npy and a .npz.
std::vector<Member> good_members() {
  const std::string floats(24, '\0');  // three float64
  return {
      dir("lerobot"),
      dir("lerobot/meta"),
      file("lerobot/meta/info.json", R"({"codebase_version": "v2.0", "fps": 30})"),
      file("lerobot/meta/tasks.jsonl", "{\"task_index\": 0, \"task\": \"pick mug\"}\n"),
      file("lerobot/episodes.jsonl", "{\"episode_index\": 0, \"length\": 240}\n"),
      file("lerobot/stats.npy", npy("<f8", floats, 3)),
      file("lerobot/poses.npz",
           pack({file("poses.npy", npy("<f4", std::string(12, '\0'), 3))}, Packing::zip)),
      file("recordings/notes.txt", "copy\nthese\nlines\n"),
      file("checksums.json", R"({"files": {}})"),
  };
}

/// file_inventory for the regular files among `members`.
nlohmann::json inventory_of(const std::vector<Member>& members, const std::string& strip = "") {
  nlohmann::json inv = nlohmann::json::array();
  for (const Member& m : members) {
    if (m.type != Member::Type::file) continue;
    std::string path = m.name;
    if (!strip.empty() && path.rfind(strip, 0) == 0) path.erase(0, strip.size());
    inv.push_back({{"path", path}, {"size_bytes", m.data.size() + m.zeros}});
  }
  return inv;
}

/// A spec with one delivery_bundle check; `params` are extra lines under the check.
std::string spec(const std::string& params = "") {
  std::string text = R"(version: 1
name: delivery-test
stages:
  - id: delivery
    checks:
      - id: bundle
        type: delivery_bundle
)";
  for (std::size_t start = 0; start < params.size();) {
    std::size_t end = params.find('\n', start);
    if (end == std::string::npos) end = params.size();
    text += "        " + params.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return text;
}

class DeliveryBundleTest : public ::testing::Test {
 protected:
  /// Writes the bundle and a manifest describing it exactly (inventory from `members`).
  void deliver(const std::vector<Member>& members, Packing packing = Packing::tar_gz) {
    bundle_ = pack(members, packing);
    manifest_ = {
        {"schema_version", "1.3"},
        {"scene_id", "kitchen_001"},
        {"job_id", "gsjob-7f3a21"},
        {"package",
         {{"path", kBundle},
          {"sha256", sha256_hex(bundle_)},
          {"size_bytes", bundle_.size()},
          {"format", "tar.gz"},
          {"includes", {"lerobot", "recordings"}}}},
        {"file_inventory", inventory_of(members)},
    };
    write();
  }
  void write() {
    root_.write(std::string("geniesim/") + kBundle, bundle_);
    root_.write("geniesim/import_manifest.json", manifest_.dump(2));
  }

  CheckResult result(const std::string& params = "") const {
    std::string p = "manifest: geniesim/import_manifest.json";
    if (!params.empty()) p += "\n" + params;
    RunOutcome out = run_spec_text(spec(p), root_.path());
    EXPECT_TRUE(out.report.has_value()) << out.error;
    if (!out.report) return {};
    const CheckResult* r = find_result(*out.report, kCheckId);
    EXPECT_NE(r, nullptr);
    return r != nullptr ? *r : CheckResult{};
  }

  /// Expects a failure with `code` whose message names `needle`.
  void expect_fail(const CheckResult& r, const std::string& code, const std::string& needle) {
    EXPECT_EQ(r.status, Status::fail) << r.message;
    EXPECT_EQ(r.code, code) << r.message;
    EXPECT_TRUE(contains(r.message, needle)) << "missing \"" << needle << "\" in: " << r.message;
  }

  ScratchDir root_;
  std::string bundle_;
  nlohmann::json manifest_;
};

// --- Passing -------------------------------------------------------------------------------

TEST_F(DeliveryBundleTest, GoodBundlePasses) {
  deliver(good_members());
  const CheckResult r = result();
  ASSERT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["sha256"], sha256_hex(bundle_));
  EXPECT_EQ(r.observed["archive_bytes"], bundle_.size());
  EXPECT_EQ(r.observed["files"], 7);
  EXPECT_EQ(r.observed["directories"], 2);
  EXPECT_EQ(r.observed["inventory_matched"], 7);
  EXPECT_EQ(r.observed["compression"], "gzip");
  EXPECT_TRUE(contains(r.message, kBundle)) << r.message;
  EXPECT_NE(std::find(r.artifacts.begin(), r.artifacts.end(), std::string("geniesim/") + kBundle),
            r.artifacts.end());
}

TEST_F(DeliveryBundleTest, LargeMemberIsStreamedAndHashed) {
  std::mt19937_64 rng(7);
  std::string big(3u << 20, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  big[0] = 'x';  // not a pickle by chance
  std::vector<Member> members = good_members();
  members.push_back(file("lerobot/videos/episode_000000.mp4", big));
  deliver(members);
  ASSERT_GT(bundle_.size(), 3u << 20);
  const CheckResult r = result();
  ASSERT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["sha256"], sha256_hex(bundle_));
  std::uint64_t expected = big.size();
  for (const Member& m : good_members()) expected += m.data.size();
  EXPECT_EQ(r.observed["data_bytes"].get<std::uint64_t>(), expected);
}

TEST_F(DeliveryBundleTest, InventoryPrefixAndDotSlashNames) {
  std::vector<Member> members = {dir("./bundle"), file("./bundle/lerobot/meta/info.json", "{}"),
                                 file("./bundle/recordings/episode_000000.json", "{\"a\":1}")};
  deliver(members);
  manifest_["file_inventory"] = inventory_of(members, "./bundle/");
  write();
  const CheckResult with = result("inventory_prefix: bundle");
  EXPECT_EQ(with.status, Status::pass) << with.message;
  const CheckResult without = result();
  expect_fail(without, "delivery_inventory_mismatch", "lerobot/meta/info.json: listed in");
}

TEST_F(DeliveryBundleTest, NonAsciiNamesPass) {
  // pax stores them as UTF-8; the test process, like the driver, runs in the "C" locale.
  std::vector<Member> members = good_members();
  members.push_back(file("lerobot/cam\xc3\xa9ra.json", "{}"));
  members.push_back(file("lerobot/\xe6\x97\xa5\xe6\x9c\xac.json", "{}"));
  deliver(members);
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["inventory_matched"], 9);
}

TEST_F(DeliveryBundleTest, ExplicitArchiveAndNameMatch) {
  deliver(good_members());
  const std::string at = std::string("geniesim/") + kBundle;
  EXPECT_EQ(result("archive: " + at).status, Status::pass);
  root_.write("geniesim/renamed.tar.gz", bundle_);
  expect_fail(result("archive: geniesim/renamed.tar.gz"), "delivery_manifest_invalid",
              "renamed.tar.gz");
  EXPECT_EQ(result("archive: geniesim/renamed.tar.gz\nrequire_name_match: false").status,
            Status::pass);
}

// --- The archive against package ----------------------------------------------------------

TEST_F(DeliveryBundleTest, Sha256MismatchFails) {
  deliver(good_members());
  manifest_["package"]["sha256"] = std::string(64, 'a');
  write();
  expect_fail(result(), "delivery_archive_mismatch", "sha256 is " + sha256_hex(bundle_));
}

TEST_F(DeliveryBundleTest, ArchiveSizeMismatchFails) {
  deliver(good_members());
  manifest_["package"]["size_bytes"] = bundle_.size() + 1;
  write();
  expect_fail(result(), "delivery_archive_mismatch",
              fmt::format("size is {} bytes, package.size_bytes", bundle_.size()));
}

TEST_F(DeliveryBundleTest, ChangedByteFailsTheDigest) {
  deliver(good_members());
  bundle_[bundle_.size() / 2] = static_cast<char>(bundle_[bundle_.size() / 2] ^ 0x01);
  write();
  const CheckResult r = result();
  EXPECT_EQ(r.status, Status::fail) << r.message;
  EXPECT_TRUE(contains(r.message, kBundle)) << r.message;
  EXPECT_TRUE(contains(r.message, "sha256 is")) << r.message;
}

TEST_F(DeliveryBundleTest, TruncatedArchiveFails) {
  std::vector<Member> members = good_members();
  members.push_back(file("lerobot/videos/v.mp4", std::string(200000, 'v')));
  deliver(members);
  bundle_.resize(bundle_.size() / 2);
  manifest_["package"]["sha256"] = sha256_hex(bundle_);
  manifest_["package"]["size_bytes"] = bundle_.size();
  write();
  expect_fail(result(), "delivery_archive_malformed", std::string("geniesim/") + kBundle);
}

TEST_F(DeliveryBundleTest, NotAnArchiveFails) {
  deliver(good_members());
  bundle_ = "this is not a tar.gz\n";
  manifest_["package"]["sha256"] = sha256_hex(bundle_);
  manifest_["package"]["size_bytes"] = bundle_.size();
  write();
  expect_fail(result(), "delivery_archive_malformed", "is not a readable tar archive");
}

TEST_F(DeliveryBundleTest, CompressionIsChecked) {
  deliver(good_members(), Packing::tar);
  expect_fail(result(), "delivery_archive_malformed", "is not compressed; expected gzip");
  EXPECT_EQ(result("compression: [none]").status, Status::pass);
  deliver(good_members(), Packing::tar_gz_gz);
  expect_fail(result(), "delivery_archive_malformed", "compressed 2 times");
  deliver(good_members(), Packing::zip);
  expect_fail(result(), "delivery_archive_malformed", "is not a readable tar archive");
}

TEST_F(DeliveryBundleTest, ZipBundleWhenZipIsAllowed) {
  deliver(good_members(), Packing::zip);
  const CheckResult r = result("formats: [zip]\ncompression: [none]");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["inventory_matched"], 7);
}

TEST_F(DeliveryBundleTest, MaxMembersStopsReading) {
  deliver(good_members());
  expect_fail(result("max_members: 3"), "delivery_archive_malformed",
              "has more than max_members (3) members");
}

TEST_F(DeliveryBundleTest, NpyHeaderBeyondTheScanFails) {
  deliver(good_members());
  expect_fail(result("max_member_scan_bytes: 32"), "delivery_unsafe_content",
              "lerobot/stats.npy: NumPy header of 118 bytes is longer than max_member_scan_bytes");
}

// --- Member names, links and types --------------------------------------------------------

TEST_F(DeliveryBundleTest, ParentMemberFails) {
  std::vector<Member> members = good_members();
  members.push_back(file("../x", "escaped"));
  deliver(members);
  expect_fail(result(), "delivery_unsafe_member", "../x: member name contains a '..' component");
  // Nested, too.
  members.back() = file("lerobot/../../x", "escaped");
  deliver(members);
  expect_fail(result(), "delivery_unsafe_member", "lerobot/../../x");
}

TEST_F(DeliveryBundleTest, AbsoluteMemberFails) {
  std::vector<Member> members = good_members();
  members.push_back(file("/etc/x", "root"));
  deliver(members);
  expect_fail(result(), "delivery_unsafe_member", "/etc/x: absolute member name");
}

TEST_F(DeliveryBundleTest, BackslashAndControlCharactersFail) {
  std::vector<Member> members = good_members();
  members.push_back(file("..\\..\\x", "windows"));
  members.push_back(file("lerobot/a\nb", "newline"));
  deliver(members);
  const CheckResult r = result();
  expect_fail(r, "delivery_unsafe_member", "backslash");
  EXPECT_TRUE(contains(r.message, "lerobot/a\\x0ab: member name contains a control character"))
      << r.message;
}

TEST_F(DeliveryBundleTest, SymlinkOutOfTheArchiveFails) {
  std::vector<Member> members = good_members();
  members.push_back(symlink("lerobot/passwd", "../../etc/passwd"));
  deliver(members);
  expect_fail(result(), "delivery_unsafe_member",
              "lerobot/passwd: is a symbolic link to \"../../etc/passwd\", which points outside "
              "the archive");
  expect_fail(result("allow_links: true"), "delivery_unsafe_member", "points outside the archive");
  members.back() = symlink("lerobot/abs", "/etc/passwd");
  deliver(members);
  expect_fail(result("allow_links: true"), "delivery_unsafe_member", "points to an absolute path");
}

TEST_F(DeliveryBundleTest, LinksInsideTheArchiveNeedAllowLinks) {
  std::vector<Member> members = good_members();
  members.push_back(symlink("lerobot/meta/info_link.json", "info.json"));
  members.push_back(hardlink("lerobot/meta/info_copy.json", "lerobot/meta/info.json"));
  deliver(members);
  const CheckResult r = result();
  expect_fail(r, "delivery_unsafe_member", "(links are not allowed)");
  EXPECT_TRUE(contains(r.message, "info_copy.json: is a hard link")) << r.message;
  EXPECT_EQ(result("allow_links: true").status, Status::pass)
      << result("allow_links: true").message;
}

TEST_F(DeliveryBundleTest, HardlinkToAMissingMemberFails) {
  std::vector<Member> members = good_members();
  members.push_back(hardlink("lerobot/shadow", "etc/shadow"));
  deliver(members);
  expect_fail(result("allow_links: true"), "delivery_unsafe_member",
              "not an earlier regular file of the archive");
}

TEST_F(DeliveryBundleTest, FifoFails) {
  std::vector<Member> members = good_members();
  members.push_back({Member::Type::fifo, "lerobot/pipe", {}, {}});
  deliver(members);
  expect_fail(result(), "delivery_unsafe_member", "lerobot/pipe: is a FIFO");
}

TEST_F(DeliveryBundleTest, DuplicateMemberFails) {
  std::vector<Member> members = good_members();
  members.push_back(file("./lerobot/meta/info.json", R"({"replaced": true})"));
  deliver(members);
  expect_fail(result(), "delivery_unsafe_member", "duplicate member");
}

// --- Members against file_inventory -------------------------------------------------------

TEST_F(DeliveryBundleTest, InventoryFileMissingFromTheArchiveFails) {
  deliver(good_members());
  manifest_["file_inventory"].push_back(
      {{"path", "lerobot/data/episode_000001.parquet"}, {"size_bytes", 1234}});
  write();
  expect_fail(result(), "delivery_inventory_mismatch",
              "lerobot/data/episode_000001.parquet: listed in file_inventory (1234 bytes) but not "
              "in the archive");
}

TEST_F(DeliveryBundleTest, InventoryOptionalEntriesMayBeAbsent) {
  deliver(good_members());
  // The pipeline may list files of its output folder that the bundle cannot hold.
  manifest_["file_inventory"].push_back({{"path", kBundle}, {"size_bytes", bundle_.size()}});
  manifest_["file_inventory"].push_back({{"path", "import_manifest.json"}, {"size_bytes", 10}});
  write();
  expect_fail(result(), "delivery_inventory_mismatch",
              std::string(kBundle) + ": listed in file_inventory");
  const CheckResult r =
      result("inventory_optional: [\"lerobot_bundle_*.tar.gz\", import_manifest.json]");
  EXPECT_EQ(r.status, Status::pass) << r.message;
  EXPECT_EQ(r.observed["inventory_optional_absent"], 2);
  EXPECT_TRUE(contains(r.message, "2 inventory_optional entries absent")) << r.message;
  // Present, an optional entry is still compared.
  expect_fail(result("inventory_optional: [\"lerobot/*\"]"), "delivery_inventory_mismatch",
              std::string(kBundle) + ": listed in file_inventory");
  for (auto& e : manifest_["file_inventory"]) {
    if (e["path"] == "lerobot/episodes.jsonl") e["size_bytes"] = 2;
  }
  write();
  expect_fail(result("inventory_optional: [\"*\"]"), "delivery_inventory_mismatch",
              "lerobot/episodes.jsonl: is ");
}

TEST_F(DeliveryBundleTest, UnlistedMemberFailsUnlessAllowed) {
  std::vector<Member> members = good_members();
  deliver(members);
  members.push_back(file("lerobot/extra.json", "{}"));
  const nlohmann::json inventory = manifest_["file_inventory"];
  deliver(members);
  manifest_["file_inventory"] = inventory;
  write();
  expect_fail(result(), "delivery_inventory_mismatch",
              "lerobot/extra.json: is in the archive but not in file_inventory");
  EXPECT_EQ(result("allow_unlisted_members: true").status, Status::pass);
}

TEST_F(DeliveryBundleTest, InventorySizeMismatchFails) {
  deliver(good_members());
  for (auto& e : manifest_["file_inventory"]) {
    if (e["path"] == "lerobot/episodes.jsonl") e["size_bytes"] = 1;
  }
  write();
  std::size_t size = 0;
  for (const Member& m : good_members()) {
    if (m.name == "lerobot/episodes.jsonl") size = m.data.size();
  }
  expect_fail(
      result(), "delivery_inventory_mismatch",
      fmt::format("lerobot/episodes.jsonl: is {} bytes in the archive, file_inventory says 1",
                  size));
}

TEST_F(DeliveryBundleTest, ManyFindingsAreCountedAndCapped) {
  std::vector<Member> members = good_members();
  for (int i = 0; i < 30; ++i) members.push_back(file(fmt::format("extra/{:02d}.json", i), "{}"));
  const nlohmann::json inventory = inventory_of(good_members());
  deliver(members);
  manifest_["file_inventory"] = inventory;
  write();
  const CheckResult r = result();
  expect_fail(r, "delivery_inventory_mismatch", "30 problems");
  EXPECT_TRUE(contains(r.message, "extra/00.json")) << r.message;
  EXPECT_TRUE(contains(r.message, "... and 10 more")) << r.message;
  EXPECT_EQ(r.details["inventory_total"], 30);
  EXPECT_EQ(r.details["inventory"].size(), 30u);
}

// --- Unsafe serialised objects ------------------------------------------------------------

TEST_F(DeliveryBundleTest, PickleMemberFails) {
  std::vector<Member> members = good_members();
  members.push_back(file("lerobot/policy.pkl", pickle2()));
  deliver(members);
  const CheckResult r = result();
  expect_fail(r, "delivery_unsafe_content", "lerobot/policy.pkl: is a .pkl file (pickle)");
  EXPECT_TRUE(contains(r.message, "PROTO opcode (protocol 2)")) << r.message;
}

TEST_F(DeliveryBundleTest, PickleDisguisedAsJsonIsSniffed) {
  std::vector<Member> members = good_members();
  members.push_back(file("lerobot/meta/stats.json", pickle2()));
  deliver(members);
  expect_fail(result(), "delivery_unsafe_content",
              "lerobot/meta/stats.json: starts with the pickle PROTO opcode (protocol 2)");
  members.back() = file("lerobot/meta/notes.txt", pickle0());
  deliver(members);
  expect_fail(result(), "delivery_unsafe_content",
              "lerobot/meta/notes.txt: is a protocol 0 pickle importing \"os.system\"");
}

TEST_F(DeliveryBundleTest, NpyOfObjectDtypeFails) {
  std::vector<Member> members = good_members();
  members.push_back(file("lerobot/objects.npy", npy("|O", pickle2(), 1)));
  deliver(members);
  expect_fail(result(), "delivery_unsafe_content",
              "lerobot/objects.npy: is a NumPy array of object dtype (descr '|O')");
  // A structured dtype with an object field.
  members.back() = file("lerobot/rec.npy", npy("x", "", 1));
  std::string& data = members.back().data;
  data = "\x93NUMPY\x01";
  data += '\x00';
  std::string header =
      "{'descr': [('a', '<f8'), ('b', '|O')], 'fortran_order': False, "
      "'shape': (1,), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  data += static_cast<char>(header.size());
  data += '\x00';
  data += header + pickle2();
  deliver(members);
  expect_fail(result(), "delivery_unsafe_content", "lerobot/rec.npy: is a NumPy array of object");
}

TEST_F(DeliveryBundleTest, NpyWithoutMagicFails) {
  std::vector<Member> members = good_members();
  members.push_back(file("lerobot/actions.npy", "not numpy at all"));
  deliver(members);
  expect_fail(result(), "delivery_unsafe_content",
              "lerobot/actions.npy: does not start with the NumPy magic");
}

TEST_F(DeliveryBundleTest, TorchLikeZipWithDataPklFails) {
  // A tensor entry larger than the scan comes first: it is skipped, and listing goes on.
  const std::string torch_zip =
      pack({file("model/data/0", std::string(300000, 'w')), file("model/data.pkl", pickle2()),
            file("model/version", "3\n")},
           Packing::zip);
  std::vector<Member> members = good_members();
  // Named .bin, so only the content tells.
  members.push_back(file("lerobot/policy/pytorch_model.bin", torch_zip));
  deliver(members);
  expect_fail(result(), "delivery_unsafe_content",
              "lerobot/policy/pytorch_model.bin: is a zip holding \"model/data.pkl\"");
  members.back().name = "lerobot/policy/model.pt";
  deliver(members);
  expect_fail(result(), "delivery_unsafe_content", "lerobot/policy/model.pt: is a .pt file");
}

TEST_F(DeliveryBundleTest, NpzWithObjectArrayFails) {
  std::vector<Member> members = good_members();
  members.push_back(
      file("lerobot/extra.npz", pack({file("obj.npy", npy("|O", pickle2(), 1))}, Packing::zip)));
  deliver(members);
  expect_fail(result(), "delivery_unsafe_content",
              "lerobot/extra.npz!obj.npy: is a NumPy array of object dtype");
}

TEST_F(DeliveryBundleTest, ForbidSelectsFamilies) {
  std::vector<Member> members = good_members();
  members.push_back(file("lerobot/scaler.joblib", "joblib bytes"));
  deliver(members);
  expect_fail(result(), "delivery_unsafe_content", "lerobot/scaler.joblib: is a .joblib file");
  EXPECT_EQ(result("forbid: [pickle, numpy_object, torch]").status, Status::pass);
}

// --- The manifest -------------------------------------------------------------------------

TEST_F(DeliveryBundleTest, ManifestWithoutSha256Fails) {
  deliver(good_members());
  manifest_["package"].erase("sha256");
  write();
  expect_fail(result(), "delivery_manifest_invalid", "package.sha256: is absent");
}

TEST_F(DeliveryBundleTest, ManifestWithWronglyTypedFieldsFails) {
  deliver(good_members());
  manifest_["package"]["size_bytes"] = std::to_string(bundle_.size());
  manifest_["file_inventory"][0]["size_bytes"] = -1;
  write();
  const CheckResult r = result();
  expect_fail(r, "delivery_manifest_invalid", "package.size_bytes: is string");
  EXPECT_TRUE(contains(r.message, "file_inventory[0].size_bytes: is number -1")) << r.message;
}

TEST_F(DeliveryBundleTest, EmptyOrMissingInventoryFails) {
  deliver(good_members());
  manifest_["file_inventory"] = nlohmann::json::array();
  write();
  expect_fail(result(), "delivery_manifest_invalid", "file_inventory: is empty");
  manifest_.erase("file_inventory");
  write();
  expect_fail(result(), "delivery_manifest_invalid", "file_inventory: is absent");
}

TEST_F(DeliveryBundleTest, ManifestThatIsNotJsonFails) {
  deliver(good_members());
  root_.write("geniesim/import_manifest.json", R"({"package": {"path": )");
  expect_fail(result(), "delivery_manifest_invalid", "geniesim/import_manifest.json");
  root_.write("geniesim/import_manifest.json", "[1, 2]");
  expect_fail(result(), "delivery_manifest_invalid", "expected an object");
}

TEST_F(DeliveryBundleTest, MissingManifestAndMissingArchiveFail) {
  expect_fail(result(), "delivery_manifest_missing", "geniesim/import_manifest.json");
  deliver(good_members());
  fs::remove(root_ / (std::string("geniesim/") + kBundle));
  expect_fail(result(), "delivery_archive_missing", std::string("geniesim/") + kBundle);
}

TEST_F(DeliveryBundleTest, ArchiveSymlinkOutOfTheRootFails) {
  deliver(good_members());
  ScratchDir outside;
  outside.write(kBundle, bundle_);
  const fs::path at = root_ / (std::string("geniesim/") + kBundle);
  fs::remove(at);
  fs::create_symlink(outside / kBundle, at);
  const CheckResult r = result();
  expect_fail(r, "delivery_archive_missing", std::string("geniesim/") + kBundle);
  EXPECT_FALSE(r.observed.contains("sha256")) << r.observed.dump();
}

TEST_F(DeliveryBundleTest, PackagePathCannotLeaveTheManifestFolder) {
  deliver(good_members());
  root_.write(kBundle, bundle_);  // a copy one level up must never be reached
  for (const char* path : {"../lerobot_bundle_gsjob-7f3a21.tar.gz", "/etc/passwd",
                           "gs://bucket/scenes/x/lerobot_bundle.tar.gz"}) {
    manifest_["package"]["path"] = path;
    write();
    const CheckResult r = result();
    expect_fail(r, "delivery_manifest_invalid", "is not a relative path below the manifest");
    EXPECT_TRUE(r.observed["archive"].get<std::string>().empty()) << path;
  }
}

TEST_F(DeliveryBundleTest, DefaultManifestPathIsTheRoot) {
  deliver(good_members());
  fs::rename(root_ / "geniesim/import_manifest.json", root_ / "import_manifest.json");
  fs::rename(root_ / (std::string("geniesim/") + kBundle), root_ / kBundle);
  RunOutcome out = run_spec_text(spec(), root_.path());
  ASSERT_TRUE(out.report.has_value()) << out.error;
  const CheckResult* r = find_result(*out.report, kCheckId);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->status, Status::pass) << r->message;
}

TEST_F(DeliveryBundleTest, BadParametersAreSpecErrors) {
  for (const char* params :
       {"forbid: [pickles]", "max_member_scan_bytes: 1", "max_member_scan_bytes: \"64\"",
        "formats: [rar]", "compression: [lzma]", "compression: []", "inventory_prefix: ../up",
        "allow_links: \"true\"", "max_members: 0", "inventory_optional: [\"\"]"}) {
    RunOutcome out = run_spec_text(spec(params), root_.path());
    EXPECT_EQ(out.exit_code, ExitCode::usage) << params;
    EXPECT_FALSE(out.report.has_value()) << params;
  }
}

TEST_F(DeliveryBundleTest, MemoryStaysBoundedForALargeArchive) {
  // 96 MiB of data (compressed to well under 1 MiB): the driver reading it must stay far
  // below that, since the archive is streamed and members are never held whole.
  constexpr std::size_t kBig = 96u << 20;
  // Written in blocks: on Linux a child inherits its parent's peak RSS, so the test process
  // must never hold the data either.
  std::vector<Member> members = good_members();
  members.push_back(file("lerobot/videos/zeros.bin", ""));
  members.back().zeros = kBig;
  deliver(members);
  ASSERT_LT(bundle_.size(), 1u << 20);
  ScratchDir specs;
  specs.write("spec.yaml", spec("manifest: geniesim/import_manifest.json"));
  const DriverRun run = run_driver("run '" + (specs / "spec.yaml").string() + "' --root '" +
                                   root_.path().string() + "' -q");
  EXPECT_EQ(run.code, 0) << run.out << run.err;
  struct rusage usage {};
  ASSERT_EQ(getrusage(RUSAGE_CHILDREN, &usage), 0);
  // ru_maxrss is in KiB: the largest child so far, the driver included.
  EXPECT_LT(usage.ru_maxrss, 64 * 1024) << "the driver's peak RSS was " << usage.ru_maxrss
                                        << " KiB for a " << (kBig >> 20) << " MiB member";
}

TEST_F(DeliveryBundleTest, GoldenRegressionManifestHasNoPackageInPlace) {
  // The scene pipeline's own golden import manifest (read in place, never copied) carries no
  // package or file_inventory: as a delivery it must fail, naming both fields.
  const fs::path folder = STAGECHECK_SOURCE_DIR
      "/../shared/fixtures/pipeline-golden/dataset_regression/baseline_dataset";
  if (!fs::exists(folder / "import_manifest.json")) {
    GTEST_SKIP() << "fixture absent: " << (folder / "import_manifest.json").string();
  }
  RunOutcome out = run_spec_text(spec(), folder);
  ASSERT_TRUE(out.report.has_value()) << out.error;
  const CheckResult* r = find_result(*out.report, kCheckId);
  ASSERT_NE(r, nullptr);
  expect_fail(*r, "delivery_manifest_invalid", "package: is absent");
  EXPECT_TRUE(contains(r->message, "file_inventory: is absent")) << r->message;
  EXPECT_TRUE(contains(r->message, "import_manifest.json")) << r->message;
}

// --- The driver on the bundled example ----------------------------------------------------

TEST(DeliveryBundleDriverTest, ExampleDeliveryPassesAndABrokenCopyFails) {
  const fs::path example = fs::path(STAGECHECK_SOURCE_DIR) / "examples/dataset";
  ASSERT_TRUE(fs::exists(example / "delivery.yaml"));
  const std::string spec_arg = "run '" + (example / "delivery.yaml").string() + "'";
  const DriverRun ok = run_driver(spec_arg + " --root '" + (example / "delivery").string() + "'");
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;

  ScratchDir copy;
  copy.copy_tree(example / "delivery");
  std::string bundle;
  for (const auto& e : fs::directory_iterator(copy.path())) {
    if (e.path().extension() == ".gz") bundle = e.path().filename().string();
  }
  ASSERT_FALSE(bundle.empty());
  std::string bytes = slurp(copy / bundle);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x20);
  copy.write(bundle, bytes);
  const DriverRun bad = run_driver(spec_arg + " --root '" + copy.path().string() + "'");
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  EXPECT_TRUE(contains(bad.out, bundle)) << bad.out;
}

TEST(DeliveryBundleDriverTest, BadParameterIsExitTwoWithItsLine) {
  ScratchDir dir;
  dir.write("spec.yaml", spec("forbid: [pickle, pickles]"));
  const DriverRun run = run_driver("validate '" + (dir / "spec.yaml").string() + "'");
  EXPECT_EQ(run.code, 2) << run.out << run.err;
  EXPECT_TRUE(contains(run.err + run.out, "spec.yaml:8:")) << run.err << run.out;
  EXPECT_TRUE(contains(run.err + run.out, "unknown family \"pickles\"")) << run.err << run.out;
}

}  // namespace
