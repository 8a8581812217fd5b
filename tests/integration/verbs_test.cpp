// The container verbs beyond run/stop/rm: kill, pause/unpause, rename, restart, wait and
// container prune, each with real containers.

#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "harness.hpp"

namespace berth::it {
namespace {

using nlohmann::json;

class Verbs : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
  json inspect(const std::string& ref) {
    Output o = berth({"inspect", "--type", "container", ref});
    EXPECT_EQ(o.code, 0) << o.err;
    json j = json::parse(o.out, nullptr, false);
    return j.is_array() && !j.empty() ? j[0] : json::object();
  }
  // A container whose PID 1 exits with `code` on SIGUSR1 (PID 1 ignores signals it has no
  // handler for, so the trap is what makes the signal visible).
  std::string trapper(int code) {
    return ok({"run", "-d", "--name", unique("trap"), "busybox", "sh", "-c",
               "trap 'exit " + std::to_string(code) + "' USR1; while true; do sleep 0.05; done"});
  }
};

TEST_F(Verbs, KillSendsTheSignalGivenByNameOrNumber) {
  std::string a = trapper(7);
  std::string b = trapper(9);
  usleep(200000);  // (the shell installs its trap)
  EXPECT_EQ(ok({"kill", "-s", "USR1", a}), a);
  EXPECT_EQ(ok({"kill", "--signal", std::to_string(SIGUSR1), b}), b);
  EXPECT_EQ(ok({"wait", a, b}), "7\n9");
  // Default SIGKILL; a stopped container refuses, a bad signal is named.
  std::string c = ok({"run", "-d", "busybox", "sleep", "60"});
  EXPECT_EQ(ok({"kill", c}), c);
  EXPECT_EQ(ok({"wait", c}), "137");
  Output again = berth({"kill", c});
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("is not running"), std::string::npos) << again.err;
  Output bad = berth({"kill", "-s", "SIGNOPE", c});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("SIGNOPE"), std::string::npos) << bad.err;
}

TEST_F(Verbs, PauseFreezesEveryProcessUntilUnpause) {
  std::string out = root_ + "/counter";
  std::string id = ok({"run", "-d", "-v", out + ":/out", "busybox", "sh", "-c",
                       "i=0; while true; do i=$((i+1)); echo $i > /out/n; sleep 0.02; done"});
  for (int i = 0; i < 100 && read_file(out + "/n").empty(); ++i) usleep(20000);
  EXPECT_EQ(ok({"pause", id}), id);
  json j = inspect(id);
  EXPECT_EQ(j["State"]["Status"], "paused");
  EXPECT_EQ(j["State"]["Paused"], true);
  EXPECT_EQ(j["State"]["Running"], true);
  EXPECT_NE(ok({"ps"}).find("(Paused)"), std::string::npos);
  std::string frozen = read_file(out + "/n");
  usleep(300000);
  EXPECT_EQ(read_file(out + "/n"), frozen) << "a paused container kept running";
  Output twice = berth({"pause", id});
  EXPECT_EQ(twice.code, 1);
  EXPECT_NE(twice.err.find("is already paused"), std::string::npos) << twice.err;

  EXPECT_EQ(ok({"unpause", id}), id);
  EXPECT_EQ(inspect(id)["State"]["Status"], "running");
  for (int i = 0; i < 100 && read_file(out + "/n") == frozen; ++i) usleep(20000);
  EXPECT_NE(read_file(out + "/n"), frozen) << "unpause did not thaw the container";
  Output not_paused = berth({"unpause", id});
  EXPECT_EQ(not_paused.code, 1);
  EXPECT_NE(not_paused.err.find("is not paused"), std::string::npos) << not_paused.err;

  // A paused container can still be stopped (it is thawed to take the signal).
  ok({"pause", id});
  ok({"stop", "-t", "1", id});
  EXPECT_EQ(inspect(id)["State"]["Status"], "exited");
  EXPECT_EQ(inspect(id)["State"]["Paused"], false);
  Output stopped = berth({"pause", id});
  EXPECT_EQ(stopped.code, 1);
  EXPECT_NE(stopped.err.find("is not running"), std::string::npos) << stopped.err;
}

