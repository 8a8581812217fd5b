#pragma once

// How a berth plugin presents itself. A plugin is one shared object exporting one entry
// point, `berth_plugin_v1`, through Boost.DLL's alias mechanism (a pointer in the
// "boostdll" section, so the host can see it without running any of the library's code).
// The entry returns a descriptor: the SDK ABI version and build fingerprint it was compiled
// with, its name and version, and one factory per driver it provides.
//
//   const berth::sdk::PluginDescriptor* my_plugin() {
//     static const berth::sdk::DriverDescriptor drivers[] = {
//         berth::sdk::volume_driver<MyDriver>("mine"),
//     };
//     static const berth::sdk::PluginDescriptor d = berth::sdk::make_plugin("acme", "1.0", drivers);
//     return &d;
//   }
//   BERTH_PLUGIN_ENTRY(my_plugin)
//
// The host checks, in order: the alias exists, abi_version == BERTH_SDK_ABI, the build
// fingerprint matches its own (same compiler and C++ library: C++ types cross this
// boundary), every driver kind is known and every name free. Only then does it call the
// factories, and it registers the plugin's drivers all together or not at all.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>

#include "berth/sdk/driver_context.hpp"
#include "berth/sdk/network_driver.hpp"
#include "berth/sdk/result.hpp"
#include "berth/sdk/storage_driver.hpp"
#include "berth/sdk/volume_driver.hpp"

// Bumped whenever an SDK header changes in a way that breaks built plugins.
#define BERTH_SDK_ABI 2u
#define BERTH_SDK_VERSION "0.1.0"

#define BERTH_SDK_STR_INNER(x) #x
#define BERTH_SDK_STR(x) BERTH_SDK_STR_INNER(x)
#if defined(__clang__)
#define BERTH_SDK_COMPILER "clang-" __clang_version__
#elif defined(__GNUC__)
#define BERTH_SDK_COMPILER \
  "gcc-" BERTH_SDK_STR(__GNUC__) "." BERTH_SDK_STR(__GNUC_MINOR__)
#else
#define BERTH_SDK_COMPILER "unknown"
#endif
#if defined(__GLIBCXX__)
#define BERTH_SDK_STDLIB "libstdc++-" BERTH_SDK_STR(__GLIBCXX__) "-abi" BERTH_SDK_STR(_GLIBCXX_USE_CXX11_ABI)
#else
#define BERTH_SDK_STDLIB "other-stdlib"
#endif
// Compiler family and major.minor, and the C++ library's release and ABI: what decides
// whether std::string, std::vector and vtables agree between host and plugin.
#define BERTH_SDK_BUILD_FINGERPRINT BERTH_SDK_COMPILER "/" BERTH_SDK_STDLIB

namespace berth::sdk {

inline constexpr const char* kNetworkKind = "berth.network.v1";
inline constexpr const char* kVolumeKind = "berth.volume.v1";
inline constexpr const char* kStorageKind = "berth.storage.v1";

using NetworkFactory = Result<std::unique_ptr<NetworkDriver>> (*)(const DriverContext&);
using VolumeFactory = Result<std::unique_ptr<VolumeDriver>> (*)(const DriverContext&);
using StorageFactory = Result<std::unique_ptr<StorageDriver>> (*)(const DriverContext&);

// One driver a plugin provides. Exactly the factory matching `kind` is set.
struct DriverDescriptor {
  const char* kind = nullptr;  // kNetworkKind, kVolumeKind or kStorageKind
  const char* name = nullptr;  // "bridge", "local", "overlay": what users and the TOML say
  NetworkFactory network = nullptr;
  VolumeFactory volume = nullptr;
  StorageFactory storage = nullptr;
};

struct PluginDescriptor {
  uint32_t abi_version = 0;
  const char* build_fingerprint = nullptr;
  const char* name = nullptr;
  const char* version = nullptr;
  const DriverDescriptor* drivers = nullptr;
  size_t driver_count = 0;
};

using PluginEntry = const PluginDescriptor*();

// Factories must be cheap and must not touch the kernel: the host constructs every driver
// of every loaded plugin at start-up. Kernel checks belong in init(). A driver type T has a
// constructor T(const DriverContext&) and may validate ctx.options in a static
// `Status validate_options(const Options&)`; exceptions are turned into errors here, so
// none crosses the boundary.
namespace detail {
template <typename Base, typename T>
Result<std::unique_ptr<Base>> construct(const DriverContext& ctx) {
  try {
    if constexpr (requires { T::validate_options(ctx.options); }) {
      Status s = T::validate_options(ctx.options);
      if (!s) {
        return std::move(s).error();
      }
    }
    return std::unique_ptr<Base>(std::make_unique<T>(ctx));
  } catch (const std::exception& e) {
    return make_error(Code::Internal, std::string("driver constructor failed: ") + e.what());
  } catch (...) {
    return make_error(Code::Internal, "driver constructor failed with an unknown exception");
  }
}
}  // namespace detail

template <typename T>
constexpr DriverDescriptor network_driver(const char* name) {
  DriverDescriptor d;
  d.kind = kNetworkKind;
  d.name = name;
  d.network = &detail::construct<NetworkDriver, T>;
  return d;
}
template <typename T>
constexpr DriverDescriptor volume_driver(const char* name) {
  DriverDescriptor d;
  d.kind = kVolumeKind;
  d.name = name;
  d.volume = &detail::construct<VolumeDriver, T>;
  return d;
}
template <typename T>
constexpr DriverDescriptor storage_driver(const char* name) {
  DriverDescriptor d;
  d.kind = kStorageKind;
  d.name = name;
  d.storage = &detail::construct<StorageDriver, T>;
  return d;
}

template <size_t N>
constexpr PluginDescriptor make_plugin(const char* name, const char* version,
                                       const DriverDescriptor (&drivers)[N]) {
  PluginDescriptor p;
  p.abi_version = BERTH_SDK_ABI;
  p.build_fingerprint = BERTH_SDK_BUILD_FINGERPRINT;
  p.name = name;
  p.version = version;
  p.drivers = drivers;
  p.driver_count = N;
  return p;
}

}  // namespace berth::sdk

// Exports `entry` (a function returning const PluginDescriptor*) as the alias
// `berth_plugin_v1`. This is what BOOST_DLL_ALIAS(entry, berth_plugin_v1) expands to on ELF
// platforms, written out so that plugins need no Boost headers.
#define BERTH_PLUGIN_ENTRY(entry)                                                          \
  namespace _autoaliases {                                                                 \
  extern "C" __attribute__((visibility("default"))) const void* berth_plugin_v1;           \
  __attribute__((section("boostdll"))) __attribute__((weak)) const void* berth_plugin_v1 = \
      reinterpret_cast<const void*>(reinterpret_cast<intptr_t>(&entry));                  \
  }
