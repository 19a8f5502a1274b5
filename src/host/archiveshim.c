/* dlopen shim for libarchive (see archiveshim.h). */
#include "host/archiveshim.h"
#include "lib/dl.h"

#include <errno.h>

static archiveshim shim;

static const kl_dl_sym syms[] = {
    {"archive_read_new", (void **)&shim.read_new},
    {"archive_read_support_filter_all", (void **)&shim.read_support_filter_all},
    {"archive_read_support_format_all", (void **)&shim.read_support_format_all},
    {"archive_read_support_format_raw", (void **)&shim.read_support_format_raw},
    {"archive_read_data", (void **)&shim.read_data},
    {"archive_read_open", (void **)&shim.read_open},
    {"archive_read_next_header", (void **)&shim.read_next_header},
    {"archive_read_data_block", (void **)&shim.read_data_block},
    {"archive_read_free", (void **)&shim.read_free},
    {"archive_error_string", (void **)&shim.error_string},
    {"archive_set_error", (void **)&shim.set_error},
    {"archive_entry_pathname", (void **)&shim.entry_pathname},
    {"archive_entry_filetype", (void **)&shim.entry_filetype},
    {"archive_entry_hardlink", (void **)&shim.entry_hardlink},
    {"archive_entry_symlink", (void **)&shim.entry_symlink},
    {"archive_entry_mode", (void **)&shim.entry_mode},
    {"archive_entry_uid", (void **)&shim.entry_uid},
    {"archive_entry_gid", (void **)&shim.entry_gid},
    {"archive_entry_mtime", (void **)&shim.entry_mtime},
    {"archive_entry_mtime_nsec", (void **)&shim.entry_mtime_nsec},
    {"archive_entry_size", (void **)&shim.entry_size},
    {"archive_entry_size_is_set", (void **)&shim.entry_size_is_set},
    {"archive_entry_xattr_reset", (void **)&shim.entry_xattr_reset},
    {"archive_entry_xattr_next", (void **)&shim.entry_xattr_next},
};

static kl_dl_lib lib = KL_DL_LIB("libarchive.so.13", "libarchive13", syms, NULL);

const archiveshim *archiveshim_get(kl_error *err)
{
    return kl_dl_load(&lib, "extracting archives needs libarchive", err) < 0 ? NULL : &shim;
}
