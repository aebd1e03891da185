// Tests for Artifact: delegation to the store and loading per format under its limits.

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "stagecheck/artifact.hpp"
#include "stagecheck/local_store.hpp"

namespace stagecheck {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

class ArtifactTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "stagecheck_artifact_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    Result<std::unique_ptr<Store>> opened = open_local_store(root_);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void put(const std::string& rel, const std::string& content) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream out(root_ / rel, std::ios::binary);
    out << content;
  }

  Artifact artifact(const std::string& path, Format format, LoadLimits limits = {}) const {
    return Artifact("meta", path, format, *store_, limits);
  }

  fs::path root_;
  std::unique_ptr<Store> store_;
};

TEST_F(ArtifactTest, AccessorsKeepWhatWasGiven) {
  LoadLimits limits;
  limits.max_bytes = 123;
  limits.max_depth = 7;
  const Artifact a("meta", "scenes/m.json", Format::json, *store_, limits);
  EXPECT_EQ(a.name(), "meta");
  EXPECT_EQ(a.path(), "scenes/m.json");
  EXPECT_EQ(a.format(), Format::json);
  EXPECT_EQ(a.limits().max_bytes, 123u);
  EXPECT_EQ(a.limits().max_depth, 7);
  EXPECT_EQ(&a.store(), store_.get());
}

TEST_F(ArtifactTest, StatAndExistsDelegateToTheStore) {
  put("m.json", "{}");
  const Result<ObjectInfo> info = artifact("m.json", Format::json).stat();
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->size, 2u);
  EXPECT_TRUE(*artifact("m.json", Format::json).exists());
  EXPECT_FALSE(*artifact("other.json", Format::json).exists());
  EXPECT_EQ(artifact("../x", Format::json).exists().error().code, Errc::out_of_root);
}

TEST_F(ArtifactTest, BytesHonourTheReadCap) {
  put("blob.bin", std::string(100, 'x'));
  LoadLimits limits;
  limits.max_bytes = 99;
  const Result<std::string> capped = artifact("blob.bin", Format::bytes, limits).bytes();
  ASSERT_FALSE(capped.ok());
  EXPECT_EQ(capped.error().code, Errc::too_large);
  limits.max_bytes = 100;
  const Result<std::string> whole = artifact("blob.bin", Format::bytes, limits).bytes();
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ(whole->size(), 100u);
}

TEST_F(ArtifactTest, LoadsJson) {
  put("m.json", R"({"frames": 120})");
  const Result<Json> j = artifact("m.json", Format::json).load();
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ((*j)["frames"], 120);
}

TEST_F(ArtifactTest, LoadsJsonLinesAsAnArray) {
  put("e.jsonl", "{\"i\": 0}\n{\"i\": 1}\n");
  const Result<Json> j = artifact("e.jsonl", Format::jsonl).load();
  ASSERT_TRUE(j.ok()) << j.error().message;
  ASSERT_TRUE(j->is_array());
  EXPECT_EQ(j->size(), 2u);
  EXPECT_EQ((*j)[1]["i"], 1);
}

TEST_F(ArtifactTest, LoadsYaml) {
  put("c.yaml", "threshold: 0.95\nname: \"0.95\"\n");
  const Result<Json> j = artifact("c.yaml", Format::yaml).load();
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_DOUBLE_EQ((*j)["threshold"].get<double>(), 0.95);
  EXPECT_EQ((*j)["name"], "0.95");
}

TEST_F(ArtifactTest, BytesFormatCannotBeLoaded) {
  put("raw.bin", "{}");
  const Result<Json> j = artifact("raw.bin", Format::bytes).load();
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, Errc::invalid_argument);
  EXPECT_NE(j.error().message.find("raw.bin"), std::string::npos);
  EXPECT_NE(j.error().message.find("bytes"), std::string::npos);
}

TEST_F(ArtifactTest, LoadAsOverridesTheFormat) {
  put("data.txt", "a: 1\n");
  const Artifact a = artifact("data.txt", Format::bytes);
  const Result<Json> j = a.load_as(Format::yaml);
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ((*j)["a"], 1);
  const Result<Json> as_json = a.load_as(Format::json);
  ASSERT_FALSE(as_json.ok());
  EXPECT_EQ(as_json.error().code, Errc::malformed);
}

TEST_F(ArtifactTest, MalformedErrorNamesThePath) {
  put("scenes/bad.json", R"({"a": )");
  const Result<Json> j = artifact("scenes/bad.json", Format::json).load();
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, Errc::malformed);
  EXPECT_NE(j.error().message.find("'scenes/bad.json': malformed JSON"), std::string::npos)
      << j.error().message;
}

TEST_F(ArtifactTest, MissingArtifactIsNotFound) {
  const Result<Json> j = artifact("absent.yaml", Format::yaml).load();
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, Errc::not_found);
  EXPECT_NE(j.error().message.find("absent.yaml"), std::string::npos);
}

TEST_F(ArtifactTest, LoadHonoursTheLimits) {
  put("deep.json", "[[[[1]]]]");
  LoadLimits limits;
  limits.max_depth = 3;
  const Result<Json> deep = artifact("deep.json", Format::json, limits).load();
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code, Errc::malformed);
  EXPECT_NE(deep.error().message.find("nested deeper than 3 levels"), std::string::npos);
  limits = LoadLimits{};
  limits.max_bytes = 5;
  const Result<Json> big = artifact("deep.json", Format::json, limits).load();
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::too_large);
}

}  // namespace
}  // namespace stagecheck
