#include "util/util.hpp"

#include "util/lazy_libs.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>

namespace berth::util {

namespace {
const char* kHex = "0123456789abcdef";
std::string to_hex(const unsigned char* p, size_t n) {
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 15];
  }
  return out;
}
}  // namespace

std::string random_hex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::getrandom(buf.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    got += static_cast<size_t>(n);
  }
  return to_hex(buf.data(), bytes);
}

namespace {
const CryptoApi& crypto() {
  auto api = crypto_api();
  if (!api) {
    // libcrypto ships with the packages berth depends on; without it no digest is possible.
    std::fprintf(stderr, "berth: %s\n", api.error().what().c_str());
    std::abort();
  }
  return **api;
}
}  // namespace

Sha256::Sha256() : ctx_(crypto().EVP_MD_CTX_new()) {
  crypto().EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), crypto().EVP_sha256(), nullptr);
}
Sha256::~Sha256() { crypto().EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256::update(const void* data, size_t size) {
  crypto().EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size);
}
std::string Sha256::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  crypto().EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len);
  return to_hex(md, len);
}

std::string sha256_digest(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return "sha256:" + h.hex();
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339_nano(int64_t ns) {
  if (ns <= 0) {
    return "0001-01-01T00:00:00Z";
  }
  time_t secs = static_cast<time_t>(ns / 1000000000);
  long frac = static_cast<long>(ns % 1000000000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::string human_duration(int64_t seconds) {
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return std::to_string(seconds) + " seconds";
  int64_t minutes = seconds / 60;
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return std::to_string(minutes) + " minutes";
  int64_t hours = seconds / 3600;
  if (hours == 1) return "About an hour";
  if (hours < 48) return std::to_string(hours) + " hours";
  if (hours < 24 * 7 * 2) return std::to_string(hours / 24) + " days";
  if (hours < 24 * 30 * 2) return std::to_string(hours / 24 / 7) + " weeks";
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24 / 30) + " months";
  return std::to_string(hours / 24 / 365) + " years";
}

std::string human_size(int64_t bytes) {
  static const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(bytes);
  int i = 0;
  while (v >= 1000.0 && i < 5) {
    v /= 1000.0;
    ++i;
  }
  // %.3g, as Go's strconv 'g' with precision 3.
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%s", v, units[i]);
  return buf;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) {
      break;
    }
    start = pos + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

namespace {

// /proc/<pid>/stat from the field after the command name (which is in parentheses and may
// hold spaces), into `buf`; nullptr if the process is gone.
const char* stat_fields(pid_t pid, char (&buf)[1024]) {
  if (pid <= 0) return nullptr;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return nullptr;
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  return p == nullptr ? nullptr : p + 1;
}

}  // namespace

uint64_t process_start_time(pid_t pid) {
  char buf[1024];
  const char* p = stat_fields(pid, buf);
  if (p == nullptr) return 0;
  std::string rest = p;  // field 3 onwards
  int field = 2;
  char* save = nullptr;
  for (char* tok = strtok_r(rest.data(), " ", &save); tok != nullptr; tok = strtok_r(nullptr, " ", &save)) {
    ++field;
    if (field == 3 && tok[0] == 'Z') return 0;  // a zombie has finished
    if (field == 22) return std::strtoull(tok, nullptr, 10);
  }
  return 0;
}

pid_t parent_pid(pid_t pid) {
  char buf[1024];
  const char* p = stat_fields(pid, buf);
  char state = 0;
  int ppid = 0;
  if (p == nullptr || std::sscanf(p, " %c %d", &state, &ppid) != 2) return 0;
  return static_cast<pid_t>(ppid);
}

bool process_alive(pid_t pid, uint64_t start_time) {
  return pid > 0 && start_time != 0 && process_start_time(pid) == start_time;
}

std::string exe_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  std::string p(buf);
  return p.substr(0, p.rfind('/'));
}

void close_all_except(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned from = 3;
  for (int fd : keep) {
    if (fd < static_cast<int>(from)) continue;
    if (static_cast<unsigned>(fd) > from) ::syscall(SYS_close_range, from, static_cast<unsigned>(fd) - 1, 0u);
    from = static_cast<unsigned>(fd) + 1;
  }
  ::syscall(SYS_close_range, from, ~0u, 0u);
}

bool write_all(int fd, std::string_view buf) {
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = ::write(fd, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string f;
  while (in >> f) out.push_back(f);
  return out;
}

namespace {
char* g_argv_start = nullptr;
size_t g_argv_len = 0;
}  // namespace

void remember_argv(int argc, char** argv) {
  if (argc <= 0 || argv == nullptr || argv[0] == nullptr) return;
  g_argv_start = argv[0];
  // The arguments sit one after another; the area ends after the last one's NUL.
  char* end = argv[argc - 1] + std::strlen(argv[argc - 1]) + 1;
  g_argv_len = static_cast<size_t>(end - g_argv_start);
}

void set_command_line(const std::string& text) {
  if (g_argv_start == nullptr || g_argv_len == 0) return;
  size_t n = std::min(text.size(), g_argv_len - 1);
  std::memcpy(g_argv_start, text.data(), n);
  std::memset(g_argv_start + n, 0, g_argv_len - n);
}

std::string to_upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

std::string to_lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

int64_t parse_ram_bytes(const std::string& in) {
  size_t i = 0;
  while (i < in.size() && (std::isdigit(static_cast<unsigned char>(in[i])) || in[i] == '.')) ++i;
  if (i == 0) return -1;
  double v = std::atof(in.substr(0, i).c_str());
  std::string unit = to_lower(trim(in.substr(i)));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  static const std::string kUnits = "kmgtp";
  double mult = 1;
  if (unit.size() == 1 && kUnits.find(unit[0]) != std::string::npos) {
    for (size_t k = 0; k <= kUnits.find(unit[0]); ++k) mult *= 1024;
  } else if (!unit.empty()) {
    return -1;
  }
  return static_cast<int64_t>(v * mult);
}

Result<int64_t> parse_go_duration(const std::string& in) {
  auto bad = [&] { return make_error(Code::InvalidArgument, "time: invalid duration \"" + in + "\""); };
  std::string s = in;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s = s.substr(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return bad();
  static const std::pair<const char*, double> kUnits[] = {{"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6},
                                                          {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == start) return bad();
    double v = std::atof(s.substr(start, i - start).c_str());
    size_t ustart = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    std::string unit = s.substr(ustart, i - ustart);
    bool found = false;
    for (const auto& [name, mult] : kUnits) {
      if (unit == name) {
        total += v * mult;
        found = true;
      }
    }
    if (!found) return bad();
  }
  return static_cast<int64_t>(neg ? -total : total);
}

Result<int64_t> parse_time_point(const std::string& s, int64_t now_ns) {
  if (s.empty()) return make_error(Code::InvalidArgument, "empty time value");
  if (s.find_first_not_of("0123456789.") == std::string::npos) {
    return static_cast<int64_t>(std::atof(s.c_str()) * 1e9);
  }
  if (auto d = parse_go_duration(s); d) return now_ns - *d;
  // RFC 3339, or its date alone (UTC).
  struct tm tm {};
  const char* rest = ::strptime(s.c_str(), "%Y-%m-%d", &tm);
  if (rest == nullptr) return make_error(Code::InvalidArgument, "failed to parse time \"" + s + "\"");
  int64_t frac_ns = 0;
  int64_t offset_s = 0;
  if (*rest == 'T' || *rest == ' ') {
    rest = ::strptime(rest + 1, "%H:%M:%S", &tm);
    if (rest == nullptr) return make_error(Code::InvalidArgument, "failed to parse time \"" + s + "\"");
    if (*rest == '.') {
      const char* p = rest + 1;
      int64_t scale = 100000000;
      while (std::isdigit(static_cast<unsigned char>(*p))) {
        frac_ns += (*p - '0') * scale;
        scale /= 10;
        ++p;
      }
      rest = p;
    }
    if (*rest == 'Z') {
      ++rest;
    } else if (*rest == '+' || *rest == '-') {
      int hh = 0, mm = 0;
      if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) {
        return make_error(Code::InvalidArgument, "failed to parse time \"" + s + "\"");
      }
      offset_s = (*rest == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
      rest += 6;
    }
  }
  if (*rest != '\0') return make_error(Code::InvalidArgument, "failed to parse time \"" + s + "\"");
  return (static_cast<int64_t>(::timegm(&tm)) - offset_s) * 1000000000LL + frac_ns;
}

}  // namespace berth::util

namespace berth::util {
int timing_fd() {
  // One descriptor, high and close-on-exec, kept for the process and its forks: the
  // container's process keeps writing marks after pivot_root has hidden the file's path.
  static int fd = [] {
    const char* path = ::getenv("BERTH_TIMING");
    if (path == nullptr || *path == '\0') return -1;
    int f = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) return -1;
    int high = ::fcntl(f, F_DUPFD_CLOEXEC, 1000);
    ::close(f);
    return high;
  }();
  return fd;
}

void timing_mark(const char* phase) {
  int fd = timing_fd();
  if (fd < 0) return;
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  // CPU time beside the clock: a phase whose wall time is much more than its CPU time
  // waited (for a core, for the kernel's workers, for another process).
  struct timespec cpu {};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
  char line[256];
  int n = std::snprintf(line, sizeof line, "%d %lld %s [%ld faults %lld cpu]\n", static_cast<int>(::getpid()),
                        static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec, phase, ru.ru_minflt,
                        static_cast<long long>(cpu.tv_sec) * 1000000000LL + cpu.tv_nsec);
  (void)!::write(fd, line, static_cast<size_t>(n));
}
Result<std::string> run_forked(const std::function<std::string()>& work, const std::function<void()>& after_fork) {
  int errp[2];
  pid_t pid;
  {
    // Threads fork helpers at once (layers unpack in parallel): a child forked while
    // another thread's pipe had both ends open would hold that pipe's write end, and the
    // other thread would wait for this child as well as its own.
    static std::mutex forking;
    std::lock_guard<std::mutex> l(forking);
    if (::pipe2(errp, O_CLOEXEC) != 0) return sys_error("pipe");
    pid = ::fork();
    if (pid < 0) {
      int e = errno;
      ::close(errp[0]);
      ::close(errp[1]);
      return sys_error("fork", e);
    }
    if (pid == 0) {
      ::close(errp[0]);
      std::string err = work();
      if (!err.empty()) (void)write_all(errp[1], err);
      ::_exit(err.empty() ? 0 : 1);
    }
    ::close(errp[1]);
  }
  if (after_fork) after_fork();
  std::string msg;
  char buf[4096];
  for (ssize_t n; (n = ::read(errp[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    msg.append(buf, static_cast<size_t>(n));
  }
  ::close(errp[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (msg.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) msg = "helper process failed";
  return msg;
}

}  // namespace berth::util
