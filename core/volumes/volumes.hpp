#pragma once

// The volume manager: volumes live in their drivers (each keeps its own list and data);
// the core knows which containers use which volume from the containers' specs (Mounts
// entries of Type "volume"), and mounts a container's volumes for each run.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "berth/sdk/storage_driver.hpp"
#include "berth/sdk/volume_driver.hpp"
#include "engine.hpp"

namespace berth::volumes {

Result<std::vector<sdk::VolumeInfo>> list(Engine& e);  // every loaded driver's, by name
// NotFound ("get NAME: no such volume") when no driver has it.
Result<sdk::VolumeInfo> find(Engine& e, const std::string& name);
// `name` "" gets a random 64-hex name (an anonymous volume); `driver` "" the host's default.
Result<sdk::VolumeInfo> create(Engine& e, const std::string& name, const std::string& driver,
                               const sdk::Options& options, const sdk::Labels& labels);
// The names of the containers (any state) whose spec mounts the volume.
Result<std::vector<std::string>> users(Engine& e, const std::string& name);
// Refused (Conflict, naming the containers) while any container uses it, unless `force`
// and the only users are gone.
Status remove(Engine& e, const std::string& name);
// Removes every volume no container uses; returns their names.
Result<std::vector<std::string>> prune(Engine& e);

// Docker's label on the volumes made for `-v /path` and an image's VOLUME.
inline constexpr const char* kAnonymousLabel = "com.docker.volume.anonymous";
// Removes the anonymous volumes among `uses` that no container uses any more.
struct Use;
void remove_anonymous(Engine& e, const std::vector<Use>& uses);

// A container's volume mounts, from its spec: {Name, Driver} pairs.
struct Use {
  std::string name;
  std::string driver;
};
std::vector<Use> uses_of(const nlohmann::json& spec);
// Copy-up: for each volume mount of `spec` whose data is empty (and without NoCopy), the
// image's files at its destination are copied in, owners and modes kept. The container's
// root (`root_mounts`, from the storage driver) is mounted in a private mount namespace of
// a short-lived child, so nothing of it is ever mounted on the host.
Status copy_up(const nlohmann::json& spec, const std::vector<sdk::Mount>& root_mounts);

// Mounts each for the container (the driver's refcount); all or nothing.
Status mount_all(Engine& e, const std::string& container_id, const std::vector<Use>& uses);
// Drops the container's references. Idempotent.
void unmount_all(Engine& e, const std::string& container_id, const std::vector<Use>& uses);

}  // namespace berth::volumes
