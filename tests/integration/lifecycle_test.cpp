// The container lifecycle through the CLI: run, create, start, stop, rm, ps, logs, inspect.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "harness.hpp"


namespace berth::it {
namespace {

using nlohmann::json;

class Lifecycle : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
  json inspect(const std::string& ref) {
    Output o = berth({"inspect", ref});
    EXPECT_EQ(o.code, 0) << o.err;
    json j = json::parse(o.out, nullptr, false);
    return j.is_array() && !j.empty() ? j[0] : json::object();
  }
};

TEST_F(Lifecycle, RunPrintsOutputAndReturnsTheProgramsExitCode) {
  Output o = berth({"run", "--rm", "busybox", "echo", "hello from berth"});
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "hello from berth\n");
  EXPECT_EQ(berth({"run", "--rm", "busybox", "sh", "-c", "echo to-err >&2; exit 7"}).code, 7);
  Output err = berth({"run", "--rm", "busybox", "sh", "-c", "echo to-err >&2"});
  EXPECT_EQ(err.out, "");
  EXPECT_EQ(err.err, "to-err\n");
  EXPECT_TRUE(all_container_ids().empty()) << "--rm left a container";
}

TEST_F(Lifecycle, AProgramKilledBySignalExitsWith128PlusTheSignal) {
  // PID 1 cannot be killed from inside its namespace; the host can.
  std::string name = unique("victim");
  ok({"run", "-d", "--name", name, "busybox", "sleep", "60"});
  int pid = inspect(name)["State"]["Pid"];
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  for (int i = 0; i < 100 && inspect(name)["State"]["Status"] == "running"; ++i) usleep(20000);
  EXPECT_EQ(inspect(name)["State"]["ExitCode"], 137);
  // And the foreground CLI reports it as its own exit code.
  std::string fg = unique("foreground");
  Output o;
  std::thread cli([&] { o = berth({"run", "--rm", "--name", fg, "busybox", "sleep", "60"}); });
  int fg_pid = 0;
  for (int i = 0; i < 200 && fg_pid == 0; ++i) {
    usleep(20000);
    Output j = berth({"inspect", "--type", "container", fg});
    if (j.code == 0) fg_pid = json::parse(j.out)[0]["State"]["Pid"];
  }
  if (fg_pid > 0) kill(fg_pid, SIGKILL);
  cli.join();
  ASSERT_GT(fg_pid, 0);
  EXPECT_EQ(o.code, 137) << o.err;
}

TEST_F(Lifecycle, ExitCodesOfFailedRunsAndNothingLeftBehind) {
  std::string snaps = snapshot_count();
  Output missing = berth({"run", "--rm", "busybox", "no-such-program"});
  EXPECT_EQ(missing.code, 127);
  EXPECT_NE(missing.err.find("exec: \"no-such-program\": executable file not found in $PATH"), std::string::npos)
      << missing.err;
  Output notexec = berth({"run", "busybox", "/etc/passwd"});
  EXPECT_EQ(notexec.code, 126);
  EXPECT_NE(notexec.err.find("permission denied"), std::string::npos) << notexec.err;
  // (On a registry that is not there: nothing outside the host is asked.)
  Output noimage = berth({"run", "127.0.0.1:9/no-such-image-" + random_suffix()});
  EXPECT_EQ(noimage.code, 125);
  EXPECT_NE(noimage.err.find("Unable to find image"), std::string::npos) << noimage.err;
  Output badflag = berth({"run", "--no-such-flag", "busybox", "true"});
  EXPECT_EQ(badflag.code, 125);
  EXPECT_NE(badflag.err.find("unknown flag: --no-such-flag"), std::string::npos) << badflag.err;
  Output badvol = berth({"run", "-v", "bad/name:/x", "busybox", "true"});
  EXPECT_EQ(badvol.code, 125);
  EXPECT_NE(badvol.err.find("\"bad/name\" includes invalid characters"), std::string::npos) << badvol.err;
  Output badnet = berth({"run", "--network", "nonet-" + random_suffix(), "busybox", "true"});
  EXPECT_EQ(badnet.code, 125);
  EXPECT_NE(badnet.err.find("not found"), std::string::npos) << badnet.err;

  EXPECT_TRUE(all_container_ids().empty());
  EXPECT_EQ(trim(exec({"sh", "-c", "ls -A " + state_ + "/containers | wc -l"}).out), "0");
  EXPECT_EQ(snapshot_count(), snaps);
  // Each failed run has reaped what it forked (the monitor's standby, a monitor that
  // reported the failure) before it returned: no berth process of this test is left.
  for (int pid : berth_processes()) {
    EXPECT_EQ(read_file("/proc/" + std::to_string(pid) + "/cmdline").find(config_), std::string::npos)
        << "berth process " << pid << " outlived a failed run";
  }
}

