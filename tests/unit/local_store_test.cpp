// Tests for the local filesystem store: confinement beneath the root, file types, size caps,
// permissions, listing order and streaming, atomic writes.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

// Internal header (not installed, not on the test target's include path): the confinement
// switch that lets the openat2-less fallback be tested on a kernel that has openat2.
#include "../../src/local_store_impl.hpp"
#include "stagecheck/local_store.hpp"
#include "stagecheck/store.hpp"

namespace stagecheck {
namespace {

namespace fs = std::filesystem;

/// A fresh folder under /tmp, removed at the end. 0755 so that an unprivileged uid can reach
/// files inside it in the permission tests.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "stagecheck_store_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    fs::permissions(path_, fs::perms(0755));
  }
  ~TempDir() {
    std::error_code ec;
    // Restore permissions that tests removed so that everything can be deleted.
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_symlink()) fs::permissions(it->path(), fs::perms(0755), ec);
    }
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

/// Runs the rest of a scope with effective uid `nobody` when the tests run as root, so that
/// file modes are enforced (root bypasses them). Skips the test if that is impossible.
class AsNobody {
 public:
  AsNobody() {
    if (::geteuid() == 0) {
      dropped_ = ::seteuid(65534) == 0;
      failed_ = !dropped_;
    }
  }
  ~AsNobody() {
    if (dropped_ && ::seteuid(0) != 0) std::abort();  // Cannot continue in the wrong identity.
  }
  AsNobody(const AsNobody&) = delete;
  AsNobody& operator=(const AsNobody&) = delete;
  bool failed() const { return failed_; }

 private:
  bool dropped_ = false;
  bool failed_ = false;
};

std::vector<std::string> list_paths(const Store& store, const std::string& prefix) {
  std::vector<std::string> out;
  const Result<void> r = store.list(prefix, [&](const ObjectInfo& info) {
    out.push_back(info.path);
    return true;
  });
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return out;
}

bool has_temp_files(const fs::path& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) return true;
  }
  return false;
}

std::string confinement_name(const testing::TestParamInfo<detail::Confinement>& info) {
  return info.param == detail::Confinement::automatic ? "openat2" : "path_check";
}

/// A root at `<tmp>/root` with a sibling `<tmp>/outside` holding a file that must never be
/// reachable through the store. Parameterised over both confinement strategies.
class LocalStoreTest : public testing::TestWithParam<detail::Confinement> {
 protected:
  void SetUp() override {
    root_ = tmp_.path() / "root";
    outside_ = tmp_.path() / "outside";
    fs::create_directories(root_);
    write_file(outside_ / "secret.txt", "secret");
    write_file(root_ / "data" / "hello.txt", "hello world");
    Result<std::unique_ptr<Store>> opened = detail::open_local_store(root_, GetParam());
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
  }

  TempDir tmp_;
  fs::path root_;
  fs::path outside_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Confinements, LocalStoreTest,
                         testing::Values(detail::Confinement::automatic,
                                         detail::Confinement::path_check),
                         confinement_name);

// --- validate_store_path -------------------------------------------------------------------

TEST(ValidateStorePath, AcceptsRelativePaths) {
  EXPECT_TRUE(validate_store_path("a").ok());
  EXPECT_TRUE(validate_store_path("scenes/x/episode_001.json").ok());
  EXPECT_TRUE(validate_store_path(".hidden/..dots..").ok());
}

TEST(ValidateStorePath, EmptyIsInvalidArgument) {
  const Result<void> r = validate_store_path("");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("empty"), std::string::npos);
}

TEST(ValidateStorePath, AbsoluteIsOutOfRoot) {
  const Result<void> r = validate_store_path("/etc/passwd");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_root);
  EXPECT_NE(r.error().message.find("'/etc/passwd'"), std::string::npos);
  EXPECT_NE(r.error().message.find("absolute"), std::string::npos);
}

TEST(ValidateStorePath, DotDotSegmentIsOutOfRoot) {
  for (const char* path : {"..", "../x", "a/../b", "a/..", "a//../b"}) {
    const Result<void> r = validate_store_path(path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.error().code, Errc::out_of_root) << path;
    EXPECT_NE(r.error().message.find("'..'"), std::string::npos) << path;
  }
}

TEST(ValidateStorePath, EmptyAndDotSegmentsAreInvalid) {
  for (const char* path : {"a//b", "a/", "./a", "a/./b", "."}) {
    const Result<void> r = validate_store_path(path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << path;
    EXPECT_NE(r.error().message.find(path), std::string::npos) << path;
  }
}

TEST(ValidateStorePath, BackslashAndNulAreInvalid) {
  const Result<void> backslash = validate_store_path("a\\b");
  ASSERT_FALSE(backslash.ok());
  EXPECT_EQ(backslash.error().code, Errc::invalid_argument);
  EXPECT_NE(backslash.error().message.find("backslash"), std::string::npos);
  const Result<void> nul = validate_store_path(std::string_view("a\0b", 3));
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.error().code, Errc::invalid_argument);
  EXPECT_NE(nul.error().message.find("a\\x00b"), std::string::npos);  // Escaped, not cut.
}

