// The JSON of `inspect`, shaped and ordered like Docker's so that tools reading Docker's
// output read ours.

#include "berth/sdk/fs.hpp"
#include "cli/cli.hpp"
#include "images/reference.hpp"
#include "network/networks.hpp"
#include "network/ports.hpp"
#include "util/util.hpp"

namespace berth::cli {

using ojson = nlohmann::ordered_json;
using nlohmann::json;

namespace {

std::string docker_status(const containers::Container& c) {
  if (c.state == "creating" || c.state == "starting") return "created";
  if (c.state == "running" && c.paused) return "paused";
  return c.state;
}

// Stored JSON is key-sorted; the documents built here keep their insertion order.
ojson ordered(const json& j) { return ojson(j); }

}  // namespace

ojson container_json(Engine& e, const containers::Container& c) {
  std::string dir = e.container_dir(c.id);
  json config = c.spec.value("Config", json::object());
  json host = c.spec.value("HostConfig", json::object());
  json net = c.spec.value("Network", json::object());
  std::string net_name = net.value("Name", "none");
  bool started = c.running();

  ojson state = {
      {"Status", docker_status(c)},
      {"Running", started},
      {"Paused", c.paused},
      {"Restarting", c.state == "restarting"},
      {"OOMKilled", c.oom_killed},
      {"Dead", false},
      {"Pid", started ? c.pid : 0},
      {"ExitCode", c.exit_code},
      {"Error", c.error},
      {"StartedAt", time_or_zero(c.started_ns)},
      {"FinishedAt", time_or_zero(c.finished_ns)},
  };
  ojson cfg;
  for (const char* k : {"Hostname", "Domainname", "User"}) cfg[k] = config.value(k, "");
  cfg["AttachStdin"] = config.value("AttachStdin", false);
  cfg["AttachStdout"] = true;
  cfg["AttachStderr"] = true;
  cfg["Tty"] = config.value("Tty", false);
  cfg["OpenStdin"] = config.value("OpenStdin", false);
  cfg["StdinOnce"] = config.value("StdinOnce", false);
  if (config.contains("StopSignal") && !config["StopSignal"].is_null()) cfg["StopSignal"] = config["StopSignal"];
  if (config.contains("StopTimeout") && !config["StopTimeout"].is_null()) cfg["StopTimeout"] = config["StopTimeout"];
  cfg["Env"] = ordered(config.value("Env", json::array()));
  cfg["Cmd"] = ordered(config.value("Cmd", json(nullptr)));
  if (config.contains("ExposedPorts") && !config["ExposedPorts"].is_null()) cfg["ExposedPorts"] = ordered(config["ExposedPorts"]);
  cfg["Image"] = config.value("Image", "");
  cfg["Volumes"] = nullptr;
  cfg["WorkingDir"] = config.value("WorkingDir", "");
  cfg["Entrypoint"] = ordered(config.value("Entrypoint", json(nullptr)));
  cfg["OnBuild"] = nullptr;
  cfg["Labels"] = ordered(config.value("Labels", json::object()));

  ojson hc = {
      {"Binds", ordered(host.value("Binds", json(nullptr)))},
      {"ContainerIDFile", ""},
      {"LogConfig", ordered(host.value("LogConfig", json::object()))},
      {"NetworkMode", host.value("NetworkMode", net_name)},
      {"PortBindings", ordered(host.value("PortBindings", json::object()))},
      {"RestartPolicy", ordered(host.value("RestartPolicy", json::object()))},
      {"AutoRemove", host.value("AutoRemove", false)},
      {"VolumeDriver", ""},
      {"VolumesFrom", ordered(host.value("VolumesFrom", json(nullptr)))},
      {"Privileged", host.value("Privileged", false)},
      {"ReadonlyRootfs", host.value("ReadonlyRootfs", false)},
      {"CapAdd", ordered(host.value("CapAdd", json(nullptr)))},
      {"CapDrop", ordered(host.value("CapDrop", json(nullptr)))},
      {"ExtraHosts", ordered(host.value("ExtraHosts", json(nullptr)))},
      {"Links", ordered(host.value("Links", json(nullptr)))},
      {"Tmpfs", ordered(host.value("Tmpfs", json(nullptr)))},
      {"ShmSize", host.value("ShmSize", int64_t{67108864})},
      {"Sysctls", ordered(host.value("Sysctls", json(nullptr)))},
      {"Devices", ordered(host.value("Devices", json::array()))},
      {"Init", ordered(host.value("Init", json(nullptr)))},
      {"CpuShares", host.value("CpuShares", int64_t{0})},
      {"Memory", host.value("Memory", int64_t{0})},
      {"NanoCpus", host.value("NanoCpus", int64_t{0})},
      {"CpusetCpus", host.value("CpusetCpus", std::string())},
      {"MemorySwap", host.value("MemorySwap", int64_t{0})},
      {"PidsLimit", ordered(host.value("PidsLimit", json(nullptr)))},
      {"Ulimits", ordered(host.value("Ulimits", json(nullptr)))},
  };
  auto mounts_info = e.storage().mounts(c.id);
  ojson graph_data = ojson::object();
  if (mounts_info) {
    for (const auto& m : *mounts_info) {
      for (const auto& opt : m.options) {
        for (auto [prefix, key] : {std::pair{"lowerdir=", "LowerDir"}, {"upperdir=", "UpperDir"},
                                   {"workdir=", "WorkDir"}}) {
          if (util::starts_with(opt, prefix)) graph_data[key] = opt.substr(std::string(prefix).size());
        }
      }
    }
  }
  ojson networks = ojson::object();
  std::string top_ip, top_gateway, top_mac;
  int top_prefix = 0;
  auto endpoint_doc = [](const std::string& network_id) {
    return ojson{{"IPAMConfig", nullptr}, {"Links", nullptr}, {"Aliases", nullptr}, {"NetworkID", network_id},
                 {"EndpointID", ""}, {"Gateway", ""}, {"IPAddress", ""}, {"IPPrefixLen", 0},
                 {"IPv6Gateway", ""}, {"GlobalIPv6Address", ""}, {"GlobalIPv6PrefixLen", 0}, {"MacAddress", ""},
                 {"DriverOpts", nullptr}};
  };
  // Exposed ports without a binding show as null, as Docker's.
  ojson ports = ojson::object();
  if (started) {
    json exposed = config.value("ExposedPorts", json::object());
    if (exposed.is_object()) {
      for (auto it = exposed.begin(); it != exposed.end(); ++it) ports[it.key()] = nullptr;
    }
  }
  auto requests = network::requests_of(c.spec);
  if (requests.empty() && net.value("Container", "").empty()) {
    // host, none: Docker lists the mode's network with empty addresses.
    auto n = network::find(e, net_name);
    networks[net_name] = endpoint_doc(n ? n->id : "");
  }
  auto eps = started ? network::endpoints_of_container(e, c.id) : Result<std::vector<network::Endpoint>>(std::vector<network::Endpoint>{});
  for (const auto& r : requests) {
    auto n = network::find(e, r.network_id);
    std::string name = n ? n->name : r.name;
    ojson doc = endpoint_doc(r.network_id);
    if (!r.ipv4.empty()) doc["IPAMConfig"] = {{"IPv4Address", r.ipv4}};
    if (n && !n->predefined) {
      ojson aliases = ojson::array();
      for (const auto& a : r.aliases) aliases.push_back(a);
      aliases.push_back(c.short_id());
      doc["Aliases"] = aliases;
    }
    if (eps) {
      for (const auto& ep : *eps) {
        if (ep.network_id != r.network_id) continue;
        for (const auto& m : ep.ports) {
          ports[network::port_key(m)].push_back(
              {{"HostIp", m.host_ip.empty() ? "0.0.0.0" : m.host_ip}, {"HostPort", std::to_string(m.host_port)}});
        }
        doc["EndpointID"] = ep.id;
        doc["Gateway"] = n ? n->gateway : "";
        doc["IPAddress"] = ep.address();
        doc["IPPrefixLen"] = ep.prefix;
        doc["MacAddress"] = ep.mac;
        if (n && n->predefined && top_ip.empty()) {
          top_ip = ep.address();
          top_gateway = n->gateway;
          top_mac = ep.mac;
          top_prefix = ep.prefix;
        }
      }
    }
    networks[name] = doc;
  }
  ojson network_settings = {
      {"Bridge", ""},
      {"SandboxID", started ? c.id : ""},
      {"HairpinMode", false},
      {"LinkLocalIPv6Address", ""},
      {"LinkLocalIPv6PrefixLen", 0},
      {"Ports", ports},
      {"SandboxKey", started && !net.value("HostNamespace", false) ? "/proc/" + std::to_string(c.pid) + "/ns/net" : ""},
      {"Gateway", top_gateway},
      {"IPAddress", top_ip},
      {"IPPrefixLen", top_prefix},
      {"MacAddress", top_mac},
      {"Networks", networks},
  };
  return ojson{
      {"Id", c.id},
      {"Created", util::rfc3339_nano(c.created_ns)},
      {"Path", c.spec.value("Path", "")},
      {"Args", ordered(c.spec.value("Args", json::array()))},
      {"State", state},
      {"Image", c.image_id},
      {"ResolvConfPath", dir + "/resolv.conf"},
      {"HostnamePath", dir + "/hostname"},
      {"HostsPath", dir + "/hosts"},
      {"LogPath", dir + "/" + c.id + "-json.log"},
      {"Name", "/" + c.name},
      {"RestartCount", c.restart_count},
      {"Driver", e.config().storage_driver},
      {"Platform", "linux"},
      {"MountLabel", ""},
      {"ProcessLabel", ""},
      {"AppArmorProfile", ""},
      {"ExecIDs", nullptr},
      {"HostConfig", hc},
      {"GraphDriver", {{"Data", graph_data}, {"Name", e.config().storage_driver}}},
      {"Mounts", ordered(c.spec.value("Mounts", json::array()))},
      {"Config", cfg},
      {"NetworkSettings", network_settings},
  };
}

Result<ojson> image_json(Engine& e, const images::ImageRecord& img) {
  BERTH_ASSIGN(json config, e.images().config(img));
  ojson tags = ojson::array();
  for (const auto& t : img.tags) tags.push_back(images::familiar_of(t));
  ojson digests = ojson::array();
  for (const auto& d : img.repo_digests) {
    auto ref = images::parse_reference(d);  // docker.io/library/busybox@sha256:.. -> busybox@sha256:..
    digests.push_back(ref ? ref->familiar_name() + "@" + ref->digest : d);
  }
  json history = config.value("history", json::array());
  std::string comment;
  if (!history.empty()) comment = history.back().value("comment", "");
  return ojson{
      {"Id", img.id},
      {"RepoTags", tags},
      {"RepoDigests", digests},
      {"Parent", img.parent},
      {"Comment", comment},
      {"Created", config.value("created", "")},
      {"DockerVersion", ""},
      {"Author", config.value("author", "")},
      {"Config", ordered(config.value("config", json::object()))},
      {"Architecture", config.value("architecture", "")},
      {"Os", config.value("os", "")},
      {"Size", img.size},
      {"GraphDriver", {{"Data", nullptr}, {"Name", e.config().storage_driver}}},
      {"RootFS", {{"Type", "layers"}, {"Layers", ordered(config.value("rootfs", json::object()).value("diff_ids", json::array()))}}},
      {"Metadata", {{"LastTagTime", "0001-01-01T00:00:00Z"}}},
  };
}

}  // namespace berth::cli