TEST_F(Lifecycle, RunsWithTheCallersStdioClosed) {
  // The monitor points its 0-2 at /dev/null: descriptors it is handed must not be there.
  const std::string b = std::string(kBerth) + " --config " + config_;
  Output fg = exec({"sh", "-c", b + " run --rm busybox sh -c 'echo out; exit 4' <&- 2>&-"});
  EXPECT_EQ(fg.code, 4) << fg.err;
  EXPECT_EQ(trim(fg.out), "out");
  std::string name = unique("closed");
  Output bg = exec({"sh", "-c", b + " run -d --name " + name + " busybox sh -c 'exit 5' <&- 2>&-"});
  ASSERT_EQ(bg.code, 0) << bg.err;
  EXPECT_EQ(ok({"wait", name}), "5");
}

TEST_F(Lifecycle, StartOfSeveralContainersGivesEachItsMonitor) {
  // The first gets the monitor forked before the state opened (monitor/standby.hpp), the
  // others one forked with the state open: both paths end in a running container whose
  // exit is recorded by its own monitor.
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) {
    names.push_back(unique("several"));
    ok({"create", "--name", names.back(), "busybox", "sh", "-c", "sleep 0.3; exit " + std::to_string(10 + i)});
  }
  EXPECT_EQ(ok({"start", names[0], names[1], names[2]}), names[0] + "\n" + names[1] + "\n" + names[2]);
  std::set<int> pids;
  for (const auto& n : names) {
    json j = inspect(n);
    EXPECT_EQ(j["State"]["Status"], "running") << n;
    pids.insert(j["State"]["Pid"].get<int>());
  }
  EXPECT_EQ(pids.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    std::string code = ok({"wait", names[i]});
    EXPECT_EQ(code, std::to_string(10 + i)) << names[i];
    EXPECT_EQ(inspect(names[i])["State"]["ExitCode"], 10 + i);
  }
}

TEST_F(Lifecycle, DetachedContainerOutlivesTheCliAndRecordsItsExit) {
  std::string name = unique("det");
  Output o = berth({"run", "-d", "--name", name, "busybox", "sh", "-c", "echo started; sleep 0.5; exit 3"});
  ASSERT_EQ(o.code, 0) << o.err;
  std::string id = trim(o.out);
  ASSERT_EQ(id.size(), 64u);
  json running = inspect(name);
  EXPECT_EQ(running["State"]["Status"], "running");
  EXPECT_GT(running["State"]["Pid"].get<int>(), 0);
  // The CLI has exited; the container goes on until its program ends.
  for (int i = 0; i < 100 && inspect(id)["State"]["Status"] == "running"; ++i) usleep(50000);
  json done = inspect(id);
  EXPECT_EQ(done["State"]["Status"], "exited");
  EXPECT_EQ(done["State"]["ExitCode"], 3);
  EXPECT_EQ(ok({"logs", name}), "started");
  std::string ps = ok({"ps", "-a"});
  EXPECT_NE(ps.find("Exited (3)"), std::string::npos) << ps;
}

