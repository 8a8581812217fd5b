#include "state/store.hpp"

namespace berth::state {

namespace {
Error db_error(sqlite3* db, const std::string& what) {
  int rc = sqlite3_extended_errcode(db);
  Code code = Code::Internal;
  if ((rc & 0xff) == SQLITE_CONSTRAINT) code = Code::AlreadyExists;
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) code = Code::Unavailable;
  return make_error(code, "state database: " + what + ": " + sqlite3_errmsg(db));
}

// Each entry moves the schema one version forward. Never edit an entry; append.
const char* kMigrations[] = {
    R"sql(
CREATE TABLE containers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  image_id TEXT NOT NULL,
  created_ns INTEGER NOT NULL,
  state TEXT NOT NULL,            -- creating, created, starting, running, exited, removing
  owner_pid INTEGER NOT NULL DEFAULT 0,    -- the process making a transient state
  owner_start INTEGER NOT NULL DEFAULT 0,
  pid INTEGER NOT NULL DEFAULT 0,
  monitor_pid INTEGER NOT NULL DEFAULT 0,
  monitor_start INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER NOT NULL DEFAULT 0,
  started_ns INTEGER NOT NULL DEFAULT 0,
  finished_ns INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  spec TEXT NOT NULL,             -- JSON: Config, HostConfig, Path, Args, ... (see container.hpp)
  runtime TEXT NOT NULL DEFAULT '{}'  -- JSON: cgroup paths and other facts of the current run
);
CREATE INDEX containers_created ON containers(created_ns);
CREATE TABLE images (
  id TEXT PRIMARY KEY,            -- sha256:<hex> of the config blob
  manifest_digest TEXT NOT NULL,
  created_ns INTEGER NOT NULL,
  size INTEGER NOT NULL,
  top_chain_id TEXT NOT NULL      -- snapshot key of the top layer; '' for an empty image
);
CREATE TABLE image_layers (
  image_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  chain_id TEXT NOT NULL,
  diff_id TEXT NOT NULL,
  PRIMARY KEY (image_id, idx)
);
CREATE INDEX image_layers_chain ON image_layers(chain_id);
CREATE TABLE tags (
  ref TEXT PRIMARY KEY,           -- normalized: docker.io/library/busybox:latest
  image_id TEXT NOT NULL
);
CREATE INDEX tags_image ON tags(image_id);
)sql",
    // 2: pause/unpause (the cgroup freezer); a paused container is still "running".
    R"sql(
ALTER TABLE containers ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3: OOMKilled of the last run.
    R"sql(
ALTER TABLE containers ADD COLUMN oom_killed INTEGER NOT NULL DEFAULT 0;
)sql",
    // 4: restart policies. "restarting" is a state owned by the monitor, like "running".
    R"sql(
ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN manually_stopped INTEGER NOT NULL DEFAULT 0;
)sql",
    // 5: networks and their endpoints. An endpoint row is a container's attachment to a
    // network during one run, and holds its address: the UNIQUE index is the IP lease.
    R"sql(
CREATE TABLE networks (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  driver TEXT NOT NULL,
  created_ns INTEGER NOT NULL,
  spec TEXT NOT NULL,               -- JSON: Subnet, IPRange, Gateway, Internal, Options, Labels
  last_ip INTEGER NOT NULL DEFAULT 0  -- the address handed out last (addresses go in order)
);
CREATE TABLE endpoints (
  id TEXT PRIMARY KEY,
  network_id TEXT NOT NULL,
  container_id TEXT NOT NULL,
  ifname TEXT NOT NULL,
  ip INTEGER NOT NULL DEFAULT 0,    -- host order; 0 on networks without addresses
  prefix INTEGER NOT NULL DEFAULT 0,
  mac TEXT NOT NULL DEFAULT '',
  spec TEXT NOT NULL DEFAULT '{}',  -- JSON: Aliases, Ports
  UNIQUE (network_id, container_id)
);
CREATE UNIQUE INDEX endpoints_ip ON endpoints(network_id, ip) WHERE ip != 0;
CREATE INDEX endpoints_container ON endpoints(container_id);
)sql",
    // 6: images from registries. A layer's blob (compressed, as the registry has it) is
    // not its diff id; a repo digest (REPO@sha256:...) names the manifest pulled.
    R"sql(
