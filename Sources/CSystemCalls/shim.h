// The C calls whose results are glibc structs (`stat`, `timespec`, `tm`), reduced to plain values, for the
// system-call files of CamwatchMonitor and CamwatchDaemon (and CamwatchCheckpoint's child-process pipe). Those
// structs are declared by headers several Clang modules include textually (Glibc, CoreFoundation, Dispatch),
// and which of them a build picks as the owner varies with the order modules load; Swift's member-import
// visibility then demands an import of that module before `st_ino` or `tv_sec` may be read, and a clean build
// failed on it. Reading the fields here keeps every Swift caller independent of that choice.
#ifndef CAMWATCH_CSYSTEMCALLS_SHIM_H
#define CAMWATCH_CSYSTEMCALLS_SHIM_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

// pipe2 is declared by <unistd.h> only under _GNU_SOURCE, which Swift's Glibc module does not define; the
// symbol is always in glibc.
int pipe2(int pipefd[2], int flags);

/// A pipe whose two ends are close-on-exec from the start (ChildProcess): set afterwards with fcntl, a child
/// another thread spawns in between would inherit the write end and hold the reader's end-of-file back.
static inline int camwatch_pipe_cloexec(int ends[2]) { return pipe2(ends, O_CLOEXEC); }

/// posix_spawn's flag for a child that calls setsid() first (glibc 2.26; <spawn.h> declares it only under
/// _GNU_SOURCE): ChildProcess starts `camwatch watch` in a session of its own with it.
enum { CAMWATCH_POSIX_SPAWN_SETSID = 0x80 };

/// CLOCK_MONOTONIC in microseconds (systemd's `MONOTONIC_USEC`).
static inline int64_t camwatch_monotonic_microseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + (int64_t)now.tv_nsec / 1000;
}

typedef struct {
    uint64_t device;
    uint64_t inode;
    int64_t size;
    int64_t modification_nanoseconds;
    uint64_t link_count;
    int is_regular_file;
    int is_directory;
} camwatch_file_status;

static inline void camwatch_copy_status(const struct stat *status, camwatch_file_status *out) {
    out->device = (uint64_t)status->st_dev;
    out->inode = (uint64_t)status->st_ino;
    out->size = (int64_t)status->st_size;
    out->modification_nanoseconds = (int64_t)status->st_mtim.tv_sec * 1000000000 + (int64_t)status->st_mtim.tv_nsec;
    out->link_count = (uint64_t)status->st_nlink;
    out->is_regular_file = S_ISREG(status->st_mode);
    out->is_directory = S_ISDIR(status->st_mode);
}

/// `lstat` (`follow` 0) or `stat` (`follow` 1) of `path`; 0, or -1 with `errno` set.
static inline int camwatch_path_status(const char *path, int follow, camwatch_file_status *out) {
    struct stat status;
    int result = follow ? stat(path, &status) : lstat(path, &status);
    if (result == 0) camwatch_copy_status(&status, out);
    return result;
}

/// `fstat` of `descriptor`; 0, or -1 with `errno` set.
static inline int camwatch_descriptor_status(int descriptor, camwatch_file_status *out) {
    struct stat status;
    int result = fstat(descriptor, &status);
    if (result == 0) camwatch_copy_status(&status, out);
    return result;
}

/// `seconds` (Unix time) as `20250102T030405Z` into `out` (at least 17 bytes); 0, or -1 when the time cannot
/// be converted.
static inline int camwatch_utc_stamp(int64_t seconds, char *out, size_t size) {
    time_t time = (time_t)seconds;
    struct tm parts;
    if (gmtime_r(&time, &parts) == NULL) return -1;
    return strftime(out, size, "%Y%m%dT%H%M%SZ", &parts) > 0 ? 0 : -1;
}

#endif