TEST_F(Verbs, RenameKeepsTheContainerAndRefusesTakenOrBadNames) {
  std::string first = unique("first");
  std::string second = unique("second");
  std::string renamed = unique("renamed");
  std::string id = ok({"create", "--name", first, "busybox", "true"});
  ok({"create", "--name", second, "busybox", "true"});
  Output r = berth({"rename", first, renamed});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(inspect(renamed)["Id"], id);
  EXPECT_EQ(inspect(renamed)["Name"], "/" + renamed);
  EXPECT_EQ(berth({"inspect", "--type", "container", first}).code, 1);
  Output taken = berth({"rename", renamed, second});
  EXPECT_EQ(taken.code, 1);
  EXPECT_NE(taken.err.find("is already in use"), std::string::npos) << taken.err;
  Output bad = berth({"rename", renamed, "bad name!"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("Invalid container name"), std::string::npos) << bad.err;
  EXPECT_EQ(berth({"container", "rename", renamed, first}).code, 0);
  EXPECT_EQ(berth({"rename", "only-one"}).code, 1) << "rename needs two arguments";
}

TEST_F(Verbs, RestartStopsAndStartsAgain) {
  std::string id = ok({"run", "-d", "busybox", "sleep", "60"});
  json before = inspect(id);
  EXPECT_EQ(ok({"restart", "-t", "0", id}), id);
  json after = inspect(id);
  EXPECT_EQ(after["State"]["Status"], "running");
  EXPECT_NE(after["State"]["Pid"], before["State"]["Pid"]);
  EXPECT_NE(after["State"]["StartedAt"], before["State"]["StartedAt"]);
  // A stopped container is started.
  ok({"kill", id});
  ok({"wait", id});
  EXPECT_EQ(ok({"container", "restart", id}), id);
  EXPECT_EQ(inspect(id)["State"]["Status"], "running");
}

TEST_F(Verbs, WaitBlocksUntilTheExitAndPrintsEachCode) {
  std::string a = ok({"run", "-d", "busybox", "sh", "-c", "sleep 0.3; exit 3"});
  std::string b = ok({"run", "-d", "busybox", "sh", "-c", "exit 5"});
  EXPECT_EQ(ok({"wait", a, b}), "3\n5");
  EXPECT_EQ(inspect(a)["State"]["Status"], "exited");
  // A container that never ran answers at once (Docker's "not-running" condition).
  std::string c = ok({"create", "busybox", "true"});
  EXPECT_EQ(ok({"container", "wait", c}), "0");
  Output missing = berth({"wait", "no-such-" + random_suffix()});
  EXPECT_EQ(missing.code, 1);
}

TEST_F(Verbs, ContainerPruneRemovesOnlyStoppedContainers) {
  std::string running = ok({"run", "-d", "busybox", "sleep", "60"});
  std::string exited = ok({"run", "-d", "busybox", "true"});
  std::string created = ok({"create", "busybox", "true"});
  ok({"wait", exited});
  // Nothing was created more than an hour ago.
  Output none = berth({"container", "prune", "-f", "--filter", "until=1h"});
  EXPECT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(none.out, "Total reclaimed space: 0B\n");
  // Without -f it asks, and a "no" changes nothing.
  Output asked = berth({"container", "prune"}, "n\n");
  EXPECT_NE(asked.out.find("Are you sure you want to continue? [y/N]"), std::string::npos) << asked.out;
  EXPECT_EQ(all_container_ids().size(), 3u);
  Output pruned = berth({"container", "prune", "--force"});
  EXPECT_EQ(pruned.code, 0) << pruned.err;
  EXPECT_EQ(pruned.out.rfind("Deleted Containers:\n", 0), 0u) << pruned.out;
  EXPECT_NE(pruned.out.find(exited), std::string::npos);
  EXPECT_NE(pruned.out.find(created), std::string::npos);
  EXPECT_EQ(pruned.out.find(running), std::string::npos);
  EXPECT_NE(pruned.out.find("Total reclaimed space: "), std::string::npos);
  auto left = all_container_ids();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0], running);
  EXPECT_EQ(berth({"container", "prune", "-f", "--filter", "until=yesterday-ish"}).code, 1);
}

TEST_F(Verbs, EveryManagementFormAndItsHelp) {
  for (const std::string group : {"container", "image", "system"}) {
    Output o = berth({group, "--help"});
    EXPECT_EQ(o.code, 0) << group;
    EXPECT_NE(o.out.find("Usage:  berth " + group + " COMMAND"), std::string::npos) << o.out;
  }
  for (const std::string cmd : {"create", "start", "stop", "restart", "kill", "pause", "unpause", "rename", "wait",
                                "rm", "prune", "ls", "ps", "list", "logs", "inspect"}) {
    Output o = berth({"container", cmd, "--help"});
    EXPECT_EQ(o.code, 0) << "container " << cmd << ": " << o.err;
    EXPECT_NE(o.out.find("Usage:"), std::string::npos) << "container " << cmd;
  }
  for (const std::string cmd : {"ls", "list", "import", "tag", "rm", "remove", "inspect"}) {
    EXPECT_EQ(berth({"image", cmd, "--help"}).code, 0) << "image " << cmd;
  }
  EXPECT_EQ(berth({"container", "frobnicate"}).code, 1);
  // The management form does what the short one does.
  std::string id = ok({"container", "create", "busybox", "true"});
  EXPECT_EQ(ok({"container", "ls", "-a", "-q", "--no-trunc"}), id);
  EXPECT_EQ(ok({"container", "rm", id}), id);
}

