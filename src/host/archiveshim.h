/* libarchive, loaded on first use with dlopen("libarchive.so.13").
 *
 * Only the image fetch helper kleene-fetch extracts archives (kleened never does, see
 * host/fetch.h); linking libarchive would load it and its dependencies (libxml2, libicuuc,
 * libstdc++, ...) into every program that links the host library, at start. The libarchive headers
 * give the types and constants; the functions host/linux/archive.c uses are resolved here, with
 * their declared types. Loading is thread-safe; once loaded the table never changes. */
#ifndef KL_HOST_ARCHIVESHIM_H
#define KL_HOST_ARCHIVESHIM_H

#include "lib/error.h"

#include <archive.h>
#include <archive_entry.h>

#define ARCHIVESHIM_FN(name) __typeof__(archive_##name) *name

typedef struct archiveshim {
    ARCHIVESHIM_FN(read_new);
    ARCHIVESHIM_FN(read_support_filter_all);
    ARCHIVESHIM_FN(read_support_format_all);
    ARCHIVESHIM_FN(read_support_format_raw);
    ARCHIVESHIM_FN(read_data);
    ARCHIVESHIM_FN(read_open);
    ARCHIVESHIM_FN(read_next_header);
    ARCHIVESHIM_FN(read_data_block);
    ARCHIVESHIM_FN(read_free);
    ARCHIVESHIM_FN(error_string);
    ARCHIVESHIM_FN(set_error);
    ARCHIVESHIM_FN(entry_pathname);
    ARCHIVESHIM_FN(entry_filetype);
    ARCHIVESHIM_FN(entry_hardlink);
    ARCHIVESHIM_FN(entry_symlink);
    ARCHIVESHIM_FN(entry_mode);
    ARCHIVESHIM_FN(entry_uid);
    ARCHIVESHIM_FN(entry_gid);
    ARCHIVESHIM_FN(entry_mtime);
    ARCHIVESHIM_FN(entry_mtime_nsec);
    ARCHIVESHIM_FN(entry_size);
    ARCHIVESHIM_FN(entry_size_is_set);
    ARCHIVESHIM_FN(entry_xattr_reset);
    ARCHIVESHIM_FN(entry_xattr_next);
} archiveshim;

/* Load libarchive once. Returns the function table, or NULL with ENOPKG "extracting
 * archives needs libarchive (libarchive13): <dlerror>". A failed load is retried on the
 * next call. */
const archiveshim *archiveshim_get(kl_error *err);

#endif
