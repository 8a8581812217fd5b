// System commands: info, version.

#include <sys/utsname.h>

#include <fstream>
#include <iostream>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/plugin.hpp"
#include "cli/cli.hpp"
#include "containers/container.hpp"
#include "runtime/cgroups.hpp"
#include "util/util.hpp"

namespace berth::cli {

namespace {

std::string os_name() {
  std::ifstream f("/etc/os-release");
  std::string line;
  while (std::getline(f, line)) {
    if (util::starts_with(line, "PRETTY_NAME=")) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return "Linux";
}

std::string kind_label(const std::string& kind) {
  if (kind == sdk::kNetworkKind) return "network";
  if (kind == sdk::kVolumeKind) return "volume";
  if (kind == sdk::kStorageKind) return "storage";
  return kind;
}

int cmd_info(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"info", "[OPTIONS]", "Display system-wide information", 0, 0};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  (void)containers::reconcile(*e);
  auto list = containers::list_all(*e);
  auto imgs = e->images().list();
  size_t running = 0, total = list ? list->size() : 0;
  if (list) {
    for (const auto& c : *list) running += c.running() ? 1 : 0;
  }
  const auto& cfg = e->config();
  struct utsname u {};
  ::uname(&u);
  auto hs = runtime::discover_hierarchies();
  std::cout << "Client:\n Version:    " << BERTH_VERSION << "\n\nServer:\n";
  std::cout << " Containers: " << total << "\n  Running: " << running << "\n  Paused: 0\n  Stopped: "
            << total - running << "\n";
  std::cout << " Images: " << (imgs ? imgs->size() : 0) << "\n";
  std::cout << " Server Version: " << BERTH_VERSION << "\n";
  std::cout << " Storage Driver: " << cfg.storage_driver << "\n";
  auto status = e->storage().status();
  for (const auto& [k, v] : status) std::cout << "  " << k << ": " << v << "\n";
  std::cout << " Logging Driver: json-file\n";
  std::cout << " Cgroup Driver: cgroupfs\n";
  std::cout << " Cgroup Version: " << runtime::describe_layout(hs) << "\n";
  std::cout << " Plugins:\n";
  for (const auto& pl : e->plugins().plugins()) {
    std::cout << "  " << pl.path << "\n   Plugin: " << pl.name << " " << pl.version << "\n";
    std::map<std::string, std::vector<std::string>> by_kind;
    for (const auto& d : pl.drivers) by_kind[kind_label(d.kind)].push_back(d.name);
    for (const auto& [k, names] : by_kind) std::cout << "   " << k << ": " << util::join(names, " ") << "\n";
  }
  std::cout << " Default Network: " << cfg.default_network.name << " (driver " << cfg.default_network.driver << ")\n";
  std::cout << " Default Volume Driver: " << cfg.default_volume_driver << "\n";
  std::cout << " Kernel Version: " << u.release << "\n";
  std::cout << " Operating System: " << os_name() << "\n";
  std::cout << " OSType: linux\n Architecture: " << u.machine << "\n";
  std::cout << " Berth Root Dir: " << cfg.state_root << "\n";
  std::cout << " Berth Run Dir: " << cfg.run_root << "\n";
  std::cout << " Config: " << cfg.source << "\n";
  return 0;
}

int cmd_version(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"version", "[OPTIONS]", "Show the berth version information", 0, 0};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  struct utsname u {};
  ::uname(&u);
  std::string arch = std::string(u.machine) == "x86_64" ? "amd64" : u.machine;
  std::cout << "Client:\n";
  std::cout << " Version:           " << BERTH_VERSION << "\n";
  std::cout << " Built with:        g++ " << __VERSION__ << "\n";
  std::cout << " Built:             " << __DATE__ << " " << __TIME__ << "\n";
  std::cout << " OS/Arch:           linux/" << arch << "\n";
  // The engine is this same binary with its plugins; report what it loads.
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  std::cout << "\nServer: berth Engine\n Engine:\n";
  std::cout << "  Version:          " << BERTH_VERSION << "\n";
  std::cout << "  SDK ABI version:  " << BERTH_SDK_ABI << "\n";
  std::cout << "  Build fingerprint: " << BERTH_SDK_BUILD_FINGERPRINT << "\n";
  std::cout << "  OS/Arch:          linux/" << arch << "\n";
  std::cout << "  Storage driver:   " << e->config().storage_driver << "\n";
  std::cout << "  Config:           " << e->config().source << "\n";
  return 0;
}

// What a host runs once at start-up (contrib/systemd/berth-boot.service): containers whose
// restart policy is "always", or "unless-stopped" and not stopped by hand, start again.
int cmd_boot(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"system boot", "", "Start the containers whose restart policy asks for it after a host restart", 0, 0};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto started = containers::start_at_boot(*e);
  if (!started) {
    print_error(started.error());
    return kExitError;
  }
  for (const auto& id : *started) std::cout << id << "\n";
  return 0;
}

}  // namespace

void register_system_commands(std::map<std::string, Command>& t) {
  t["system boot"] = cmd_boot;
  t["info"] = t["system info"] = cmd_info;
  t["version"] = cmd_version;
}

}  // namespace berth::cli
