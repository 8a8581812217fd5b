#include "config/config.hpp"

#include <cstdlib>
#include <set>
#include <sstream>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include "berth/sdk/fs.hpp"
#include "util/util.hpp"

namespace berth::config {

const char* embedded_default_config() {
  return R"toml(# berth's embedded default stack, used when /etc/berth/berth.toml does not exist.
[engine]
state_root = "/var/lib/berth"
run_root = "/run/berth"
log_level = "warn"
# plugin_dirs defaults to <directory of the berth binary>/../lib/berth/plugins (the
# installed layout: ../<libdir>/berth/plugins)

[storage]
driver = "overlay"

[volumes]
default_driver = "local"

# The network containers join when `run` has no --network: Docker's default bridge.
[networks.default]
name = "bridge"
driver = "bridge"
subnet = "172.17.0.0/16"
gateway = "172.17.0.1"

[drivers."network.bridge"]
bridge_name = "berth0"   # the default network's device
nft_table = "berth"      # the nftables table (ip family) holding NAT and published ports
)toml";
}

namespace {

std::string where(const std::string& source, const toml::source_region& r) {
  return source + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

Error config_error(const std::string& source, const toml::source_region& r, const std::string& msg) {
  return make_error(Code::InvalidArgument, where(source, r) + ": " + msg);
}

// Every key of `tbl` must be in `known`.
Status check_keys(const toml::table& tbl, const std::set<std::string>& known,
                  const std::string& table_name, const std::string& source) {
  for (auto&& [k, v] : tbl) {
    if (known.count(std::string(k.str())) == 0) {
      std::string names;
      for (const auto& n : known) names += names.empty() ? n : ", " + n;
      return config_error(source, k.source(),
                          "unknown key '" + std::string(k.str()) + "' in " + table_name +
                              " (known: " + names + ")");
    }
  }
  return {};
}

Result<std::string> get_string(const toml::table& tbl, const char* key, const std::string& source,
                               const std::string& fallback) {
  const toml::node* n = tbl.get(key);
  if (n == nullptr) return fallback;
  if (!n->is_string()) {
    return config_error(source, n->source(), "'" + std::string(key) + "' must be a string");
  }
  return std::string(*n->as_string());
}

Result<const toml::table*> get_table(const toml::table& tbl, const char* key,
                                     const std::string& source) {
  const toml::node* n = tbl.get(key);
  if (n == nullptr) return static_cast<const toml::table*>(nullptr);
  if (!n->is_table()) {
    return config_error(source, n->source(), "'" + std::string(key) + "' must be a table");
  }
  return n->as_table();
}

Result<std::vector<std::string>> get_string_array(const toml::table& tbl, const char* key,
                                                  const std::string& source) {
  std::vector<std::string> out;
  const toml::node* n = tbl.get(key);
  if (n == nullptr) return out;
  if (!n->is_array()) {
    return config_error(source, n->source(), "'" + std::string(key) + "' must be an array of strings");
  }
  for (const auto& e : *n->as_array()) {
    if (!e.is_string()) {
      return config_error(source, e.source(), "'" + std::string(key) + "' must hold strings only");
    }
    out.emplace_back(*e.as_string());
  }
  return out;
}

}  // namespace

Result<HostConfig> parse_config(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return config_error(source, e.source(), std::string(e.description()));
  }
  HostConfig cfg;
  cfg.source = source;
  // Relative to the binary, so the build tree and any install prefix work alike.
  cfg.plugin_dirs = {util::exe_dir() + "/" + BERTH_PLUGIN_RELDIR};
  BERTH_TRY(check_keys(root, {"engine", "plugins", "storage", "volumes", "networks", "registries", "drivers"},
                       "the top level", source));

