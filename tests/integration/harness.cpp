#include "harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace berth::it {

const char* const kBerth = BERTH_BIN;
const char* const kBusyboxTar = BUSYBOX_TAR;
const char* const kTestPlugins = TEST_PLUGIN_DIR;
const char* const kLedger = LEDGER_FILE;

Output exec(const std::vector<std::string>& argv, const std::string& input, int timeout_s,
            const std::vector<std::string>& extra_env) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) abort();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    for (const auto& e : extra_env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (!input.empty()) (void)!write(in[1], input.data(), input.size());
  close(in[1]);
  Output o;
  struct pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int open = 2;
  char buf[65536];
  while (open > 0) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) {
      kill(pid, SIGKILL);
      o.err += "\n[harness: killed after timeout]";
      break;
    }
    int r = poll(p, 2, left);
    if (r < 0 && errno == EINTR) continue;
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(p[i].fd);
        p[i].fd = -1;
        --open;
      } else {
        (i == 0 ? o.out : o.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& pf : p) {
    if (pf.fd >= 0) close(pf.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return o;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

std::vector<std::string> split_fields(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string f;
  while (in >> f) out.push_back(f);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::trunc);
  f << content;
}

std::string random_suffix() {
  std::random_device rd;
  std::mt19937_64 g(rd());
  const char* hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 10; ++i) s += hex[g() % 16];
  return s;
}

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> cgroup_dirs_of(const std::string& id) {
  // Look in every mounted hierarchy for a directory named after the container.
  std::vector<std::string> found;
  Output o = exec({"find", "/sys/fs/cgroup", "-maxdepth", "6", "-type", "d", "-name", id});
  for (const auto& l : lines(o.out)) found.push_back(l);
  return found;
}

std::vector<int> berth_processes() {
  std::vector<int> pids;
  char self_bin[4096] = {};
  std::string bin = realpath(kBerth, self_bin) ? self_bin : kBerth;
  DIR* d = opendir("/proc");
  while (auto* e = readdir(d)) {
    int pid = atoi(e->d_name);
    if (pid <= 0) continue;
    char exe[4096] = {};
    ssize_t n = readlink(("/proc/" + std::string(e->d_name) + "/exe").c_str(), exe, sizeof exe - 1);
    if (n > 0 && bin == std::string(exe, static_cast<size_t>(n))) pids.push_back(pid);
  }
  closedir(d);
  return pids;
}

std::vector<std::string> mounts_containing(const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& l : lines(read_file("/proc/self/mountinfo"))) {
    if (l.find(needle) != std::string::npos) out.push_back(l);
  }
  return out;
}

void BerthTest::SetUp() {
  root_ = "/tmp/berth-it-" + random_suffix();
  state_ = root_ + "/state";
  run_ = root_ + "/run";
  config_ = root_ + "/berth.toml";
  ASSERT_EQ(mkdir(root_.c_str(), 0700), 0) << strerror(errno);
  configure("");
}

void BerthTest::configure(const std::string& extra) {
  write_file(config_, "[engine]\nstate_root = \"" + state_ + "\"\nrun_root = \"" + run_ +
                          "\"\nlog_level = \"warn\"\n" +
                          // Tests never reach Docker Hub: a test that names a missing image by
                          // mistake fails at once instead of resolving an outside name.
                          "[registries.\"docker.io\"]\nblocked = true\n" + extra);
}

Output BerthTest::berth(const std::vector<std::string>& args, const std::string& input) {
  std::vector<std::string> argv = {kBerth, "--config", config_};
  argv.insert(argv.end(), args.begin(), args.end());
  Output o = exec(argv, input);
  // Record every id that appears, so the final leak check can look for its cgroups.
  for (const auto& l : lines(o.out)) {
    if (l.size() == 64 && l.find_first_not_of("0123456789abcdef") == std::string::npos) {
      std::ofstream(kLedger, std::ios::app) << l << "\n";
    }
  }
  return o;
}

std::string BerthTest::ok(const std::vector<std::string>& args) {
  Output o = berth(args);
  std::string cmd;
  for (const auto& a : args) cmd += a + " ";
  EXPECT_EQ(o.code, 0) << "berth " << cmd << "\nstdout: " << o.out << "\nstderr: " << o.err;
  return trim(o.out);
}

std::string BerthTest::unique(const std::string& prefix) { return prefix + "-" + random_suffix(); }

void BerthTest::import_busybox(const std::string& ref) {
  ok({"import", "--change", "CMD [\"sh\"]", kBusyboxTar, ref});
}

std::vector<std::string> BerthTest::all_container_ids() {
  Output o = berth({"ps", "-a", "-q", "--no-trunc"});
  return lines(o.out);
}

std::string BerthTest::snapshot_count() {
  Output o = exec({"sh", "-c", "ls " + state_ + "/plugins/storage.overlay/snapshots 2>/dev/null | wc -l"});
  return trim(o.out);
}

void BerthTest::TearDown() {
  std::vector<std::string> ids;
  if (exists(state_ + "/berth.db")) {
    ids = all_container_ids();
    for (const auto& id : ids) {
      std::ofstream(kLedger, std::ios::app) << id << "\n";
      Output o = berth({"rm", "-f", id});
      EXPECT_EQ(o.code, 0) << "cleanup rm -f " << id << ": " << o.err;
    }
    EXPECT_TRUE(all_container_ids().empty()) << "containers left after rm -f";
    // Every container directory goes with its container.
    Output dirs = exec({"sh", "-c", "ls -A " + state_ + "/containers 2>/dev/null"});
    EXPECT_EQ(trim(dirs.out), "") << "container directories left";
    // Active snapshots go with their containers; only committed image layers remain.
    Output images = berth({"images", "-q"});
    for (const auto& line : lines(images.out)) (void)berth({"rmi", "-f", line});
    EXPECT_EQ(snapshot_count(), "0") << "snapshots left after removing every container and image";
  }
  for (const auto& id : ids) EXPECT_TRUE(cgroup_dirs_of(id).empty()) << "cgroups left for " << id;
  EXPECT_TRUE(mounts_containing(root_).empty()) << "mounts left under " << root_;
  // No monitor of this test's containers outlives them. (A monitor of an --rm container
  // deletes its trash after the CLI has returned: give it a moment.)
  auto mine = [&] {
    std::vector<int> out;
    for (int pid : berth_processes()) {
      if (read_file("/proc/" + std::to_string(pid) + "/cmdline").find(config_) != std::string::npos) out.push_back(pid);
    }
    return out;
  };
  for (int i = 0; i < 250 && !mine().empty(); ++i) usleep(20000);
  for (int pid : mine()) ADD_FAILURE() << "berth process " << pid << " left running";
  // Everything removed was deleted, not only moved to a trash directory.
  for (const auto& trash : {state_ + "/trash", state_ + "/plugins/storage.overlay/trash"}) {
    Output left = exec({"sh", "-c", "ls -A " + trash + " 2>/dev/null"});
    EXPECT_EQ(trim(left.out), "") << "left in " << trash;
  }
  exec({"rm", "-rf", "--one-file-system", root_});
}

}  // namespace berth::it