ALTER TABLE image_layers ADD COLUMN blob_digest TEXT NOT NULL DEFAULT '';
CREATE TABLE repo_digests (
  ref TEXT PRIMARY KEY,           -- docker.io/library/busybox@sha256:<manifest or index>
  image_id TEXT NOT NULL
);
CREATE INDEX repo_digests_image ON repo_digests(image_id);
)sql",
    // 7: the image a commit or build step was made from (Docker's Parent): it cannot be
    // deleted while such a child exists.
    R"sql(
ALTER TABLE images ADD COLUMN parent TEXT NOT NULL DEFAULT '';
CREATE INDEX images_parent ON images(parent);
)sql",
    // 8: the builder's cache: a step's image is found by its parent and the step's key.
    R"sql(
ALTER TABLE images ADD COLUMN build_key TEXT NOT NULL DEFAULT '';
CREATE INDEX images_build ON images(parent, build_key) WHERE build_key != '';
)sql",
};
}  // namespace

Stmt::~Stmt() {
  if (s_ != nullptr) sqlite3_finalize(s_);
}
Stmt& Stmt::bind(int i, const std::string& v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}
Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}
Result<bool> Stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_error(db_, sqlite3_sql(s_));
}
Status Stmt::run() {
  for (;;) {
    BERTH_ASSIGN(bool row, step());
    if (!row) return {};
  }
}
void Stmt::reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}
std::string Stmt::text(int col) const {
  const auto* p = sqlite3_column_text(s_, col);
  return p == nullptr ? "" : std::string(reinterpret_cast<const char*>(p),
                                          static_cast<size_t>(sqlite3_column_bytes(s_, col)));
}
int64_t Stmt::integer(int col) const { return sqlite3_column_int64(s_, col); }
bool Stmt::is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = make_error(Code::Internal, "open state database '" + path + "': " +
                                             (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return e;
  }
  std::unique_ptr<Store> s(new Store(db));
  sqlite3_busy_timeout(db, 30000);
  // WAL: readers never block the writer. synchronous=NORMAL is durable across process
  // crashes (the case that matters here) and much faster than FULL.
  BERTH_TRY(s->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"));
  // Every berth command is a short process, so each one would otherwise be "the last
  // connection": checkpoint, fsync and delete the WAL on close, then the next one
  // recreate it with two more fsyncs (about 1.5 ms per process here). Keep the WAL and
  // leave checkpoints to the automatic one; a small threshold keeps the WAL-index rebuild
  // that a process opening the database alone must do cheap (it reads the whole WAL).
  sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  int persist = 1;
  sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  sqlite3_wal_autocheckpoint(db, 64);
  BERTH_TRY(s->migrate());
  return s;
}

Store::~Store() { sqlite3_close_v2(db_); }

Result<Stmt> Store::prepare(const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st, nullptr) != SQLITE_OK) {
    return db_error(db_, "prepare " + sql);
  }
  return Stmt(db_, st);
}

Status Store::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    Error e = db_error(db_, sql.substr(0, 60));
    e.message = "state database: " + msg;
    return e;
  }
  return {};
}

Status Store::transaction(const std::function<Status()>& fn) {
  BERTH_TRY(exec("BEGIN IMMEDIATE"));
  Status s = fn();
  if (!s) {
    (void)exec("ROLLBACK");
    return s;
  }
  Status c = exec("COMMIT");
  if (!c) {
    (void)exec("ROLLBACK");
  }
  return c;
}

int64_t Store::changes() const { return sqlite3_changes(db_); }

Status Store::migrate() {
  BERTH_ASSIGN(Stmt v, prepare("PRAGMA user_version"));
  BERTH_ASSIGN(bool row, v.step());
  int64_t version = row ? v.integer(0) : 0;
  constexpr int64_t kTarget = sizeof(kMigrations) / sizeof(kMigrations[0]);
  if (version >= kTarget) return {};
  return transaction([&]() -> Status {
    // Re-read under the write lock: another process may have migrated meanwhile.
    BERTH_ASSIGN(Stmt v2, prepare("PRAGMA user_version"));
    BERTH_ASSIGN(bool r2, v2.step());
    int64_t cur = r2 ? v2.integer(0) : 0;
    for (int64_t i = cur; i < kTarget; ++i) {
      BERTH_TRY(exec(kMigrations[i]));
    }
    return exec("PRAGMA user_version=" + std::to_string(kTarget));
  });
}

}  // namespace berth::state
