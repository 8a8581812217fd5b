#pragma once

// The engine's crash-safe state: one SQLite database in WAL mode under the state root.
// Several berth processes use it at once; writers serialise through BEGIN IMMEDIATE with a
// busy timeout. A connection is never carried across fork(): close() before forking and
// open again in each process.

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "berth/sdk/result.hpp"

namespace berth::state {

class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_) { o.s_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Stmt& bind(int i, const std::string& v);
  Stmt& bind(int i, int64_t v);
  Stmt& bind_null(int i);
  // True while a row is available; errors become an Error.
  Result<bool> step();
  Status run();  // step until done
  void reset();  // ready to step again (bindings cleared), for statements kept across uses
  std::string text(int col) const;
  int64_t integer(int col) const;
  bool is_null(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<Stmt> prepare(const std::string& sql);
  Status exec(const std::string& sql);
  // Runs fn inside BEGIN IMMEDIATE ... COMMIT; rolls back if fn fails.
  Status transaction(const std::function<Status()>& fn);
  int64_t changes() const;

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status migrate();
  sqlite3* db_;
};

}  // namespace berth::state
