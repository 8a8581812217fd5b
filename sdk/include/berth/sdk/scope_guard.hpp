#pragma once

// Undo an action unless the whole operation succeeded:
//   auto undo = berth::sdk::ScopeGuard([&] { remove_snapshot(key); });
//   ... more steps that may fail and return ...
//   undo.dismiss();

#include <utility>

namespace berth::sdk {

template <typename F>
class ScopeGuard {
 public:
  explicit ScopeGuard(F f) : f_(std::move(f)) {}
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  ~ScopeGuard() {
    if (active_) {
      f_();
    }
  }
  void dismiss() { active_ = false; }

 private:
  F f_;
  bool active_ = true;
};

}  // namespace berth::sdk
