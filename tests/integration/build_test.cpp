// Dockerfile builds with the classic builder's output and cache, on real containers.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "harness.hpp"

namespace berth::it {
namespace {

using nlohmann::json;

class Builds : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
    ctx_ = root_ + "/ctx";
    exec({"mkdir", "-p", ctx_ + "/dir/sub"});
    write_file(ctx_ + "/a.txt", "hello\n");
    write_file(ctx_ + "/dir/sub/s", "deep\n");
  }
  void TearDown() override {
    for (const auto& id : all_container_ids()) berth({"rm", "-f", id});
    BerthTest::TearDown();
  }
  void dockerfile(const std::string& text) { write_file(ctx_ + "/Dockerfile", text); }
  Output build(std::vector<std::string> flags) {
    std::vector<std::string> args = {"build"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back(ctx_);
    return berth(args);
  }
  size_t count(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  }
  std::string ctx_;
};

TEST_F(Builds, EveryInstructionAndTheClassicOutput) {
  exec({"sh", "-c", "cd " + ctx_ + " && tar -cf arch.tar a.txt dir"});
  dockerfile(
      "# a comment\n"
      "ARG BASE=busybox\n"
      "FROM $BASE AS base\n"
      "MAINTAINER Tester <t@example.com>\n"
      "LABEL team=blue \\\n"
      "      \"the tier\"=\"front end\"\n"
      "ENV GREETING=hi NAME=\"the builder\"\n"
      "ARG VERSION=1.0\n"
      "WORKDIR /app\n"
      "COPY a.txt .\n"
      "COPY --chown=1000:1000 dir /app/dir/\n"
      "ADD arch.tar /unpacked/\n"
      "RUN echo \"$GREETING from $NAME v$VERSION\" > run.txt && id -u > uid.txt\n"
      "RUN [\"sh\", \"-c\", \"echo exec form >> /app/run.txt\"]\n"
      "SHELL [\"/bin/sh\", \"-ec\"]\n"
      "RUN test -f /app/a.txt\n"
      "EXPOSE 80 53/udp\n"
      "VOLUME /data\n"
      "USER 1000\n"
      "STOPSIGNAL SIGINT\n"
      "HEALTHCHECK --interval=5s --retries=2 CMD true\n"
      "ONBUILD RUN echo triggered > /tmp/trigger\n"
      "ENTRYPOINT [\"cat\"]\n"
      "CMD [\"/app/run.txt\"]\n");
  Output o = build({"-t", "built/all:1", "-t", "built/all:2", "--build-arg", "VERSION=2.5", "--label", "via=flag"});
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  auto l = lines(o.out);
  EXPECT_TRUE(std::regex_match(l[0], std::regex("Sending build context to Docker daemon  [0-9.]+kB"))) << l[0];
  EXPECT_EQ(l[1], "Step 1/22 : ARG BASE=busybox");
  EXPECT_EQ(l[2], "Step 2/22 : FROM $BASE AS base");
  EXPECT_TRUE(std::regex_match(l[3], std::regex(" ---> [0-9a-f]{12}"))) << l[3];
  EXPECT_NE(o.out.find("Step 4/22 : LABEL team=blue       \"the tier\"=\"front end\""), std::string::npos) << o.out;
  // Every step after FROM but COPY and ADD (3 of them) had a container, and the --label.
  EXPECT_EQ(count(o.out, " ---> Running in "), 18u);
  EXPECT_EQ(count(o.out, "Removing intermediate container "), 18u);
  EXPECT_TRUE(std::regex_search(o.out, std::regex("Successfully built [0-9a-f]{12}\nSuccessfully tagged built/all:1\nSuccessfully tagged built/all:2\n$")))
      << o.out;
  EXPECT_EQ(ok({"run", "--rm", "built/all:1"}), "hi from the builder v2.5\nexec form");
  EXPECT_EQ(ok({"run", "--rm", "--entrypoint", "cat", "built/all:1", "/app/uid.txt", "/app/a.txt", "/app/dir/sub/s",
                "/unpacked/a.txt", "/unpacked/dir/sub/s"}),
            "0\nhello\ndeep\nhello\ndeep");
  EXPECT_EQ(ok({"run", "--rm", "--entrypoint", "stat", "built/all:1", "-c", "%u:%g", "/app/dir/sub/s", "/app/a.txt"}), "1000:1000\n0:0");
  json c = json::parse(ok({"image", "inspect", "built/all:2"}))[0];
  json cfg = c["Config"];
  EXPECT_EQ(c["Author"], "Tester <t@example.com>");
  EXPECT_EQ(cfg["Labels"]["team"], "blue");
  EXPECT_EQ(cfg["Labels"]["the tier"], "front end");
  EXPECT_EQ(cfg["Labels"]["via"], "flag");
  EXPECT_EQ(cfg["WorkingDir"], "/app");
  EXPECT_EQ(cfg["User"], "1000");
  EXPECT_EQ(cfg["StopSignal"], "SIGINT");
  EXPECT_TRUE(cfg["ExposedPorts"].contains("80/tcp"));
  EXPECT_TRUE(cfg["ExposedPorts"].contains("53/udp"));
  EXPECT_TRUE(cfg["Volumes"].contains("/data"));
  EXPECT_EQ(cfg["Entrypoint"], json({"cat"}));
  EXPECT_EQ(cfg["Cmd"], json({"/app/run.txt"}));
  EXPECT_EQ(cfg["Shell"], json({"/bin/sh", "-ec"}));
  EXPECT_EQ(cfg["Healthcheck"]["Test"], json({"CMD-SHELL", "true"}));
  EXPECT_EQ(cfg["Healthcheck"]["Interval"], 5000000000);
  EXPECT_EQ(cfg["OnBuild"], json({"RUN echo triggered > /tmp/trigger"}));
  bool has_env = false;
  for (const auto& e : cfg["Env"]) has_env |= e == "NAME=the builder";
  EXPECT_TRUE(has_env) << cfg["Env"];
  for (const auto& e : cfg["Env"]) EXPECT_FALSE(e.get<std::string>().rfind("VERSION=", 0) == 0) << "ARGs are not kept";
  // history: the RUN with its build args, as Docker's "|1 VERSION=2.5 /bin/sh -c ...".
  EXPECT_NE(ok({"history", "--no-trunc", "built/all:1"}).find("|1 VERSION=2.5 /bin/sh -c echo"), std::string::npos);
  // ONBUILD runs in the child's build.
  dockerfile("FROM built/all:1\nUSER 0\nENTRYPOINT []\n");
  Output child = build({"-t", "built/child:1"});
  ASSERT_EQ(child.code, 0) << child.out << child.err;
  EXPECT_NE(child.out.find("# Executing 1 build trigger"), std::string::npos) << child.out;
  EXPECT_EQ(ok({"run", "--rm", "built/child:1", "cat", "/tmp/trigger"}), "triggered");
  EXPECT_EQ(lines(ok({"images", "-q"})).size(), 3u) << "intermediate images are listed only with -a";
  ok({"rmi", "built/child:1", "built/all:1", "built/all:2"});
  EXPECT_EQ(lines(ok({"images", "-a", "-q"})).size(), 1u) << ok({"images", "-a"});
}

TEST_F(Builds, TheCacheFollowsInstructionsAndFiles) {
  dockerfile("FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nEXPOSE 80\nCMD [\"cat\", \"/copy\"]\n");
  Output first = build({"-t", "cache/t:1"});
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(count(first.out, "Using cache"), 0u);
  Output again = build({"-t", "cache/t:1"});
  EXPECT_EQ(count(again.out, " ---> Using cache"), 4u) << again.out;
  EXPECT_EQ(count(again.out, "Running in"), 0u);
  // One instruction changed: the steps before it come from the cache, it and the rest not.
  dockerfile("FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nEXPOSE 81\nCMD [\"cat\", \"/copy\"]\n");
  Output changed = build({"-t", "cache/t:2"});
  EXPECT_EQ(count(changed.out, "Using cache"), 2u) << changed.out;
  EXPECT_TRUE(std::regex_search(changed.out, std::regex("Step 4/5 : EXPOSE 81\n ---> Running in [0-9a-f]{12}\n"))) << changed.out;
  // COPY: a new time alone keeps the cache; new content or a new mode does not.
  exec({"touch", "-d", "2001-01-01", ctx_ + "/a.txt"});
  EXPECT_EQ(count(build({"-t", "cache/t:2"}).out, "Using cache"), 4u);
  exec({"chmod", "600", ctx_ + "/a.txt"});
  EXPECT_EQ(count(build({"-t", "cache/t:2"}).out, "Using cache"), 0u);
  write_file(ctx_ + "/a.txt", "changed\n");
  Output content = build({"-t", "cache/t:2"});
  EXPECT_EQ(count(content.out, "Using cache"), 0u);
  EXPECT_EQ(ok({"run", "--rm", "cache/t:2"}), "changed");
  EXPECT_EQ(ok({"run", "--rm", "cache/t:1"}), "hello");
  // The shell and exec forms of one command are different steps.
  dockerfile("FROM busybox\nCMD cat /etc/hostname\n");
  build({"-t", "cache/form:1"});
  dockerfile("FROM busybox\nCMD [\"cat\", \"/etc/hostname\"]\n");
  EXPECT_EQ(count(build({"-t", "cache/form:2"}).out, "Using cache"), 0u);
  EXPECT_EQ(json::parse(ok({"image", "inspect", "cache/form:2"}))[0]["Config"]["Cmd"], json({"cat", "/etc/hostname"}));
  ok({"rmi", "cache/form:1", "cache/form:2"});
  dockerfile("FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nEXPOSE 81\nCMD [\"cat\", \"/copy\"]\n");
  // --no-cache runs every step again.
  EXPECT_EQ(count(build({"--no-cache", "-t", "cache/t:3"}).out, "Using cache"), 0u);
  ok({"rmi", "cache/t:1", "cache/t:2", "cache/t:3"});
}

TEST_F(Builds, MultiStageTargetsDockerignoreAndArgs) {
  write_file(ctx_ + "/secret.key", "do not send\n");
  write_file(ctx_ + "/keep.key", "but this one\n");
  write_file(ctx_ + "/.dockerignore", "# comments too\n*.key\n!keep.key\ndir/**/s\n");
  dockerfile(
      "ARG TAG=latest\n"
      "FROM busybox:${TAG} AS builder\n"
      "COPY . /src\n"
      "RUN ls -A /src | sort > /listing && echo built > /artifact\n"
      "FROM busybox AS other\n"
      "RUN echo other > /other\n"
      "FROM busybox\n"
      "COPY --from=builder /artifact /listing /out/\n"
      "COPY --from=busybox /bin/busybox /copied-busybox\n"
      "CMD [\"cat\", \"/out/artifact\", \"/out/listing\"]\n");
  Output o = build({"-t", "multi/final:1", "--build-arg", "UNUSED=1"});
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_NE(o.out.find("[Warning] One or more build-args [UNUSED] were not consumed"), std::string::npos) << o.out;
  // .dockerignore: excluded files never reach the image; "!" brings one back.
  EXPECT_EQ(ok({"run", "--rm", "multi/final:1"}), "built\n.dockerignore\nDockerfile\na.txt\ndir\nkeep.key");
  EXPECT_EQ(ok({"run", "--rm", "multi/final:1", "test", "-x", "/copied-busybox"}), "");
  EXPECT_NE(berth({"run", "--rm", "multi/final:1", "cat", "/other"}).code, 0) << "only the target stage is the image";
  // --target: an earlier stage is the image.
  Output t = build({"--target", "builder", "-t", "multi/builder:1"});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(ok({"run", "--rm", "multi/builder:1", "cat", "/artifact"}), "built");
  Output bad_target = build({"--target", "nosuch"});
  EXPECT_NE(bad_target.err.find("failed to reach build target nosuch in Dockerfile"), std::string::npos) << bad_target.err;
  ok({"rmi", "multi/final:1", "multi/builder:1"});
}

// FROM scratch, and a Dockerfile named with -f outside the context.
TEST_F(Builds, ScratchImagesAndDashF) {
  write_file(root_ + "/Other.dockerfile",
             "FROM scratch\nCOPY --from=busybox /bin/busybox /busybox\nCOPY a.txt /a.txt\nCMD [\"/busybox\", \"cat\", \"/a.txt\"]\n");
  Output o = build({"-f", root_ + "/Other.dockerfile", "-t", "scratch/img:1"});
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_NE(o.out.find("Step 1/4 : FROM scratch\nStep 2/4 : COPY --from=busybox"), std::string::npos) << o.out;
  EXPECT_EQ(ok({"run", "--rm", "scratch/img:1"}), "hello");
  json img = json::parse(ok({"image", "inspect", "scratch/img:1"}))[0];
  EXPECT_EQ(img["RootFS"]["Layers"].size(), 2u);
  EXPECT_NE(berth({"run", "--rm", "scratch/img:1", "/bin/sh", "-c", "true"}).code, 0) << "nothing but what was copied";
  ok({"rmi", "scratch/img:1"});
}

TEST_F(Builds, AddFetchesUrlsFromALocalServer) {
  // A one-shot HTTP server on 127.0.0.1, the test's own.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::listen(s, 4);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  std::atomic<int> served{0};
  std::thread server([&] {
    for (int i = 0; i < 2; ++i) {
      int c = ::accept(s, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)::read(c, buf, sizeof buf);
      std::string body = "fetched over http\n";
      std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      (void)::write(c, resp.data(), resp.size());
      ::close(c);
      ++served;
    }
  });
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/files/remote.txt";
  dockerfile("FROM busybox\nADD " + url + " /downloads/\n");
  Output o = build({"-t", "add/url:1"});
  EXPECT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_EQ(ok({"run", "--rm", "add/url:1", "cat", "/downloads/remote.txt"}), "fetched over http");
  EXPECT_EQ(ok({"run", "--rm", "add/url:1", "stat", "-c", "%a", "/downloads/remote.txt"}), "600");
  // Fetched again on a rebuild; the same bytes keep the cache.
  Output again = build({"-t", "add/url:1"});
  EXPECT_EQ(count(again.out, "Using cache"), 1u) << again.out;
  EXPECT_EQ(served.load(), 2);
  ::shutdown(s, SHUT_RDWR);
  ::close(s);
  server.join();
  ok({"rmi", "add/url:1"});
}

TEST_F(Builds, FailuresStopWithTheirCodeAndLeaveNothing) {
  std::string snaps = snapshot_count();
  dockerfile("FROM busybox\nRUN echo before > /x\nRUN echo failing; exit 3\nRUN echo never\n");
  Output o = build({"-t", "fail/x:1"});
  EXPECT_EQ(o.code, 3) << o.out << o.err;
  EXPECT_NE(o.err.find("The command '/bin/sh -c echo failing; exit 3' returned a non-zero code: 3"), std::string::npos) << o.err;
  EXPECT_NE(o.out.find("failing"), std::string::npos);
  EXPECT_EQ(o.out.find("Step 4/4"), std::string::npos);
  EXPECT_TRUE(all_container_ids().empty()) << "no temporary container left";
  EXPECT_NE(berth({"image", "inspect", "fail/x:1"}).code, 0);
  // Bad Dockerfiles and sources: named errors, nothing made.
  dockerfile("FROM busybox\nFROBNICATE x\n");
  Output unknown = build({});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("unknown instruction: FROBNICATE"), std::string::npos) << unknown.err;
  dockerfile("FROM busybox\nCOPY missing.txt /\n");
  Output missing = build({});
  EXPECT_NE(missing.err.find("file not found in build context or excluded by .dockerignore: stat missing.txt"), std::string::npos)
      << missing.err;
  dockerfile("FROM busybox\nCOPY ../outside /\n");
  EXPECT_NE(build({}).err.find("forbidden path outside the build context"), std::string::npos);
  dockerfile("FROM busybox\nCOPY a.txt dir /notadir\n");
  EXPECT_NE(build({}).err.find("the destination must be a directory and end with a /"), std::string::npos);
  EXPECT_TRUE(all_container_ids().empty());
  // The failed build's steps that succeeded stay as cache (as Docker's); removing the
  // last of them takes its parents, and nothing else is left.
  for (const auto& id : lines(ok({"images", "-q"}))) {
    if (id != json::parse(ok({"image", "inspect", "busybox"}))[0]["Id"].get<std::string>().substr(7, 12)) ok({"rmi", id});
  }
  EXPECT_EQ(snapshot_count(), snaps);
}

}  // namespace
}  // namespace berth::it
