// The structural floor of berth's design on this host, with no engine in it: what any
// engine with a per-container monitor pays. The "CLI" forks a monitor; the monitor clones
// a child into new mount, UTS, IPC, PID and network namespaces; the child mounts an
// overlay root, /proc and a /dev tmpfs, pivots into it and execs /bin/true; the monitor
// reaps it, unmounts nothing (the namespace goes with the child) and reports the exit
// code over a pipe to the CLI, which returns it.
//
// usage: floor DIR   (DIR holds lower/ = a busybox root, and empty upper/ work/ merged/)
#define _GNU_SOURCE
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char* what) {
  perror(what);
  _exit(125);
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const char* base = argv[1];
  int report[2];
  if (pipe(report) != 0) die("pipe");
  pid_t monitor = fork();
  if (monitor < 0) die("fork");
  if (monitor == 0) {
    setsid();
    struct clone_args args = {0};
    args.flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET;
    args.exit_signal = SIGCHLD;
    long child = syscall(SYS_clone3, &args, sizeof args);
    if (child < 0) die("clone3");
    if (child == 0) {
      char opts[1024], merged[512];
      snprintf(opts, sizeof opts, "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", base, base, base);
      snprintf(merged, sizeof merged, "%s/merged", base);
      if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("make / private");
      if (mount("overlay", merged, "overlay", 0, opts) != 0) die("mount overlay");
      if (chdir(merged) != 0) die("chdir");
      if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) die("mount /proc");
      if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID, "mode=755") != 0) die("mount /dev");
      if (mknod("dev/null", S_IFCHR | 0666, makedev(1, 3)) != 0) die("mknod /dev/null");
      if (syscall(SYS_pivot_root, ".", ".") != 0) die("pivot_root");
      if (umount2(".", MNT_DETACH) != 0) die("detach the old root");
      if (chdir("/") != 0) die("chdir /");
      execl("/bin/true", "true", (char*)0);
      die("exec");
    }
    int status = 0;
    if (waitpid((pid_t)child, &status, 0) < 0) die("waitpid");
    char code = WIFEXITED(status) ? (char)WEXITSTATUS(status) : 125;
    if (write(report[1], &code, 1) != 1) die("report");
    _exit(0);
  }
  close(report[1]);
  char code = 125;
  if (read(report[0], &code, 1) != 1) code = 125;
  waitpid(monitor, NULL, 0);
  return code;
}