// --- open_local_store ----------------------------------------------------------------------

TEST(OpenLocalStore, MissingRootIsNotFound) {
  const Result<std::unique_ptr<Store>> r = open_local_store("/nonexistent/stagecheck/root");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_NE(r.error().message.find("/nonexistent/stagecheck/root"), std::string::npos);
}

TEST(OpenLocalStore, FileRootIsNotFound) {
  TempDir tmp;
  write_file(tmp.path() / "file", "x");
  const Result<std::unique_ptr<Store>> r = open_local_store(tmp.path() / "file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_NE(r.error().message.find("not a folder"), std::string::npos);
}

TEST(OpenLocalStore, DescribeIsTheCanonicalRoot) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "real");
  fs::create_directory_symlink(tmp.path() / "real", tmp.path() / "alias");
  const Result<std::unique_ptr<Store>> r = open_local_store(tmp.path() / "alias" / ".");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)->describe(), fs::canonical(tmp.path() / "real").string());
}

// --- read / stat / open --------------------------------------------------------------------

TEST_P(LocalStoreTest, ReadReturnsTheBytes) {
  const std::string binary("a\0b\xff\n", 5);
  write_file(root_ / "bin.dat", binary);
  const Result<std::string> r = store_->read("data/hello.txt", 1024);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "hello world");
  const Result<std::string> b = store_->read("bin.dat", 1024);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(*b, binary);
}

TEST_P(LocalStoreTest, ReadsALargeFileWhole) {
  std::string big(300'000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 251);
  write_file(root_ / "big.bin", big);
  const Result<std::string> r = store_->read("big.bin", big.size());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, big);
}

TEST_P(LocalStoreTest, ReadEmptyFileIsEmpty) {
  write_file(root_ / "empty", "");
  const Result<std::string> r = store_->read("empty", 0);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "");
}

TEST_P(LocalStoreTest, MissingFileIsNotFound) {
  const Result<std::string> r = store_->read("data/missing.json", 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_NE(r.error().message.find("'data/missing.json'"), std::string::npos);
  EXPECT_NE(r.error().message.find(store_->describe()), std::string::npos);
  const Result<ObjectInfo> s = store_->stat("nope/deeper/x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::not_found);
}

TEST_P(LocalStoreTest, FileUsedAsFolderIsNotFound) {
  const Result<std::string> r = store_->read("data/hello.txt/x", 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::not_found);
}

TEST_P(LocalStoreTest, DotDotPathIsOutOfRoot) {
  // The target exists, so only confinement can refuse it.
  const Result<std::string> r = store_->read("../outside/secret.txt", 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_root);
  EXPECT_FALSE(store_->stat("data/../../outside/secret.txt").ok());
  EXPECT_EQ(store_->stat("data/../../outside/secret.txt").error().code, Errc::out_of_root);
  EXPECT_EQ(store_->open("../outside/secret.txt").error().code, Errc::out_of_root);
}

TEST_P(LocalStoreTest, AbsolutePathIsOutOfRoot) {
  const std::string absolute = (outside_ / "secret.txt").string();
  const Result<std::string> r = store_->read(absolute, 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_root);
  EXPECT_NE(r.error().message.find(absolute), std::string::npos);
}

TEST_P(LocalStoreTest, AbsoluteSymlinkOutOfRootIsRefused) {
  fs::create_symlink(outside_ / "secret.txt", root_ / "data" / "link.txt");
  const Result<std::string> r = store_->read("data/link.txt", 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_root);
  EXPECT_NE(r.error().message.find("'data/link.txt' resolves outside the root"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(store_->stat("data/link.txt").error().code, Errc::out_of_root);
  EXPECT_EQ(store_->open("data/link.txt").error().code, Errc::out_of_root);
  // exists() cannot say "false" for something that is there but out of bounds.
  const Result<bool> e = store_->exists("data/link.txt");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, Errc::out_of_root);
}

TEST_P(LocalStoreTest, RelativeSymlinkOutOfRootIsRefused) {
  fs::create_symlink("../../outside/secret.txt", root_ / "data" / "rel.txt");
  EXPECT_EQ(store_->read("data/rel.txt", 1024).error().code, Errc::out_of_root);
  EXPECT_EQ(store_->stat("data/rel.txt").error().code, Errc::out_of_root);
  EXPECT_EQ(store_->open("data/rel.txt").error().code, Errc::out_of_root);
}

TEST_P(LocalStoreTest, SymlinkedFolderOutOfRootIsRefused) {
  fs::create_directory_symlink(outside_, root_ / "escape");
  const Result<std::string> r = store_->read("escape/secret.txt", 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_root);
  EXPECT_EQ(store_->stat("escape/secret.txt").error().code, Errc::out_of_root);
}

TEST_P(LocalStoreTest, SymlinkInsideRootIsFollowed) {
  fs::create_symlink("../data/hello.txt", root_ / "data" / "same.txt");
  fs::create_directories(root_ / "other");
  fs::create_symlink("../data/hello.txt", root_ / "other" / "via.txt");
  const Result<std::string> r = store_->read("other/via.txt", 1024);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "hello world");
  const Result<ObjectInfo> s = store_->stat("other/via.txt");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->is_symlink);
  EXPECT_EQ(s->size, 11u);
  EXPECT_EQ(s->path, "other/via.txt");
}

TEST_P(LocalStoreTest, SymlinkLoopIsOutOfRoot) {
  fs::create_symlink("loop_b", root_ / "loop_a");
  fs::create_symlink("loop_a", root_ / "loop_b");
  const Result<std::string> r = store_->read("loop_a", 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_root);
  EXPECT_NE(r.error().message.find("'loop_a'"), std::string::npos);
}

TEST_P(LocalStoreTest, DanglingSymlinkIsNotFound) {
  fs::create_symlink("nothing_here", root_ / "dangling");
  EXPECT_EQ(store_->read("dangling", 1024).error().code, Errc::not_found);
}

TEST_P(LocalStoreTest, FolderIsNotAFile) {
  const Result<std::string> r = store_->read("data", 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::not_a_file);
  EXPECT_NE(r.error().message.find("'data'"), std::string::npos);
  EXPECT_NE(r.error().message.find("folder"), std::string::npos);
  EXPECT_EQ(store_->stat("data").error().code, Errc::not_a_file);
  EXPECT_EQ(store_->open("data").error().code, Errc::not_a_file);
  const Result<bool> e = store_->exists("data");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, Errc::not_a_file);
}

