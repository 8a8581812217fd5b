// Image commands: images, import, tag, rmi.

#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <set>

#include "cli/cli.hpp"
#include "images/archive.hpp"
#include "images/reference.hpp"
#include "util/util.hpp"

namespace berth::cli {

namespace {

int cmd_images(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"images", "[OPTIONS] [REPOSITORY[:TAG]]", "List images", 0, 1};
  po::options_description d("Options");
  d.add_options()("all,a", po::bool_switch(), "Show all images")
      ("quiet,q", po::bool_switch(), "Only show image IDs")
      ("no-trunc", po::bool_switch(), "Don't truncate output");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  bool quiet = p.vm["quiet"].as<bool>();
  bool no_trunc = p.vm["no-trunc"].as<bool>();
  std::string repo_filter;
  std::string tag_filter;
  if (!p.args.empty()) {
    auto ref = images::parse_reference(p.args[0]);
    if (!ref) throw UsageError{ref.error().what(), kExitError};
    repo_filter = ref->familiar_name();
    if (p.args[0].find(':', p.args[0].rfind('/') == std::string::npos ? 0 : p.args[0].rfind('/')) != std::string::npos) {
      tag_filter = ref->tag;
    }
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto list = e->images().list();
  if (!list) {
    print_error(list.error());
    return kExitError;
  }
  int64_t now = util::now_ns();
  Table t;
  t.row({"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"});
  std::vector<std::string> ids;
  // Intermediate images (untagged, with a child: a build's steps) only with -a.
  std::set<std::string> parents;
  for (const auto& img : *list) parents.insert(img.parent);
  bool all = p.vm["all"].as<bool>();
  for (const auto& img : *list) {
    if (!all && img.tags.empty() && parents.count(img.id)) continue;
    std::string hex = img.id.substr(7);
    std::string shown_id = no_trunc ? img.id : hex.substr(0, 12);
    auto add = [&](const std::string& repo, const std::string& tag) {
      if (!repo_filter.empty() && (repo != repo_filter || (!tag_filter.empty() && tag != tag_filter))) return;
      if (quiet) {
        if (ids.empty() || ids.back() != shown_id) ids.push_back(shown_id);
        return;
      }
      t.row({repo, tag, shown_id, util::human_duration((now - img.created_ns) / 1000000000) + " ago",
             util::human_size(img.size)});
    };
    if (img.tags.empty()) add("<none>", "<none>");
    for (const auto& full : img.tags) {
      auto ref = images::parse_reference(full);
      if (ref) add(ref->familiar_name(), ref->tag);
    }
  }
  if (quiet) {
    for (const auto& id : ids) std::cout << id << "\n";
  } else {
    std::cout << t.str();
  }
  return 0;
}

int cmd_import(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"import", "[OPTIONS] file|- [REPOSITORY[:TAG]]",
                   "Import the contents from a tarball to create a filesystem image", 1, 2};
  po::options_description d("Options");
  d.add_options()("change,c", po::value<std::vector<std::string>>()->composing(),
                  "Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE)")
      ("message,m", po::value<std::string>(), "Set commit message for imported image");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  images::ImportOptions opts;
  if (p.vm.count("change")) opts.changes = p.vm["change"].as<std::vector<std::string>>();
  if (p.vm.count("message")) opts.message = p.vm["message"].as<std::string>();
  opts.source_name = p.args[0];
  if (p.args.size() > 1) opts.reference = p.args[1];
  // Check what we can before touching anything.
  nlohmann::json probe = nlohmann::json::object();
  for (const auto& c : opts.changes) {
    if (Status s = images::apply_change(c, &probe); !s) {
      print_error(s.error());
      return kExitError;
    }
  }
  int fd = 0;
  if (p.args[0] != "-") {
    fd = ::open(p.args[0].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      print_error(sys_error("open " + p.args[0]));
      return kExitError;
    }
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto id = e->images().import(fd, opts);
  if (fd > 0) ::close(fd);
  if (!id) {
    print_error(id.error());
    return kExitError;
  }
  std::cout << *id << "\n";
  return 0;
}

int cmd_tag(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                   "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", 2, 2};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  if (Status s = e->images().tag(p.args[0], p.args[1]); !s) {
    print_error(s.error());
    return kExitError;
  }
  return 0;
}

int cmd_rmi(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"rmi", "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", 1};
  po::options_description d("Options");
  d.add_options()("force,f", po::bool_switch(), "Force removal of the image");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  bool force = p.vm["force"].as<bool>();
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  (void)containers::reconcile(*e);
  int rc = 0;
  for (const auto& ref : p.args) {
    auto img = e->images().resolve(ref);
    if (!img) {
      print_error(img.error());
      rc = kExitError;
      continue;
    }
    std::vector<images::ImageStore::User> users;
    auto all = containers::list_all(*e);
    if (all) {
      for (const auto& c : *all) {
        if (c.image_id == img->id) users.push_back({c.short_id(), c.running()});
      }
    }
    e->images().set_in_use([&](const std::string& id) {
      return all && std::any_of(all->begin(), all->end(), [&](const containers::Container& c) { return c.image_id == id; });
    });
    auto lines = e->images().remove(ref, force, users);
    if (!lines) {
      print_error(lines.error());
      rc = kExitError;
      continue;
    }
    for (const auto& l : *lines) std::cout << l << "\n";
  }
  (void)containers::sweep(*e);
  return rc;
}