TEST_F(Verbs, RestartPoliciesAreAppliedByTheMonitor) {
  // on-failure:2: the first run and two restarts; the foreground CLI ends with the first.
  std::string flaky = unique("flaky");
  Output fg = berth({"run", "--name", flaky, "--restart", "on-failure:2", "busybox", "sh", "-c", "echo ran; exit 3"});
  EXPECT_EQ(fg.code, 3);
  for (int i = 0; i < 200 && inspect(flaky)["State"]["Status"] != "exited"; ++i) usleep(20000);
  json j = inspect(flaky);
  EXPECT_EQ(j["State"]["Status"], "exited");
  EXPECT_EQ(j["RestartCount"], 2);
  EXPECT_EQ(j["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
  EXPECT_EQ(j["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
  EXPECT_EQ(ok({"logs", flaky}), "ran\nran\nran");
  // on-failure does not restart a success.
  std::string fine = ok({"run", "-d", "--restart", "on-failure", "busybox", "true"});
  EXPECT_EQ(ok({"wait", fine}), "0");
  EXPECT_EQ(inspect(fine)["RestartCount"], 0);

  // always: restarted until stopped by hand, and stop wins even during the back-off.
  std::string always = ok({"run", "-d", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 1"});
  for (int i = 0; i < 200 && inspect(always)["RestartCount"].get<int>() < 2; ++i) usleep(20000);
  EXPECT_GE(inspect(always)["RestartCount"].get<int>(), 2);
  EXPECT_NE(ok({"ps", "-a", "--format", "{{.Status}}", "--filter", "id=" + always}), "");
  ok({"stop", "-t", "1", always});
  EXPECT_EQ(inspect(always)["State"]["Status"], "exited");
  usleep(600000);
  EXPECT_EQ(inspect(always)["State"]["Status"], "exited") << "a container stopped by hand was restarted";

  // Refused: a policy that does not exist, and --restart with --rm.
  Output bogus = berth({"run", "--restart", "sometimes", "busybox", "true"});
  EXPECT_EQ(bogus.code, 125);
  EXPECT_NE(bogus.err.find("invalid restart policy"), std::string::npos) << bogus.err;
  Output conflict = berth({"run", "--rm", "--restart", "always", "busybox", "true"});
  EXPECT_EQ(conflict.code, 125);
  EXPECT_NE(conflict.err.find("Conflicting options: --restart and --rm"), std::string::npos) << conflict.err;
  EXPECT_EQ(berth({"run", "--restart", "always:3", "busybox", "true"}).code, 125);
}

TEST_F(Verbs, SystemBootStartsWhatThePoliciesAsk) {
  std::string always = ok({"run", "-d", "--restart", "always", "busybox", "sleep", "60"});
  std::string stopped = ok({"run", "-d", "--restart", "unless-stopped", "busybox", "sleep", "60"});
  std::string plain = ok({"run", "-d", "busybox", "sleep", "60"});
  ok({"stop", "-t", "0", stopped});
  // A host that goes down takes every process with it: kill the monitors, then the
  // containers (the other order lets a monitor restart its container first).
  std::vector<int> ctrs;
  for (const auto& id : {always, plain}) {
    int ctr = inspect(id)["State"]["Pid"];
    ASSERT_GT(ctr, 0);
    ctrs.push_back(ctr);
  }
  auto mine = [&] {
    std::vector<int> out;
    for (int pid : berth_processes()) {
      if (read_file("/proc/" + std::to_string(pid) + "/cmdline").find(config_) != std::string::npos) out.push_back(pid);
    }
    return out;
  };
  for (int pid : mine()) kill(pid, SIGKILL);
  for (int i = 0; i < 100 && !mine().empty(); ++i) usleep(20000);
  for (int ctr : ctrs) kill(ctr, SIGKILL);
  Output boot = berth({"system", "boot"});
  EXPECT_EQ(boot.code, 0) << boot.err;
  EXPECT_EQ(trim(boot.out), always);
  EXPECT_EQ(inspect(always)["State"]["Status"], "running");
  EXPECT_EQ(inspect(stopped)["State"]["Status"], "exited");
  EXPECT_EQ(inspect(plain)["State"]["Status"], "exited");
  EXPECT_EQ(inspect(plain)["State"]["ExitCode"], 255);
}

}  // namespace
}  // namespace berth::it
