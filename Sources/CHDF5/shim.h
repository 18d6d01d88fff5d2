#ifndef CHDF5_SHIM_H
#define CHDF5_SHIM_H
// What Swift cannot import from hdf5.h, as static inline functions: the H5T_NATIVE_* / H5P_* constants
// (macros of the form `(H5open(), H5T_NATIVE_FLOAT_g)`), the API-version-mapped H5O calls, and the
// error-stack walk (a C callback). Only CamwatchHDF5 imports this module.
#include <hdf5.h>
#include <string.h>

// MARK: - Constants

static inline hid_t chdf5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_s_all(void) { return H5S_ALL; }
static inline unsigned chdf5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline size_t chdf5_t_variable(void) { return H5T_VARIABLE; }

static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t chdf5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t chdf5_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t chdf5_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t chdf5_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t chdf5_c_s1(void) { return H5T_C_S1; }

// MARK: - Errors

/// Stops libhdf5 printing its error stack to stderr; camwatch reports errors itself.
/// With a thread-safe libhdf5 the setting is per thread, so call it on every entry.
static inline herr_t chdf5_silence_errors(void) { return H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct {
    char *buffer;
    size_t capacity;
} chdf5_message_sink;

static inline herr_t chdf5_take_innermost_(unsigned n, const H5E_error2_t *error, void *data) {
    chdf5_message_sink *sink = (chdf5_message_sink *)data;
    if (n == 0 && error != NULL && error->desc != NULL && sink->capacity > 0) {
        strncpy(sink->buffer, error->desc, sink->capacity - 1);
        sink->buffer[sink->capacity - 1] = '\0';
    }
    return 0;
}

/// The innermost message of the calling thread's error stack (where the failure was detected,
/// e.g. "truncated file: eof = 600000, sblock->base_addr = 0, stored_eof = 1051008"), or "".
static inline const char *chdf5_innermost_error(void) {
    static _Thread_local char buffer[512];
    buffer[0] = '\0';
    chdf5_message_sink sink = {buffer, sizeof buffer};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, chdf5_take_innermost_, &sink);
    return buffer;
}

// MARK: - Property lists

/// A file-access property list that never takes a file lock (a trainer may be rewriting the file)
/// and closes every open object with the file.
static inline hid_t chdf5_fapl_unlocked(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    if (H5Pset_file_locking(fapl, 0, 1) < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/// A link-creation property list that creates missing intermediate groups ("a/b/c").
static inline hid_t chdf5_lcpl_intermediate(void) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl < 0) return -1;
    if (H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        H5Pclose(lcpl);
        return -1;
    }
    return lcpl;
}

// MARK: - Objects and links

/// Object kinds as reported by `chdf5_object_info`.
enum { CHDF5_OBJECT_GROUP = 0, CHDF5_OBJECT_DATASET = 1, CHDF5_OBJECT_DATATYPE = 2, CHDF5_OBJECT_OTHER = 3 };

/// The kind, file address and attribute count of the object `name` relative to `loc`.
static inline herr_t chdf5_object_info(hid_t loc, const char *name, int *kind, uint64_t *address,
                                       uint64_t *attribute_count) {
    H5O_info_t info;
    if (H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS, H5P_DEFAULT) < 0) return -1;
    switch (info.type) {
    case H5O_TYPE_GROUP: *kind = CHDF5_OBJECT_GROUP; break;
    case H5O_TYPE_DATASET: *kind = CHDF5_OBJECT_DATASET; break;
    case H5O_TYPE_NAMED_DATATYPE: *kind = CHDF5_OBJECT_DATATYPE; break;
    default: *kind = CHDF5_OBJECT_OTHER; break;
    }
    *address = (uint64_t)info.addr;
    *attribute_count = (uint64_t)info.num_attrs;
    return 0;
}

/// 1 if the link `name` in `loc` is a hard link, 0 if soft or external, negative on failure.
static inline int chdf5_link_is_hard(hid_t loc, const char *name) {
    H5L_info_t info;
    if (H5Lget_info(loc, name, &info, H5P_DEFAULT) < 0) return -1;
    return info.type == H5L_TYPE_HARD ? 1 : 0;
}

/// The number of links in the group `loc`, or negative on failure.
static inline int64_t chdf5_link_count(hid_t loc) {
    H5G_info_t info;
    if (H5Gget_info(loc, &info) < 0) return -1;
    return (int64_t)info.nlinks;
}

/// Dataset storage layouts as reported by `chdf5_dataset_layout`.
enum { CHDF5_LAYOUT_COMPACT = 0, CHDF5_LAYOUT_CONTIGUOUS = 1, CHDF5_LAYOUT_CHUNKED = 2, CHDF5_LAYOUT_OTHER = 3 };

/// How the dataset's raw data is stored (one of CHDF5_LAYOUT_*), or negative on failure.
static inline int chdf5_dataset_layout(hid_t dataset) {
    hid_t dcpl = H5Dget_create_plist(dataset);
    if (dcpl < 0) return -1;
    H5D_layout_t layout = H5Pget_layout(dcpl);
    H5Pclose(dcpl);
    switch (layout) {
    case H5D_COMPACT: return CHDF5_LAYOUT_COMPACT;
    case H5D_CONTIGUOUS: return CHDF5_LAYOUT_CONTIGUOUS;
    case H5D_CHUNKED: return CHDF5_LAYOUT_CHUNKED;
    case H5D_LAYOUT_ERROR: return -1;
    default: return CHDF5_LAYOUT_OTHER;
    }
}

#endif