TEST_P(LocalStoreTest, FifoIsNotAFileAndDoesNotBlock) {
  const fs::path fifo = root_ / "data" / "pipe.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  auto attempt = std::async(std::launch::async, [&] {
    const Result<std::string> r = store_->read("data/pipe.json", 1024);
    const Result<ObjectInfo> s = store_->stat("data/pipe.json");
    const Result<std::unique_ptr<Reader>> o = store_->open("data/pipe.json");
    return std::vector<Errc>{r.ok() ? Errc::internal : r.error().code,
                             s.ok() ? Errc::internal : s.error().code,
                             o.ok() ? Errc::internal : o.error().code};
  });
  if (attempt.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // Unblock the reader so that the test can fail instead of hanging.
    const int fd = ::open(fifo.c_str(), O_WRONLY);
    if (fd >= 0) ::close(fd);
    FAIL() << "reading a FIFO blocked";
  }
  const std::vector<Errc> codes = attempt.get();
  for (const Errc code : codes) EXPECT_EQ(code, Errc::not_a_file);
  const Result<std::string> r = store_->read("data/pipe.json", 1024);
  EXPECT_NE(r.error().message.find("special file"), std::string::npos) << r.error().message;
}

TEST_P(LocalStoreTest, OversizedFileIsTooLargeWithoutReading) {
  // 50 GB sparse: reading it would take minutes and all memory; refusing must be instant.
  const fs::path huge = root_ / "huge.bin";
  {
    const int fd = ::open(huge.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, std::int64_t{50} << 30), 0);
    ::close(fd);
  }
  const auto start = std::chrono::steady_clock::now();
  const Result<std::string> r = store_->read("huge.bin", 1 << 20);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_NE(
      r.error().message.find("'huge.bin' is 53687091200 bytes, over the read cap of 1048576 bytes"),
      std::string::npos)
      << r.error().message;
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST_P(LocalStoreTest, ReadCapIsInclusive) {
  write_file(root_ / "ten.txt", "0123456789");
  EXPECT_TRUE(store_->read("ten.txt", 10).ok());
  const Result<std::string> r = store_->read("ten.txt", 9);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
}

TEST_P(LocalStoreTest, StatReportsFacts) {
  const Result<ObjectInfo> s = store_->stat("data/hello.txt");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->path, "data/hello.txt");
  EXPECT_EQ(s->size, 11u);
  EXPECT_FALSE(s->is_symlink);
  struct stat st {};
  ASSERT_EQ(::stat((root_ / "data" / "hello.txt").c_str(), &st), 0);
  EXPECT_EQ(s->mtime_ns, std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec);
}

