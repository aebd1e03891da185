#include "stagecheck/path_template.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace stagecheck;

namespace {

struct Env {
  std::map<std::string, nlohmann::json> vars;
  std::map<std::string, bool> multi;
  std::map<std::string, nlohmann::json> docs;

  TemplateEnv get() {
    TemplateEnv env;
    env.var = [this](std::string_view name, bool& m) -> const nlohmann::json* {
      auto it = vars.find(std::string(name));
      m = multi[std::string(name)];
      return it == vars.end() ? nullptr : &it->second;
    };
    env.artifact = [this](std::string_view name) -> Result<const nlohmann::json*> {
      auto it = docs.find(std::string(name));
      if (it == docs.end()) return make_error(Errc::not_found, "'x/job.json' is missing");
      return &it->second;
    };
    return env;
  }
};

std::string expand_ok(const std::string& text, Env& env) {
  auto t = PathTemplate::parse(text);
  EXPECT_TRUE(t.ok()) << (t ? "" : t.error().message);
  auto r = t->expand(env.get());
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
  return r ? *r : "";
}

Error expand_err(const std::string& text, Env& env) {
  auto t = PathTemplate::parse(text);
  EXPECT_TRUE(t.ok());
  auto r = t->expand(env.get());
  EXPECT_FALSE(r.ok());
  return r ? Error{} : r.error();
}

}  // namespace

TEST(PathTemplate, LiteralAndVars) {
  Env env;
  env.vars["scene_id"] = "kitchen_001";
  env.vars["n"] = 7;
  EXPECT_EQ(expand_ok("scenes/${scene_id}/ep_${n}.json", env), "scenes/kitchen_001/ep_7.json");
  EXPECT_EQ(expand_ok("a/$$b", env), "a/$b");
  EXPECT_TRUE(PathTemplate::parse("a/b.json")->is_literal());
  EXPECT_FALSE(PathTemplate::parse("a/${x}")->is_literal());
}

TEST(PathTemplate, ArtifactField) {
  Env env;
  env.vars["scene_id"] = "s1";
  env.docs["job"] = {{"job_id", "gsjob-1"}, {"nested", {{"n", 3}}}};
  EXPECT_EQ(expand_ok("scenes/${scene_id}/episodes/geniesim_${@job.job_id}/m.json", env),
            "scenes/s1/episodes/geniesim_gsjob-1/m.json");
  EXPECT_EQ(expand_ok("x/${@job.nested.n}", env), "x/3");
}

TEST(PathTemplate, DataCannotEscape) {
  Env env;
  env.docs["job"] = {{"job_id", "../../etc"}};
  Error e = expand_err("episodes/geniesim_${@job.job_id}/m.json", env);
  EXPECT_EQ(e.code, Errc::out_of_root);
  EXPECT_NE(
      e.message.find("field job_id of artifact 'job' = \"../../etc\" is not a single path segment"),
      std::string::npos)
      << e.message;
  env.docs["job"] = {{"job_id", ".."}};
  EXPECT_EQ(expand_err("a/${@job.job_id}/b", env).code, Errc::out_of_root);
}

TEST(PathTemplate, WrongTypeMissingFieldMissingArtifact) {
  Env env;
  env.docs["job"] = {{"job_id", 1.5}, {"flag", true}};
  Error e = expand_err("a/${@job.job_id}", env);
  EXPECT_EQ(e.code, Errc::type_mismatch);
  EXPECT_NE(e.message.find("must be a string or an integer, found number 1.5"), std::string::npos)
      << e.message;
  e = expand_err("a/${@job.nope}", env);
  EXPECT_EQ(e.code, Errc::not_found);
  EXPECT_NE(e.message.find("path 'a/${@job.nope}' cannot be built: artifact 'job'"),
            std::string::npos)
      << e.message;
  e = expand_err("a/${@other.x}", env);
  EXPECT_EQ(e.code, Errc::not_found);
  EXPECT_NE(e.message.find("'x/job.json' is missing"), std::string::npos) << e.message;
}

TEST(PathTemplate, VariableRules) {
  Env env;
  env.vars["seg"] = "a/b";
  env.vars["sub"] = "a/b";
  env.multi["sub"] = true;
  env.vars["empty"] = "";
  EXPECT_EQ(expand_err("x/${seg}", env).code, Errc::out_of_root);
  EXPECT_EQ(expand_ok("x/${sub}/y", env), "x/a/b/y");
  EXPECT_EQ(expand_err("x/${empty}", env).code, Errc::invalid_argument);
  Error e = expand_err("x/${unset}", env);
  EXPECT_NE(e.message.find("variable 'unset' has no value"), std::string::npos);
  env.vars["sub"] = "../up";
  EXPECT_EQ(expand_err("x/${sub}", env).code, Errc::out_of_root);
}

TEST(PathTemplate, ResultMustBeAStorePath) {
  Env env;
  EXPECT_EQ(expand_err("/etc/passwd", env).code, Errc::out_of_root);
  EXPECT_EQ(expand_err("a/../../b", env).code, Errc::out_of_root);
}

TEST(PathTemplate, ParseErrors) {
  auto e = PathTemplate::parse("a/${scene_id");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message, "path 'a/${scene_id': column 3: unclosed '${'");
  e = PathTemplate::parse("a/$x");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("column 3: '$' must start"), std::string::npos);
  e = PathTemplate::parse("a/${bad-name}");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("'bad-name' is not a variable name"), std::string::npos);
  e = PathTemplate::parse("a/${@job}");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("expected '${@artifact.field}'"), std::string::npos);
}
