// `stagecheck validate` and `stagecheck list-checks`.

#include "cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/program_options.hpp>

#include "stagecheck/spec.hpp"

namespace stagecheck::driver {

int cmd_validate(const std::vector<std::string>& args) {
  po::options_description opts(R"(Usage: stagecheck validate SPEC [--var NAME=VALUE]...

Loads SPEC, checks every key, type, variable, condition, path and check parameter, binds the
variables, and runs nothing. Exit 0 if the spec is valid, 2 otherwise (every error is listed
with file:line:column).

Options)");
  std::vector<std::string> var_items;
  opts.add_options()("help,h", "show this help")("var", po::value(&var_items)->composing(),
                                                 "set a spec variable, NAME=VALUE (repeatable)");
  PluginOptions plugins;
  add_plugin_options(opts, plugins);
  std::string spec_path;
  po::variables_map vm;
  if (auto stop = parse_args(args, opts, "spec", &spec_path, vm, "validate")) return *stop;
  if (spec_path.empty()) return usage_error("validate needs a SPEC file", "validate");
  auto vars = parse_vars(var_items);
  if (!vars) return usage_error(vars.error().message, "validate");
  Registry registry;
  PluginLoader loader(registry);
  if (!registry_setup(registry, loader, plugins)) return kExitUsage;
  SpecOptions sopts;
  sopts.registry = &registry;
  sopts.vars = *vars;
  auto spec = load_spec_file(spec_path, sopts);
  if (!spec) {
    std::cerr << spec.error().message << "\n";
    return kExitUsage;
  }
  std::cout << fmt::format("{}: spec \"{}\" is valid: {} stages, {} checks\n", spec_path,
                           spec->name, spec->stages.size(), spec->check_count());
  return 0;
}

namespace {

nlohmann::json info_to_json(const Registry::Entry& e) {
  nlohmann::json params = nlohmann::json::array();
  for (const auto& p : e.info.params) {
    params.push_back({{"name", p.name},
                      {"type", to_string(p.type)},
                      {"required", p.required},
                      {"default", p.default_value},
                      {"choices", p.choices},
                      {"description", p.description}});
  }
  return {{"type", e.info.type},       {"category", e.info.category},
          {"summary", e.info.summary}, {"description", e.info.description},
          {"params", params},          {"example", e.info.example},
          {"source", e.source}};
}

}  // namespace

int cmd_list_checks(const std::vector<std::string>& args) {
  po::options_description opts(R"(Usage: stagecheck list-checks [--json]

Lists every check type the driver knows (built in or from plugins): its category, the
plugin that provides it, its parameters and documentation.

Options)");
  opts.add_options()("help,h", "show this help")("json", "print JSON instead of text");
  PluginOptions plugins;
  add_plugin_options(opts, plugins);
  po::variables_map vm;
  if (auto stop = parse_args(args, opts, nullptr, nullptr, vm, "list-checks")) return *stop;
  Registry registry;
  PluginLoader loader(registry);
  if (!registry_setup(registry, loader, plugins)) return kExitUsage;
  if (vm.count("json") != 0) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto* e : registry.entries()) out.push_back(info_to_json(*e));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  for (const auto* e : registry.entries()) {
    std::cout << fmt::format("{}  [{}]  from {}\n  {}\n", e->info.type, e->info.category, e->source,
                             e->info.summary);
    if (!e->info.description.empty()) std::cout << "  " << e->info.description << "\n";
    std::cout << "  parameters:\n";
    for (const auto& p : e->info.params) {
      std::string extra;
      if (p.required) extra = ", required";
      if (!p.default_value.is_null()) extra += fmt::format(", default {}", p.default_value.dump());
      if (!p.choices.empty()) extra += fmt::format(", one of {}", fmt::join(p.choices, "|"));
      std::cout << fmt::format("    {} ({}{}): {}\n", p.name, to_string(p.type), extra,
                               p.description);
    }
    if (!e->info.example.empty()) {
      std::cout << "  example:\n";
      std::istringstream lines(e->info.example);
      for (std::string line; std::getline(lines, line);) std::cout << "    " << line << "\n";
    }
    std::cout << "\n";
  }
  return 0;
}

}  // namespace stagecheck::driver
