#include "volumes/volumes.hpp"

#include <algorithm>

#include "util/util.hpp"

namespace berth::volumes {

using nlohmann::json;

Result<std::vector<sdk::VolumeInfo>> list(Engine& e) {
  std::vector<sdk::VolumeInfo> out;
  for (const auto& d : e.plugins().volume_driver_names()) {
    BERTH_ASSIGN(auto driver, e.plugins().volume(d));
    BERTH_ASSIGN(auto vs, driver->list());
    for (auto& v : vs) {
      v.driver = d;
      out.push_back(std::move(v));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Result<sdk::VolumeInfo> find(Engine& e, const std::string& name) {
  for (const auto& d : e.plugins().volume_driver_names()) {
    BERTH_ASSIGN(auto driver, e.plugins().volume(d));
    auto v = driver->get(name);
    if (v) {
      v->driver = d;
      return v;
    }
    if (v.error().code != Code::NotFound) return std::move(v).error();
  }
  return make_error(Code::NotFound, "get " + name + ": no such volume");
}

Result<sdk::VolumeInfo> create(Engine& e, const std::string& name, const std::string& driver_name,
                               const sdk::Options& options, const sdk::Labels& labels) {
  std::string d = driver_name.empty() ? e.config().default_volume_driver : driver_name;
  BERTH_ASSIGN(auto driver, e.plugins().volume(d));
  std::string n = name.empty() ? util::random_hex(32) : name;
  BERTH_TRY(driver->validate(n, options));
  // A name is one volume across drivers.
  if (auto other = find(e, n); other) {
    // Docker: creating an existing name is a no-op; without -d (as for -v NAME) it is
    // whichever driver has it.
    if ((driver_name.empty() || other->driver == d) && options.empty()) return other;
    return make_error(Code::Conflict, "create " + n + ": volume name already in use with driver " + other->driver);
  }
  auto made = driver->create(n, options, labels);
  if (!made && made.error().code == Code::AlreadyExists) return find(e, n);
  BERTH_TRY(made.status());
  made->driver = d;
  return made;
}

Result<std::vector<std::string>> users(Engine& e, const std::string& name) {
  BERTH_ASSIGN(auto st, e.db().prepare(
      "SELECT DISTINCT c.name FROM containers c, json_each(c.spec, '$.Mounts') m "
      "WHERE json_extract(m.value, '$.Type') = 'volume' AND json_extract(m.value, '$.Name') = ? ORDER BY c.name"));
  st.bind(1, name);
  std::vector<std::string> out;
  for (;;) {
    BERTH_ASSIGN(bool row, st.step());
    if (!row) break;
    out.push_back(st.text(0));
  }
  return out;
}

Status remove(Engine& e, const std::string& name) {
  BERTH_ASSIGN(auto v, find(e, name));
  BERTH_ASSIGN(auto who, users(e, name));
  if (!who.empty()) {
    return make_error(Code::Conflict, "remove " + name + ": volume is in use - [" + util::join(who, ", ") + "]");
  }
  BERTH_ASSIGN(auto driver, e.plugins().volume(v.driver));
  return driver->remove(name);
}

Result<std::vector<std::string>> prune(Engine& e) {
  BERTH_ASSIGN(auto all, list(e));
  std::vector<std::string> removed;
  for (const auto& v : all) {
    BERTH_ASSIGN(auto who, users(e, v.name));
    if (!who.empty()) continue;
    Status s = remove(e, v.name);
    if (s) {
      removed.push_back(v.name);
    } else if (s.error().code != Code::Conflict) {
      return std::move(s).error();
    }
  }
  return removed;
}

void remove_anonymous(Engine& e, const std::vector<Use>& uses) {
  for (const auto& u : uses) {
    auto v = find(e, u.name);
    if (v && v->labels.count(kAnonymousLabel)) (void)remove(e, u.name);
  }
}

std::vector<Use> uses_of(const json& spec) {
  std::vector<Use> out;
  for (const auto& m : spec.value("Mounts", json::array())) {
    if (m.value("Type", "") == "volume") out.push_back({m.value("Name", ""), m.value("Driver", "")});
  }
  return out;
}

Status mount_all(Engine& e, const std::string& container_id, const std::vector<Use>& uses) {
  std::vector<Use> done;
  for (const auto& u : uses) {
    auto driver = e.plugins().volume(u.driver);
    Status s = driver ? (*driver)->mount(u.name, container_id).status() : Status(driver.error());
    if (!s) {
      unmount_all(e, container_id, done);
      return std::move(s).error().wrap("mount volume " + u.name);
    }
    done.push_back(u);
  }
  return {};
}

void unmount_all(Engine& e, const std::string& container_id, const std::vector<Use>& uses) {
  for (auto it = uses.rbegin(); it != uses.rend(); ++it) {
    if (auto driver = e.plugins().volume(it->driver); driver) (void)(*driver)->unmount(it->name, container_id);
  }
}

}  // namespace berth::volumes