TEST_P(LocalStoreTest, ExistsIsTrueOrFalseOnlyWhenKnown) {
  const Result<bool> yes = store_->exists("data/hello.txt");
  ASSERT_TRUE(yes.ok());
  EXPECT_TRUE(*yes);
  const Result<bool> no = store_->exists("data/absent.txt");
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE(*no);
  const Result<bool> bad = store_->exists("../x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::out_of_root);
}

TEST_P(LocalStoreTest, UnreadableFileIsPermissionDenied) {
  write_file(root_ / "locked.json", "{}");
  fs::permissions(root_ / "locked.json", fs::perms::none);
  Result<std::string> r = std::string();
  Result<std::unique_ptr<Reader>> o = make_error(Errc::internal, "not run");
  {
    const AsNobody nobody;
    if (nobody.failed()) GTEST_SKIP() << "cannot drop privileges";
    r = store_->read("locked.json", 1024);
    o = store_->open("locked.json");
  }
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::permission_denied);
  EXPECT_NE(r.error().message.find("'locked.json'"), std::string::npos);
  EXPECT_NE(r.error().message.find("permission denied"), std::string::npos);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().code, Errc::permission_denied);
}

TEST_P(LocalStoreTest, UnsearchableFolderIsPermissionDenied) {
  write_file(root_ / "closed" / "x.json", "{}");
  fs::permissions(root_ / "closed", fs::perms::none);
  Result<ObjectInfo> s = make_error(Errc::internal, "not run");
  Result<bool> e = make_error(Errc::internal, "not run");
  {
    const AsNobody nobody;
    if (nobody.failed()) GTEST_SKIP() << "cannot drop privileges";
    s = store_->stat("closed/x.json");
    e = store_->exists("closed/x.json");
  }
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::permission_denied);
  // Not "absent": whether it exists could not be established.
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, Errc::permission_denied);
}

TEST_P(LocalStoreTest, ReaderStreamsTheFile) {
  std::string content(10'000, 'x');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>('a' + i % 26);
  write_file(root_ / "stream.txt", content);
  Result<std::unique_ptr<Reader>> opened = store_->open("stream.txt");
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  Reader& reader = **opened;
  EXPECT_EQ(reader.size(), content.size());
  std::string got;
  char buffer[777];
  for (;;) {
    const Result<std::size_t> n = reader.read(buffer, sizeof buffer);
    ASSERT_TRUE(n.ok()) << n.error().message;
    if (*n == 0) break;
    got.append(buffer, *n);
  }
  EXPECT_EQ(got, content);
  const Result<std::size_t> again = reader.read(buffer, sizeof buffer);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);
}

TEST_P(LocalStoreTest, ConcurrentReadsAreSafe) {
  for (int i = 0; i < 20; ++i)
    write_file(root_ / "c" / ("f" + std::to_string(i)), std::to_string(i));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 20; ++i) {
          const std::string path = "c/f" + std::to_string(i);
          const Result<std::string> r = store_->read(path, 100);
          if (!r.ok() || *r != std::to_string(i)) ++failures;
          if (!store_->stat(path).ok()) ++failures;
        }
        if (list_paths(*store_, "c/").size() != 20) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

// --- list ----------------------------------------------------------------------------------

TEST_P(LocalStoreTest, ListIsInLexicographicOrderOfFullPaths) {
  fs::remove_all(root_ / "data");
  // '-' (0x2d) and '.' (0x2e) sort before '/' (0x2f): "a-b" and "a.b" precede "a/...", and
  // "a0" (0x30) follows it. A per-folder sort of bare names would put "a/" first.
  for (const char* p : {"b", "a0", "a/c/d", "a/b", "a.b", "a-b", "a/c.txt", "a/c-d", "A"}) {
    write_file(root_ / p, p);
  }
  const std::vector<std::string> expected = {"A",       "a-b",   "a.b", "a/b", "a/c-d",
                                             "a/c.txt", "a/c/d", "a0",  "b"};
  EXPECT_EQ(list_paths(*store_, ""), expected);
}

TEST_P(LocalStoreTest, ListPrefixIsAStringPrefix) {
  for (const char* p : {"episodes/ep_001.json", "episodes/ep_002.json", "episodes/ep_009.json",
                        "episodes/ep_010.json", "episodes/other.json", "episodes/ep_00x/inner.json",
                        "episodes_extra/ep_001.json"}) {
    write_file(root_ / p, "{}");
  }
  const std::vector<std::string> expected = {"episodes/ep_001.json", "episodes/ep_002.json",
                                             "episodes/ep_009.json", "episodes/ep_00x/inner.json"};
  EXPECT_EQ(list_paths(*store_, "episodes/ep_00"), expected);
  // Without a '/', the prefix also matches sibling folders' names.
  EXPECT_EQ(list_paths(*store_, "episodes").size(), 7u);
  EXPECT_EQ(list_paths(*store_, "episodes/").size(), 6u);
}

