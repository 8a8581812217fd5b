#include "berth/sdk/result.hpp"

#include <cstring>

namespace berth {

const char* code_name(Code code) {
  switch (code) {
    case Code::InvalidArgument: return "invalid argument";
    case Code::NotFound: return "not found";
    case Code::AlreadyExists: return "already exists";
    case Code::Conflict: return "conflict";
    case Code::Forbidden: return "forbidden";
    case Code::Unavailable: return "unavailable";
    case Code::Unsupported: return "unsupported";
    case Code::NotImplemented: return "not implemented";
    case Code::Internal: return "internal";
  }
  return "unknown";
}

std::string Error::what() const {
  std::string out;
  for (auto it = context.rbegin(); it != context.rend(); ++it) {
    out += *it;
    out += ": ";
  }
  out += message;
  if (sys_errno != 0) {
    out += ": ";
    out += std::strerror(sys_errno);
  }
  return out;
}

Error& Error::wrap(std::string ctx) & {
  context.push_back(std::move(ctx));
  return *this;
}

Error&& Error::wrap(std::string ctx) && {
  context.push_back(std::move(ctx));
  return std::move(*this);
}

Error make_error(Code code, std::string message) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

Error sys_error(std::string message, int err) {
  Error e;
  switch (err) {
    case ENOENT: e.code = Code::NotFound; break;
    case EEXIST: e.code = Code::AlreadyExists; break;
    case EBUSY: e.code = Code::Conflict; break;
    case EPERM:
    case EACCES: e.code = Code::Forbidden; break;
    case EINVAL: e.code = Code::InvalidArgument; break;
    case ENODEV:
    case ENOSYS:
    case EOPNOTSUPP: e.code = Code::Unsupported; break;
    case ENOSPC:
    case ENOMEM:
    case EAGAIN: e.code = Code::Unavailable; break;
    default: e.code = Code::Internal; break;
  }
  e.sys_errno = err;
  e.message = std::move(message);
  return e;
}

}  // namespace berth
