// Where an S3 store's endpoint, region and credentials come from, the INI files, s3:// URIs
// and open_store()'s dispatch. The environment is injected: no test touches the real one.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include <stagecheck/open_store.hpp>
#include <stagecheck/s3_store.hpp>

#include "s3/config.hpp"
#include "stagecheck_test_support.hpp"

namespace stagecheck::s3 {
namespace {

namespace st = stagecheck::testing;

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(S3Config, OptionsComeFirst) {
  S3Options o;
  o.endpoint = "http://127.0.0.1:9000/";
  o.region = "eu-west-1";
  o.access_key_id = "AKIDOPTION";
  o.secret_access_key = kSecret;
  o.env = env_of({{"AWS_ENDPOINT_URL", "http://other:1"},
                  {"AWS_REGION", "us-west-2"},
                  {"AWS_ACCESS_KEY_ID", "AKIDENV"},
                  {"AWS_SECRET_ACCESS_KEY", "x"}});
  Result<ResolvedConfig> c = resolve_config(o);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_EQ(c->access_key_id, "AKIDOPTION");
  EXPECT_EQ(c->credential_source, "credentials from the options");
}

TEST(S3Config, EnvironmentLikeTheSdks) {
  S3Options o;
  o.env = env_of({{"AWS_ENDPOINT_URL", "http://generic:1"},
                  {"AWS_ENDPOINT_URL_S3", "https://storage.googleapis.com"},
                  {"AWS_DEFAULT_REGION", "auto"},
                  {"AWS_ACCESS_KEY_ID", "GOOGHMAC"},
                  {"AWS_SECRET_ACCESS_KEY", kSecret},
                  {"AWS_SESSION_TOKEN", "token"}});
  Result<ResolvedConfig> c = resolve_config(o);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->endpoint, "https://storage.googleapis.com");
  EXPECT_EQ(c->region, "auto");
  EXPECT_EQ(c->access_key_id, "GOOGHMAC");
  EXPECT_EQ(c->session_token, "token");
  EXPECT_NE(c->credential_source.find("environment"), std::string::npos);
}

TEST(S3Config, NoEnvironmentMeansAwsDefaults) {
  S3Options o;
  o.access_key_id = "AKID";
  o.secret_access_key = kSecret;
  Result<ResolvedConfig> c = resolve_config(o);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->endpoint, "");
  EXPECT_EQ(c->region, "us-east-1");
}

TEST(S3Config, SharedCredentialsFileWithProfiles) {
  st::ScratchDir home;
  home.write(".aws/credentials",
             "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = " +
                 std::string(kSecret) +
                 "\n\n[ci]\naws_access_key_id=AKIDCI\naws_secret_access_key=s2\n"
                 "aws_session_token = tok\n");
  home.write(".aws/config",
             "[default]\nregion = eu-central-1\n[profile ci]\nregion = ap-south-1\n");
  S3Options o;
  o.env = env_of({{"HOME", home.path().string()}});
  Result<ResolvedConfig> c = resolve_config(o);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(c->region, "eu-central-1");
  EXPECT_NE(c->credential_source.find("profile [default]"), std::string::npos);

  o.env = env_of({{"HOME", home.path().string()}, {"AWS_PROFILE", "ci"}});
  c = resolve_config(o);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIDCI");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_EQ(c->region, "ap-south-1");

  o.profile = "missing";
  c = resolve_config(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("no profile [missing]"), std::string::npos) << c.error().message;

  // AWS_SHARED_CREDENTIALS_FILE names another file; a named file that is missing is an error.
  o.profile.clear();
  o.env = env_of(
      {{"HOME", home.path().string()}, {"AWS_SHARED_CREDENTIALS_FILE", (home / "nope").string()}});
  c = resolve_config(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::not_found);
  EXPECT_NE(c.error().message.find("nope"), std::string::npos) << c.error().message;
}

TEST(S3Config, ErrorsNameTheSourceAndNeverTheSecret) {
  st::ScratchDir home;
  home.write(".aws/credentials",
             "[default]\naws_access_key_id = AKID\n" + std::string(kSecret) + "\n");
  S3Options o;
  o.env = env_of({{"HOME", home.path().string()}});
  Result<ResolvedConfig> c = resolve_config(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::malformed);
  EXPECT_NE(c.error().message.find("line 3"), std::string::npos) << c.error().message;
  EXPECT_EQ(c.error().message.find(kSecret), std::string::npos) << c.error().message;

  o.env = env_of({{"AWS_ACCESS_KEY_ID", "AKID"}});
  c = resolve_config(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("AWS_SECRET_ACCESS_KEY is not"), std::string::npos);

  o.env = env_of({{"AWS_SECRET_ACCESS_KEY", kSecret}});
  c = resolve_config(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message.find(kSecret), std::string::npos);

  st::ScratchDir empty_home;
  o.env = env_of({{"HOME", empty_home.path().string()}});
  c = resolve_config(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("tried the options"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("does not exist"), std::string::npos) << c.error().message;

  o.env = env_of({{"AWS_ENDPOINT_URL", "ftp://x"},
                  {"AWS_ACCESS_KEY_ID", "a"},
                  {"AWS_SECRET_ACCESS_KEY", kSecret}});
  c = resolve_config(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::invalid_argument);
  EXPECT_NE(c.error().message.find("AWS_ENDPOINT_URL"), std::string::npos) << c.error().message;
}

TEST(S3Uri, BucketAndPrefix) {
  Result<S3Location> l = parse_s3_uri("s3://my-bucket.data/runs/r1/");
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->bucket, "my-bucket.data");
  EXPECT_EQ(l->prefix, "runs/r1");
  l = parse_s3_uri("s3://bucket");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->prefix, "");
  for (const char* bad : {"s3://", "s3://B", "s3://ab", "s3://bucket/a/../b", "s3://bucket//x",
                          "s3://-bucket", "gs://bucket", "s3://bu cket"}) {
    Result<S3Location> r = parse_s3_uri(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
    }
  }
}

TEST(OpenStore, DispatchesOnTheScheme) {
  EXPECT_TRUE(is_store_uri("s3://b"));
  EXPECT_TRUE(is_store_uri("gs://b"));
  EXPECT_FALSE(is_store_uri("/data/run1"));
  EXPECT_FALSE(is_store_uri("relative/dir"));
  EXPECT_FALSE(is_store_uri("dir/with://inside"));

  st::ScratchDir dir;
  Result<std::unique_ptr<Store>> local = open_store(dir.path().string());
  ASSERT_TRUE(local.ok()) << local.error().message;

  StoreOptions gcs_options;
  gcs_options.gcs.access_token = kSecret;
  Result<std::unique_ptr<Store>> gs = open_store("gs://bucket/x", gcs_options);
  ASSERT_TRUE(gs.ok()) << gs.error().message;
  EXPECT_EQ((*gs)->describe(), "gs://bucket/x");
  gs = open_store("gs://Bucket/x", gcs_options);
  ASSERT_FALSE(gs.ok());
  EXPECT_EQ(gs.error().code, Errc::invalid_argument);
  EXPECT_FALSE(open_store("ftp://x/y").ok());

  StoreOptions options;
  options.s3.access_key_id = "AKID";
  options.s3.secret_access_key = kSecret;
  Result<std::unique_ptr<Store>> s3 = open_store("s3://bucket/runs/r1", options);
  ASSERT_TRUE(s3.ok()) << s3.error().message;
  EXPECT_EQ((*s3)->describe(), "s3://bucket/runs/r1");
}

}  // namespace
}  // namespace stagecheck::s3