TEST_P(LocalStoreTest, ListReportsSizesAndNoFolders) {
  write_file(root_ / "s" / "three", "abc");
  fs::create_directories(root_ / "s" / "empty_folder");
  std::vector<ObjectInfo> seen;
  const Result<void> r = store_->list("s/", [&](const ObjectInfo& info) {
    seen.push_back(info);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].path, "s/three");
  EXPECT_EQ(seen[0].size, 3u);
  EXPECT_FALSE(seen[0].is_symlink);
  EXPECT_GT(seen[0].mtime_ns, 0);
}

TEST_P(LocalStoreTest, ListOfMissingFolderIsEmpty) {
  EXPECT_TRUE(list_paths(*store_, "no/such/folder/").empty());
  EXPECT_TRUE(list_paths(*store_, "data/hello.txt/").empty());  // A file, not a folder.
  EXPECT_TRUE(list_paths(*store_, "zzz").empty());
}

TEST_P(LocalStoreTest, ListStopsWhenVisitReturnsFalse) {
  for (int i = 0; i < 10; ++i) write_file(root_ / "many" / ("f" + std::to_string(i)), "x");
  int calls = 0;
  const Result<void> r = store_->list("many/", [&](const ObjectInfo&) {
    ++calls;
    return calls < 3;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(calls, 3);
}

TEST_P(LocalStoreTest, ListDoesNotDescendSymlinkedFolders) {
  write_file(root_ / "real" / "inside.json", "{}");
  fs::create_directory_symlink(root_ / "real", root_ / "alias_in");
  fs::create_directory_symlink(outside_, root_ / "alias_out");
  const std::vector<std::string> all = list_paths(*store_, "");
  const std::vector<std::string> expected = {"data/hello.txt", "real/inside.json"};
  EXPECT_EQ(all, expected);
}

TEST_P(LocalStoreTest, ListThroughPrefixFolderSymlinkInsideRoot) {
  write_file(root_ / "real" / "inside.json", "{}");
  fs::create_directory_symlink("real", root_ / "alias");
  const std::vector<std::string> expected = {"alias/inside.json"};
  EXPECT_EQ(list_paths(*store_, "alias/"), expected);
}

TEST_P(LocalStoreTest, ListPrefixFolderOutsideRootIsRefused) {
  fs::create_directory_symlink(outside_, root_ / "escape");
  int calls = 0;
  const Result<void> r = store_->list("escape/", [&](const ObjectInfo&) { return ++calls > 0; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_root);
  EXPECT_EQ(calls, 0);
}

TEST_P(LocalStoreTest, ListReportsSymlinkedFilesInsideRoot) {
  fs::create_symlink("hello.txt", root_ / "data" / "link.txt");
  std::vector<ObjectInfo> seen;
  const Result<void> r = store_->list("data/", [&](const ObjectInfo& info) {
    seen.push_back(info);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].path, "data/hello.txt");
  EXPECT_FALSE(seen[0].is_symlink);
  EXPECT_EQ(seen[1].path, "data/link.txt");
  EXPECT_TRUE(seen[1].is_symlink);
  EXPECT_EQ(seen[1].size, 11u);  // The target's size.
}

TEST_P(LocalStoreTest, ListFailsOnSymlinkedFileOutsideRoot) {
  fs::create_symlink(outside_ / "secret.txt", root_ / "data" / "leak.txt");
  const Result<void> r = store_->list("data/", [](const ObjectInfo&) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_root);
  EXPECT_NE(r.error().message.find("data/leak.txt"), std::string::npos);
}

TEST_P(LocalStoreTest, ListFailsOnDanglingSymlink) {
  fs::create_symlink("gone.txt", root_ / "data" / "dangling.txt");
  const Result<void> r = store_->list("data/", [](const ObjectInfo&) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_NE(r.error().message.find("dangling"), std::string::npos);
}

TEST_P(LocalStoreTest, ListSkipsSpecialFiles) {
  ASSERT_EQ(::mkfifo((root_ / "data" / "fifo").c_str(), 0644), 0);
  const std::vector<std::string> expected = {"data/hello.txt"};
  EXPECT_EQ(list_paths(*store_, "data/"), expected);
}

TEST_P(LocalStoreTest, ListRefusesEscapingPrefixes) {
  const auto code = [&](const std::string& prefix) {
    const Result<void> r = store_->list(prefix, [](const ObjectInfo&) { return true; });
    return r.ok() ? Errc::internal : r.error().code;
  };
  EXPECT_EQ(code("../"), Errc::out_of_root);
  EXPECT_EQ(code("../outside/s"), Errc::out_of_root);
  EXPECT_EQ(code("/etc/"), Errc::out_of_root);
  EXPECT_EQ(code("a\\b"), Errc::invalid_argument);
}

TEST_P(LocalStoreTest, ListUnreadableFolderIsPermissionDenied) {
  write_file(root_ / "tree" / "open" / "a.json", "{}");
  write_file(root_ / "tree" / "shut" / "b.json", "{}");
  fs::permissions(root_ / "tree" / "shut", fs::perms::none);
  Result<void> r;
  std::vector<std::string> seen;
  {
    const AsNobody nobody;
    if (nobody.failed()) GTEST_SKIP() << "cannot drop privileges";
    r = store_->list("tree/", [&](const ObjectInfo& info) {
      seen.push_back(info.path);
      return true;
    });
  }
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::permission_denied);
  EXPECT_NE(r.error().message.find("tree/shut"), std::string::npos) << r.error().message;
}

TEST_P(LocalStoreTest, ListRefusesAbsurdlyDeepTrees) {
  fs::path deep = root_ / "deep";
  for (int i = 0; i < 300; ++i) deep /= "d";
  fs::create_directories(deep);
  write_file(deep / "leaf.json", "{}");
  const Result<void> r = store_->list("deep/", [](const ObjectInfo&) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::malformed);
  EXPECT_NE(r.error().message.find("nested deeper than"), std::string::npos);
}

// --- list_level ----------------------------------------------------------------------------

/// Forwards to a LocalStore but keeps Store's default list_level(), built on list().
class ListOnlyStore final : public Store {
 public:
  explicit ListOnlyStore(const Store& inner) : inner_(inner) {}
  std::string describe() const override { return inner_.describe(); }
  Result<ObjectInfo> stat(std::string_view path) const override { return inner_.stat(path); }
  Result<std::string> read(std::string_view path, std::uint64_t max_bytes) const override {
    return inner_.read(path, max_bytes);
  }
  Result<std::unique_ptr<Reader>> open(std::string_view path) const override {
    return inner_.open(path);
  }
  Result<void> list(std::string_view prefix,
                    const std::function<bool(const ObjectInfo&)>& visit) const override {
    return inner_.list(prefix, visit);
  }
  Result<void> write_atomic(std::string_view, std::string_view) override {
    return make_error(Errc::permission_denied, "read-only");
  }

 private:
  const Store& inner_;
};

/// "name/" for a folder, "name" for an object, in the order list_level() reports them.
std::vector<std::string> level_keys(const Store& store, std::string_view folder) {
  std::vector<std::string> out;
  const Result<void> r = store.list_level(folder, [&](const ListEntry& entry) {
    out.push_back(entry.is_folder ? entry.name + "/" : entry.name);
    return true;
  });
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return out;
}

TEST_P(LocalStoreTest, ListLevelReportsDirectChildrenInListOrder) {
  fs::remove_all(root_ / "data");
  // The order of list(): a folder sorts as its name plus '/', so "a-b" and "a.b" come before
  // folder "a" and "a0" after it (S3's order of common prefixes and keys).
  for (const char* p : {"b", "a0", "a/c/d", "a/b", "a.b", "a-b/x", "A"}) write_file(root_ / p, p);
  const std::vector<std::string> expected = {"A", "a-b/", "a.b", "a/", "a0", "b"};
  EXPECT_EQ(level_keys(*store_, ""), expected);
  const std::vector<std::string> inner = {"b", "c/"};
  EXPECT_EQ(level_keys(*store_, "a"), inner);
  // The default implementation (built on list()) agrees.
  const ListOnlyStore fallback(*store_);
  EXPECT_EQ(level_keys(fallback, ""), expected);
  EXPECT_EQ(level_keys(fallback, "a"), inner);
}

TEST_P(LocalStoreTest, ListLevelGivesPathsAndFileFacts) {
  write_file(root_ / "s" / "three", "abc");
  write_file(root_ / "s" / "sub" / "deep.json", "{}");
  fs::create_directories(root_ / "s" / "empty_folder");
  std::vector<ListEntry> seen;
  const Result<void> r = store_->list_level("s", [&](const ListEntry& entry) {
    seen.push_back(entry);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(seen.size(), 3u);
  // A real folder is reported even when empty (the default implementation cannot see it).
  EXPECT_EQ(seen[0].name, "empty_folder");
  EXPECT_EQ(seen[0].path, "s/empty_folder");
  EXPECT_TRUE(seen[0].is_folder);
  EXPECT_EQ(seen[1].name, "sub");
  EXPECT_EQ(seen[1].path, "s/sub");
  EXPECT_TRUE(seen[1].is_folder);
  EXPECT_EQ(seen[1].info.path, "s/sub");
  EXPECT_EQ(seen[2].name, "three");
  EXPECT_EQ(seen[2].path, "s/three");
  EXPECT_FALSE(seen[2].is_folder);
  EXPECT_EQ(seen[2].info.path, "s/three");
  EXPECT_EQ(seen[2].info.size, 3u);
  EXPECT_GT(seen[2].info.mtime_ns, 0);
  const std::vector<std::string> keys = {"sub/", "three"};
  EXPECT_EQ(level_keys(ListOnlyStore(*store_), "s"), keys);
}

TEST_P(LocalStoreTest, ListLevelOfMissingFolderIsEmpty) {
  EXPECT_TRUE(level_keys(*store_, "no/such/folder").empty());
  EXPECT_TRUE(level_keys(*store_, "data/hello.txt").empty());  // A file, not a folder.
  EXPECT_TRUE(level_keys(ListOnlyStore(*store_), "no/such/folder").empty());
}

TEST_P(LocalStoreTest, ListLevelRefusesBadFolders) {
  const auto code = [&](const Store& store, const std::string& folder) {
    const Result<void> r = store.list_level(folder, [](const ListEntry&) { return true; });
    return r.ok() ? Errc::internal : r.error().code;
  };
  const ListOnlyStore fallback(*store_);
  for (const Store* store :
       {static_cast<const Store*>(store_.get()), static_cast<const Store*>(&fallback)}) {
    EXPECT_EQ(code(*store, ".."), Errc::out_of_root);
    EXPECT_EQ(code(*store, "/etc"), Errc::out_of_root);
    EXPECT_EQ(code(*store, "data/"), Errc::invalid_argument);
    EXPECT_EQ(code(*store, "a\\b"), Errc::invalid_argument);
  }
  fs::create_directory_symlink(outside_, root_ / "escape");
  EXPECT_EQ(code(*store_, "escape"), Errc::out_of_root);
}

TEST_P(LocalStoreTest, ListLevelSkipsSymlinkedFoldersAndSpecialFiles) {
  write_file(root_ / "real" / "inside.json", "{}");
  // Relative: an absolute link counts as leaving the root, wherever it points.
  fs::create_directory_symlink("../real", root_ / "data" / "alias_in");
  fs::create_directory_symlink(outside_, root_ / "data" / "alias_out");
  ASSERT_EQ(::mkfifo((root_ / "data" / "fifo").c_str(), 0644), 0);
  const std::vector<std::string> expected = {"hello.txt"};
  EXPECT_EQ(level_keys(*store_, "data"), expected);
  EXPECT_EQ(level_keys(ListOnlyStore(*store_), "data"), expected);
  // A linked folder inside the root can itself be listed, as with list().
  const std::vector<std::string> inside = {"inside.json"};
  EXPECT_EQ(level_keys(*store_, "data/alias_in"), inside);
}

TEST_P(LocalStoreTest, ListLevelReportsSymlinkedFilesInsideRoot) {
  fs::create_symlink("hello.txt", root_ / "data" / "link.txt");
  std::vector<ListEntry> seen;
  const Result<void> r = store_->list_level("data", [&](const ListEntry& entry) {
    seen.push_back(entry);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].name, "link.txt");
  EXPECT_FALSE(seen[1].is_folder);
  EXPECT_TRUE(seen[1].info.is_symlink);
  EXPECT_EQ(seen[1].info.size, 11u);  // The target's size.
}

TEST_P(LocalStoreTest, ListLevelFailsOnSymlinksOutOfRootOrDangling) {
  fs::create_symlink(outside_ / "secret.txt", root_ / "data" / "leak.txt");
  Result<void> r = store_->list_level("data", [](const ListEntry&) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_root);
  EXPECT_NE(r.error().message.find("data/leak.txt"), std::string::npos) << r.error().message;
  fs::remove(root_ / "data" / "leak.txt");
  fs::create_symlink("gone.txt", root_ / "data" / "dangling.txt");
  r = store_->list_level("data", [](const ListEntry&) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_NE(r.error().message.find("dangling"), std::string::npos) << r.error().message;
}

TEST_P(LocalStoreTest, ListLevelStopsWhenVisitReturnsFalse) {
  for (int i = 0; i < 10; ++i) write_file(root_ / "many" / ("f" + std::to_string(i)), "x");
  for (int i = 0; i < 10; ++i) write_file(root_ / "many" / ("d" + std::to_string(i)) / "x", "x");
  const ListOnlyStore fallback(*store_);
  for (const Store* store :
       {static_cast<const Store*>(store_.get()), static_cast<const Store*>(&fallback)}) {
    std::vector<std::string> seen;
    const Result<void> r = store->list_level("many", [&](const ListEntry& entry) {
      seen.push_back(entry.name);
      return seen.size() < 3;
    });
    ASSERT_TRUE(r.ok());
    const std::vector<std::string> expected = {"d0", "d1", "d2"};
    EXPECT_EQ(seen, expected);
  }
}

TEST_P(LocalStoreTest, ListLevelUnreadableFolderIsPermissionDenied) {
  write_file(root_ / "shut" / "b.json", "{}");
  fs::permissions(root_ / "shut", fs::perms::none);
  Result<void> r;
  {
    const AsNobody nobody;
    if (nobody.failed()) GTEST_SKIP() << "cannot drop privileges";
    r = store_->list_level("shut", [](const ListEntry&) { return true; });
  }
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::permission_denied);
}

// --- write_atomic --------------------------------------------------------------------------

TEST_P(LocalStoreTest, WriteAtomicCreatesFoldersAndLeavesNoTempFile) {
  const Result<void> w = store_->write_atomic("reports/run1/_SUCCESS.json", "{\"ok\":true}");
  ASSERT_TRUE(w.ok()) << w.error().message;
  const Result<std::string> r = store_->read("reports/run1/_SUCCESS.json", 1024);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "{\"ok\":true}");
  EXPECT_FALSE(has_temp_files(root_));
}

TEST_P(LocalStoreTest, WriteAtomicReplacesExistingFile) {
  ASSERT_TRUE(store_->write_atomic("data/hello.txt", "replaced").ok());
  EXPECT_EQ(*store_->read("data/hello.txt", 100), "replaced");
  EXPECT_FALSE(has_temp_files(root_));
}

TEST_P(LocalStoreTest, WriteAtomicRefusesSymlinkedFolders) {
  fs::create_directory_symlink(outside_, root_ / "escape");
  fs::create_directory_symlink(root_ / "data", root_ / "alias");
  const Result<void> out = store_->write_atomic("escape/new.txt", "x");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, Errc::out_of_root);
  EXPECT_FALSE(fs::exists(outside_ / "new.txt"));
  const Result<void> in = store_->write_atomic("alias/new.txt", "x");
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(in.error().code, Errc::out_of_root);
  EXPECT_FALSE(fs::exists(root_ / "data" / "new.txt"));
}

TEST_P(LocalStoreTest, WriteAtomicRefusesBadPaths) {
  EXPECT_EQ(store_->write_atomic("../escape.txt", "x").error().code, Errc::out_of_root);
  EXPECT_EQ(store_->write_atomic("/tmp/escape.txt", "x").error().code, Errc::out_of_root);
  EXPECT_EQ(store_->write_atomic("a//b", "x").error().code, Errc::invalid_argument);
  EXPECT_FALSE(fs::exists(tmp_.path() / "escape.txt"));
}

TEST_P(LocalStoreTest, WriteAtomicOverFolderFails) {
  const Result<void> w = store_->write_atomic("data", "x");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, Errc::not_a_file);
  EXPECT_FALSE(has_temp_files(root_));
  EXPECT_TRUE(fs::is_directory(root_ / "data"));
}

TEST_P(LocalStoreTest, WriteAtomicThroughFileFails) {
  const Result<void> w = store_->write_atomic("data/hello.txt/x", "x");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, Errc::not_a_file);
}

// --- write_file_atomic ---------------------------------------------------------------------

TEST(WriteFileAtomic, WritesAndReplaces) {
  TempDir tmp;
  const fs::path target = tmp.path() / "report.json";
  ASSERT_TRUE(write_file_atomic(target, "first").ok());
  const Result<void> again = write_file_atomic(target, "second");
  ASSERT_TRUE(again.ok()) << again.error().message;
  std::ifstream in(target, std::ios::binary);
  std::string content;
  std::getline(in, content, '\0');
  EXPECT_EQ(content, "second");
  EXPECT_FALSE(has_temp_files(tmp.path()));
}

TEST(WriteFileAtomic, MissingParentIsNotFound) {
  TempDir tmp;
  const Result<void> w = write_file_atomic(tmp.path() / "no" / "such" / "report.json", "x");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, Errc::not_found);
  EXPECT_NE(w.error().message.find("report.json"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp.path() / "no"));
}

TEST(WriteFileAtomic, FolderNameIsInvalid) {
  TempDir tmp;
  const Result<void> w = write_file_atomic(tmp.path() / "sub" / "", "x");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, Errc::invalid_argument);
}

}  // namespace
}  // namespace stagecheck
