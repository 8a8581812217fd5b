// The image store through the CLI: import, images, tag, rmi, image inspect, and hostile
// tarballs.

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "harness.hpp"

namespace berth::it {
namespace {

using nlohmann::json;

struct Entry {
  std::string path;
  std::string content;        // regular file
  std::string symlink;        // when set, a symlink to this target
  std::string hardlink;       // when set, a hard link to this path
  bool dir = false;
};

void write_tar(const std::string& out, const std::vector<Entry>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK);
  for (const auto& e : entries) {
    archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.path.c_str());
    if (e.dir) {
      archive_entry_set_filetype(en, AE_IFDIR);
      archive_entry_set_perm(en, 0755);
    } else if (!e.symlink.empty()) {
      archive_entry_set_filetype(en, AE_IFLNK);
      archive_entry_set_symlink(en, e.symlink.c_str());
      archive_entry_set_perm(en, 0777);
    } else if (!e.hardlink.empty()) {
      archive_entry_set_hardlink(en, e.hardlink.c_str());
      archive_entry_set_size(en, 0);
    } else {
      archive_entry_set_filetype(en, AE_IFREG);
      archive_entry_set_perm(en, 0644);
      archive_entry_set_size(en, static_cast<la_int64_t>(e.content.size()));
    }
    archive_write_header(a, en);
    if (!e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
}

class Images : public BerthTest {
 protected:
  json image_inspect(const std::string& ref) {
    Output o = berth({"image", "inspect", ref});
    EXPECT_EQ(o.code, 0) << o.err;
    json j = json::parse(o.out, nullptr, false);
    return j.is_array() && !j.empty() ? j[0] : json::object();
  }
  std::string blob_count() {
    return trim(exec({"sh", "-c", "ls " + state_ + "/images/blobs/sha256 2>/dev/null | wc -l"}).out);
  }
};

TEST_F(Images, ImportWithChangesSetsTheConfig) {
  Output o = berth({"import", "-c", "ENTRYPOINT [\"/bin/sh\", \"-c\"]", "-c", "CMD [\"echo $GREETING from $(pwd)\"]",
                    "-c", "ENV GREETING=hi", "-c", "WORKDIR /srv/app", "-m", "made by a test", kBusyboxTar,
                    "changed:v1"});
  ASSERT_EQ(o.code, 0) << o.err;
  std::string id = trim(o.out);
  EXPECT_TRUE(std::regex_match(id, std::regex("sha256:[0-9a-f]{64}"))) << id;
  json j = image_inspect("changed:v1");
  EXPECT_EQ(j["Id"], id);
  EXPECT_EQ(j["RepoTags"], json::array({"changed:v1"}));
  EXPECT_EQ(j["Config"]["Entrypoint"], json::array({"/bin/sh", "-c"}));
  EXPECT_EQ(j["Config"]["Cmd"], json::array({"echo $GREETING from $(pwd)"}));
  EXPECT_EQ(j["Config"]["WorkingDir"], "/srv/app");
  EXPECT_EQ(j["Comment"], "made by a test");
  EXPECT_EQ(j["RootFS"]["Layers"].size(), 1u);
  EXPECT_EQ(ok({"run", "--rm", "changed:v1"}), "hi from /srv/app");
  // Shell-form CMD is wrapped in /bin/sh -c, as Docker does.
  ok({"import", "-c", "CMD echo shell form", kBusyboxTar, "shellform"});
  EXPECT_EQ(image_inspect("shellform")["Config"]["Cmd"], json::array({"/bin/sh", "-c", "echo shell form"}));
  Output bad = berth({"import", "-c", "FROB x", kBusyboxTar, "bad"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("FROB"), std::string::npos) << bad.err;
  // The store is an OCI image layout.
  EXPECT_NE(read_file(state_ + "/images/oci-layout").find("imageLayoutVersion"), std::string::npos);
}

TEST_F(Images, ImagesTagAndRmi) {
  import_busybox();
  std::string repo = unique("repo");
  ok({"tag", "busybox", repo + ":v2"});
  std::vector<std::string> rows = lines(berth({"images"}).out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(std::regex_match(rows[0], std::regex("REPOSITORY +TAG +IMAGE ID +CREATED +SIZE"))) << rows[0];
  std::string all = berth({"images"}).out;
  EXPECT_TRUE(std::regex_search(all, std::regex("busybox +latest +[0-9a-f]{12} +.* ago +[0-9.]+MB"))) << all;
  EXPECT_TRUE(std::regex_search(all, std::regex(repo + " +v2 +[0-9a-f]{12}"))) << all;
  // Both tags name one image.
  EXPECT_EQ(lines(berth({"images", "-q"}).out).size(), 1u);
  EXPECT_EQ(ok({"rmi", repo + ":v2"}), "Untagged: " + repo + ":v2");
  EXPECT_EQ(lines(berth({"images"}).out).size(), 2u);
  Output missing = berth({"tag", "nope-" + random_suffix(), "x"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("No such image"), std::string::npos) << missing.err;
  std::string out = ok({"rmi", "busybox"});
  EXPECT_NE(out.find("Untagged: busybox:latest"), std::string::npos) << out;
  EXPECT_NE(out.find("Deleted: sha256:"), std::string::npos) << out;
  EXPECT_EQ(lines(berth({"images"}).out).size(), 1u);
  EXPECT_EQ(snapshot_count(), "0");
  EXPECT_EQ(blob_count(), "0");
}

TEST_F(Images, TheStoreIsAnOciImageLayoutThatSkopeoReads) {
  import_busybox();
  std::string repo = unique("oci");
  ok({"tag", "busybox", repo + ":v2"});
  const std::string layout = state_ + "/images";
  EXPECT_EQ(json::parse(read_file(layout + "/oci-layout")), json({{"imageLayoutVersion", "1.0.0"}}));

  // index.json names the image's manifest once per tag, by full reference.
  json index = json::parse(read_file(layout + "/index.json"));
  EXPECT_EQ(index["schemaVersion"], 2);
  ASSERT_EQ(index["manifests"].size(), 2u) << index.dump();
  std::set<std::string> names;
  std::string manifest_digest = index["manifests"][0]["digest"];
  for (const auto& m : index["manifests"]) {
    names.insert(m["annotations"]["org.opencontainers.image.ref.name"].get<std::string>());
    EXPECT_EQ(m["digest"], manifest_digest);
    EXPECT_EQ(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  }
  EXPECT_EQ(names, (std::set<std::string>{"docker.io/library/busybox:latest", "docker.io/library/" + repo + ":v2"}));
  std::string manifest_blob = layout + "/blobs/sha256/" + manifest_digest.substr(7);
  EXPECT_EQ(index["manifests"][0]["size"], read_file(manifest_blob).size());
  json manifest = json::parse(read_file(manifest_blob));
  EXPECT_EQ(manifest["config"]["digest"], image_inspect("busybox")["Id"]);

  // Every blob is named by the SHA-256 of its bytes.
  Output sums = exec({"sh", "-c", "cd '" + layout + "/blobs/sha256' && for f in *; do echo \"$f  $f\"; done | sha256sum -c --quiet"});
  EXPECT_EQ(sums.code, 0) << sums.out << sums.err;

  // An independent client copies the image out by its name in the layout, byte for byte.
  std::string out = root_ + "/skopeo-out";
  Output copy = exec({"skopeo", "copy", "-q", "oci:" + layout + ":docker.io/library/" + repo + ":v2", "dir:" + out});
  ASSERT_EQ(copy.code, 0) << copy.err;
  EXPECT_EQ(read_file(out + "/manifest.json"), read_file(manifest_blob));
  for (const auto& l : manifest["layers"]) {
    EXPECT_TRUE(exists(out + "/" + l["digest"].get<std::string>().substr(7))) << l.dump();
  }

  // A change whose index cannot be written is refused and undone (index.json made a
  // directory, which the rename of the new index cannot replace).
  ASSERT_EQ(::rename((layout + "/index.json").c_str(), (layout + "/index.saved").c_str()), 0);
  ASSERT_EQ(::mkdir((layout + "/index.json").c_str(), 0755), 0);
  Output refused = berth({"tag", "busybox", repo + ":v3"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("index.json"), std::string::npos) << refused.err;
  EXPECT_NE(berth({"image", "inspect", repo + ":v3"}).code, 0) << "the tag was rolled back";
  ASSERT_EQ(::rmdir((layout + "/index.json").c_str()), 0);
  ASSERT_EQ(::rename((layout + "/index.saved").c_str(), (layout + "/index.json").c_str()), 0);
  EXPECT_EQ(json::parse(read_file(layout + "/index.json"))["manifests"].size(), 2u);

  // Untagging and removing keep it current.
  ok({"rmi", repo + ":v2"});
  index = json::parse(read_file(layout + "/index.json"));
  ASSERT_EQ(index["manifests"].size(), 1u) << index.dump();
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "docker.io/library/busybox:latest");
  EXPECT_NE(exec({"skopeo", "inspect", "oci:" + layout + ":docker.io/library/" + repo + ":v2"}).code, 0);
  ok({"rmi", "busybox"});
  EXPECT_TRUE(json::parse(read_file(layout + "/index.json"))["manifests"].empty());
}

TEST_F(Images, TheSetUpMakesTheDefaultImageOnceFromBusyboxStatic) {
  // What the quick start runs, against this test's state (BERTH_CONFIG, as a user would).
  const std::vector<std::string> env = {"BERTH_CONFIG=" + config_};
  Output first = exec({"bash", ENSURE_DEFAULT_IMAGE, kBerth}, "", 120, env);
  ASSERT_EQ(first.code, 0) << first.err;
  json image = image_inspect("busybox:latest");
  ASSERT_TRUE(image.contains("Id")) << image.dump();
  EXPECT_EQ(image["Config"]["Cmd"], json({"sh"}));
  EXPECT_EQ(ok({"run", "--rm", "busybox", "echo", "hello from berth"}), "hello from berth");
  // Its userland is Debian's busybox-static: the image's busybox is that binary.
  std::string id = ok({"create", "busybox", "true"});
  std::string copied = root_ + "/busybox-copied";
  ok({"cp", id + ":/bin/busybox", copied});
  ok({"rm", id});
  EXPECT_EQ(read_file(copied), read_file("/bin/busybox"));
  // Present already: left as it is.
  Output again = exec({"bash", ENSURE_DEFAULT_IMAGE, kBerth}, "", 120, env);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(image_inspect("busybox:latest")["Id"], image["Id"]);
  EXPECT_EQ(lines(ok({"images", "-q"})).size(), 1u);
}

TEST_F(Images, RmiIsRefusedWhileAnyContainerUsesTheImage) {
  import_busybox();
  std::string stopped = ok({"create", "busybox", "true"});
  Output o = berth({"rmi", "busybox"});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("container " + stopped.substr(0, 12) + " is using its referenced image"), std::string::npos)
      << o.err;
  std::string running = ok({"run", "-d", "busybox", "sleep", "60"});
  std::string id = image_inspect("busybox")["Id"];
  Output byid = berth({"rmi", id.substr(7, 12)});
  EXPECT_EQ(byid.code, 1);
  EXPECT_NE(byid.err.find("image is being used by running container " + running.substr(0, 12)), std::string::npos)
      << byid.err;
  // -f drops the name; the containers keep their image.
  Output forced = berth({"rmi", "-f", "busybox"});
  EXPECT_EQ(forced.code, 0) << forced.err;
  EXPECT_NE(forced.out.find("Untagged: busybox:latest"), std::string::npos);
  EXPECT_EQ(ok({"start", "-a", stopped}), "");
  EXPECT_NE(ok({"images"}).find("<none>"), std::string::npos);
}

TEST_F(Images, CorruptTarballIsRefusedAndNothingIsHalfImported) {
  import_busybox();
  std::string blobs = blob_count();
  std::string snaps = snapshot_count();
  std::string garbage = root_ + "/garbage.tar";
  write_file(garbage, std::string(10000, 'x'));
  Output o = berth({"import", garbage, "garbage"});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("import"), std::string::npos) << o.err;
  // A tarball cut in the middle of a file.
  std::string truncated = root_ + "/truncated.tar";
  exec({"sh", "-c", std::string("head -c 300000 ") + kBusyboxTar + " > " + truncated});
  Output t = berth({"import", truncated, "truncated"});
  EXPECT_EQ(t.code, 1) << t.out;
  EXPECT_EQ(lines(berth({"images"}).out).size(), 2u);
  EXPECT_EQ(blob_count(), blobs);
  EXPECT_EQ(snapshot_count(), snaps);
  EXPECT_TRUE(mounts_containing(root_).empty());
}

TEST_F(Images, TarEntriesCannotEscapeTheRoot) {
  std::string outside = root_ + "/outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0755), 0);
  const std::string blobs = blob_count(), snaps = snapshot_count();
  auto nothing_half_imported = [&](const std::string& ref) {
    EXPECT_NE(berth({"image", "inspect", ref}).code, 0) << ref;
    EXPECT_EQ(blob_count(), blobs) << ref;
    EXPECT_EQ(snapshot_count(), snaps) << ref;
  };
  // A file of an image, read through a container made from it (cp needs no running one).
  auto file_in = [&](const std::string& image, const std::string& path) {
    std::string id = ok({"create", image, "/none"});
    std::string got = root_ + "/got-" + random_suffix();
    Output c = berth({"cp", id + ":" + path, got});
    ok({"rm", id});
    return c.code == 0 ? read_file(got) : "(cp failed: " + c.err + ")";
  };
  // `../`: refused outright.
  std::string dotdot = root_ + "/dotdot.tar";
  write_tar(dotdot, {{"bin", "", "", "", true}, {"../../../../../.." + outside + "/escaped", "x"}});
  Output o = berth({"import", dotdot, "dotdot"});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find(".."), std::string::npos) << o.err;
  nothing_half_imported("dotdot");
  // Absolute names are taken relative to the image root.
  std::string abs = root_ + "/abs.tar";
  write_tar(abs, {{outside + "/absolute", "inside the image\n"}});
  ok({"import", abs, "abs"});
  EXPECT_FALSE(exists(outside + "/absolute"));
  EXPECT_EQ(file_in("abs", outside + "/absolute"), "inside the image\n");
  // A symlink used as a parent directory: the later entry's directory replaces the link,
  // inside the layer; nothing is written where the link pointed.
  std::string link = root_ + "/link.tar";
  write_tar(link, {{"escape", "", outside}, {"escape/pwned", "gotcha\n"}});
  Output l = berth({"import", link, "link"});
  EXPECT_EQ(l.code, 0) << l.err;
  EXPECT_FALSE(exists(outside + "/pwned")) << l.err;
  EXPECT_EQ(file_in("link", "/escape/pwned"), "gotcha\n");
  // A hard link to a file outside the image.
  std::string hard = root_ + "/hard.tar";
  write_file(outside + "/secret", "secret\n");
  write_tar(hard, {{"stolen", "", "", outside + "/secret"}});
  const std::string blobs_now = blob_count(), snaps_now = snapshot_count();
  Output h = berth({"import", hard, "hard"});
  EXPECT_EQ(h.code, 1) << h.out;
  EXPECT_NE(berth({"image", "inspect", "hard"}).code, 0);
  EXPECT_EQ(blob_count(), blobs_now);
  EXPECT_EQ(snapshot_count(), snaps_now);
  EXPECT_EQ(read_file(outside + "/secret"), "secret\n");
  EXPECT_EQ(trim(exec({"ls", outside}).out), "secret");
}

}  // namespace
}  // namespace berth::it