  BERTH_ASSIGN(const toml::table* engine, get_table(root, "engine", source));
  if (engine != nullptr) {
    BERTH_TRY(check_keys(*engine, {"state_root", "run_root", "log_level", "plugin_dirs"}, "[engine]",
                         source));
    BERTH_ASSIGN(cfg.state_root, get_string(*engine, "state_root", source, cfg.state_root));
    BERTH_ASSIGN(cfg.run_root, get_string(*engine, "run_root", source, cfg.run_root));
    BERTH_ASSIGN(cfg.log_level, get_string(*engine, "log_level", source, cfg.log_level));
    static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "off"};
    if (levels.count(cfg.log_level) == 0) {
      return config_error(source, engine->get("log_level")->source(),
                          "log_level must be one of trace, debug, info, warn, error, off");
    }
    if (engine->contains("plugin_dirs")) {
      BERTH_ASSIGN(cfg.plugin_dirs, get_string_array(*engine, "plugin_dirs", source));
    }
    for (const auto* key : {"state_root", "run_root"}) {
      const std::string& v = std::string(key) == "state_root" ? cfg.state_root : cfg.run_root;
      if (v.empty() || v[0] != '/') {
        return config_error(source, engine->get(key) ? engine->get(key)->source() : engine->source(),
                            std::string(key) + " must be an absolute path");
      }
    }
  }

  if (const toml::node* plugins = root.get("plugins")) {
    if (!plugins->is_array_of_tables()) {
      return config_error(source, plugins->source(), "'plugins' must be an array of tables ([[plugins]])");
    }
    for (const auto& p : *plugins->as_array()) {
      const toml::table& t = *p.as_table();
      BERTH_TRY(check_keys(t, {"path"}, "[[plugins]]", source));
      BERTH_ASSIGN(std::string path, get_string(t, "path", source, ""));
      if (path.empty()) {
        return config_error(source, t.source(), "[[plugins]] needs a 'path'");
      }
      cfg.plugin_paths.push_back(path);
    }
  }

  BERTH_ASSIGN(const toml::table* storage, get_table(root, "storage", source));
  if (storage != nullptr) {
    BERTH_TRY(check_keys(*storage, {"driver"}, "[storage]", source));
    BERTH_ASSIGN(cfg.storage_driver, get_string(*storage, "driver", source, cfg.storage_driver));
  }

  BERTH_ASSIGN(const toml::table* volumes, get_table(root, "volumes", source));
  if (volumes != nullptr) {
    BERTH_TRY(check_keys(*volumes, {"default_driver"}, "[volumes]", source));
    BERTH_ASSIGN(cfg.default_volume_driver,
                 get_string(*volumes, "default_driver", source, cfg.default_volume_driver));
  }

  BERTH_ASSIGN(const toml::table* networks, get_table(root, "networks", source));
  if (networks != nullptr) {
    BERTH_TRY(check_keys(*networks, {"default", "dns_upstream"}, "[networks]", source));
    BERTH_ASSIGN(cfg.dns_upstream, get_string_array(*networks, "dns_upstream", source));
    BERTH_ASSIGN(const toml::table* def, get_table(*networks, "default", source));
    if (def != nullptr) {
      BERTH_TRY(check_keys(*def, {"name", "driver", "subnet", "gateway"}, "[networks.default]", source));
      BERTH_ASSIGN(cfg.default_network.name, get_string(*def, "name", source, ""));
      BERTH_ASSIGN(cfg.default_network.driver, get_string(*def, "driver", source, ""));
      BERTH_ASSIGN(cfg.default_network.subnet, get_string(*def, "subnet", source, ""));
      BERTH_ASSIGN(cfg.default_network.gateway, get_string(*def, "gateway", source, ""));
      if (cfg.default_network.name.empty() || cfg.default_network.driver.empty()) {
        return config_error(source, def->source(), "[networks.default] needs 'name' and 'driver'");
      }
    }
  }

  BERTH_ASSIGN(const toml::table* registries, get_table(root, "registries", source));
  if (registries != nullptr) {
    for (auto&& [k, v] : *registries) {
      std::string host(k.str());
      if (!v.is_table()) return config_error(source, v.source(), "[registries.\"" + host + "\"] must be a table");
      if (host.empty() || host.find('/') != std::string::npos) {
        return config_error(source, k.source(), "registry '" + host + "' must be HOST or HOST:PORT");
      }
      const toml::table& t = *v.as_table();
      std::string where = "[registries.\"" + host + "\"]";
      BERTH_TRY(check_keys(t, {"insecure", "mirrors", "blocked"}, where, source));
      RegistrySettings r;
      if (const toml::node* n = t.get("insecure")) {
        if (!n->is_boolean()) return config_error(source, n->source(), where + " insecure must be true or false");
        r.insecure = n->as_boolean()->get();
      }
      if (const toml::node* n = t.get("blocked")) {
        if (!n->is_boolean()) return config_error(source, n->source(), where + " blocked must be true or false");
        r.blocked = n->as_boolean()->get();
      }
      BERTH_ASSIGN(r.mirrors, get_string_array(t, "mirrors", source));
      cfg.registries[host] = std::move(r);
    }
  }

  BERTH_ASSIGN(const toml::table* drivers, get_table(root, "drivers", source));
  if (drivers != nullptr) {
    for (auto&& [k, v] : *drivers) {
      std::string name(k.str());
      static const std::set<std::string> kinds = {"network", "volume", "storage"};
      auto dot = name.find('.');
      if (dot == std::string::npos || kinds.count(name.substr(0, dot)) == 0 || dot + 1 == name.size()) {
        return config_error(source, k.source(),
                            "driver table '" + name +
                                "' must be named KIND.NAME with KIND network, volume or storage");
      }
      if (!v.is_table()) {
        return config_error(source, v.source(), "[drivers.\"" + name + "\"] must be a table");
      }
      sdk::Options opts;
      for (auto&& [ok, ov] : *v.as_table()) {
        std::string value;
        if (ov.is_string()) {
          value = std::string(*ov.as_string());
        } else if (ov.is_integer()) {
          value = std::to_string(ov.as_integer()->get());
        } else if (ov.is_boolean()) {
          value = ov.as_boolean()->get() ? "true" : "false";
        } else if (ov.is_floating_point()) {
          std::ostringstream s;
          s << ov.as_floating_point()->get();
          value = s.str();
        } else {
          return config_error(source, ov.source(),
                              "driver option '" + std::string(ok.str()) +
                                  "' must be a string, integer, float or boolean");
        }
        opts[std::string(ok.str())] = value;
      }
      cfg.driver_options[name] = std::move(opts);
    }
  }
  return cfg;
}

Result<HostConfig> load_config(const std::string& explicit_path) {
  std::string path = explicit_path;
  bool must_exist = !path.empty();
  if (path.empty()) {
    if (const char* env = std::getenv("BERTH_CONFIG"); env != nullptr && *env != '\0') {
      path = env;
      must_exist = true;
    }
  }
  if (path.empty()) {
    path = kDefaultConfigPath;
  }
  auto text = sdk::fs::read_file(path);
  if (!text) {
    if (text.error().code == Code::NotFound && !must_exist) {
      return parse_config(embedded_default_config(), "<embedded default>");
    }
    return std::move(text).error().wrap("read configuration");
  }
  return parse_config(*text, path);
}

}  // namespace berth::config
