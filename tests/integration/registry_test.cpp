// pull, push, login and logout against a real registry (Debian's docker-registry) started
// on 127.0.0.1 for each test, filled and read back with skopeo, an independent client.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace berth::it {
namespace {

using nlohmann::json;

const char* const kTokenServer = TOKEN_SERVER;
const char* const kMakeLayout = MAKE_OCI_LAYOUT;

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

std::vector<std::string> split_colons(std::string s) {
  std::replace(s.begin(), s.end(), ':', '\n');
  return lines(s);
}

bool accepts(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

// A background process of the test's, ended by its pid.
struct Daemon {
  pid_t pid = -1;
  void start(const std::vector<std::string>& argv, const std::string& log) {
    pid = ::fork();
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Daemon() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

class Registries : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
    // Docker's credentials of this test only.
    ::setenv("DOCKER_CONFIG", (root_ + "/docker").c_str(), 1);
    exec({"mkdir", "-p", root_ + "/layers/extra"});
    write_file(root_ + "/layers/extra/hello", "from the registry\n");
    exec({"tar", "-C", root_ + "/layers/extra", "-cf", root_ + "/layers/extra.tar", "hello"});
  }
  void TearDown() override {
    for (const auto& id : all_container_ids()) berth({"rm", "-f", id});
    ::unsetenv("DOCKER_CONFIG");
    BerthTest::TearDown();
  }

  // auth: "" (none), "htpasswd" or "token". Returns "127.0.0.1:PORT".
  std::string start_registry(const std::string& auth = "") {
    port_ = free_port();
    std::string cfg = "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: " + root_ +
                      "/registry\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n";
    if (auth == "htpasswd") {
      EXPECT_EQ(exec({"htpasswd", "-Bbc", root_ + "/htpasswd", "tester", "s3cret"}).code, 0);
      cfg += "auth:\n  htpasswd:\n    realm: berth-test\n    path: " + root_ + "/htpasswd\n";
    } else if (auth == "token") {
      EXPECT_EQ(exec({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", root_ + "/key.pem", "-out",
                      root_ + "/cert.pem", "-days", "1", "-subj", "/CN=berth-test"})
                    .code,
                0);
      token_.start({kTokenServer, root_ + "/token-port", root_ + "/key.pem", root_ + "/cert.pem", "berth-issuer",
                    "berth-registry", "tester", "s3cret"},
                   root_ + "/token.log");
      for (int i = 0; i < 100 && !exists(root_ + "/token-port"); ++i) usleep(20'000);
      std::string tport = trim(read_file(root_ + "/token-port"));
      cfg += "auth:\n  token:\n    realm: http://127.0.0.1:" + tport + "/token\n    service: berth-registry\n"
             "    issuer: berth-issuer\n    rootcertbundle: " + root_ + "/cert.pem\n";
    }
    write_file(root_ + "/registry.yml", cfg);
    registry_.start({"docker-registry", "serve", root_ + "/registry.yml"}, root_ + "/registry.log");
    for (int i = 0; i < 200 && !accepts(port_); ++i) usleep(25'000);
    EXPECT_TRUE(accepts(port_)) << read_file(root_ + "/registry.log");
    return "127.0.0.1:" + std::to_string(port_);
  }

  // skopeo copies an OCI layout of busybox + one layer into the registry.
  void seed(const std::string& ref, const std::vector<std::string>& skopeo_flags = {}) {
    std::string layout = root_ + "/oci-" + random_suffix();
    Output made = exec({kMakeLayout, layout, "img", std::string(kBusyboxTar), root_ + "/layers/extra.tar"});
    ASSERT_EQ(made.code, 0) << made.err;
    std::vector<std::string> argv = {"skopeo", "copy", "-q", "--dest-tls-verify=false"};
    argv.insert(argv.end(), skopeo_flags.begin(), skopeo_flags.end());
    argv.insert(argv.end(), {"oci:" + layout + ":img", "docker://" + ref});
    Output o = exec(argv);
    ASSERT_EQ(o.code, 0) << o.err;
  }

  int port_ = 0;
  Daemon token_;
  Daemon registry_;
};

TEST_F(Registries, PullRunAndPushRoundTripWithSkopeo) {
  std::string reg = start_registry();
  seed(reg + "/test/oci:1");
  seed(reg + "/test/docker:1", {"--format", "v2s2"});
  std::string snaps = snapshot_count();

  // Both manifest media types; Docker's lines; the full reference last.
  Output p = berth({"pull", reg + "/test/oci:1"});
  ASSERT_EQ(p.code, 0) << p.err;
  auto out = lines(p.out);
  EXPECT_EQ(out.front(), "1: Pulling from test/oci");
  EXPECT_NE(p.out.find(": Pull complete"), std::string::npos) << p.out;
  EXPECT_EQ(out[out.size() - 2], "Status: Downloaded newer image for " + reg + "/test/oci:1");
  EXPECT_EQ(out.back(), reg + "/test/oci:1");
  EXPECT_EQ(ok({"run", "--rm", reg + "/test/oci:1", "cat", "/hello"}), "from the registry");
  Output d = berth({"pull", reg + "/test/docker"});
  EXPECT_EQ(d.code, 1) << "no :latest was pushed";
  Output d1 = berth({"pull", reg + "/test/docker:1"});
  ASSERT_EQ(d1.code, 0) << d1.err;
  // The same layers: the second image's are already there.
  EXPECT_NE(d1.out.find(": Already exists"), std::string::npos) << d1.out;
  EXPECT_EQ(ok({"run", "--rm", reg + "/test/docker:1", "cat", "/hello"}), "from the registry");

  // Again: up to date; RepoDigests; by digest.
  Output again = berth({"pull", reg + "/test/oci:1"});
  EXPECT_NE(again.out.find("Status: Image is up to date for " + reg + "/test/oci:1"), std::string::npos) << again.out;
  json img = json::parse(ok({"image", "inspect", reg + "/test/oci:1"}))[0];
  // (Same content, so one image: a repo digest for each repository it came from.)
  ASSERT_EQ(img["RepoDigests"].size(), 2u) << img["RepoDigests"];
  std::string repo_digest = img["RepoDigests"][1];
  EXPECT_EQ(repo_digest.rfind(reg + "/test/oci@sha256:", 0), 0u) << repo_digest;
  EXPECT_EQ(img["RepoDigests"][0].get<std::string>().rfind(reg + "/test/docker@sha256:", 0), 0u) << img["RepoDigests"];
  EXPECT_EQ(json::parse(ok({"image", "inspect", repo_digest}))[0]["Id"], img["Id"]);
  std::string skopeo_digest = json::parse(exec({"skopeo", "inspect", "--tls-verify=false", "docker://" + reg + "/test/oci:1"}).out)["Digest"];
  EXPECT_EQ(repo_digest.substr(repo_digest.find('@') + 1), skopeo_digest);

  // run of a missing image pulls it first, on stderr.
  seed(reg + "/test/auto:2");
  Output r = berth({"run", "--rm", reg + "/test/auto:2", "cat", "/hello"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(trim(r.out), "from the registry");
  EXPECT_NE(r.err.find("Unable to find image '" + reg + "/test/auto:2' locally"), std::string::npos) << r.err;

  // Push: an imported image with a 20 MB layer (uploaded in chunks), read back by skopeo.
  exec({"mkdir", "-p", root_ + "/big"});
  exec({"sh", "-c", "head -c 20971520 /dev/urandom > " + root_ + "/big/blob && tar -C " + root_ + "/big -cf " + root_ + "/big.tar blob"});
  ok({"import", root_ + "/big.tar", reg + "/pushed/big:v1"});
  Output pushed = berth({"push", reg + "/pushed/big:v1"});
  ASSERT_EQ(pushed.code, 0) << pushed.err;
  EXPECT_EQ(lines(pushed.out).front(), "The push refers to repository [" + reg + "/pushed/big]");
  EXPECT_NE(pushed.out.find(": Pushed"), std::string::npos) << pushed.out;
  Output copied = exec({"skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + reg + "/pushed/big:v1", "dir:" + root_ + "/out"});
  ASSERT_EQ(copied.code, 0) << copied.err;
  json manifest = json::parse(read_file(root_ + "/out/manifest.json"));
  std::string layer = manifest["layers"][0]["digest"];
  EXPECT_EQ(trim(exec({"sh", "-c", "sha256sum " + root_ + "/out/" + layer.substr(7) + " | cut -d' ' -f1"}).out), layer.substr(7));
  EXPECT_EQ(exec({"tar", "-xOf", root_ + "/out/" + layer.substr(7), "blob"}).out, read_file(root_ + "/big/blob"));
  Output again_push = berth({"push", reg + "/pushed/big:v1"});
  EXPECT_NE(again_push.out.find("Layer already exists"), std::string::npos) << again_push.out;
  // Pushed, removed and pulled back: the same image.
  json before = json::parse(ok({"image", "inspect", reg + "/pushed/big:v1"}))[0];
  ok({"rmi", reg + "/pushed/big:v1"});
  ok({"pull", reg + "/pushed/big:v1"});
  json after = json::parse(ok({"image", "inspect", reg + "/pushed/big:v1"}))[0];
  EXPECT_EQ(after["Id"], before["Id"]);
  EXPECT_EQ(after["Size"], before["Size"]) << "imported and pulled, the same files weigh the same";

  // Errors name what is wrong; nothing is made.
  Output missing = berth({"pull", reg + "/test/oci:nosuch"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("manifest for " + reg + "/test/oci:nosuch not found"), std::string::npos) << missing.err;
  Output hub = berth({"pull", "busybox:nosuch"});
  EXPECT_NE(hub.err.find("registry docker.io is blocked"), std::string::npos) << hub.err;
  Output push_missing = berth({"push", reg + "/nothing:here"});
  EXPECT_NE(push_missing.err.find("An image does not exist locally with the tag: " + reg + "/nothing"), std::string::npos)
      << push_missing.err;
  for (const auto& ref : {reg + "/test/oci:1", reg + "/test/docker:1", reg + "/test/auto:2", reg + "/pushed/big:v1"}) {
    ok({"rmi", ref});
  }
  EXPECT_EQ(snapshot_count(), snaps);
  EXPECT_EQ(trim(exec({"sh", "-c", "ls " + state_ + "/images/ingest 2>/dev/null | wc -l"}).out), "0");
}

TEST_F(Registries, AnImageIndexGivesTheHostsPlatform) {
  std::string reg = start_registry();
  auto blobs = [&] { return trim(exec({"sh", "-c", "ls " + state_ + "/images/blobs/sha256 | wc -l"}).out); };
  std::string blobs_before = blobs();
  // Two images, amd64 and arm64, their /hello differing, under one OCI index.
  std::string layout = root_ + "/multi";
  exec({"mkdir", "-p", root_ + "/arm"});
  write_file(root_ + "/arm/hello", "arm64\n");
  exec({"tar", "-C", root_ + "/arm", "-cf", root_ + "/arm.tar", "hello"});
  ASSERT_EQ(exec({kMakeLayout, layout, "amd", std::string(kBusyboxTar), root_ + "/layers/extra.tar"}).code, 0);
  ASSERT_EQ(exec({kMakeLayout, layout, "arm", "--arch", "arm64", std::string(kBusyboxTar), root_ + "/arm.tar"}).code, 0);
  // index.json's two manifests become one nested index, named "multi".
  json index = json::parse(read_file(layout + "/index.json"));
  for (auto& m : index["manifests"]) m.erase("annotations");
  std::string nested = index.dump();
  write_file(root_ + "/nested.json", nested);
  std::string hex = trim(exec({"sh", "-c", "sha256sum " + root_ + "/nested.json | cut -d' ' -f1"}).out);
  write_file(layout + "/blobs/sha256/" + hex, nested);
  json top = {{"schemaVersion", 2},
              {"manifests", {{{"mediaType", "application/vnd.oci.image.index.v1+json"},
                              {"digest", "sha256:" + hex},
                              {"size", nested.size()},
                              {"annotations", {{"org.opencontainers.image.ref.name", "multi"}}}}}}};
  write_file(layout + "/index.json", top.dump());
  Output o = exec({"skopeo", "copy", "-q", "--all", "--dest-tls-verify=false", "oci:" + layout + ":multi", "docker://" + reg + "/multi:1"});
  ASSERT_EQ(o.code, 0) << o.err;

  ok({"pull", reg + "/multi:1"});
  EXPECT_EQ(ok({"run", "--rm", reg + "/multi:1", "cat", "/hello"}), "from the registry");
  // The same as a Docker manifest list (skopeo converts it): the same image.
  Output v2 = exec({"skopeo", "copy", "-q", "--all", "--format", "v2s2", "--dest-tls-verify=false", "oci:" + layout + ":multi",
                    "docker://" + reg + "/multi-docker:1"});
  ASSERT_EQ(v2.code, 0) << v2.err;
  EXPECT_NE(exec({"skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + reg + "/multi-docker:1"}).out.find(
                "application/vnd.docker.distribution.manifest.list.v2+json"),
            std::string::npos);
  ok({"pull", reg + "/multi-docker:1"});
  EXPECT_EQ(ok({"run", "--rm", reg + "/multi-docker:1", "cat", "/hello"}), "from the registry");
  ok({"rmi", reg + "/multi-docker:1"});
  json img = json::parse(ok({"image", "inspect", reg + "/multi:1"}))[0];
  // The repo digest is the index's, as Docker records it.
  std::string index_digest = "sha256:" + trim(exec({"sh", "-c", "skopeo inspect --raw --tls-verify=false docker://" + reg +
                                                                   "/multi:1 | sha256sum | cut -d' ' -f1"}).out);
  EXPECT_NE(std::find(img["RepoDigests"].begin(), img["RepoDigests"].end(), reg + "/multi@" + index_digest), img["RepoDigests"].end())
      << img["RepoDigests"];
  ok({"rmi", reg + "/multi:1"});
  ok({"pull", "--platform", "linux/arm64", reg + "/multi:1"});
  EXPECT_EQ(json::parse(ok({"image", "inspect", reg + "/multi:1"}))[0]["Architecture"], "arm64");
  Output none = berth({"pull", "--platform", "linux/s390x", reg + "/multi:1"});
  EXPECT_NE(none.err.find("no matching manifest for linux/s390x in the manifest list entries"), std::string::npos) << none.err;
  ok({"rmi", reg + "/multi:1"});
  EXPECT_EQ(blobs(), blobs_before) << "the indexes, manifests, configs and layers all went";
}

TEST_F(Registries, BasicAuthLoginAndLogout) {
  std::string reg = start_registry("htpasswd");
  seed(reg + "/private/img:1", {"--dest-creds", "tester:s3cret"});
  Output anon = berth({"pull", reg + "/private/img:1"});
  EXPECT_EQ(anon.code, 1);
  EXPECT_NE(anon.err.find("authentication required"), std::string::npos) << anon.err;
  Output wrong = berth({"login", "-u", "tester", "--password-stdin", reg}, "nope\n");
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find("unauthorized"), std::string::npos) << wrong.err;
  EXPECT_FALSE(exists(root_ + "/docker/config.json"));
  EXPECT_EQ(trim(berth({"login", "-u", "tester", "--password-stdin", reg}, "s3cret\n").out), "Login Succeeded");
  json cfg = json::parse(read_file(root_ + "/docker/config.json"));
  EXPECT_EQ(cfg["auths"][reg]["auth"], "dGVzdGVyOnMzY3JldA==");  // tester:s3cret
  ok({"pull", reg + "/private/img:1"});
  ok({"tag", reg + "/private/img:1", reg + "/private/copy:1"});
  ok({"push", reg + "/private/copy:1"});
  EXPECT_EQ(exec({"skopeo", "inspect", "--tls-verify=false", "--creds", "tester:s3cret", "docker://" + reg + "/private/copy:1"}).code, 0);
  EXPECT_EQ(ok({"logout", reg}), "Removing login credentials for " + reg);
  EXPECT_FALSE(json::parse(read_file(root_ + "/docker/config.json"))["auths"].contains(reg));
  ok({"rmi", reg + "/private/img:1", reg + "/private/copy:1"});
  EXPECT_EQ(berth({"pull", reg + "/private/img:1"}).code, 1);
}

TEST_F(Registries, BearerTokensFromATokenServer) {
  std::string reg = start_registry("token");
  seed(reg + "/team/app:1", {"--dest-creds", "tester:s3cret"});
  // Anonymous: the token server's token grants nothing.
  Output anon = berth({"pull", reg + "/team/app:1"});
  EXPECT_EQ(anon.code, 1);
  EXPECT_NE(anon.err.find("unauthorized"), std::string::npos) << anon.err;
  EXPECT_EQ(berth({"login", "-u", "tester", "--password-stdin", reg}, "bad\n").code, 1);
  EXPECT_EQ(trim(berth({"login", "-u", "tester", "--password-stdin", reg}, "s3cret\n").out), "Login Succeeded");
  ok({"pull", reg + "/team/app:1"});
  EXPECT_EQ(ok({"run", "--rm", reg + "/team/app:1", "cat", "/hello"}), "from the registry");
  ok({"tag", reg + "/team/app:1", reg + "/team/other:2"});
  ok({"push", reg + "/team/other:2"});
  EXPECT_EQ(exec({"skopeo", "inspect", "--tls-verify=false", "--creds", "tester:s3cret", "docker://" + reg + "/team/other:2"}).code, 0);
  ok({"rmi", reg + "/team/app:1", reg + "/team/other:2"});
}

TEST_F(Registries, ABadBlobLeavesNothingAndAnInterruptedPullResumes) {
  std::string reg = start_registry();
  seed(reg + "/test/bad:1");
  std::string snaps = snapshot_count();
  // The registry's copy of the extra layer (the smaller blob) is corrupted in place.
  std::string manifest = exec({"skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + reg + "/test/bad:1"}).out;
  json m = json::parse(manifest);
  std::string layer = m["layers"][1]["digest"];
  std::string hex = layer.substr(7);
  std::string data = root_ + "/registry/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
  std::string good = read_file(data);
  ASSERT_FALSE(good.empty());
  std::string bad = good;
  bad[bad.size() / 2] ^= 0x55;
  write_file(data, bad);
  Output o = berth({"pull", reg + "/test/bad:1"});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("digest mismatch"), std::string::npos) << o.err;
  EXPECT_NE(berth({"image", "inspect", reg + "/test/bad:1"}).code, 0);
  // No image, no layer, no partial blob.
  EXPECT_FALSE(exists(state_ + "/images/ingest/" + hex + ".partial"));
  EXPECT_EQ(snapshot_count(), snaps);

  // An interrupted download: what it left is kept and only the rest is asked for. A kept
  // half that is wrong shows it (the whole is then refused and the half thrown away)...
  write_file(data, good);
  std::string partial = state_ + "/images/ingest/" + hex + ".partial";
  std::string half = good.substr(0, good.size() / 2);
  std::string wrong_half = half;
  wrong_half[0] ^= 0x55;
  write_file(partial, wrong_half);
  Output spoiled = berth({"pull", reg + "/test/bad:1"});
  EXPECT_NE(spoiled.err.find("digest mismatch"), std::string::npos) << spoiled.err;
  EXPECT_FALSE(exists(partial));
  // ... and a right half completes.
  write_file(partial, half);
  Output resumed = berth({"pull", reg + "/test/bad:1"});
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(ok({"run", "--rm", reg + "/test/bad:1", "cat", "/hello"}), "from the registry");
  ok({"rmi", reg + "/test/bad:1"});
  // On a terminal: each layer's line redrawn in place, with a bar and bytes.
  Output tty = exec({"script", "-qec", std::string(kBerth) + " --config " + config_ + " pull " + reg + "/test/bad:1", "/dev/null"});
  EXPECT_EQ(tty.code, 0) << tty.out;
  EXPECT_NE(tty.out.find("\x1b[2K"), std::string::npos) << tty.out;
  EXPECT_TRUE(std::regex_search(tty.out, std::regex("Downloading \\[=*>? *\\]  [0-9.]+[kM]?B/[0-9.]+[kM]?B"))) << tty.out;
  EXPECT_NE(tty.out.find(": Pull complete"), std::string::npos) << tty.out;
  ok({"rmi", reg + "/test/bad:1"});
  EXPECT_EQ(snapshot_count(), snaps);
}

// A pull killed while it unpacks leaves a half-written temporary snapshot; its extraction
// helpers die with it, and the next pull removes the snapshot and completes.
TEST_F(Registries, APullKilledWhileUnpackingIsCleanedUpByTheNext) {
  std::string reg = start_registry();
  exec({"mkdir", "-p", root_ + "/bulk/data"});
  ASSERT_EQ(exec({"sh", "-c", "for i in 1 2 3 4 5 6; do head -c 3000000 /dev/urandom | base64 > " + root_ +
                                  "/bulk/data/f$i; done; tar -C " + root_ + "/bulk -cf " + root_ + "/bulk.tar data"})
                .code,
            0);
  std::string layout = root_ + "/klayout";
  ASSERT_EQ(exec({kMakeLayout, layout, "img", std::string(kBusyboxTar), root_ + "/bulk.tar"}).code, 0);
  std::string ref = reg + "/test/killed:1";
  ASSERT_EQ(exec({"skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:" + layout + ":img", "docker://" + ref}).code, 0);
  std::string snaps = snapshot_count();
  std::string keys = state_ + "/plugins/storage.overlay/keys";
  auto temporary = [&] { return trim(exec({"sh", "-c", "ls " + keys + " 2>/dev/null | grep -c '^extract-'"}).out); };

  Daemon pull;
  pull.start({kBerth, "--config", config_, "pull", ref}, root_ + "/killed-pull.log");
  bool seen = false;
  for (int i = 0; i < 5000 && !seen; ++i) {
    seen = temporary() != "0";
    if (!seen) usleep(2'000);
  }
  ASSERT_TRUE(seen) << "no layer was being unpacked: " << read_file(root_ + "/killed-pull.log");
  ::kill(pull.pid, SIGKILL);
  ::waitpid(pull.pid, nullptr, 0);
  pull.pid = -1;
  EXPECT_NE(berth({"image", "inspect", ref}).code, 0);

  Output again = berth({"pull", ref});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(temporary(), "0") << "the killed pull's snapshot is gone";
  EXPECT_EQ(ok({"run", "--rm", ref, "sh", "-c", "ls /data | wc -l"}), "6");
  ok({"rmi", ref});
  EXPECT_EQ(snapshot_count(), snaps);
}

// Layers from a registry are hostile input too: a "../" name and a file under a symlink
// that points out never write outside it.
TEST_F(Registries, HostileLayersAreContained) {
  std::string reg = start_registry();
  std::string outside = root_ + "/outside";
  exec({"mkdir", "-p", outside, root_ + "/evil"});
  write_file(root_ + "/evil/f", "pwned\n");
  exec({"ln", "-s", outside, root_ + "/evil/escape"});
  std::string snaps = snapshot_count();
  struct Case {
    std::string name, tar_cmd;
  };
  for (const Case& c : {Case{"dotdot", "tar -C " + root_ + "/evil -P --transform 's,^f$,../../../../../.." + outside + "/dotdot,' -cf " +
                                           root_ + "/dotdot.tar f"},
                        Case{"symlink", "tar -C " + root_ + "/evil -cf " + root_ + "/symlink.tar escape && tar -C " + root_ +
                                            "/evil --transform 's,^f$,escape/pwned,' -rf " + root_ + "/symlink.tar f"}}) {
    ASSERT_EQ(exec({"sh", "-c", c.tar_cmd}).code, 0) << c.name;
    std::string layout = root_ + "/layout-" + c.name;
    ASSERT_EQ(exec({kMakeLayout, layout, "img", std::string(kBusyboxTar), root_ + "/" + c.name + ".tar"}).code, 0);
    ASSERT_EQ(exec({"skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:" + layout + ":img", "docker://" + reg + "/evil/" + c.name + ":1"}).code, 0);
    // Extraction runs chrooted into the layer, with libarchive's checks: a "../" name is
    // refused (the whole pull fails, nothing kept); an absolute symlink points inside.
    Output o = berth({"pull", reg + "/evil/" + c.name + ":1"});
    if (c.name == "dotdot") {
      EXPECT_EQ(o.code, 1) << o.out;
      EXPECT_NE(o.err.find("climbs out of the layer"), std::string::npos) << o.err;
    } else {
      EXPECT_EQ(o.code, 0) << c.name << ": " << o.err;
    }
    EXPECT_EQ(trim(exec({"ls", "-A", outside}).out), "") << c.name << ": nothing written outside the layer";
  }
  EXPECT_NE(berth({"image", "inspect", reg + "/evil/dotdot:1"}).code, 0);
  ok({"rmi", reg + "/evil/symlink:1"});
  EXPECT_EQ(snapshot_count(), snaps);
}

// Layers are unpacked apart from one another (all at once) and committed in order: what a
// layer deletes (whiteouts, opaque directories) still hides what the layers below have;
// xattrs survive (security.capability: setcap'd programs), except overlay's own, which a
// layer must not be able to forge; and commit carries them into the new layer.
TEST_F(Registries, LayersUnpackApartAndKeepWhiteoutsAndXattrs) {
  std::string reg = start_registry();
  std::string snaps = snapshot_count();
  std::string l = root_ + "/wl";
  std::string script =
      "set -e; mkdir -p " + l + "/1/keep " + l + "/1/opq/sub " + l + "/1/bin " + l + "/2/keep " + l + "/2/opq " + l +
      "/3/gone; cd " + l + "/1; echo a > keep/a; echo b > keep/b; echo g > gone; echo x > opq/x; echo y > opq/sub/y;"
      " echo cap > cap; setcap cap_net_raw+ep cap; echo u > ux; setfattr -n user.berth -v hello ux;"
      // A forged opaque mark on /bin would hide busybox's programs if overlay saw it.
      " setfattr -n trusted.overlay.opaque -v y bin;"
      " tar --xattrs --xattrs-include='*' -cf " + l + "/1.tar bin keep gone opq cap ux;"
      " cd " + l + "/2; : > .wh.gone; : > keep/.wh.a; : > opq/.wh..wh..opq; echo z > opq/z;"
      " tar -cf " + l + "/2.tar .wh.gone keep opq;"
      " cd " + l + "/3; echo again > gone/again; tar -cf " + l + "/3.tar gone;"
      // A layer that does not list the directory it adds to: unpacked on its parents, so
      // /keep keeps the lower layer's mode.
      " mkdir -p " + l + "/4/keep; echo new > " + l + "/4/keep/new; tar -C " + l + "/4 --no-recursion -cf " + l +
      "/4.tar keep/new";
  script = "mkdir -p " + l + "/1/keep " + l + "/2/keep && chmod 0711 " + l + "/1/keep " + l + "/2/keep && " + script;
  Output made = exec({"sh", "-c", script});
  ASSERT_EQ(made.code, 0) << made.err;
  ASSERT_NE(exec({"tar", "--xattrs", "-tvf", l + "/1.tar"}).code, 1);
  std::string layout = root_ + "/wlayout";
  ASSERT_EQ(exec({kMakeLayout, layout, "img", std::string(kBusyboxTar), l + "/1.tar", l + "/2.tar", l + "/3.tar", l + "/4.tar"}).code, 0);
  ASSERT_EQ(exec({"skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:" + layout + ":img", "docker://" + reg + "/test/wh:1"}).code, 0);
  std::string ref = reg + "/test/wh:1";
  Output p = berth({"pull", ref});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(ok({"run", "--rm", ref, "sh", "-c", "ls /keep; ls /opq; cat /gone/again; ls /bin/sh; stat -c %a /keep"}),
            "b\nnew\nz\nagain\n/bin/sh\n711");

  // The layers' own directories, nearest first (busybox's is the last).
  std::string cid = trim(ok({"create", ref, "true"}));
  std::string lower = json::parse(ok({"inspect", cid}))[0]["GraphDriver"]["Data"]["LowerDir"];
  auto dirs = split_colons(lower);
  ASSERT_EQ(dirs.size(), 5u) << lower;
  EXPECT_NE(exec({"getcap", dirs[3] + "/cap"}).out.find("cap_net_raw=ep"), std::string::npos);
  EXPECT_EQ(trim(exec({"getfattr", "--only-values", "-n", "user.berth", dirs[3] + "/ux"}).out), "hello");
  EXPECT_EQ(trim(exec({"getfattr", "-d", "-m", "trusted", dirs[3] + "/bin"}).out), "") << "a forged overlay xattr";
  // overlay's marks in the layer above: the whiteout and the opaque directory.
  EXPECT_EQ(trim(exec({"stat", "-c", "%F %t:%T", dirs[2] + "/gone"}).out), "character special file 0:0");
  EXPECT_EQ(trim(exec({"getfattr", "--only-values", "-n", "trusted.overlay.opaque", dirs[2] + "/opq"}).out), "y");
  ok({"rm", cid});

  // commit keeps security.capability: a copied-up file (touch) in the new layer has it.
  std::string name = "wh-" + random_suffix();
  ok({"run", "--name", name, ref, "touch", "/cap"});
  ok({"commit", name, "committed/wh:" + name});
  ok({"rm", name});
  std::string cid2 = trim(ok({"create", "committed/wh:" + name, "true"}));
  std::string lower2 = json::parse(ok({"inspect", cid2}))[0]["GraphDriver"]["Data"]["LowerDir"];
  std::string top = split_colons(lower2)[0];
  EXPECT_NE(exec({"getcap", top + "/cap"}).out.find("cap_net_raw=ep"), std::string::npos) << exec({"ls", "-la", top}).out;
  ok({"rm", cid2});
  ok({"rmi", "committed/wh:" + name});
  ok({"rmi", ref});
  EXPECT_EQ(snapshot_count(), snaps);
}

// Mirrors are tried first: the registry named need not even be there.
TEST_F(Registries, AMirrorServesPulls) {
  std::string mirror = start_registry();
  seed(mirror + "/test/mirrored:1");
  configure("[registries.\"127.0.0.1:9\"]\nmirrors = [\"http://" + mirror + "\"]\n");
  Output p = berth({"pull", "127.0.0.1:9/test/mirrored:1"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(ok({"run", "--rm", "127.0.0.1:9/test/mirrored:1", "cat", "/hello"}), "from the registry");
  // Without the mirror: the registry itself, which is not there.
  configure("");
  ok({"rmi", "127.0.0.1:9/test/mirrored:1"});
  EXPECT_EQ(berth({"pull", "127.0.0.1:9/test/mirrored:1"}).code, 1);
}

// A disk that fills while a layer is unpacked: the pull fails and leaves no layer, blob
// or image behind.
TEST_F(Registries, ADiskFullDuringUnpackLeavesNothing) {
  std::string reg = start_registry();
  exec({"mkdir", "-p", root_ + "/zeros", root_ + "/small"});
  exec({"sh", "-c", "head -c 31457280 /dev/zero > " + root_ + "/zeros/big && tar -C " + root_ + "/zeros -cf " + root_ + "/zeros.tar big"});
  std::string layout = root_ + "/zlayout";
  ASSERT_EQ(exec({kMakeLayout, layout, "img", std::string(kBusyboxTar), root_ + "/zeros.tar"}).code, 0);
  ASSERT_EQ(exec({"skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:" + layout + ":img", "docker://" + reg + "/test/zeros:1"}).code, 0);
  std::string small = root_ + "/small";
  ASSERT_EQ(exec({"mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", small}).code, 0);
  struct Unmount {
    std::string path;
    ~Unmount() { exec({"umount", "-l", path}); }
  } unmount{small};
  write_file(small + "/berth.toml", "[engine]\nstate_root = \"" + small + "/state\"\nrun_root = \"" + small +
                                        "/run\"\n[registries.\"docker.io\"]\nblocked = true\n");
  Output o = exec({kBerth, "--config", small + "/berth.toml", "pull", reg + "/test/zeros:1"});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("No space left on device"), std::string::npos) << o.err;
  EXPECT_EQ(trim(exec({kBerth, "--config", small + "/berth.toml", "images", "-a", "-q"}).out), "");
  EXPECT_EQ(trim(exec({"sh", "-c", "ls " + small + "/state/plugins/storage.overlay/snapshots | wc -l"}).out), "0");
  EXPECT_EQ(trim(exec({"sh", "-c", "ls " + small + "/state/images/blobs/sha256 2>/dev/null | wc -l"}).out), "0");
}

// save/load, no registry needed: berth's archives are read by skopeo as both formats,
// skopeo's archives of both formats load, and bad archives make nothing.
TEST_F(Registries, SaveAndLoadBothFormats) {
  std::string snaps = snapshot_count();
  ok({"tag", "busybox", "saved/one:1"});
  std::string id = json::parse(ok({"image", "inspect", "busybox"}))[0]["Id"];
  std::string archive = root_ + "/saved.tar";
  ok({"save", "-o", archive, "busybox", "saved/one:1"});
  auto names = lines(exec({"tar", "tf", archive}).out);
  for (const char* want : {"oci-layout", "index.json", "manifest.json"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  json dm = json::parse(exec({"tar", "-xOf", archive, "manifest.json"}).out);
  ASSERT_EQ(dm.size(), 1u);
  EXPECT_EQ(dm[0]["RepoTags"], json({"busybox:latest", "saved/one:1"}));
  // An independent reader: skopeo sees the same image through either format.
  json viad = json::parse(exec({"skopeo", "inspect", "--config", "docker-archive:" + archive + ":saved/one:1"}).out);
  EXPECT_EQ(viad["rootfs"]["diff_ids"].size(), 1u);
  Output viao = exec({"skopeo", "inspect", "oci-archive:" + archive + ":1"});
  EXPECT_EQ(viao.code, 0) << viao.err;
  Output to_stdout = exec({"sh", "-c", std::string(kBerth) + " --config " + config_ + " save busybox | tar tf - | grep -c blobs/sha256/"});
  EXPECT_EQ(trim(to_stdout.out), "4");  // blobs/sha256/ itself, manifest, config, layer

  ok({"rmi", "busybox", "saved/one:1"});
  EXPECT_EQ(ok({"load", "-i", archive}), "Loaded image: busybox:latest\nLoaded image: saved/one:1");
  EXPECT_EQ(json::parse(ok({"image", "inspect", "saved/one:1"}))[0]["Id"], id);
  EXPECT_EQ(ok({"run", "--rm", "saved/one:1", "echo", "loaded"}), "loaded");
  ok({"rmi", "saved/one:1"});

  // skopeo's archives: docker-archive (named) and oci-archive (gzip layers), via stdin too.
  std::string layout = root_ + "/layout";
  ASSERT_EQ(exec({kMakeLayout, layout, "img", std::string(kBusyboxTar), root_ + "/layers/extra.tar"}).code, 0);
  ASSERT_EQ(exec({"skopeo", "copy", "-q", "oci:" + layout + ":img", "docker-archive:" + root_ + "/d.tar:skopeo/dock:1"}).code, 0);
  ASSERT_EQ(exec({"skopeo", "copy", "-q", "oci:" + layout + ":img", "oci-archive:" + root_ + "/o.tar:skopeo/oci:2"}).code, 0);
  EXPECT_EQ(ok({"load", "-i", root_ + "/d.tar"}), "Loaded image: skopeo/dock:1");
  EXPECT_EQ(ok({"run", "--rm", "skopeo/dock:1", "cat", "/hello"}), "from the registry");
  Output o = berth({"load"}, read_file(root_ + "/o.tar"));
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(trim(o.out), "Loaded image: skopeo/oci:2");
  EXPECT_EQ(ok({"run", "--rm", "skopeo/oci:2", "cat", "/hello"}), "from the registry");
  ok({"rmi", "skopeo/dock:1", "skopeo/oci:2"});

  // Bad archives: not a tar, no manifest, a layer that is not what the config says.
  write_file(root_ + "/junk.tar", "this is not a tar archive");
  EXPECT_EQ(berth({"load", "-i", root_ + "/junk.tar"}).code, 1);
  exec({"mkdir", "-p", root_ + "/empty"});
  write_file(root_ + "/empty/readme", "x");
  exec({"tar", "-C", root_ + "/empty", "-cf", root_ + "/nomanifest.tar", "readme"});
  Output nm = berth({"load", "-i", root_ + "/nomanifest.tar"});
  EXPECT_NE(nm.err.find("neither manifest.json nor index.json"), std::string::npos) << nm.err;
  // The docker-archive with its extra layer swapped for another tar: the diff id fails.
  std::string tampered = root_ + "/tampered";
  exec({"mkdir", "-p", tampered});
  exec({"tar", "-C", tampered, "-xf", root_ + "/d.tar"});
  json m = json::parse(read_file(tampered + "/manifest.json"));
  std::string second = m[0]["Layers"][1];
  exec({"cp", root_ + "/layers/extra.tar", tampered + "/" + second});
  write_file(root_ + "/layers/extra/hello", "tampered\n");
  exec({"tar", "-C", root_ + "/layers/extra", "-cf", tampered + "/" + second, "hello"});
  exec({"sh", "-c", "cd " + tampered + " && tar -cf ../tampered.tar *"});
  Output bad = berth({"load", "-i", root_ + "/tampered.tar"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("but the image config says"), std::string::npos) << bad.err;
  EXPECT_NE(berth({"image", "inspect", "skopeo/dock:1"}).code, 0);
  // An OCI archive (a layout never loaded, so its config is new) with a layer blob whose
  // content is not its name: its manifest (kept as it is) would lie, so the load is
  // refused before anything is unpacked, and leaves no blob.
  std::string otampered = root_ + "/otampered";
  exec({"mkdir", "-p", root_ + "/fresh"});
  write_file(root_ + "/fresh/f", random_suffix() + "\n");
  exec({"tar", "-C", root_ + "/fresh", "-cf", root_ + "/fresh.tar", "f"});
  ASSERT_EQ(exec({kMakeLayout, otampered, "fresh", std::string(kBusyboxTar), root_ + "/fresh.tar"}).code, 0);
  std::string mdigest = json::parse(read_file(otampered + "/index.json"))["manifests"][0]["digest"];
  json om = json::parse(read_file(otampered + "/blobs/sha256/" + mdigest.substr(7)));
  std::string lblob = otampered + "/blobs/sha256/" + om["layers"][1]["digest"].get<std::string>().substr(7);
  exec({"sh", "-c", "gzip -n -c " + tampered + "/" + second + " > " + lblob});
  exec({"sh", "-c", "cd " + otampered + " && tar -cf ../otampered.tar *"});
  auto blob_count = [&] { return trim(exec({"sh", "-c", "ls " + state_ + "/images/blobs/sha256 | wc -l"}).out); };
  std::string blobs_before = blob_count();
  Output obad = berth({"load", "-i", root_ + "/otampered.tar"});
  EXPECT_EQ(blob_count(), blobs_before) << "a refused archive leaves no blob";
  EXPECT_EQ(obad.code, 1);
  EXPECT_NE(obad.err.find("the archive's manifest names layer " + om["layers"][1]["digest"].get<std::string>() +
                          ", but that blob's content is sha256:"),
            std::string::npos)
      << obad.err;
  EXPECT_NE(berth({"image", "inspect", "skopeo/oci:2"}).code, 0);
  EXPECT_EQ(snapshot_count(), snaps);
  EXPECT_EQ(trim(exec({"sh", "-c", "ls " + state_ + "/images/tmp | wc -l"}).out), "0");
}

}  // namespace
}  // namespace berth::it
