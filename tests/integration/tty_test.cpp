// Interactive use through a real pseudo-terminal: the test drives berth as a user at a
// terminal would (forkpty), typing keys and reading the screen.

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace berth::it {
namespace {

using nlohmann::json;

// berth running on the slave side of a pty whose master the test holds.
class PtySession {
 public:
  PtySession(const std::vector<std::string>& argv, unsigned short rows = 24, unsigned short cols = 80) {
    struct winsize ws {rows, cols, 0, 0};
    pid_ = forkpty(&master_, nullptr, nullptr, &ws);
    if (pid_ == 0) {
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~PtySession() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) close(master_);
  }
  void send(const std::string& keys) { (void)!write(master_, keys.data(), keys.size()); }
  // Reads until `needle` is in what the terminal has shown since the last expect. A shell
  // prompt is awaited with the cursor query busybox sends after it ("# \x1b[6n"): keys
  // typed before that query is answered would be taken as the answer and lost.
  bool expect(const std::string& needle, int timeout_ms = 10000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      auto at = screen_.find(needle, from_);
      if (at != std::string::npos) {
        from_ = at + needle.size();
        return true;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      struct pollfd p {master_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = read(master_, buf, sizeof buf);
      if (n <= 0) return screen_.find(needle, from_) != std::string::npos;
      take(buf, n);
    }
  }
  // Appends output, answering the cursor-position queries (ESC [6n) busybox's line editor
  // sends, as a real terminal would: unanswered, the shell swallows the next keys.
  void take(const char* buf, ssize_t n) {
    size_t before = screen_.size();
    screen_.append(buf, static_cast<size_t>(n));
    size_t at = screen_.find("\x1b[6n", before >= 3 ? before - 3 : 0);
    while (at != std::string::npos) {
      (void)!write(master_, "\x1b[1;1R", 6);
      at = screen_.find("\x1b[6n", at + 4);
    }
  }
  void resize(unsigned short rows, unsigned short cols) {
    struct winsize ws {rows, cols, 0, 0};
    ioctl(master_, TIOCSWINSZ, &ws);  // the kernel sends SIGWINCH to the foreground group
  }
  // The exit code, or -1 if berth has not exited within the time.
  int wait(int timeout_ms = 10000) {
    for (int i = 0; i < timeout_ms / 10; ++i) {
      int status = 0;
      // Keep reading so that berth never blocks on a full terminal.
      char buf[4096];
      struct pollfd p {master_, POLLIN, 0};
      if (poll(&p, 1, 0) > 0) {
        ssize_t n = read(master_, buf, sizeof buf);
        if (n > 0) take(buf, n);
      }
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      usleep(10000);
    }
    return -1;
  }
  const std::string& screen() const { return screen_; }

 private:
  int master_ = -1;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string screen_;
  size_t from_ = 0;
};

class Tty : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
  std::vector<std::string> cmd(std::vector<std::string> rest) {
    std::vector<std::string> argv = {kBerth, "--config", config_};
    argv.insert(argv.end(), rest.begin(), rest.end());
    return argv;
  }
  std::string status_of(const std::string& ref) {
    Output o = berth({"inspect", "-f", "{{.State.Status}}", ref});
    return trim(o.out);
  }
};

TEST_F(Tty, RunItGivesAShellWhosePromptShowsTheShortIdAndExitEndsIt) {
  std::string name = unique("shell");
  PtySession s(cmd({"run", "-it", "--name", name, "-e", "PS1=\\h:\\w# ", "busybox", "sh"}));
  ASSERT_TRUE(s.expect(":/# ")) << s.screen();
  std::string short_id = trim(berth({"inspect", "-f", "{{.Id}}", name}).out).substr(0, 12);
  EXPECT_NE(s.screen().find(short_id + ":/# "), std::string::npos) << s.screen();
  s.send("echo sum=$((40+2)); tty\r");
  EXPECT_TRUE(s.expect("sum=42")) << s.screen();
  EXPECT_TRUE(s.expect("/dev/pts/0")) << s.screen();
  s.send("exit 3\r");
  EXPECT_EQ(s.wait(), 3) << s.screen();
  EXPECT_EQ(status_of(name), "exited");
}

TEST_F(Tty, WindowSizeFollowsTheTerminalAndCtrlCReachesTheProgram) {
  PtySession s(cmd({"run", "-it", "--rm", "busybox", "sh"}), 30, 100);
  ASSERT_TRUE(s.expect("# \x1b[6n")) << s.screen();
  s.send("stty size\r");
  EXPECT_TRUE(s.expect("30 100")) << s.screen();
  s.resize(40, 120);
  usleep(200000);
  s.send("stty size\r");
  EXPECT_TRUE(s.expect("40 120")) << s.screen();
  // ^C goes to the terminal inside, which interrupts the foreground program there.
  s.send("sleep 30\r");
  usleep(300000);
  s.send("\x03");
  s.send("echo status=$?\r");
  EXPECT_TRUE(s.expect("status=130")) << s.screen();
  s.send("exit\r");
  EXPECT_EQ(s.wait(), 0) << s.screen();
  EXPECT_TRUE(all_container_ids().empty());
}

TEST_F(Tty, DetachKeysLeaveItRunningAndAttachComesBack) {
  std::string name = unique("bg");
  {
    PtySession s(cmd({"run", "-it", "--name", name, "busybox", "sh"}));
    ASSERT_TRUE(s.expect("# \x1b[6n")) << s.screen();
    s.send("echo before > /mark\r");
    ASSERT_TRUE(s.expect("# \x1b[6n"));
    s.send("\x10\x11");  // ^P ^Q
    EXPECT_EQ(s.wait(), 0) << s.screen();
  }
  EXPECT_EQ(status_of(name), "running");
  {
    PtySession a(cmd({"attach", "--detach-keys", "ctrl-a,x", name}));
    usleep(300000);
    a.send("cat /mark\r");
    EXPECT_TRUE(a.expect("before")) << a.screen();
    a.send("\x01x");  // the custom keys
    EXPECT_EQ(a.wait(), 0) << a.screen();
  }
  EXPECT_EQ(status_of(name), "running");
  PtySession b(cmd({"container", "attach", name}));
  usleep(300000);
  b.send("exit 5\r");
  EXPECT_EQ(b.wait(), 5) << "attach ends with the program's exit code\n" << b.screen();
  EXPECT_EQ(status_of(name), "exited");
  Output stopped = berth({"attach", name});
  EXPECT_EQ(stopped.code, 1);
  EXPECT_NE(stopped.err.find("You cannot attach to a stopped container, start it first"), std::string::npos)
      << stopped.err;
}

TEST_F(Tty, StartAttachInteractive) {
  std::string id = ok({"create", "-it", "busybox", "sh"});
  PtySession s(cmd({"start", "-a", "-i", id}));
  ASSERT_TRUE(s.expect("# \x1b[6n")) << s.screen();
  s.send("echo started-$((6*7))\r");
  EXPECT_TRUE(s.expect("started-42")) << s.screen();
  s.send("exit\r");
  EXPECT_EQ(s.wait(), 0) << s.screen();
  EXPECT_EQ(status_of(id), "exited");
}

TEST_F(Tty, StdinWithoutATerminalIsPipedAndClosedAtItsEnd) {
  Output o = berth({"run", "--rm", "-i", "busybox", "sh", "-c", "wc -l; echo closed"}, "one\ntwo\nthree\n");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "3\nclosed\n");
  // Without -i the program reads nothing.
  EXPECT_EQ(berth({"run", "--rm", "busybox", "cat"}, "ignored\n").out, "");
  // A stopped container's stdout and stderr still come back separately.
  Output both = berth({"run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo err >&2"}, "in\n");
  EXPECT_EQ(both.out, "in\n");
  EXPECT_EQ(both.err, "err\n");
}

TEST_F(Tty, ExecItGivesATerminalInARunningContainer) {
  std::string id = ok({"run", "-d", "busybox", "sleep", "60"});
  PtySession s(cmd({"exec", "-it", id, "sh"}), 20, 70);
  ASSERT_TRUE(s.expect("# \x1b[6n")) << s.screen();
  s.send("tty; stty size\r");
  EXPECT_TRUE(s.expect("/dev/pts/")) << s.screen();
  EXPECT_TRUE(s.expect("20 70")) << s.screen();
  s.send("exit 4\r");
  EXPECT_EQ(s.wait(), 4) << s.screen();
  EXPECT_EQ(status_of(id), "running") << "exit of an exec'd shell does not stop the container";
}

}  // namespace
}  // namespace berth::it
