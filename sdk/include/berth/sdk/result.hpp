#pragma once

// One error type for the whole engine and every driver: a category code, the errno when a
// system call failed, a message that names the object in quotes, and a context chain that
// grows as the error travels up ("start container 'web': mount rootfs: No such file").
// No exception crosses the plugin boundary; drivers return Result<T>.

#include <cerrno>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace berth {

enum class Code {
  InvalidArgument,  // the caller's input is wrong (bad flag, bad option, bad name)
  NotFound,         // the named object does not exist
  AlreadyExists,    // an object with that name or key exists
  Conflict,         // the object's state forbids it (in use, running)
  Forbidden,        // the operation is never allowed on this object
  Unavailable,      // resources exhausted or busy (no free IP, locked)
  Unsupported,      // this host or driver cannot do it (missing kernel feature)
  NotImplemented,   // an optional driver ability that is absent
  Internal,         // a bug or an unexpected system failure
};

const char* code_name(Code code);

struct Error {
  Code code = Code::Internal;
  int sys_errno = 0;
  std::string message;
  std::vector<std::string> context;  // innermost first; what() prints outermost first

  // "outer: inner: message: strerror(errno)"
  std::string what() const;
  // Prefix a context to the error as it travels up.
  Error& wrap(std::string ctx) &;
  Error&& wrap(std::string ctx) &&;
};

Error make_error(Code code, std::string message);
// An error from a failed system call; reads errno unless given.
Error sys_error(std::string message, int err = errno);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }
  // Drops the value, keeping only success or the error.
  Result<void> status() const&;

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), failed_(true) {}  // NOLINT

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return err_; }
  Error&& error() && { return std::move(err_); }

 private:
  Error err_;
  bool failed_ = false;
};

using Status = Result<void>;

template <typename T>
Result<void> Result<T>::status() const& {
  if (*this) return {};
  return error();
}

}  // namespace berth

#define BERTH_CONCAT_INNER(a, b) a##b
#define BERTH_CONCAT(a, b) BERTH_CONCAT_INNER(a, b)

// Return the error of a failed Result<void> (or Result<T> whose value is not needed).
#define BERTH_TRY(expr)                                   \
  do {                                                    \
    auto berth_try_r_ = (expr);                           \
    if (!berth_try_r_) {                                  \
      return std::move(berth_try_r_).error();             \
    }                                                     \
  } while (0)

// Declare `lhs` from a Result<T>, or return its error.
#define BERTH_ASSIGN(lhs, expr) BERTH_ASSIGN_IMPL(BERTH_CONCAT(berth_r_, __LINE__), lhs, expr)
#define BERTH_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                      \
  if (!tmp) {                             \
    return std::move(tmp).error();        \
  }                                       \
  lhs = std::move(tmp).value()
