#include "images/reference.hpp"

#include <cctype>

#include "util/util.hpp"

namespace berth::images {

namespace {
constexpr const char* kDefaultDomain = "docker.io";

bool valid_component(const std::string& c) {
  // [a-z0-9]+ separated by '.', '_', '__' or '-'s
  if (c.empty() || !std::isalnum(static_cast<unsigned char>(c.front())) ||
      !std::isalnum(static_cast<unsigned char>(c.back()))) {
    return false;
  }
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (std::islower(static_cast<unsigned char>(ch)) || std::isdigit(static_cast<unsigned char>(ch))) continue;
    if (ch == '.' || ch == '-') continue;
    if (ch == '_') continue;
    return false;
  }
  return c.find("..") == std::string::npos && c.find("___") == std::string::npos;
}

bool valid_tag(const std::string& t) {
  if (t.empty() || t.size() > 128) return false;
  if (!(std::isalnum(static_cast<unsigned char>(t[0])) || t[0] == '_')) return false;
  for (char ch : t) {
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-')) return false;
  }
  return true;
}
}  // namespace

std::string Reference::full() const {
  std::string out = domain + "/" + path;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string Reference::familiar_name() const {
  if (domain == kDefaultDomain) {
    if (util::starts_with(path, "library/") && path.find('/', 8) == std::string::npos) {
      return path.substr(8);
    }
    return path;
  }
  return domain + "/" + path;
}

std::string Reference::familiar() const {
  std::string out = familiar_name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

Result<Reference> parse_reference(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return make_error(Code::InvalidArgument, "invalid reference format: '" + text + "': " + why);
  };
  if (text.empty()) return bad("empty name");
  Reference ref;
  std::string rest = text;
  if (auto at = rest.find('@'); at != std::string::npos) {
    ref.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!util::starts_with(ref.digest, "sha256:") || ref.digest.size() != 71) {
      return bad("digest must be sha256: followed by 64 hex characters");
    }
  }
  // A ':' after the last '/' starts the tag.
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    ref.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!valid_tag(ref.tag)) return bad("tag '" + ref.tag + "' is not valid");
  }
  std::string first = rest.substr(0, rest.find('/'));
  if (rest.find('/') != std::string::npos &&
      (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
       first == "localhost")) {
    ref.domain = first;
    ref.path = rest.substr(first.size() + 1);
  } else {
    ref.domain = kDefaultDomain;
    ref.path = rest;
  }
  if (ref.path.empty()) return bad("empty repository name");
  for (const auto& comp : util::split(ref.path, '/')) {
    if (!valid_component(comp)) {
      return bad("repository name must be lowercase letters, digits and separators");
    }
  }
  if (ref.domain == kDefaultDomain && ref.path.find('/') == std::string::npos) {
    ref.path = "library/" + ref.path;
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

std::string familiar_of(const std::string& full) {
  auto r = parse_reference(full);
  return r ? r->familiar() : full;
}

}  // namespace berth::images