TEST_F(Lifecycle, StopSendsTermThenKillAfterTheTimeout) {
  // A program that handles SIGTERM exits with its own code.
  std::string polite = unique("polite");
  ok({"run", "-d", "--name", polite, "busybox", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"});
  usleep(200000);
  EXPECT_EQ(ok({"stop", polite}), polite);
  EXPECT_EQ(inspect(polite)["State"]["ExitCode"], 0);
  // PID 1 without a handler ignores SIGTERM: SIGKILL after -t seconds, exit 137.
  std::string stubborn = unique("stubborn");
  ok({"run", "-d", "--name", stubborn, "busybox", "sleep", "60"});
  auto t0 = std::chrono::steady_clock::now();
  ok({"stop", "-t", "1", stubborn});
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(took, 0.9);
  json j = inspect(stubborn);
  EXPECT_EQ(j["State"]["Status"], "exited");
  EXPECT_EQ(j["State"]["ExitCode"], 137);
  // Stopping a stopped container is not an error.
  EXPECT_EQ(berth({"stop", stubborn}).code, 0);
}

TEST_F(Lifecycle, RmRefusesARunningContainerUnlessForced) {
  std::string name = unique("busy");
  std::string id = ok({"run", "-d", "--name", name, "busybox", "sleep", "60"});
  Output refused = berth({"rm", name});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("container is running"), std::string::npos) << refused.err;
  EXPECT_EQ(inspect(name)["State"]["Status"], "running");
  EXPECT_EQ(ok({"rm", "-f", name}), name);
  EXPECT_EQ(berth({"inspect", id}).code, 1);
  EXPECT_TRUE(cgroup_dirs_of(id).empty());
  EXPECT_FALSE(exists(state_ + "/containers/" + id));
  Output gone = berth({"rm", name});
  EXPECT_EQ(gone.code, 1);
  EXPECT_NE(gone.err.find("No such container: " + name), std::string::npos) << gone.err;
}

TEST_F(Lifecycle, NamesIdsAndUniquePrefixes) {
  std::string id = ok({"create", "busybox", "true"});
  ASSERT_EQ(id.size(), 64u);
  json j = inspect(id);
  std::string name = j["Name"].get<std::string>().substr(1);
  EXPECT_TRUE(std::regex_match(name, std::regex("[a-z]+_[a-z]+"))) << name;
  EXPECT_EQ(inspect(id.substr(0, 12))["Id"], id);
  EXPECT_EQ(inspect(id.substr(0, 5))["Id"], id);
  EXPECT_EQ(inspect(name)["Id"], id);
  EXPECT_EQ(inspect("/" + name)["Id"], id);

  std::string fixed = unique("named");
  ok({"create", "--name", fixed, "busybox", "true"});
  Output dup = berth({"create", "--name", fixed, "busybox", "true"});
  EXPECT_EQ(dup.code, 125);
  EXPECT_NE(dup.err.find("is already in use"), std::string::npos) << dup.err;
  Output bad = berth({"create", "--name", "-bad name", "busybox", "true"});
  EXPECT_EQ(bad.code, 125);
  EXPECT_NE(bad.err.find("Invalid container name"), std::string::npos) << bad.err;

  // Seventeen ids must share a first hex digit: that prefix is ambiguous.
  std::map<char, int> firsts;
  for (const auto& cid : all_container_ids()) firsts[cid[0]]++;
  while (std::none_of(firsts.begin(), firsts.end(), [](auto& p) { return p.second > 1; })) {
    firsts[ok({"create", "busybox", "true"})[0]]++;
  }
  char shared = std::find_if(firsts.begin(), firsts.end(), [](auto& p) { return p.second > 1; })->first;
  Output amb = berth({"rm", std::string(1, shared)});
  EXPECT_EQ(amb.code, 1);
  EXPECT_NE(amb.err.find("multiple IDs found with provided prefix"), std::string::npos) << amb.err;
}

TEST_F(Lifecycle, EnvironmentAndCommandOverrideTheImage) {
  ok({"import", "--change", "ENV GREETING=hello", "--change", "CMD [\"sh\", \"-c\", \"echo $GREETING\"]",
      kBusyboxTar, "envimg:1"});
  EXPECT_EQ(ok({"run", "--rm", "envimg:1"}), "hello");
  EXPECT_EQ(ok({"run", "--rm", "-e", "GREETING=bonjour", "envimg:1"}), "bonjour");
  EXPECT_EQ(ok({"run", "--rm", "-e", "EXTRA=1", "envimg:1", "sh", "-c", "echo $GREETING-$EXTRA"}), "hello-1");
  // -e NAME passes the caller's value, and nothing when the caller has none.
  Output passthrough = exec({kBerth, "--config", config_, "run", "--rm", "-e", "BERTH_IT_VAR", "-e",
                             "BERTH_IT_UNSET", "busybox", "sh", "-c", "echo $BERTH_IT_VAR; env | grep -c BERTH_IT_UNSET"},
                            "", 60, {"BERTH_IT_VAR=from-caller"});
  EXPECT_EQ(passthrough.out, "from-caller\n0\n") << passthrough.err;
  std::string env = ok({"run", "--rm", "busybox", "env"});
  EXPECT_NE(env.find("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), std::string::npos) << env;
  EXPECT_NE(env.find("HOME=/root"), std::string::npos) << env;
  // HOME follows the user's passwd entry ("/" for a uid it does not list), unless set.
  EXPECT_EQ(ok({"run", "--rm", "-u", "nobody", "busybox", "sh", "-c", "echo $HOME"}), "/home");
  EXPECT_EQ(ok({"run", "--rm", "-u", "4321", "busybox", "sh", "-c", "echo $HOME"}), "/");
  EXPECT_EQ(ok({"run", "--rm", "-u", "nobody", "-e", "HOME=/set", "busybox", "sh", "-c", "echo $HOME"}), "/set");
}

TEST_F(Lifecycle, CreateThenStartAndStartAttached) {
  std::string name = unique("later");
  std::string id = ok({"create", "--name", name, "busybox", "sh", "-c", "echo run-$RANDOM >/dev/null; echo ran"});
  EXPECT_EQ(inspect(id)["State"]["Status"], "created");
  std::string ps = ok({"ps", "-a"});
  EXPECT_NE(ps.find("Created"), std::string::npos) << ps;
  EXPECT_EQ(ok({"start", "-a", name}), "ran");
  EXPECT_EQ(inspect(id)["State"]["Status"], "exited");
  // A stopped container starts again, keeping its file system.
  ok({"start", "-a", name});
  EXPECT_EQ(ok({"logs", name}), "ran\nran");
  // A container whose program is missing stays, with the error recorded.
  std::string broken = ok({"create", "busybox", "no-such-program"});
  Output st = berth({"start", broken});
  EXPECT_EQ(st.code, 1);
  EXPECT_NE(st.err.find("executable file not found"), std::string::npos) << st.err;
  json j = inspect(broken);
  EXPECT_EQ(j["State"]["Status"], "created");
  EXPECT_EQ(j["State"]["ExitCode"], 127);
}

TEST_F(Lifecycle, LogsFollowStreamsUntilTheContainerExits) {
  std::string name = unique("chatty");
  ok({"run", "-d", "--name", name, "busybox", "sh", "-c", "echo one; echo warn >&2; sleep 1; echo two"});
  Output f = berth({"logs", "-f", name});
  EXPECT_EQ(f.code, 0);
  EXPECT_EQ(f.out, "one\ntwo\n");
  EXPECT_EQ(f.err, "warn\n");
  EXPECT_EQ(ok({"logs", "--tail", "1", name}), "two");
  std::string ts = ok({"logs", "-t", name});
  EXPECT_TRUE(std::regex_search(ts, std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z one)"))) << ts;
  // The file is Docker's json-file format.
  std::string raw = read_file(inspect(name)["LogPath"]);
  json first = json::parse(lines(raw)[0]);
  EXPECT_EQ(first["log"], "one\n");
  EXPECT_EQ(first["stream"], "stdout");
}

TEST_F(Lifecycle, PsColumnsAndFlags) {
  std::string a = unique("psa");
  std::string b = unique("psb");
  std::string ida = ok({"create", "--name", a, "busybox", "echo", "a very long command line indeed"});
  std::string idb = ok({"run", "-d", "--name", b, "busybox", "sleep", "60"});
  std::vector<std::string> running = lines(berth({"ps"}).out);
  ASSERT_EQ(running.size(), 2u);
  EXPECT_TRUE(std::regex_match(running[0], std::regex("CONTAINER ID   IMAGE     COMMAND      CREATED +STATUS +PORTS +NAMES")))
      << running[0];
  // Columns line up: each row's name starts under NAMES.
  EXPECT_EQ(running[1].find(b), running[0].find("NAMES")) << running[1];
  EXPECT_EQ(running[1].substr(0, 12), idb.substr(0, 12));
  EXPECT_NE(running[1].find("\"sleep 60\""), std::string::npos) << running[1];
  EXPECT_NE(running[1].find("Up "), std::string::npos);
  std::vector<std::string> all = lines(berth({"ps", "-a"}).out);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_NE(all[2].find("\"echo a very long co\u2026\""), std::string::npos) << all[2];
  EXPECT_EQ(lines(berth({"ps", "-a", "-q"}).out), (std::vector<std::string>{idb.substr(0, 12), ida.substr(0, 12)}));
  EXPECT_EQ(lines(berth({"ps", "-l", "-q"}).out), std::vector<std::string>{idb.substr(0, 12)});
  EXPECT_EQ(lines(berth({"ps", "-n", "2", "-q", "--no-trunc"}).out), (std::vector<std::string>{idb, ida}));
  EXPECT_EQ(lines(berth({"ps", "-q"}).out), std::vector<std::string>{idb.substr(0, 12)});
  // `rm $(ps -a -q)`
  std::vector<std::string> rm = {"rm", "-f"};
  for (const auto& id : lines(berth({"ps", "-a", "-q"}).out)) rm.push_back(id);
  ok(rm);
  EXPECT_EQ(lines(berth({"ps", "-a"}).out).size(), 1u);
}

TEST_F(Lifecycle, InspectIsDockerShaped) {
  std::string name = unique("shape");
  std::string host_dir = root_ + "/shape-data";
  std::string id = ok({"run", "-d", "--name", name, "-v", host_dir + ":/data:ro", "-e", "A=1", "busybox", "sleep", "60"});
  json j = inspect(name);
  for (const char* key : {"Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath",
                          "HostsPath", "LogPath", "Name", "RestartCount", "Driver", "Platform", "HostConfig",
                          "GraphDriver", "Mounts", "Config", "NetworkSettings"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["Id"], id);
  EXPECT_EQ(j["Name"], "/" + name);
  EXPECT_EQ(j["Path"], "sleep");
  EXPECT_EQ(j["Args"], json::array({"60"}));
  EXPECT_EQ(j["State"]["Running"], true);
  EXPECT_EQ(j["Config"]["Hostname"], id.substr(0, 12));
  EXPECT_EQ(j["Config"]["Image"], "busybox");
  EXPECT_EQ(j["Config"]["Cmd"], json::array({"sleep", "60"}));
  EXPECT_NE(std::find(j["Config"]["Env"].begin(), j["Config"]["Env"].end(), "A=1"), j["Config"]["Env"].end());
  EXPECT_EQ(j["HostConfig"]["NetworkMode"], "none");
  EXPECT_EQ(j["Mounts"][0]["Source"], host_dir);
  EXPECT_EQ(j["Mounts"][0]["Destination"], "/data");
  EXPECT_EQ(j["Mounts"][0]["RW"], false);
  EXPECT_TRUE(j["NetworkSettings"]["Networks"].contains("none"));
  EXPECT_EQ(read_file(j["HostnamePath"]), id.substr(0, 12) + "\n");
  EXPECT_TRUE(exists(j["HostsPath"]));
  EXPECT_EQ(j["GraphDriver"]["Name"], "overlay");
  // Output is a JSON array, one element per argument, in Docker's key order.
  Output o = berth({"container", "inspect", name});
  EXPECT_EQ(o.out.rfind("[\n    {\n        \"Id\": ", 0), 0u) << o.out.substr(0, 40);
  EXPECT_EQ(berth({"inspect", "no-such-thing-" + random_suffix()}).code, 1);
}

TEST_F(Lifecycle, AKilledMonitorIsNoticedAndItsContainerEnded) {
  std::string name = unique("orphan");
  std::string id = ok({"run", "-d", "--name", name, "busybox", "sleep", "60"});
  int ctr = inspect(id)["State"]["Pid"];
  // The monitor is the only berth process of this test still alive after run -d returned.
  std::vector<int> monitors;
  for (int pid : berth_processes()) {
    if (read_file("/proc/" + std::to_string(pid) + "/cmdline").find(config_) != std::string::npos) monitors.push_back(pid);
  }
  ASSERT_EQ(monitors.size(), 1u);
  ASSERT_EQ(kill(monitors[0], SIGKILL), 0);
  for (int i = 0; i < 100 && exists("/proc/" + std::to_string(monitors[0]) + "/stat") &&
                  read_file("/proc/" + std::to_string(monitors[0]) + "/stat").find(" Z ") == std::string::npos;
       ++i) {
    usleep(20000);
  }
  // The next command ends the orphaned run: the container is killed and recorded.
  json j = inspect(id);
  EXPECT_EQ(j["State"]["Status"], "exited");
  EXPECT_EQ(j["State"]["ExitCode"], 255);
  EXPECT_NE(j["State"]["Error"].get<std::string>().find("monitor exited unexpectedly"), std::string::npos);
  for (int i = 0; i < 100 && kill(ctr, 0) == 0; ++i) usleep(20000);
  EXPECT_NE(kill(ctr, 0), 0) << "the container's process outlived its monitor";
  EXPECT_TRUE(cgroup_dirs_of(id).empty());
}

TEST_F(Lifecycle, TwentyConcurrentDetachedRunsAllSucceed) {
  std::vector<Output> outs(20);
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] { outs[i] = berth({"run", "-d", "busybox", "sleep", "30"}); });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> ids;
  for (const auto& o : outs) {
    EXPECT_EQ(o.code, 0) << o.err;
    ids.insert(trim(o.out));
  }
  EXPECT_EQ(ids.size(), 20u);
  std::set<std::string> names;
  for (const auto& id : ids) {
    json j = inspect(id);
    EXPECT_EQ(j["State"]["Status"], "running");
    names.insert(j["Name"]);
  }
  EXPECT_EQ(names.size(), 20u);
}

// Starts the CLI in the background, its output discarded; returns its pid.
pid_t spawn_berth(const std::string& config, std::vector<std::string> rest) {
  std::vector<std::string> argv = {kBerth, "--config", config};
  argv.insert(argv.end(), rest.begin(), rest.end());
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 1);
    dup2(devnull, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

TEST_F(Lifecycle, AForegroundRunWhoseCliIsKilledKeepsRunningAndItsExitIsRecorded) {
  // The foreground CLI writes the records while it is there; once it is gone the monitor
  // must, for the exit and for --rm.
  std::string kept = unique("kept");
  std::string removed = unique("removed");
  pid_t a = spawn_berth(config_, {"run", "--name", kept, "busybox", "sh", "-c", "sleep 1; exit 3"});
  pid_t b = spawn_berth(config_, {"run", "--rm", "--name", removed, "busybox", "sleep", "1"});
  auto status_of = [&](const std::string& n) -> std::string {
    Output o = berth({"inspect", "--type", "container", n});
    return o.code == 0 ? json::parse(o.out)[0]["State"]["Status"].get<std::string>() : "";
  };
  for (int i = 0; i < 200 && (status_of(kept) != "running" || status_of(removed) != "running"); ++i) usleep(10000);
  ASSERT_EQ(status_of(kept), "running");
  ASSERT_EQ(status_of(removed), "running");
  kill(a, SIGKILL);
  kill(b, SIGKILL);
  waitpid(a, nullptr, 0);
  waitpid(b, nullptr, 0);
  EXPECT_EQ(status_of(kept), "running") << "the container must outlive its CLI";
  for (int i = 0; i < 300 && (status_of(kept) == "running" || !status_of(removed).empty()); ++i) usleep(10000);
  json j = inspect(kept);
  EXPECT_EQ(j["State"]["Status"], "exited");
  EXPECT_EQ(j["State"]["ExitCode"], 3);
  EXPECT_EQ(berth({"inspect", "--type", "container", removed}).code, 1) << "--rm was not honoured";
}

TEST_F(Lifecycle, KilledCliDuringRunDetachedLeavesStateTheNextCommandRepairs) {
  // Kill the CLI at different points of `run -d`; whatever it left, the next command must
  // either see a working container or nothing, and rm -f must clean every trace.
  for (int delay_ms : {0, 5, 10, 20, 40, 80, 300}) {
    pid_t pid = spawn_berth(config_, {"run", "-d", "busybox", "sleep", "30"});
    usleep(static_cast<useconds_t>(delay_ms) * 1000);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  // Monitors that were already forked finish their start on their own.
  usleep(500000);
  Output ps = berth({"ps", "-a", "--no-trunc", "-q"});
  ASSERT_EQ(ps.code, 0) << ps.err;
  auto ids = lines(ps.out);
  // A run -d takes ~20 ms here: the last kill (300 ms) comes after the CLI's work was done.
  EXPECT_GE(ids.size(), 1u) << "no kill came late enough to leave a container";
  int running = 0;
  for (const auto& id : ids) {
    std::string status = inspect(id)["State"]["Status"];
    // Never a half state ("creating", "starting", "removing"): the command that listed
    // them finished what the killed CLI left.
    EXPECT_TRUE(status == "running" || status == "created" || status == "exited") << id << " " << status;
    if (status != "running") {
      // A created or ended container is whole: it starts as any other.
      Output st = berth({"start", id});
      EXPECT_EQ(st.code, 0) << id << " " << status << ": " << st.err;
      status = inspect(id)["State"]["Status"];
      EXPECT_EQ(status, "running") << id;
    }
    if (status == "running") {
      ++running;
      EXPECT_FALSE(cgroup_dirs_of(id).empty()) << id;
      EXPECT_EQ(berth({"exec", id, "true"}).code, 0) << id;
    }
  }
  EXPECT_EQ(running, static_cast<int>(ids.size()));
  // Nothing beyond the containers listed: one snapshot each, no orphan.
  EXPECT_EQ(snapshot_count(), std::to_string(ids.size() + 1)) << "the image's layer and one per container";
  // TearDown removes them all and checks that nothing is left.
}

}  // namespace
}  // namespace berth::it