int cmd_save(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"save", "[OPTIONS] IMAGE [IMAGE...]",
                   "Save one or more images to a tar archive (streamed to STDOUT by default)", 1};
  po::options_description d("Options");
  d.add_options()("output,o", po::value<std::string>(), "Write to a file, instead of STDOUT");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  std::string out = p.vm.count("output") ? p.vm["output"].as<std::string>() : "";
  if (out.empty() && ::isatty(STDOUT_FILENO)) {
    print_error(make_error(Code::InvalidArgument, "cowardly refusing to save to a terminal. Use the -o flag or redirect"));
    return kExitError;
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  for (const auto& n : p.args) {
    if (auto img = e->images().resolve(n); !img) {
      print_error(img.error());
      return kExitError;
    }
  }
  // Into a file beside the target, renamed at the end: a failed save leaves no half archive.
  std::string tmp = out.empty() ? "" : out + ".berth-" + util::random_hex(4);
  int fd = out.empty() ? STDOUT_FILENO : ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    print_error(sys_error("create " + out));
    return kExitError;
  }
  Status s = images::save(*e, p.args, fd);
  if (!out.empty()) {
    ::close(fd);
    if (s && ::rename(tmp.c_str(), out.c_str()) != 0) s = sys_error("rename to " + out);
    if (!s) ::unlink(tmp.c_str());
  }
  if (!s) {
    print_error(s.error());
    return kExitError;
  }
  return 0;
}

int cmd_load(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"load", "[OPTIONS]", "Load an image from a tar archive or STDIN", 0, 0};
  po::options_description d("Options");
  d.add_options()("input,i", po::value<std::string>(), "Read from tar archive file, instead of STDIN")
      ("quiet,q", po::bool_switch(), "Suppress the load output");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  std::string in = p.vm.count("input") ? p.vm["input"].as<std::string>() : "";
  int fd = STDIN_FILENO;
  if (!in.empty()) {
    fd = ::open(in.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      print_error(sys_error("open " + in));
      return kExitError;
    }
  } else if (::isatty(STDIN_FILENO)) {
    print_error(make_error(Code::InvalidArgument, "requested load from stdin, but stdin is empty"));
    return kExitError;
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto lines = images::load(*e, fd);
  if (fd != STDIN_FILENO) ::close(fd);
  if (!lines) {
    print_error(lines.error());
    return kExitError;
  }
  if (!p.vm["quiet"].as<bool>()) {
    for (const auto& l : *lines) std::cout << l << "\n";
  }
  return 0;
}

}  // namespace

void register_image_commands(std::map<std::string, Command>& t) {
  t["images"] = t["image ls"] = t["image list"] = cmd_images;
  t["import"] = t["image import"] = cmd_import;
  t["tag"] = t["image tag"] = cmd_tag;
  t["save"] = t["image save"] = cmd_save;
  t["load"] = t["image load"] = cmd_load;
  t["rmi"] = t["image rm"] = t["image remove"] = cmd_rmi;
}

}  // namespace berth::cli
