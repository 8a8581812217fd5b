// Registry commands: pull, push, login, logout.

#include <unistd.h>

#include <iostream>

#include "cli/cli.hpp"
#include "images/pull.hpp"
#include "images/reference.hpp"
#include "registry/client.hpp"
#include "util/util.hpp"

namespace berth::cli {

namespace {

images::TransferOptions transfer_options(bool quiet) {
  images::TransferOptions o;
  o.quiet = quiet;
  o.out = stdout;
  o.tty = ::isatty(STDOUT_FILENO) == 1;
  return o;
}

int cmd_pull(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", 1, 1};
  po::options_description d("Options");
  d.add_options()("quiet,q", po::bool_switch(), "Suppress verbose output")
      ("platform", po::value<std::string>(), "Set platform if server is multi-platform capable")
      ("all-tags,a", po::bool_switch(), "Download all tagged images in the repository");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  if (p.vm["all-tags"].as<bool>()) {
    print_error(make_error(Code::NotImplemented, "--all-tags is not supported by berth"));
    return kExitError;
  }
  if (auto ref = images::parse_reference(p.args[0]); !ref) {
    print_error(ref.error());
    return kExitError;
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto o = transfer_options(p.vm["quiet"].as<bool>());
  if (p.vm.count("platform")) o.platform = p.vm["platform"].as<std::string>();
  auto id = images::pull(*e, p.args[0], o);
  if (!id) {
    print_error(id.error());
    return kExitError;
  }
  return 0;
}

int cmd_push(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"push", "[OPTIONS] NAME[:TAG]", "Upload an image to a registry", 1, 1};
  po::options_description d("Options");
  d.add_options()("quiet,q", po::bool_switch(), "Suppress verbose output");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto digest = images::push(*e, p.args[0], transfer_options(p.vm["quiet"].as<bool>()));
  if (!digest) {
    print_error(digest.error());
    return kExitError;
  }
  return 0;
}

std::string server_of(const std::vector<std::string>& args) {
  if (args.empty()) return "docker.io";
  std::string s = args[0];
  for (const char* scheme : {"https://", "http://"}) {
    if (util::starts_with(s, scheme)) s = s.substr(std::string(scheme).size());
  }
  s = s.substr(0, s.find('/'));
  if (s == "index.docker.io" || s == "registry-1.docker.io") s = "docker.io";
  return s;
}

int cmd_login(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"login", "[OPTIONS] [SERVER]", "Log in to a registry", 0, 1};
  po::options_description d("Options");
  d.add_options()("username,u", po::value<std::string>(), "Username")
      ("password,p", po::value<std::string>(), "Password")
      ("password-stdin", po::bool_switch(), "Take the password from stdin");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  std::string host = server_of(p.args);
  registry::Credentials creds;
  if (p.vm.count("username")) creds.username = p.vm["username"].as<std::string>();
  bool from_stdin = p.vm["password-stdin"].as<bool>();
  if (p.vm.count("password") && from_stdin) {
    print_error(make_error(Code::InvalidArgument, "--password and --password-stdin are mutually exclusive"));
    return kExitError;
  }
  if (from_stdin) {
    if (creds.username.empty()) {
      print_error(make_error(Code::InvalidArgument, "Must provide --username with --password-stdin"));
      return kExitError;
    }
    std::string line, all;
    while (std::getline(std::cin, line)) all += (all.empty() ? "" : "\n") + line;
    while (!all.empty() && (all.back() == '\n' || all.back() == '\r')) all.pop_back();
    creds.password = all;
  } else if (p.vm.count("password")) {
    std::cerr << "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n";
    creds.password = p.vm["password"].as<std::string>();
  }
  if (creds.username.empty() || creds.password.empty()) {
    // No terminal prompt: scripts pass both, as Docker's non-interactive use does.
    auto stored = registry::load_credentials(host);
    if (creds.username.empty() && stored && *stored) creds = **stored;
    if (creds.username.empty() || creds.password.empty()) {
      print_error(make_error(Code::InvalidArgument, "Error: Cannot perform an interactive login from a non TTY device; "
                                                    "give --username and --password-stdin"));
      return kExitError;
    }
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto client = registry::Client::connect(e->config(), host, "", false, creds);
  Status s = client ? (*client)->check_login() : Status(client.error());
  if (!s) {
    print_error(std::move(s).error().wrap("login attempt to " + host + " failed"));
    return kExitError;
  }
  if (Status st = registry::store_credentials(host, creds); !st) {
    print_error(st.error());
    return kExitError;
  }
  std::cout << "Login Succeeded\n";
  return 0;
}

int cmd_logout(Cli&, const std::vector<std::string>& args) {
  CommandSpec spec{"logout", "[SERVER]", "Log out from a registry", 0, 1};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  std::string host = server_of(p.args);
  auto erased = registry::erase_credentials(host);
  if (!erased) {
    print_error(erased.error());
    return kExitError;
  }
  if (*erased) {
    std::cout << "Removing login credentials for " << host << "\n";
  } else {
    std::cout << "Not logged in to " << host << "\n";
  }
  return 0;
}

}  // namespace

void register_registry_commands(std::map<std::string, Command>& t) {
  t["pull"] = t["image pull"] = cmd_pull;
  t["push"] = t["image push"] = cmd_push;
  t["login"] = cmd_login;
  t["logout"] = cmd_logout;
}

}  // namespace berth::cli
